package groupcomm

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// This file is the test harness shared by the scripted scenarios, the
// randomized simulation and the benchmarks: a cluster of Nodes over a
// simulated network, each with a simulated disk and a digest state
// machine. It drives every node exactly as racs will: persist → send →
// apply → Advance.

// disk is what a durable member's store holds.
type disk struct {
	hs      *HardState
	log     []Entry // gap-free by seq
	applied Viewstamp
	dedup   []byte
	digest  uint64
	stable  Viewstamp
}

// app is the replicated state machine of the harness: a running hash of
// every applied entry.
type app struct {
	digest  uint64
	applied Viewstamp
	count   int
}

func (a *app) apply(e *Entry) {
	h := fnv.New64a()
	var b [8]byte
	put := func(v uint64) {
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		h.Write(b[:])
	}
	put(a.digest)
	put(uint64(e.ID.Origin.Node))
	put(e.ID.Origin.Incarnation)
	put(e.ID.Counter)
	h.Write(e.Payload)
	a.digest = h.Sum64()
	a.applied = e.VS
	a.count++
}

// event is one line of a member's journal, checked after a run.
type event struct {
	kind      string // install, deliver, accept, ack, read, restore, removed
	view      View
	entry     Entry
	inView    uint64
	dup       bool
	ballot    Ballot
	pos       Viewstamp
	digest    uint64
	step      int
	readMax   uint64 // for reads: the highest seq acknowledged anywhere when issued
	restoring bool   // for restarts: the member came back without state
}

type member struct {
	id      MemberID
	n       *Node
	up      bool
	memory  bool // memory durability: nothing survives a crash
	disk    disk
	app     app
	journal []event
	cfg     Config
	// snapshot in flight from a donor: delivered on a later step
	removed      bool
	lastAccepted Ballot
	idle         uint64 // ticks skipped while quiescent (lazyTicks)
}

// wake hands the node the ticks it skipped while quiescent.
func (m *member) wake() {
	if m.idle > 0 && m.n != nil {
		m.n.Elapse(m.idle)
	}
	m.idle = 0
}

// incAt returns the incarnation the member had at journal index i.
func (m *member) incAt(i int) MemberID {
	inc := uint64(1)
	for _, ev := range m.journal[:i+1] {
		if ev.kind == "newinc" {
			inc = ev.pos.Seq
		}
	}
	return MemberID{Node: m.id.Node, Incarnation: inc}
}

type envelope struct {
	m  Message
	at int
}

type cluster struct {
	cfg     Config
	rng     *rand.Rand
	step    int
	members map[NodeID]*member
	order   []NodeID
	net     []envelope
	// faults
	dropRate     float64
	dupRate      float64
	maxDelay     int
	cutoff       map[[2]NodeID]bool // directed links that drop everything
	trace        *strings.Builder
	nextInc      uint64
	pendingSnaps []snapTransfer
	// acknowledged: entries delivered at their origin (the client got success)
	acked       map[EntryID]Viewstamp
	maxAcked    uint64
	reads       map[uint64]readRec
	nextRead    uint64
	autoSuspect bool
	autoRejoin  bool
	lazyTicks   bool            // skip ticks of quiescent nodes (Quiescent/Elapse)
	leaving     map[NodeID]bool // members that left: not rejoined
	initialN    int
	logger      *slog.Logger
}

type snapTransfer struct {
	from, to MemberID
	pos      Viewstamp
	digest   uint64
	count    int
	dedup    []byte
	at       int
}

type readRec struct {
	node     NodeID
	minSeq   uint64 // highest acknowledged seq when the read was issued
	index    Viewstamp
	done     bool
	servedAt Viewstamp
}

func testConfig(node NodeID) Config {
	c := DefaultConfig()
	c.Cluster, c.Group, c.GroupIncarnation = 1, 7, 1
	c.Self = MemberID{Node: node, Incarnation: 1}
	c.TickRTO, c.TickIdle, c.TickVC, c.TickFD, c.TickCQ, c.TickJoin, c.TickStale = 3, 1, 6, 10, 20, 400, 10
	c.MaxFrameEntries = 16
	c.MaxInflight = 64
	c.Window = 256
	c.Seed = uint64(node)
	return c
}

// enableTrace makes every member log its protocol events into c.trace.
func (c *cluster) enableTrace() {
	c.trace = &strings.Builder{}
	c.logger = slog.New(slog.NewTextHandler(traceWriter{c}, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
				return slog.Attr{}
			}
			return a
		}}))
	for _, m := range c.members {
		if m.n != nil {
			m.n.log = c.logger
		}
	}
}

type traceWriter struct{ c *cluster }

func (w traceWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(w.c.trace, "%5d ", w.c.step)
	return w.c.trace.Write(p)
}

