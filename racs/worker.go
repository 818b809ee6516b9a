package racs

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/replica"
)

// worker owns a fixed set of groups: it is the only goroutine that
// touches their clones (protocol cores, state machines, transfers). It
// drives each clone as groupcomm's Ready contract says: persist (through
// the host's committer, one fsync for the writes of every group and
// worker waiting at that moment) → send → apply → Advance.
type worker struct {
	host   *Host
	index  int      // in host.workers
	events chan any // *request, Packet, []Packet, suspicion, *Group (add)
	groups map[replica.GroupID]*Group
	order  []*Group // every group, in the order added
	dirty  []*Group
	// active are the groups that tick: not quiescent, or with ghosts,
	// transfers or a creation under way; ticks counts this worker's ticks.
	active []*Group
	ticks  uint64
	// nGroups and nTicking publish len(order) and len(active) (Stats).
	nGroups, nTicking atomic.Int32
	// wantTicks: the tick list is not empty (ticker.go).
	wantTicks atomic.Bool
	// suspects: nodes suspected, and the tick since when (suspect.go).
	suspects map[groupcomm.NodeID]uint64
	done     chan struct{}
	stats    workerStats // HostStats, written by this goroutine only
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

// run is the worker's goroutine: events and ticks, each followed by one
// pass over the groups that have work.
func (w *worker) run(ticks <-chan time.Time, stop <-chan struct{}) {
	defer close(w.done)
	for {
		select {
		case <-stop:
			w.stopAll(ErrStopped)
			return
		case ev := <-w.events:
			w.handle(ev)
			w.drainEvents()
		case <-ticks:
			w.tick()
		}
		w.processReady()
	}
}

// drainEvents handles whatever else is waiting: one batch for all of it.
func (w *worker) drainEvents() {
	for {
		select {
		case ev := <-w.events:
			w.handle(ev)
		default:
			return
		}
	}
}

// tick advances every group's clock by one tick; a quiescent group is not
// ticked (an idle group costs nothing): its ticks are counted and handed
// over at once when something arrives.
func (w *worker) tick() {
	w.ticks++
	w.now()
	if len(w.suspects) > 0 {
		w.judgeSuspects()
	}
	kept := w.active[:0]
	for _, g := range w.active {
		if w.tickGroup(g) {
			kept = append(kept, g)
			continue
		}
		// Quiescent: off the tick list until something reaches it (wake);
		// this tick is the first it skips.
		g.ticking, g.quietFrom = false, w.ticks
	}
	clear(w.active[len(kept):])
	w.active = kept
	if len(kept) == 0 && len(w.suspects) == 0 {
		w.wantTicks.Store(false)
	}
	w.nGroups.Store(int32(len(w.order)))
	w.nTicking.Store(int32(len(w.active)))
}

// tickGroup runs one tick of g and reports whether g needs the next one.
// A quiescent group does not: the cost of a tick is the number of groups
// with something in flight, not the number hosted (issue: many groups,
// one cost; racs/doc.go).
func (w *worker) tickGroup(g *Group) bool {
	if len(g.ghosts) > 0 {
		g.tickGhosts()
		w.markDirty(g)
	}
	if g.creating != nil && !g.stopped.Load() {
		g.tickCreate()
		return true
	}
	if g.stopped.Load() {
		if g.left.Load() && len(g.ghosts) == 0 {
			w.forget(g)
		}
		return len(g.ghosts) > 0
	}
	if g.cl == nil {
		return true
	}
	core := g.cl.Core()
	if len(g.outXfer) == 0 && len(g.ghosts) == 0 && core.Quiescent() {
		return false
	}
	core.Tick()
	g.tickTransfers()
	g.refreshFreshness()
	if core.HasReady() {
		w.markDirty(g)
	}
	return true
}

func (w *worker) markDirty(g *Group) {
	w.dirty = append(w.dirty, g)
	// Note when the clone left NORMAL (HostStats.ViewChange): every event
	// that moves a core passes here.
	if g.vcSince == 0 && g.cl != nil && g.cl.Core().Status() != groupcomm.StatusNormal {
		g.vcSince = max(w.host.mono(), 1)
	}
}

func (w *worker) handle(ev any) {
	switch e := ev.(type) {
	case *Group:
		w.groups[e.id] = e
		w.order = append(w.order, e)
		w.activate(e)
		if e.creating != nil {
			e.sendProbes()
		}
		w.markDirty(e)
	case *request:
		g := e.g
		if g.stopped.Load() {
			w.reply(e, g.stopError())
			return
		}
		if g.cl == nil {
			w.reply(e, fmt.Errorf("%w: group %d is being created", ErrNotApplied, g.id))
			return
		}
		g.wake()
		if e.submit != nil {
			w.submit(g, e)
		} else {
			g.reads[e.readID] = e.readC
			g.cl.Core().ReadIndex(e.readID)
		}
		w.markDirty(g)
	case []Packet:
		for _, p := range e {
			w.handlePacket(p)
		}
	case Packet:
		w.handlePacket(e)
	case leaveReq:
		w.startLeave(e)
	case leadReq:
		w.proposeLead(e)
	case suspicion:
		w.noteSuspicion(e.node, e.on)
		for _, g := range w.order {
			if g.cl != nil {
				g.wake()
				g.cl.Core().SetSuspected(e.node, e.on)
				w.markDirty(g)
			}
		}
	}
}

// handlePacket steps the packet's group (or its ghost, or its creation).
func (w *worker) handlePacket(e Packet) {
	g := w.groups[e.Group]
	if g == nil {
		return
	}
	if e.Msg != nil {
		if gh := g.ghostFor(e.Msg); gh != nil {
			gh.core.Step(*e.Msg)
			gh.dirty = true
			w.markDirty(g)
			return
		}
	}
	if g.stopped.Load() {
		return
	}
	if e.Probe != nil {
		w.onProbe(g, e.From, e.Probe)
		return
	}
	if g.cl == nil {
		return // being created: the senders resend
	}
	g.wake()
	switch {
	case e.Msg != nil:
		g.noteHeard(e.Msg.From)
		if err := g.cl.Core().Step(*e.Msg); err != nil {
			w.host.log.Debug("bad message", "group", g.id, "err", err)
		}
	case e.Chunk != nil:
		g.onChunk(e.From, e.Chunk)
	case e.ChunkAck != nil:
		g.onChunkAck(e.From, e.ChunkAck)
	}
	w.markDirty(g)
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
	id, err := g.cl.Submit(r.submit)
	switch {
	case err == nil:
		g.futures[id] = future{c: r.resp, at: w.host.mono()}
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
// and advances; the snapshots the applies took are persisted together.
func (w *worker) processReady() {
	h := w.host
	for round := 0; len(w.dirty) > 0 && round < 8; round++ {
		var groups []*Group
		var rds []groupcomm.Ready
		var writes []replica.GroupWrite
		var early []Packet
		for _, g := range w.dirty {
			g.runGhosts()
			if g.cl == nil || g.stopped.Load() || g.inBatch || !g.cl.Core().HasReady() {
				continue
			}
			g.inBatch = true
			rd := g.cl.Core().Ready()
			groups = append(groups, g)
			rds = append(rds, rd)
			// Only the sequencer's ORDER frames may leave before the write.
			for i := range rd.Messages {
				if m := &rd.Messages[i]; m.Type == groupcomm.MsgOrder {
					early = append(early, Packet{From: h.cfg.Node, To: m.To.Node, Group: g.id, Msg: m})
				}
			}
			if gw, ok := g.cl.Write(&rd); ok {
				writes = append(writes, gw)
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
					if h.obs != nil && m.Type == groupcomm.MsgAck {
						h.obs.acked(g.id, m.From, m.VS)
					}
				}
			}
		}
		if len(late) > 0 {
			h.cfg.Transport.Send(late)
		}
		var snaps []replica.GroupWrite
		for k, g := range groups {
			if s := w.apply(g, rds[k]); s != nil {
				snaps = append(snaps, *s)
			}
		}
		if len(snaps) > 0 {
			if err := h.commit(snaps); err != nil {
				h.log.Error("persist snapshots failed: stopping groups", "node", h.cfg.Node, "err", err)
				for _, g := range groups {
					w.stopGroup(g, fmt.Errorf("%w: persist snapshot: %v", ErrStopped, err))
				}
				w.dirty = w.dirty[:0]
				return
			}
		}
		for k, g := range groups {
			if g.cl != nil && !g.stopped.Load() && g.advancePending {
				g.advancePending = false
				g.cl.Advance(rds[k])
				g.publish()
			}
		}
		w.dirty = append(w.dirty[:0], groups...)
	}
	w.dirty = w.dirty[:0]
}

// apply applies a Ready's deliveries in order and hands out results,
// snapshots, read states and outcomes. It returns the snapshot write the
// clone took, if any.
func (w *worker) apply(g *Group, rd groupcomm.Ready) *replica.GroupWrite {
	g.advancePending = true
	var snap *replica.GroupWrite
	if len(rd.Deliveries) > 0 {
		self := g.cl.Core().Info().Self
		g.smMu.Lock()
		obs := w.host.obs
		var delivered uint64
		var now int64 // Host.mono, read once per Ready that completes a Submit
		snap = g.cl.Apply(&rd, func(a clone.Applied) {
			delivered++
			g.record(a)
			g.applied.Store(a.VS.Seq)
			if obs != nil {
				obs.delivered(g.id, self, a)
			}
			if a.ID.Origin != self {
				return
			}
			if f, ok := g.futures[a.ID]; ok {
				delete(g.futures, a.ID)
				if now == 0 {
					now = w.host.mono()
				}
				w.stats.deliveryLatency.ObserveDuration(time.Duration(now - f.at))
				if a.Err != nil {
					f.c <- submitResult{err: a.Err}
					return
				}
				f.c <- submitResult{res: Result{Data: a.Result, Token: Token{g.cfg.Incarnation, a.VS.Seq}, View: a.InView}}
			}
		})
		g.smMu.Unlock()
		w.stats.delivered.Add(delivered)
		g.notifyApplied()
	}
	if rd.NewView != nil {
		g.logInstalled(g.View(), *rd.NewView)
		w.stats.viewsInstalled.Add(1)
		if g.vcSince != 0 {
			w.stats.viewChange.ObserveDuration(time.Duration(w.host.mono() - g.vcSince))
			g.vcSince = 0
		}
		g.viewRec.Store(rd.NewView.Clone())
		if obs := w.host.obs; obs != nil {
			in := g.cl.Core().Info()
			obs.installed(g.id, in.Self, rd.NewView.Clone(), in.Restoring)
		}
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
		if f, ok := g.futures[o.ID]; ok {
			delete(g.futures, o.ID)
			err := ErrOutcomeUnknown
			if errors.Is(o.Err, groupcomm.ErrNotOrdered) {
				err = ErrNotApplied
			}
			f.c <- submitResult{err: fmt.Errorf("%w: %v", err, o.Err)}
		}
	}
	if rd.Removed {
		if obs := w.host.obs; obs != nil {
			obs.removed(g.id, g.cl.Core().Info().Self)
		}
		g.cl.Advance(rd)
		g.advancePending = false
		g.keepGhost(g.cl.Core())
		if len(g.leaveDone) > 0 {
			w.finishLeave(g)
		} else if g.cfg.DropWhenRemoved {
			w.stopGroup(g, fmt.Errorf("%w: %v", ErrStopped, errRemoved))
		} else {
			w.rejoin(g)
		}
	}
	return snap
}

// rejoin replaces a removed clone by a new incarnation that joins as a
// learner (S4: a new incarnation is never an acceptor of a view that lists
// an older one). The old incarnation's persisted state is deleted first.
func (w *worker) rejoin(g *Group) {
	h := w.host
	v := g.cl.Core().View()
	var contacts []groupcomm.NodeID
	for _, m := range v.Members {
		if m.ID.Node != h.cfg.Node {
			contacts = append(contacts, m.ID.Node)
		}
	}
	for id, f := range g.futures {
		f.c <- submitResult{err: fmt.Errorf("%w: %v", ErrOutcomeUnknown, errRemoved)}
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
	cc.Self = groupcomm.MemberID{Node: h.cfg.Node, Incarnation: h.newIncarnation()}
	h.observeAccepts(&cc, g.id)
	cl, err := clone.Join(h.cloneConfig(g.cfg), cc, contacts)
	if err != nil || len(contacts) == 0 {
		w.stopGroup(g, fmt.Errorf("%w: rejoin: %v", ErrStopped, err))
		return
	}
	h.log.Info("clone removed from its group: joining again", "node", h.cfg.Node, "group", g.id, "incarnation", cc.Self.Incarnation)
	g.cl = cl
	h.observeStart(g, "join")
	g.inXfer, g.outXfer = nil, map[groupcomm.MemberID]*outTransfer{}
	for n := range h.suspectedSnapshot() {
		cl.Core().SetSuspected(n, true)
	}
}

// stopGroup stops a group: every waiter gets err.
func (w *worker) stopGroup(g *Group, err error) {
	if g.stopped.Swap(true) {
		return
	}
	g.stopErr.Store(err)
	for id, f := range g.futures {
		f.c <- submitResult{err: fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)}
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

// wake puts a quiescent group back on its worker's tick list and hands
// its core the ticks it skipped, before anything else reaches the core.
func (g *Group) wake() {
	if g.ticking {
		return
	}
	w := g.w
	w.activate(g)
	if g.cl != nil && !g.stopped.Load() {
		g.cl.Core().Elapse(w.now() - g.quietFrom + 1)
	}
}

// publish refreshes what other goroutines read about the group.
func (g *Group) publish() {
	if g.cl == nil {
		in := groupcomm.Info{Self: groupcomm.MemberID{Node: g.host.cfg.Node}, Status: groupcomm.StatusJoining, Restoring: true}
		if g.creating != nil {
			in.WaitingFor = g.createWaitingFor()
		}
		g.role.Store(in)
		g.freshUntil.Store(0)
		return
	}
	g.role.Store(g.cl.Core().Info())
	g.refreshFreshness()
}
