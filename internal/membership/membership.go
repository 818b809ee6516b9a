package membership

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// Membership is one node's view of the cluster, kept by memberlist. All
// methods are safe for concurrent use.
type Membership struct {
	cfg        Config
	log        *slog.Logger
	ml         atomic.Pointer[memberlist.Memberlist] // set once, in New
	bcast      *memberlist.TransmitLimitedQueue      // load broadcasts
	events     chan Event
	gossipAddr string
	stop       chan struct{}
	wg         sync.WaitGroup

	dropped atomic.Uint64
	rejoins atomic.Uint64
	known   atomic.Int64 // len(mu.members), for the broadcast queue

	// lifecycle serialises Join, Leave and Shutdown; never held by
	// memberlist callbacks.
	lifecycle sync.Mutex

	// mu guards the view. Lock order: memberlist's own locks, then mu
	// (callbacks run under memberlist's node lock). Never call into
	// memberlist while holding mu.
	mu struct {
		sync.Mutex
		members   map[string]*record // by memberlist name
		byID      map[groupcomm.NodeID]string
		loads     map[groupcomm.NodeID]loadEntry
		self      nodeMeta // what NodeMeta advertises
		load      float64  // last SetLoad
		loadDirty bool     // load (or its version) must be gossiped
		seeds     []string
		conflicts map[string]string    // name → address of a rejected claimant
		reclaims  map[string]time.Time // address → when to pull its state
		subs      map[*subscriber]struct{}
		left      bool
		closed    bool
	}
}

// record is one member as last reported by memberlist. Member.Load is
// filled from mu.loads when a snapshot is taken.
type record struct {
	Member
	since time.Time // last state change
}

// Stats are counters for monitoring.
type Stats struct {
	// EventsDropped counts events not delivered because the Events
	// channel or a subscriber's queue was full.
	EventsDropped uint64
	// Rejoins counts periodic re-joins that reached at least one node.
	Rejoins uint64
	// QueuedLoads is the number of load broadcasts waiting to be gossiped.
	QueuedLoads int
}

// New validates cfg and starts memberlist (listening, not yet joined)
// and this package's loops: load gossip, re-join, reclaim and suspect
// pings. Call Join to contact the cluster.
func New(cfg Config) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Membership{
		cfg:    cfg,
		log:    cfg.Logger.With("node", uint64(cfg.NodeID)),
		events: make(chan Event, cfg.EventBuffer),
		stop:   make(chan struct{}),
	}
	m.mu.members = make(map[string]*record)
	m.mu.byID = make(map[groupcomm.NodeID]string)
	m.mu.loads = make(map[groupcomm.NodeID]loadEntry)
	m.mu.subs = make(map[*subscriber]struct{})
	m.mu.conflicts = make(map[string]string)
	m.mu.reclaims = make(map[string]time.Time)
	m.mu.self = nodeMeta{ID: cfg.NodeID, Static: cfg.Meta}
	m.mu.seeds = slices.Clone(cfg.Seeds)

	w := &logWriter{log: m.log, onSuspect: m.localSuspect}
	mc, err := cfg.memberlistConfig(&delegate{m}, w)
	if err != nil {
		return nil, err
	}
	m.bcast = &memberlist.TransmitLimitedQueue{
		// Like memberlist's own estimate, counts the dead not yet reaped.
		NumNodes:       func() int { return int(max(m.known.Load(), 1)) },
		RetransmitMult: mc.RetransmitMult,
	}
	if cfg.testTransport != nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort, Logger: mc.Logger,
		})
		if err != nil {
			return nil, err
		}
		mc.BindPort = nt.GetAutoBindPort()
		mc.AdvertisePort = mc.BindPort
		mc.Transport = cfg.testTransport(nt)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start memberlist: %w", err)
	}
	m.ml.Store(ml)
	// Nobody knows this node yet, so nothing rewrites its address now.
	m.gossipAddr = ml.LocalNode().Address()

	m.wg.Add(3)
	go m.loadLoop()
	go m.reclaimLoop()
	go m.suspectLoop()
	if cfg.RejoinInterval > 0 {
		m.wg.Add(1)
		go m.rejoinLoop()
	}
	m.log.Debug("membership started", "name", cfg.NodeName, "gossip", m.gossipAddr)
	return m, nil
}

