package racs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Host runs many groups on one node: it routes incoming packets to them,
// owns the workers that drive them and the committer that batches their
// durable writes (one fsync for every group writing at the same moment).
// An idle group costs nothing: quiescent groups are not ticked.
type Host struct {
	cfg      Config
	log      *slog.Logger
	workers  []*worker
	tickWake chan struct{} // a worker wants ticks again (ticker.go)
	commitC  chan *commitReq

	mu struct {
		sync.Mutex
		groups    map[replica.GroupID]*Group
		suspected map[groupcomm.NodeID]bool
		closed    bool
	}
	wg   sync.WaitGroup
	stop chan struct{}

	started time.Time // the monotonic clock's origin (freshness.go)
	// manual: no goroutine runs; a test drives the workers (export_test.go).
	manual   bool
	failed   error // manual mode: the first Store.Write error (final)
	incs     func() uint64
	seedBase func() uint64
	obs      observer // tests only
	commits  commitStats
}

// NewHost starts a host.
func NewHost(cfg Config) (*Host, error) {
	h, err := newHost(cfg, false)
	if err != nil {
		return nil, err
	}
	h.start()
	return h, nil
}

// newHost builds a host without starting its goroutines.
func newHost(cfg Config, manual bool) (*Host, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, log: cfg.Logger, commitC: make(chan *commitReq, 1024), stop: make(chan struct{}), manual: manual,
		tickWake: make(chan struct{}, 1),
		started:  time.Now()}
	h.mu.groups = map[replica.GroupID]*Group{}
	h.mu.suspected = map[groupcomm.NodeID]bool{}
	h.incs = wallIncarnation
	h.seedBase = func() uint64 { return uint64(time.Now().UnixNano()) }
	for range cfg.Workers {
		w := &worker{host: h, index: len(h.workers), events: make(chan any, 4096), groups: map[replica.GroupID]*Group{}, done: make(chan struct{}),
			suspects: map[groupcomm.NodeID]uint64{}}
		h.workers = append(h.workers, w)
	}
	return h, nil
}

// wallIncarnation numbers a new incarnation by the wall clock: later
// incarnations of a member have higher numbers (onJoin replaces the older
// one), across restarts of a memory node too.
func wallIncarnation() uint64 { return uint64(time.Now().UnixNano()) }

// newIncarnation returns the incarnation of a new member of a group here.
func (h *Host) newIncarnation() uint64 { return h.incs() }

// start runs the workers, the ticker and the committer.
func (h *Host) start() {
	cfg := h.cfg
	ticks := make([]chan time.Time, cfg.Workers)
	for i, w := range h.workers {
		ticks[i] = make(chan time.Time, 1)
		h.wg.Add(1)
		go func() { defer h.wg.Done(); w.run(ticks[i], h.stop) }()
	}
	h.wg.Add(2)
	go func() { defer h.wg.Done(); h.runTicker(ticks) }()
	go func() { defer h.wg.Done(); h.runCommitter() }()
}

// Close stops every group and the host.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return nil
	}
	h.mu.closed = true
	h.mu.Unlock()
	if h.manual {
		close(h.stop)
		for _, w := range h.workers {
			w.stopAll(ErrStopped)
			close(w.done)
		}
		return nil
	}
	close(h.stop)
	h.wg.Wait()
	return nil
}

// Node returns this host's node id.
func (h *Host) Node() groupcomm.NodeID { return h.cfg.Node }

// Group returns a hosted group.
func (h *Host) Group(id replica.GroupID) (*Group, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.mu.groups[id]
	if g == nil {
		return nil, ErrUnknownGroup
	}
	return g, nil
}

// AddGroup starts hosting a group: from its persisted state if this node
// has any (Restart: it comes back RECOVERING and is re-admitted), else as
// a member of its bootstrap view, else as a joiner that asks Contacts.
func (h *Host) AddGroup(gc GroupConfig) (*Group, error) {
	if gc.StateMachine == nil {
		return nil, fmt.Errorf("%w: StateMachine must be set", ErrInvalidConfig)
	}
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return nil, ErrStopped
	}
	if old := h.mu.groups[gc.Group]; old != nil && !old.left.Load() {
		h.mu.Unlock()
		return nil, ErrGroupExists
	}
	suspected := make([]groupcomm.NodeID, 0, len(h.mu.suspected))
	for n := range h.mu.suspected {
		suspected = append(suspected, n)
	}
	h.mu.Unlock()

	w := h.workers[int(uint64(gc.Group)%uint64(len(h.workers)))]
	g := &Group{id: gc.Group, host: h, cfg: gc, w: w,
		futures: map[groupcomm.EntryID]future{}, reads: map[uint64]chan groupcomm.ReadState{},
		outXfer: map[groupcomm.MemberID]*outTransfer{}}
	c := make(chan struct{})
	g.appliedC.Store(&c)
	cl, how, err := h.startClone(g)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		g.creating = &createState{absent: map[groupcomm.NodeID]bool{}, fresh: map[groupcomm.NodeID]bool{}}
		g.viewRec.Store(groupcomm.View{})
	} else {
		for _, n := range suspected {
			cl.Core().SetSuspected(n, true)
		}
		g.cl = cl
		h.observeStart(g, how)
		g.applied.Store(cl.Applied().Seq)
		g.stream.reset(cl.Applied().Seq)
		g.viewRec.Store(cl.Core().View())
	}
	g.publish()
	h.mu.Lock()
	h.mu.groups[gc.Group] = g
	h.mu.Unlock()
	if err := w.enqueue(ctxBackground, g); err != nil {
		return nil, err
	}
	return g, nil
}

