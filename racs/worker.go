package racs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
)

// worker owns a fixed set of groups: it is the only goroutine that
// touches their protocol cores and applies their updates. It drives each
// core as groupcomm's Ready contract says: persist (through the host's
// committer, one fsync for the writes of every group and worker waiting
// at that moment) → send → apply → Advance.
type worker struct {
	host   *Host
	events chan any // *request, Packet, suspicion, *Group (add)
	groups map[replica.GroupID]*Group
	order  []*Group
	dirty  []*Group
	done   chan struct{}
}

type suspicion struct {
	node groupcomm.NodeID
	on   bool
}

func (w *worker) enqueue(ctx context.Context, ev any) error {
	select {
	case w.events <- ev:
		return nil
	case <-w.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *worker) run(ticks <-chan time.Time, stop <-chan struct{}) {
	defer close(w.done)
	for {
		select {
		case <-stop:
			w.stopAll(ErrStopped)
			return
		case ev := <-w.events:
			w.handle(ev)
			// Take whatever else is waiting: one batch for all of it.
			for more := true; more; {
				select {
				case ev := <-w.events:
					w.handle(ev)
				default:
					more = false
				}
			}
		case <-ticks:
			stale := uint64(max(w.host.cfg.Core.TickStale, 1))
			for _, g := range w.order {
				if g.core == nil || g.stopped.Load() {
					continue
				}
				if len(g.outXfer) == 0 && g.core.Quiescent() {
					// An idle group costs nothing: its ticks are counted and
					// handed over at once when something arrives. "any" reads
					// age with them.
					g.idleTicks++
					if g.idleTicks == stale {
						g.anyOK.Store(false)
					}
					continue
				}
				g.wake()
				g.core.Tick()
				g.tickTransfers()
				g.anyOK.Store(g.core.CanServeAny()) // freshness ages with ticks
				if g.core.HasReady() {
					w.markDirty(g)
				}
			}
		}
		w.processReady()
	}
}

func (w *worker) markDirty(g *Group) {
	w.dirty = append(w.dirty, g)
}

func (w *worker) handle(ev any) {
	switch e := ev.(type) {
	case *Group:
		w.groups[e.id] = e
		w.order = append(w.order, e)
		w.markDirty(e)
	case *request:
		g := e.g
		if g.stopped.Load() || g.core == nil {
			w.reply(e, g.stopError())
			return
		}
		g.wake()
		if e.submit != nil {
			w.submit(g, e)
		} else {
			g.reads[e.readID] = e.readC
			g.core.ReadIndex(e.readID)
		}
		w.markDirty(g)
	case Packet:
		g := w.groups[e.Group]
		if g == nil || g.stopped.Load() {
			return
		}
		g.wake()
		switch {
		case e.Msg != nil:
			if err := g.core.Step(*e.Msg); err != nil {
				w.host.log.Debug("bad message", "group", g.id, "err", err)
			}
		case e.Chunk != nil:
			g.onChunk(e.From, e.Chunk)
		case e.ChunkAck != nil:
			g.onChunkAck(e.From, e.ChunkAck)
		}
		w.markDirty(g)
	case suspicion:
		for _, g := range w.order {
			if g.core != nil {
				g.wake()
				g.core.SetSuspected(e.node, e.on)
				w.markDirty(g)
			}
		}
	}
}

func (w *worker) reply(r *request, err error) {
	if r.resp != nil {
		r.resp <- submitResult{err: err}
	}
	if r.readC != nil {
		r.readC <- groupcomm.ReadState{ReadID: r.readID, Err: err}
	}
}

// submit multicasts an update unless this clone certainly cannot get it
// ordered: then the client hears "not applied" at once (G3), never a
// silent wait.
func (w *worker) submit(g *Group, r *request) {
	if !w.quorumReachable(g) {
		r.resp <- submitResult{err: fmt.Errorf("%w: %w", ErrNotApplied, ErrNoQuorum)}
		return
	}
	id, err := g.core.Multicast(r.submit)
	switch {
	case err == nil:
		g.futures[id] = r.resp
	case errors.Is(err, groupcomm.ErrBusy):
		r.resp <- submitResult{err: fmt.Errorf("%w: %w", ErrBusy, err)}
	default:
		r.resp <- submitResult{err: fmt.Errorf("%w: %w", ErrNotApplied, err)}
	}
}

// quorumReachable reports whether the voters this node does not suspect
// form a majority of the clone's view.
func (w *worker) quorumReachable(g *Group) bool {
	v := g.View() // the published record: no copy per Submit
	up := 0
	for _, id := range v.Voters() {
		if id.Node == w.host.cfg.Node || !w.host.isSuspected(id.Node) {
			up++
		}
	}
	return up >= v.Quorum()
}

// processReady handles the Ready of every group touched since the last
// call: one durable write carries the writes of all of them (and of other
// workers committing at the same moment), then each group sends, applies
// and advances.
func (w *worker) processReady() {
	h := w.host
	for round := 0; len(w.dirty) > 0 && round < 8; round++ {
		var groups []*Group
		var rds []groupcomm.Ready
		var writes []replica.GroupWrite
		var early []Packet
		for _, g := range w.dirty {
			if g.core == nil || g.stopped.Load() || g.inBatch || !g.core.HasReady() {
				continue
			}
			g.inBatch = true
			rd := g.core.Ready()
			groups = append(groups, g)
			rds = append(rds, rd)
			// Only the sequencer's ORDER frames may leave before the write.
			for i := range rd.Messages {
				if m := &rd.Messages[i]; m.Type == groupcomm.MsgOrder {
					early = append(early, Packet{From: h.cfg.Node, To: m.To.Node, Group: g.id, Msg: m})
				}
			}
			if g.cfg.Durability == Disk && (rd.HardState != nil || rd.TruncateAbove != nil || len(rd.Entries) > 0) {
				writes = append(writes, replica.GroupWrite{Group: g.id, HardState: rd.HardState,
					TruncateAbove: rd.TruncateAbove, Entries: rd.Entries, StableHint: rd.StableHint})
			}
		}
		for _, g := range groups {
			g.inBatch = false
		}
		if len(groups) == 0 {
			break
		}
		if len(early) > 0 {
			h.cfg.Transport.Send(early)
		}
		if len(writes) > 0 {
			if err := h.commit(writes); err != nil {
				// An fsync error stops the members: never retry and carry on.
				h.log.Error("persist failed: stopping groups", "node", h.cfg.Node, "err", err)
				for _, g := range groups {
					w.stopGroup(g, fmt.Errorf("%w: persist: %v", ErrStopped, err))
				}
				w.dirty = w.dirty[:0]
				return
			}
		}
		var late []Packet
		for k, g := range groups {
			rd := rds[k]
			for i := range rd.Messages {
				if m := &rd.Messages[i]; m.Type != groupcomm.MsgOrder {
					late = append(late, Packet{From: h.cfg.Node, To: m.To.Node, Group: g.id, Msg: m})
				}
			}
		}
		if len(late) > 0 {
			h.cfg.Transport.Send(late)
		}
		for k, g := range groups {
			w.apply(g, rds[k])
			g.core.Advance(rds[k])
			g.publish()
		}
		w.dirty = append(w.dirty[:0], groups...)
	}
	w.dirty = w.dirty[:0]
}

// apply applies deliveries in order and hands out results, snapshots,
// read states and outcomes.
func (w *worker) apply(g *Group, rd groupcomm.Ready) {
	if len(rd.Deliveries) > 0 {
		self := g.core.Info().Self
		g.smMu.Lock()
		for i := range rd.Deliveries {
			d := &rd.Deliveries[i]
			var res []byte
			if !d.Duplicate {
				res = g.applyEntry(d)
			}
			g.applied.Store(d.VS.Seq)
			g.lastApplied = d.VS
			g.sinceSnap++
			if d.ID.Origin == self {
				if c, ok := g.futures[d.ID]; ok {
					delete(g.futures, d.ID)
					c <- submitResult{res: Result{Data: res, Token: Token{g.cfg.Incarnation, d.VS.Seq}, View: d.InView}}
				}
			}
		}
		g.smMu.Unlock()
		g.notifyApplied()
		if g.cfg.Durability == Disk && g.sinceSnap >= w.host.cfg.SnapshotEvery {
			w.persistSnapshot(g)
		}
	}
	if rd.NewView != nil {
		g.viewRec.Store(rd.NewView.Clone())
		w.host.log.Debug("view installed", "node", w.host.cfg.Node, "group", g.id, "view", rd.NewView.String())
	}
	for _, s := range rd.Snapshots {
		g.startTransfer(s)
	}
	for _, rs := range rd.ReadStates {
		if c, ok := g.reads[rs.ReadID]; ok {
			delete(g.reads, rs.ReadID)
			c <- rs
		}
	}
	for _, o := range rd.Outcomes {
		if c, ok := g.futures[o.ID]; ok {
			delete(g.futures, o.ID)
			err := ErrOutcomeUnknown
			if errors.Is(o.Err, groupcomm.ErrNotOrdered) {
				err = ErrNotApplied
			}
			c <- submitResult{err: fmt.Errorf("%w: %v", err, o.Err)}
		}
	}
	if rd.Removed {
		if g.cfg.DropWhenRemoved {
			w.stopGroup(g, fmt.Errorf("%w: %v", ErrStopped, errRemoved))
		} else {
			w.rejoin(g)
		}
	}
}

// persistSnapshot writes a snapshot of the group at its applied position
// and truncates the log below it (keeping LogTail entries for laggards).
// It runs between two Applies on the worker, so the state is exactly the
// applied position's.
func (w *worker) persistSnapshot(g *Group) {
	g.sinceSnap = 0
	data, err := g.snapshotData()
	if err != nil {
		w.host.log.Error("snapshot failed", "group", g.id, "err", err)
		return
	}
	pos := g.lastApplied
	var compact uint64
	if pos.Seq > w.host.cfg.LogTail {
		compact = pos.Seq - w.host.cfg.LogTail
	}
	gw := replica.GroupWrite{Group: g.id, Snapshot: &replica.Snapshot{Pos: pos, Dedup: g.core.Dedup(), Data: data}, CompactTo: compact}
	if err := w.host.commit([]replica.GroupWrite{gw}); err != nil {
		w.stopGroup(g, fmt.Errorf("%w: persist snapshot: %v", ErrStopped, err))
	}
}

// applyEntry applies one delivered update, honouring the idempotency key.
func (g *Group) applyEntry(d *groupcomm.Delivery) []byte {
	key, update, err := decodeEnvelope(d.Payload)
	if err != nil {
		return nil // every clone skips the same malformed entry
	}
	if key != "" {
		if res, ok := g.idem.lookup(key); ok {
			return res
		}
	}
	res := g.cfg.StateMachine.Apply(update)
	if key != "" {
		g.idem.record(key, res, d.VS.Seq)
	}
	return res
}

// rejoin replaces a removed clone by a new incarnation that joins as a
// learner (S4: a new incarnation is never an acceptor of a view that lists
// an older one). The old incarnation's persisted state is deleted first.
func (w *worker) rejoin(g *Group) {
	h := w.host
	v := g.core.View()
	var contacts []groupcomm.NodeID
	for _, m := range v.Members {
		if m.ID.Node != h.cfg.Node {
			contacts = append(contacts, m.ID.Node)
		}
	}
	for id, c := range g.futures {
		c <- submitResult{err: fmt.Errorf("%w: %v", ErrOutcomeUnknown, errRemoved)}
		delete(g.futures, id)
	}
	for id, c := range g.reads {
		c <- groupcomm.ReadState{ReadID: id, Err: errRemoved}
		delete(g.reads, id)
	}
	if g.cfg.Durability == Disk && h.cfg.Store != nil {
		if err := h.commit([]replica.GroupWrite{{Group: g.id, Delete: true}}); err != nil {
			w.stopGroup(g, fmt.Errorf("%w: persist: %v", ErrStopped, err))
			return
		}
	}
	cc := h.coreConfig(g.cfg)
	cc.Self = groupcomm.MemberID{Node: h.cfg.Node, Incarnation: uint64(time.Now().UnixNano())}
	core, err := groupcomm.Join(cc, contacts)
	if err != nil || len(contacts) == 0 {
		w.stopGroup(g, fmt.Errorf("%w: rejoin: %v", ErrStopped, err))
		return
	}
	h.log.Info("clone removed from its group: joining again", "node", h.cfg.Node, "group", g.id, "incarnation", cc.Self.Incarnation)
	g.core = core
	g.idem = newIdemTable(h.cfg.IdempotencyWindow)
	g.inXfer, g.outXfer = nil, map[groupcomm.MemberID]*outTransfer{}
	for n := range h.suspectedSnapshot() {
		core.SetSuspected(n, true)
	}
}

// stopGroup stops a group: every waiter gets err.
func (w *worker) stopGroup(g *Group, err error) {
	if g.stopped.Swap(true) {
		return
	}
	g.stopErr.Store(err)
	for id, c := range g.futures {
		c <- submitResult{err: fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)}
		delete(g.futures, id)
	}
	for id, c := range g.reads {
		c <- groupcomm.ReadState{ReadID: id, Err: err}
		delete(g.reads, id)
	}
	g.notifyApplied()
}

func (w *worker) stopAll(err error) {
	for _, g := range w.order {
		w.stopGroup(g, err)
	}
}

// wake hands a quiescent group the ticks it skipped, before anything else
// reaches its core.
func (g *Group) wake() {
	if g.idleTicks > 0 {
		g.core.Elapse(g.idleTicks)
		g.idleTicks = 0
	}
}

// publish refreshes what other goroutines read about the group.
func (g *Group) publish() {
	g.role.Store(g.core.Info())
	g.anyOK.Store(g.core.CanServeAny())
}