// Join contacts the given gossip addresses (Config.Seeds if none) and
// merges state with each one reached. It returns how many were reached;
// the error is nil if at least one was. The addresses are remembered for
// periodic re-joins.
func (m *Membership) Join(seeds ...string) (int, error) {
	m.lifecycle.Lock()
	defer m.lifecycle.Unlock()
	m.mu.Lock()
	closed, left := m.mu.closed, m.mu.left
	if len(seeds) == 0 {
		seeds = slices.Clone(m.mu.seeds)
	}
	for _, s := range seeds {
		if !slices.Contains(m.mu.seeds, s) {
			m.mu.seeds = append(m.mu.seeds, s)
		}
	}
	m.mu.Unlock()
	switch {
	case closed:
		return 0, ErrShutdown
	case left:
		return 0, ErrLeft
	case len(seeds) == 0:
		return 0, ErrNoSeeds
	}
	n, err := m.ml.Load().Join(seeds)
	if err != nil {
		return n, fmt.Errorf("membership: join %v: %w", seeds, err)
	}
	return n, nil
}

// Leave tells the cluster this node is leaving, so that peers report
// EventLeft rather than EventFailed, and stops re-joining. It waits up to
// timeout (0: no limit) for the notices to be gossiped. The node keeps
// answering probes until Shutdown.
//
// Peers learn "leaving" from the node's metadata, gossiped first, and the
// departure itself from memberlist's leave message; a peer that misses the
// former reports EventFailed. Either way the node is gone, and either way
// only the protocol decides the views.
func (m *Membership) Leave(timeout time.Duration) error {
	m.lifecycle.Lock()
	defer m.lifecycle.Unlock()
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return ErrShutdown
	}
	if m.mu.left {
		m.mu.Unlock()
		return nil
	}
	m.mu.left = true
	m.mu.self.Leaving = true
	m.mu.Unlock()

	ml := m.ml.Load()
	start := time.Now()
	// Wait for the "leaving" metadata to be fully retransmitted: the
	// leave message that follows replaces it in memberlist's queue.
	if err := ml.UpdateNode(timeout / 2); err != nil {
		m.log.Debug("leave: metadata not fully gossiped", "err", err)
	}
	rest := timeout
	if timeout > 0 {
		rest = max(timeout-time.Since(start), time.Millisecond)
	}
	if err := ml.Leave(rest); err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	return nil
}

// Shutdown stops gossip without a leave notice: peers will suspect this
// node and declare it failed. Call Leave first for a graceful exit. The
// Events channel and subscriber queues are closed; events in them can
// still be read. Safe to call more than once.
func (m *Membership) Shutdown() error {
	m.lifecycle.Lock()
	defer m.lifecycle.Unlock()
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
	err := m.ml.Load().Shutdown()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.closed = true
	close(m.events)
	for s := range m.mu.subs {
		close(s.ch)
	}
	clear(m.mu.subs)
	return err
}

// Members returns a snapshot of every node this node knows, including
// itself and members that died or left less than DeadRetention ago,
// ordered by ID then name.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.mu.members))
	for _, r := range m.mu.members {
		out = append(out, m.snapshotLocked(r))
	}
	slices.SortFunc(out, func(a, b Member) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// Lookup returns the member with the given ID.
func (m *Membership) Lookup(id groupcomm.NodeID) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.mu.members[m.mu.byID[id]]
	if !ok {
		return Member{}, false
	}
	return m.snapshotLocked(r), true
}

// Resolve returns the transport address of node id. It answers for
// suspect, dead and departed members too (from their last metadata):
// memberlist's verdict is only a suggestion, and the protocol may still
// need to reach a node memberlist has given up on.
func (m *Membership) Resolve(id groupcomm.NodeID) (addr string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.mu.members[m.mu.byID[id]]
	if !ok || r.Addr == "" {
		return "", false
	}
	return r.Addr, true
}