func newCluster(seed uint64, n int, bugs plantedBugs) *cluster {
	c := &cluster{
		rng: rand.New(rand.NewPCG(seed, 0x5157)), members: map[NodeID]*member{},
		cutoff: map[[2]NodeID]bool{}, leaving: map[NodeID]bool{}, acked: map[EntryID]Viewstamp{}, reads: map[uint64]readRec{},
		nextInc: 2, maxDelay: 1, autoSuspect: true, autoRejoin: true,
	}
	c.cfg = testConfig(1)
	c.initialN = n
	c.cfg.bugs = bugs
	v := View{Cluster: 1, Group: 7, GroupIncarnation: 1, ID: 1}
	for i := 1; i <= n; i++ {
		v.Members = append(v.Members, Member{ID: MemberID{Node: NodeID(i), Incarnation: 1}, Role: Voter})
	}
	for i := 1; i <= n; i++ {
		cfg := c.memberConfig(NodeID(i), 1)
		nd, err := Bootstrap(cfg, v)
		if err != nil {
			panic(err)
		}
		m := &member{id: cfg.Self, n: nd, up: true, cfg: cfg}
		c.members[NodeID(i)] = m
		c.order = append(c.order, NodeID(i))
	}
	return c
}

func (c *cluster) memberConfig(node NodeID, inc uint64) Config {
	cfg := testConfig(node)
	cfg.Self.Incarnation = inc
	cfg.bugs = c.cfg.bugs
	cfg.Seed = c.rng.Uint64()
	cfg.Logger = c.logger
	// Journal what the member accepts, as it accepts it (not what it
	// persisted: the planted bug S4 persists less than it accepts).
	cfg.onAccept = func(b Ballot, v View) {
		if m := c.members[node]; m != nil {
			m.journal = append(m.journal, event{kind: "accept", ballot: b, view: v, step: c.step})
		}
	}
	return cfg
}

func (c *cluster) tracef(format string, args ...any) {
	if c.trace != nil {
		fmt.Fprintf(c.trace, format+"\n", args...)
	}
}

// persist writes a Ready's truncation, entries and HardState to the
// member's simulated disk (nothing for a memory member).
func (m *member) persist(rd *Ready) {
	if m.memory {
		return
	}
	d := &m.disk
	if rd.TruncateAbove != nil {
		t := rd.TruncateAbove.Seq
		i := sort.Search(len(d.log), func(i int) bool { return d.log[i].VS.Seq > t })
		d.log = d.log[:i:i]
	}
	for _, e := range rd.Entries {
		if n := len(d.log); n > 0 && e.VS.Seq <= d.log[n-1].VS.Seq {
			i := sort.Search(len(d.log), func(i int) bool { return d.log[i].VS.Seq >= e.VS.Seq })
			d.log = d.log[:i:i]
		}
		if n := len(d.log); n > 0 && e.VS.Seq != d.log[n-1].VS.Seq+1 {
			d.log = d.log[:0:0] // a gap (after a snapshot): start over
		}
		d.log = append(d.log, e)
	}
	if rd.HardState != nil {
		hs := *rd.HardState
		d.hs = &hs
	}
	d.stable = rd.StableHint
}

// applyDeliveries applies a Ready's deliveries to the member's state
// machine, journals them, and records updates acknowledged at their origin.
func (c *cluster) applyDeliveries(m *member, rd *Ready) {
	for _, dl := range rd.Deliveries {
		if !dl.Duplicate {
			m.app.apply(&dl.Entry)
		} else {
			m.app.applied = dl.VS
		}
		m.journal = append(m.journal, event{kind: "deliver", entry: dl.Entry, inView: dl.InView, dup: dl.Duplicate, step: c.step, digest: m.app.digest})
		if dl.ID.Origin == m.id && !dl.Duplicate {
			if _, ok := c.acked[dl.ID]; !ok {
				c.acked[dl.ID] = dl.VS
				c.maxAcked = max(c.maxAcked, dl.VS.Seq)
			}
		}
	}
}