// coreConfig is the group's groupcomm.Config (Self is set by the caller).
func (h *Host) coreConfig(gc GroupConfig) groupcomm.Config {
	cc := h.cfg.Core
	cc.Cluster, cc.Group, cc.GroupIncarnation = h.cfg.Cluster, uint64(gc.Group), gc.Incarnation
	cc.Seed = uint64(h.cfg.Node)*0x9E3779B97F4A7C15 ^ uint64(gc.Group) ^ h.seedBase()
	cc.Logger = h.log
	cc.Self.Node = h.cfg.Node
	cc.AckAll = gc.AckAll
	return cc
}

// cloneConfig is the group's clone.Config.
func (h *Host) cloneConfig(gc GroupConfig) clone.Config {
	return clone.Config{Group: gc.Group, Durable: gc.Durability == Disk && h.cfg.Store != nil,
		StateMachine: gc.StateMachine, SnapshotEvery: h.cfg.SnapshotEvery, LogTail: h.cfg.LogTail,
		MaxLogLag: h.cfg.MaxLogLag, IdempotencyWindow: h.cfg.IdempotencyWindow,
		AmortizeSnapshots: !h.cfg.DisableSnapshotAmortization}
}

// startClone creates the group's clone from what the store holds: a
// restart (RECOVERING, S7) if it holds state, else a member of the
// bootstrap view being created, else a new incarnation that joins.
func (h *Host) startClone(g *Group) (*clone.Clone, string, error) {
	gc := g.cfg
	cc := h.coreConfig(gc)
	ccfg := h.cloneConfig(gc)
	if ccfg.Durable {
		st, err := h.cfg.Store.Load(gc.Group)
		if err != nil {
			return nil, "", err
		}
		if st.HardState != nil && st.HardState.Installed.ID != 0 {
			cc.Self.Incarnation = st.HardState.Incarnation
			h.observeAccepts(&cc, gc.Group)
			cl, err := clone.Restart(ccfg, cc, st)
			return cl, "restart", err
		}
	}
	if v := gc.Bootstrap; v != nil && gc.Create {
		if _, ok := v.LookupNode(h.cfg.Node); ok {
			if len(g.createPeers()) > 0 {
				return nil, "create", nil // ask the others first (create.go)
			}
			cc.Self.Incarnation = 1
			h.observeAccepts(&cc, gc.Group)
			cl, err := clone.Bootstrap(ccfg, cc, *v)
			return cl, "bootstrap", err
		}
	}
	// A new incarnation: a fresh disk or a memory member (S4).
	cc.Self.Incarnation = h.newIncarnation()
	contacts := gc.Contacts
	if len(contacts) == 0 && gc.Bootstrap != nil {
		for _, m := range gc.Bootstrap.Members {
			if m.ID.Node != h.cfg.Node {
				contacts = append(contacts, m.ID.Node)
			}
		}
	}
	if len(contacts) == 0 {
		return nil, "", fmt.Errorf("%w: group %d: no state, not in the bootstrap view and no contacts", ErrInvalidConfig, gc.Group)
	}
	h.observeAccepts(&cc, gc.Group)
	cl, err := clone.Join(ccfg, cc, contacts)
	return cl, "join", err
}

// Deliver hands an incoming packet to its group's worker. Packets for
// unknown groups are dropped. A Call packet goes to Config.OnCall, on
// this goroutine, or is dropped if it is nil.
func (h *Host) Deliver(p Packet) {
	if p.Call != nil {
		h.onCall(p)
		return
	}
	h.mu.Lock()
	g := h.mu.groups[p.Group]
	closed := h.mu.closed
	h.mu.Unlock()
	if g == nil || closed {
		return
	}
	select {
	case g.w.events <- p:
	case <-g.w.done:
	default:
		// The worker is overloaded: drop; the protocol resends.
	}
}