// LocalAddr returns this node's gossip address (host:port), with the
// port the kernel chose when BindPort was 0. Give it to others as a seed.
func (m *Membership) LocalAddr() string { return m.gossipAddr }

// SetLoad sets this node's load, gossiped within LoadInterval. NaN and
// infinities are ignored.
func (m *Membership) SetLoad(load float64) {
	if math.IsNaN(load) || math.IsInf(load, 0) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if load != m.mu.load {
		m.mu.load = load
		m.mu.loadDirty = true
	}
}

// noWait makes memberlist.UpdateNode return as soon as the new metadata
// is queued for gossip: it queues before it waits, and its timeout error
// only says the broadcast has not finished yet.
const noWait = time.Nanosecond

// SetEpoch sets the partition-map epoch this node holds. It travels in
// the node's metadata, so it is gossiped at once and every peer gets an
// EventUpdate with ChangedEpoch; a node whose epoch is below a peer's
// (HighestEpoch) knows its map is stale.
func (m *Membership) SetEpoch(epoch uint64) {
	m.mu.Lock()
	if m.mu.closed || m.mu.left || m.mu.self.Epoch == epoch {
		m.mu.Unlock()
		return
	}
	m.mu.self.Epoch = epoch
	m.mu.Unlock()
	_ = m.ml.Load().UpdateNode(noWait)
}

// Epoch returns the epoch last given to SetEpoch.
func (m *Membership) Epoch() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.self.Epoch
}

// HighestEpoch returns the highest epoch a live or suspect member
// (this node included) advertises, and that member's ID.
func (m *Membership) HighestEpoch() (uint64, groupcomm.NodeID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	best, who := m.mu.self.Epoch, m.cfg.NodeID
	for _, r := range m.mu.members {
		if (r.State == StateAlive || r.State == StateSuspect) && r.Epoch > best {
			best, who = r.Epoch, r.ID
		}
	}
	return best, who
}

// Events returns the channel of membership events. It is buffered
// (Config.EventBuffer); when it is full, events are dropped and counted,
// never waited for. It is closed by Shutdown.
func (m *Membership) Events() <-chan Event { return m.events }

// Subscribe calls fn for every later event, in order, on a goroutine of
// its own with its own queue of Config.EventBuffer events (dropped and
// counted when full). The returned func cancels; after Shutdown fn is
// called for the events already queued and then no more.
func (m *Membership) Subscribe(fn func(Event)) (cancel func()) {
	s := &subscriber{ch: make(chan Event, m.cfg.EventBuffer)}
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return func() {}
	}
	m.mu.subs[s] = struct{}{}
	m.mu.Unlock()
	go s.run(fn)
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.mu.subs[s]; ok {
			delete(m.mu.subs, s)
			close(s.ch)
		}
	}
}

// Stats returns the counters.
func (m *Membership) Stats() Stats {
	return Stats{
		EventsDropped: m.dropped.Load(),
		Rejoins:       m.rejoins.Load(),
		QueuedLoads:   m.bcast.NumQueued(),
	}
}

// snapshotLocked copies r with its current load. mu must be held.
func (m *Membership) snapshotLocked(r *record) Member {
	s := r.Member
	s.Load = m.mu.loads[r.ID].Load
	return s
}

// emitLocked hands ev to the Events channel and every subscriber without
// waiting. mu must be held.
func (m *Membership) emitLocked(ev Event) {
	if m.mu.closed {
		return
	}
	m.log.Debug("membership event", "event", ev.Type.String(), "peer", uint64(ev.Member.ID),
		"name", ev.Member.Name, "epoch", ev.Member.Epoch)
	deliver := func(ch chan Event) {
		select {
		case ch <- ev:
		default:
			if n := m.dropped.Add(1); n&(n-1) == 0 { // log at powers of two
				m.log.Warn("membership events dropped: consumer too slow", "dropped", n)
			}
		}
	}
	deliver(m.events)
	for s := range m.mu.subs {
		deliver(s.ch)
	}
}