// handleReady drives one node's Ready exactly as the Ready contract says.
func (c *cluster) handleReady(m *member) bool {
	if !m.up || m.n == nil || !m.n.HasReady() {
		return false
	}
	rd := m.n.Ready()
	// 1. persist
	m.persist(&rd)
	// 2. send
	for _, msg := range rd.Messages {
		c.sendMsg(msg)
	}
	// 3. apply
	c.applyDeliveries(m, &rd)
	if rd.NewView != nil {
		m.journal = append(m.journal, event{kind: "install", view: rd.NewView.Clone(), step: c.step, pos: m.app.applied, digest: m.app.digest})
		c.tracef("%v installs %v", m.id, *rd.NewView)
	}
	if !m.memory {
		m.disk.applied, m.disk.digest, m.disk.dedup = m.app.applied, m.app.digest, m.n.Dedup()
	}
	for _, s := range rd.Snapshots {
		c.pendingSnaps = append(c.pendingSnaps, snapTransfer{from: m.id, to: s.To, pos: s.Pos, digest: m.app.digest, count: m.app.count, dedup: s.Dedup, at: c.step + 1 + c.rng.IntN(3)})
	}
	for _, rs := range rd.ReadStates {
		r := c.reads[rs.ReadID]
		if rs.Err == nil {
			r.index = rs.Index
			r.done = true
			c.reads[rs.ReadID] = r
			m.journal = append(m.journal, event{kind: "read", pos: rs.Index, readMax: r.minSeq, step: c.step})
		} else {
			delete(c.reads, rs.ReadID)
		}
	}
	if rd.Removed {
		m.removed = true
		m.journal = append(m.journal, event{kind: "removed", step: c.step})
		c.tracef("%v removed", m.id)
	}
	m.n.Advance(rd)
	return true
}

func (c *cluster) sendMsg(msg Message) {
	to := msg.To.Node
	from := msg.From.Node
	if c.cutoff[[2]NodeID{from, to}] {
		return
	}
	if c.dropRate > 0 && c.rng.Float64() < c.dropRate {
		return
	}
	at := c.step + 1
	if c.maxDelay > 1 {
		at += c.rng.IntN(c.maxDelay)
	}
	c.net = append(c.net, envelope{m: msg, at: at})
	if len(c.net) > 200000 {
		counts := map[string]int{}
		for _, e := range c.net[len(c.net)-2000:] {
			counts[fmt.Sprintf("%v %v->%v v%d", e.m.Type, e.m.From, e.m.To, e.m.View)]++
		}
		panic(fmt.Sprintf("message storm at step %d: %v\n%s", c.step, counts, c.describe()))
	}
	if c.dupRate > 0 && c.rng.Float64() < c.dupRate {
		c.net = append(c.net, envelope{m: msg, at: at + c.rng.IntN(c.maxDelay+1)})
	}
}

// deliverDue hands every due message to its node, in a seeded random order.
func (c *cluster) deliverDue() {
	var due []envelope
	keep := c.net[:0]
	for _, e := range c.net {
		if e.at <= c.step {
			due = append(due, e)
		} else {
			keep = append(keep, e)
		}
	}
	c.net = keep
	if c.maxDelay > 1 {
		c.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	}
	for _, e := range due {
		m := c.members[e.m.To.Node]
		if m == nil || !m.up || m.n == nil {
			continue
		}
		if c.cutoff[[2]NodeID{e.m.From.Node, e.m.To.Node}] {
			continue
		}
		m.wake()
		if err := m.n.Step(e.m); err != nil {
			panic(err)
		}
	}
}

func (c *cluster) deliverSnapshots() {
	keep := c.pendingSnaps[:0]
	for _, s := range c.pendingSnaps {
		if s.at > c.step {
			keep = append(keep, s)
			continue
		}
		m := c.members[s.to.Node]
		if m == nil || !m.up || m.id != s.to || c.cutoff[[2]NodeID{s.from.Node, s.to.Node}] {
			continue
		}
		m.wake()
		if err := m.n.Restore(s.pos, s.dedup); err != nil {
			continue
		}
		m.app = app{digest: s.digest, applied: s.pos, count: s.count}
		c.tracef("%v restored snapshot of %v at %v", m.id, s.from, s.pos)
		m.journal = append(m.journal, event{kind: "restore", pos: s.pos, digest: s.digest, step: c.step, entry: Entry{ID: EntryID{Origin: s.from}}})
		if !m.memory {
			m.disk.applied, m.disk.digest, m.disk.dedup = s.pos, s.digest, s.dedup
		}
	}
	c.pendingSnaps = keep
}

// runStep: deliver due messages, tick everyone (every tickEvery steps),
// drain every node's Ready.
func (c *cluster) runStep(tick bool) {
	c.step++
	c.deliverDue()
	c.deliverSnapshots()
	if c.autoSuspect {
		c.updateSuspicions()
	}
	for _, id := range c.order {
		m := c.members[id]
		if m.up && m.n != nil && tick {
			if c.lazyTicks && m.n.Quiescent() {
				m.idle++ // as racs does: an idle group is not ticked
				continue
			}
			m.wake()
			m.n.Tick()
		}
	}
	for _, id := range c.order {
		m := c.members[id]
		for i := 0; i < 4 && c.handleReady(m); i++ {
		}
		if m.up && m.removed && c.autoRejoin && !c.leaving[id] {
			// The host of a removed member joins again as a learner.
			c.rejoinFresh(m)
		}
	}
}