// DeliverBatch hands packets to their groups' workers: one event per
// worker for the whole batch, however many groups it names (a receiver
// hands a bundle to the workers in one step). Call packets go to
// Config.OnCall first, on this goroutine, in batch order. ps is not
// retained.
func (h *Host) DeliverBatch(ps []Packet) {
	if len(ps) == 1 {
		h.Deliver(ps[0])
		return
	}
	calls := 0
	for _, p := range ps {
		if p.Call != nil {
			h.onCall(p)
			calls++
		}
	}
	if calls == len(ps) {
		return
	}
	per := make([][]Packet, len(h.workers))
	h.mu.Lock()
	if h.mu.closed {
		h.mu.Unlock()
		return
	}
	for _, p := range ps {
		if p.Call != nil {
			continue
		}
		if g := h.mu.groups[p.Group]; g != nil {
			i := g.w.index
			per[i] = append(per[i], p)
		}
	}
	h.mu.Unlock()
	for i, b := range per {
		if len(b) == 0 {
			continue
		}
		w := h.workers[i]
		select {
		case w.events <- b:
		case <-w.done:
		default:
			// The worker is overloaded: drop; the protocol resends.
		}
	}
}

// onCall hands a Call packet to Config.OnCall (nil drops it).
func (h *Host) onCall(p Packet) {
	if f := h.cfg.OnCall; f != nil {
		f(p.From, p.Call)
	}
}

// SetSuspected records the failure detector's opinion of a node for every
// group (an input to the protocol, never a view by itself).
func (h *Host) SetSuspected(node groupcomm.NodeID, on bool) {
	h.mu.Lock()
	if on {
		h.mu.suspected[node] = true
	} else {
		delete(h.mu.suspected, node)
	}
	h.mu.Unlock()
	for _, w := range h.workers {
		select {
		case w.events <- suspicion{node, on}:
		case <-w.done:
		}
	}
}

func (h *Host) suspectedSnapshot() map[groupcomm.NodeID]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[groupcomm.NodeID]bool, len(h.mu.suspected))
	for n := range h.mu.suspected {
		out[n] = true
	}
	return out
}

func (h *Host) isSuspected(n groupcomm.NodeID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.suspected[n]
}

var ctxBackground = context.Background()

// commitReq is one worker's writes waiting for the committer.
type commitReq struct {
	writes []replica.GroupWrite
	done   chan error
}

// commit makes writes durable, sharing one Store.Write (one fsync) with
// every other worker committing at the same moment.
func (h *Host) commit(writes []replica.GroupWrite) error {
	if h.cfg.Store == nil {
		return nil
	}
	if h.manual {
		if h.failed == nil {
			h.failed = h.write(&replica.Batch{Writes: writes})
		}
		return h.failed // a failed fsync is final
	}
	req := &commitReq{writes: writes, done: make(chan error, 1)}
	select {
	case h.commitC <- req:
	case <-h.stop:
		return ErrStopped
	}
	select {
	case err := <-req.done:
		return err
	case <-h.stop:
		return ErrStopped
	}
}

func (h *Host) runCommitter() {
	var failed error
	for {
		var reqs []*commitReq
		select {
		case r := <-h.commitC:
			reqs = append(reqs, r)
		case <-h.stop:
			return
		}
		for more := true; more; {
			select {
			case r := <-h.commitC:
				reqs = append(reqs, r)
			default:
				more = false
			}
		}
		err := failed
		if err == nil {
			b := &replica.Batch{}
			for _, r := range reqs {
				b.Writes = append(b.Writes, r.writes...)
			}
			err = h.write(b)
			if err != nil {
				failed = err // a failed fsync is final
			}
		}
		for _, r := range reqs {
			r.done <- err
		}
	}
}

// write makes b durable and counts it (HostStats.CommitLatency).
func (h *Host) write(b *replica.Batch) error {
	t0 := time.Now()
	err := h.cfg.Store.Write(b)
	h.commits.observe(b, time.Since(t0))
	return err
}

// Persisted reports whether this node's store holds state for the group
// (an installed view): AddGroup then restarts its clone from that state,
// whatever its configuration says of creating it.
func (h *Host) Persisted(id replica.GroupID) (bool, error) {
	if h.cfg.Store == nil {
		return false, nil
	}
	st, err := h.cfg.Store.Load(id)
	if err != nil {
		return false, err
	}
	return st.HardState != nil && st.HardState.Installed.ID != 0, nil
}