// updateSuspicions plays a perfect-after-a-while failure detector: a node
// suspects the nodes it cannot reach (down or cut off).
func (c *cluster) updateSuspicions() {
	for _, a := range c.order {
		ma := c.members[a]
		if !ma.up || ma.n == nil {
			continue
		}
		for _, b := range c.order {
			if a == b {
				continue
			}
			mb := c.members[b]
			s := !mb.up || c.cutoff[[2]NodeID{a, b}] || c.cutoff[[2]NodeID{b, a}]
			ma.n.SetSuspected(b, s)
		}
	}
}

func (c *cluster) crash(id NodeID) {
	m := c.members[id]
	m.up = false
	m.n = nil
	c.tracef("crash %d", id)
}

// restart brings a crashed member back: a durable one from its disk
// (RECOVERING), a memory one (or one with an empty disk) as a new
// incarnation that joins.
func (c *cluster) restart(id NodeID) {
	m := c.members[id]
	if m.up {
		return
	}
	m.up = true
	m.removed = false
	if m.memory || m.disk.hs == nil {
		c.rejoinFresh(m)
		return
	}
	d := m.disk
	m.cfg.Logger = c.logger
	st := RestartState{HardState: *d.hs, Log: slices.Clone(d.log), Applied: d.applied, Dedup: d.dedup, StableHint: d.stable}
	nd, err := Restart(m.cfg, st)
	if err != nil {
		panic(err)
	}
	m.n = nd
	m.app = app{digest: d.digest, applied: d.applied}
	m.journal = append(m.journal, event{kind: "restart", step: c.step, pos: d.applied, digest: d.digest, restoring: nd.restoring})
	c.tracef("restart %d", id)
}

// rejoinFresh starts a new incarnation of a node that joins as a learner.
func (c *cluster) rejoinFresh(m *member) {
	inc := c.nextInc
	c.nextInc++
	cfg := c.memberConfig(m.id.Node, inc)
	var contacts []NodeID
	for _, id := range c.order {
		if id != m.id.Node {
			contacts = append(contacts, id)
		}
	}
	nd, err := Join(cfg, contacts)
	if err != nil {
		panic(err)
	}
	m.id, m.cfg, m.n, m.up, m.removed = cfg.Self, cfg, nd, true, false
	m.disk = disk{}
	m.app = app{}
	m.journal = append(m.journal, event{kind: "newinc", step: c.step, pos: Viewstamp{Seq: inc}})
	c.tracef("join %v", m.id)
}

// addNode adds a brand-new node that joins the group.
func (c *cluster) addNode() NodeID {
	id := NodeID(len(c.order) + 1)
	m := &member{id: MemberID{Node: id}}
	c.members[id] = m
	c.order = append(c.order, id)
	c.rejoinFresh(m)
	return id
}

func (c *cluster) partition(groups ...[]NodeID) {
	c.cutoff = map[[2]NodeID]bool{}
	side := map[NodeID]int{}
	for i, g := range groups {
		for _, id := range g {
			side[id] = i + 1
		}
	}
	for _, a := range c.order {
		for _, b := range c.order {
			if side[a] != side[b] {
				c.cutoff[[2]NodeID{a, b}] = true
			}
		}
	}
}

func (c *cluster) heal() { c.cutoff = map[[2]NodeID]bool{} }

func (c *cluster) multicast(id NodeID, payload string) (EntryID, error) {
	m := c.members[id]
	if !m.up || m.n == nil {
		return EntryID{}, ErrNotNormal
	}
	m.wake()
	return m.n.Multicast([]byte(payload))
}

func (c *cluster) strictRead(id NodeID) {
	m := c.members[id]
	if !m.up || m.n == nil {
		return
	}
	c.nextRead++
	c.reads[c.nextRead] = readRec{node: id, minSeq: c.maxAcked}
	m.wake()
	m.n.ReadIndex(c.nextRead)
}

// settled reports whether every up, non-removed member is NORMAL in the
// same view, holds and delivered the same position and has no backlog.
func (c *cluster) settled() bool {
	var ref *Info
	for _, id := range c.order {
		m := c.members[id]
		if !m.up || m.removed || m.n == nil {
			continue
		}
		in := m.n.Info()
		if in.Status != StatusNormal || in.Restoring || in.Role != Voter || in.Pending > 0 || in.Delivered != in.Held {
			return false
		}
		if len(c.net) > 0 {
			return false
		}
		if ref == nil {
			ref = &in
			continue
		}
		if in.View != ref.View || in.Delivered != ref.Delivered {
			return false
		}
	}
	return ref != nil
}
