package groupcomm_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"

	. "github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
	"github.com/quicksilver-go/quicksilver/replica"
)

// This file is the test harness shared by the scripted scenarios and the
// randomized simulation: a cluster of members over a simulated network.
// Each member is a clone.Clone — the very component racs runs: persist →
// send → apply → snapshot → Advance, restart from the store, install a
// donor's snapshot — over a replica.MemStore (the store that passes
// BoltStore's conformance suite), running simcheck's DigestMachine. The
// harness keeps no disk or apply semantics of its own: it moves messages
// and snapshots, injects faults and journals what every member does.

// harnessGroup is the group id of the harness's one group in each store.
const harnessGroup replica.GroupID = 7

type member struct {
	id   MemberID
	cl   *clone.Clone
	n    *Node // cl.Core()
	sm   *simcheck.DigestMachine
	disk *replica.MemStore // the node's disk: it survives crashes
	up   bool
	// memory durability: nothing survives a crash
	memory  bool
	journal []simcheck.Event
	cfg     Config
	removed bool
	idle    uint64 // ticks skipped while quiescent (lazyTicks)
	// ghosts are removed incarnations that still answer with the decision
	// until they retire, as racs keeps them (racs/ghost.go).
	ghosts []*Node
}

// wake hands the node the ticks it skipped while quiescent.
func (m *member) wake() {
	if m.idle > 0 && m.n != nil {
		m.n.Elapse(m.idle)
	}
	m.idle = 0
}

func (m *member) setClone(cl *clone.Clone) {
	m.cl = cl
	m.n = nil
	if cl != nil {
		m.n = cl.Core()
	}
}

type envelope struct {
	m  Message
	at int
}

type cluster struct {
	rng     *rand.Rand
	step    int
	members map[NodeID]*member
	order   []NodeID
	net     []envelope
	knobs   TestingKnobs
	// the clones' snapshot policy
	snapEvery, logTail uint64
	// faults
	dropRate float64
	dupRate  float64
	maxDelay int
	// midReadyCrashP crashes a member in the middle of handling a Ready,
	// at a storage boundary (see handleReady).
	midReadyCrashP float64
	cutoff         map[[2]NodeID]bool // directed links that drop everything
	trace          *strings.Builder
	nextInc        uint64
	pendingSnaps   []snapTransfer
	submitted      map[EntryID][]byte
	// acknowledged: entries delivered at their origin (the client got success)
	acked       map[EntryID]Viewstamp
	maxAcked    uint64
	reads       map[uint64]readRec
	nextRead    uint64
	autoSuspect bool
	ackAll      bool // members run with Config.AckAll
	autoRejoin  bool
	lazyTicks   bool            // skip ticks of quiescent nodes (Quiescent/Elapse)
	leaving     map[NodeID]bool // members that left: not rejoined
	boot        View
	logger      *slog.Logger
	// scripted: a scenario moves messages and snapshots by hand (no delay).
	scripted bool
}

type snapTransfer struct {
	from, to MemberID
	pos      Viewstamp
	count    uint64
	dedup    []byte
	data     []byte
	at       int
}

type readRec struct {
	node   NodeID
	minSeq uint64 // highest acknowledged seq when the read was issued
	index  Viewstamp
	done   bool
}

func testConfig(node NodeID) Config {
	c := DefaultConfig()
	c.Cluster, c.Group, c.GroupIncarnation = 1, uint64(harnessGroup), 1
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
	c.logger = simcheck.TraceLogger(traceWriter{c})
	for _, m := range c.members {
		if m.n != nil {
			SetLogger(m.n, c.logger)
		}
	}
}

type traceWriter struct{ c *cluster }

func (w traceWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(w.c.trace, "%5d ", w.c.step)
	return w.c.trace.Write(p)
}

// newCluster bootstraps a group of n voters (every clone snapshots after
// every applied batch and keeps its whole log, unless the caller changes
// snapEvery and logTail before the first step).
func newCluster(seed uint64, n int, knobs TestingKnobs, opts ...func(*cluster)) *cluster {
	c := &cluster{
		rng: rand.New(rand.NewPCG(seed, 0x5157)), members: map[NodeID]*member{},
		cutoff: map[[2]NodeID]bool{}, leaving: map[NodeID]bool{}, acked: map[EntryID]Viewstamp{}, reads: map[uint64]readRec{},
		submitted: map[EntryID][]byte{}, nextInc: 2, maxDelay: 1, autoSuspect: true, autoRejoin: true,
		knobs: knobs, snapEvery: 1, logTail: 1 << 20,
	}
	for _, o := range opts {
		o(c)
	}
	v := View{Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, ID: 1}
	for i := 1; i <= n; i++ {
		v.Members = append(v.Members, Member{ID: MemberID{Node: NodeID(i), Incarnation: 1}, Role: Voter})
	}
	c.boot = v.Clone()
	for i := 1; i <= n; i++ {
		m := &member{id: MemberID{Node: NodeID(i), Incarnation: 1}, disk: replica.NewMemStore(), up: true}
		c.members[NodeID(i)] = m
		c.order = append(c.order, NodeID(i))
		m.cfg = c.memberConfig(NodeID(i), 1)
	}
	for _, id := range c.order {
		c.bootstrapMember(c.members[id], v)
	}
	return c
}

// bootstrapMember starts m as a member of the first view v.
func (c *cluster) bootstrapMember(m *member, v View) error {
	m.sm = &simcheck.DigestMachine{}
	cl, err := clone.Bootstrap(c.cloneConfig(m), m.cfg, v)
	if err != nil {
		return err
	}
	m.setClone(cl)
	m.id, m.up, m.removed = m.cfg.Self, true, false
	return nil
}

func (c *cluster) cloneConfig(m *member) clone.Config {
	return clone.Config{Group: harnessGroup, Durable: !m.memory, StateMachine: m.sm,
		SnapshotEvery: c.snapEvery, LogTail: c.logTail}
}

func (c *cluster) memberConfig(node NodeID, inc uint64) Config {
	cfg := testConfig(node)
	cfg.Self.Incarnation = inc
	cfg.AckAll = c.ackAll
	cfg.Seed = c.rng.Uint64()
	cfg.Logger = c.logger
	k := c.knobs
	// Journal what the member accepts, as it accepts it (not what it
	// persisted: the planted bug S4 persists less than it accepts).
	k.OnAccept = func(b Ballot, v View) {
		if m := c.members[node]; m != nil {
			m.journal = append(m.journal, simcheck.Event{Kind: simcheck.Accept, Member: cfg.Self, Ballot: b, View: v, Step: c.step})
		}
	}
	cfg.Knobs = &k
	return cfg
}

func (c *cluster) tracef(format string, args ...any) {
	if c.trace != nil {
		fmt.Fprintf(c.trace, format+"\n", args...)
	}
}

// eventf traces an event the scripted scenarios print themselves.
func (c *cluster) eventf(format string, args ...any) {
	if !c.scripted {
		c.tracef(format, args...)
	}
}

// crashPoint names where handleReady may crash a member (a storage
// boundary of the Ready contract).
type crashPoint int

const (
	noCrash            crashPoint = iota
	crashBeforePersist            // the ORDER frames left, nothing was written
	crashAfterPersist             // written, nothing else sent
	crashAfterSend                // written and sent, nothing applied
	crashAfterApply               // applied, the snapshot not written
	numCrashPoints
)

// readyPrinter receives the lines a scripted scenario prints about one
// Ready; nil prints nothing.
type readyPrinter struct {
	verbose bool
	lines   []string
	empty   bool // the Ready held nothing although HasReady said it would
}

func (p *readyPrinter) add(verboseOnly bool, format string, args ...any) {
	if p == nil || (verboseOnly && !p.verbose) {
		return
	}
	p.lines = append(p.lines, fmt.Sprintf(format, args...))
}

// handleReady drives one member's Ready exactly as racs does, through the
// member's clone: persist (one write) → send → apply (snapshot) → Advance.
// crash, if set, stops the member at that boundary.
func (c *cluster) handleReady(m *member, pr *readyPrinter, crash crashPoint) bool {
	if !m.up || m.n == nil || !m.n.HasReady() {
		return false
	}
	if crash == noCrash && c.midReadyCrashP > 0 && c.rng.Float64() < c.midReadyCrashP && c.mayLose(m) {
		crash = crashPoint(1 + c.rng.IntN(int(numCrashPoints)-1))
	}
	rd := m.n.Ready()
	if pr != nil && rd.Empty() {
		pr.empty = true
	}
	// 1. persist (only the sequencer's ORDER frames may leave before)
	if crash == crashBeforePersist {
		if len(rd.Entries) > 0 {
			pr.add(false, "not persisted: %s", envFmtEntries(rd.Entries))
		}
		for _, msg := range rd.Messages {
			if msg.Type == MsgOrder {
				c.send(msg, pr)
			} else {
				pr.add(false, "not sent: %v", msg)
			}
		}
		c.crashMidReady(m, crash)
		return true
	}
	if rd.HardState != nil {
		pr.add(true, "hs: %s", envFmtHS(rd.HardState))
	}
	if rd.TruncateAbove != nil {
		pr.add(true, "truncate above %v", *rd.TruncateAbove)
	}
	if len(rd.Entries) > 0 {
		pr.add(true, "persist: %s", envFmtEntries(rd.Entries))
	}
	if m.memory && (rd.HardState != nil || len(rd.Entries) > 0) {
		pr.add(true, "(memory member: nothing written)")
	}
	if w, ok := m.cl.Write(&rd); ok {
		if err := m.disk.Write(&replica.Batch{Writes: []replica.GroupWrite{w}}); err != nil {
			panic(err)
		}
	}
	if crash == crashAfterPersist {
		c.crashMidReady(m, crash)
		return true
	}
	// 2. send
	for _, msg := range rd.Messages {
		c.send(msg, pr)
	}
	if crash == crashAfterSend {
		c.crashMidReady(m, crash)
		return true
	}
	// 3. apply
	snap := m.cl.Apply(&rd, func(a clone.Applied) { c.journalDelivery(m, a) })
	if len(rd.Deliveries) > 0 {
		pr.add(false, "deliver: %s", envFmtDeliveries(rd.Deliveries))
	}
	if crash == crashAfterApply {
		c.crashMidReady(m, crash)
		return true
	}
	if snap != nil {
		if err := m.disk.Write(&replica.Batch{Writes: []replica.GroupWrite{*snap}}); err != nil {
			panic(err)
		}
	}
	if rd.NewView != nil {
		m.journal = append(m.journal, simcheck.Event{Kind: simcheck.Install, Member: m.id, View: rd.NewView.Clone(),
			Step: c.step, Restoring: m.n.Info().Restoring})
		pr.add(false, "new view: %v", *rd.NewView)
		c.eventf("%v installs %v", m.id, *rd.NewView)
	}
	for _, s := range rd.Snapshots {
		data, err := m.cl.SnapshotData()
		if err != nil {
			panic(err)
		}
		c.pendingSnaps = append(c.pendingSnaps, snapTransfer{from: m.id, to: s.To, pos: s.Pos, count: m.sm.Count(),
			dedup: s.Dedup, data: data, at: c.step + c.snapDelay()})
		pr.add(false, "snapshot for %v at %v", s.To, s.Pos)
	}
	for _, rs := range rd.ReadStates {
		r := c.reads[rs.ReadID]
		if rs.Err == nil {
			r.index, r.done = rs.Index, true
			c.reads[rs.ReadID] = r
			m.journal = append(m.journal, simcheck.Event{Kind: simcheck.Read, Member: m.id, Pos: rs.Index, ReadMin: r.minSeq, Step: c.step})
			pr.add(false, "read %d: index %v (applied %v)", rs.ReadID, rs.Index, m.cl.Applied())
		} else {
			delete(c.reads, rs.ReadID)
			pr.add(false, "read %d: %v", rs.ReadID, rs.Err)
		}
	}
	for _, o := range rd.Outcomes {
		pr.add(false, "outcome %v: %v", o.ID, o.Err)
	}
	if rd.Removed {
		m.removed = true
		m.journal = append(m.journal, simcheck.Event{Kind: simcheck.Removed, Member: m.id, Step: c.step})
		pr.add(false, "removed")
		c.eventf("%v removed", m.id)
	}
	m.cl.Advance(rd)
	return true
}

// snapDelay is how many steps a snapshot takes to reach its learner.
func (c *cluster) snapDelay() int {
	if c.scripted {
		return 0 // the next deliver-snaps or stabilize
	}
	return 1 + c.rng.IntN(3)
}

func (c *cluster) crashMidReady(m *member, at crashPoint) {
	if c.scripted {
		return // the scenario crashes it and prints what was lost
	}
	c.tracef("%v crashes mid-Ready (point %d)", m.id, at)
	c.crash(m.id.Node)
}

// journalDelivery records one applied delivery and, at its origin, the
// client's success.
func (c *cluster) journalDelivery(m *member, a clone.Applied) {
	m.journal = append(m.journal, simcheck.Event{Kind: simcheck.Deliver, Member: m.id, Entry: a.Entry, InView: a.InView,
		Dup: a.Duplicate, Step: c.step, Digest: m.sm.Digest()})
	if a.ID.Origin == m.id && !a.Duplicate {
		if _, ok := c.acked[a.ID]; !ok {
			c.acked[a.ID] = a.VS
			c.maxAcked = max(c.maxAcked, a.VS.Seq)
		}
	}
}

// send puts a message on the simulated network (or drops it).
func (c *cluster) send(msg Message, pr *readyPrinter) {
	if m := c.members[msg.From.Node]; msg.Type == MsgAck && m != nil && m.id == msg.From {
		m.journal = append(m.journal, simcheck.Event{Kind: simcheck.Ack, Member: m.id, Pos: msg.VS, Step: c.step})
	}
	to, from := msg.To.Node, msg.From.Node
	if c.cutoff[[2]NodeID{from, to}] {
		pr.add(true, "send: %v (lost: partition)", msg)
		return
	}
	pr.add(true, "send: %v", msg)
	if c.dropRate > 0 && c.rng.Float64() < c.dropRate {
		return
	}
	at := c.step + 1
	if c.scripted {
		at = c.step // the scripted scenarios move messages by hand
	}
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
		if gh := m.ghostFor(e.m.To); gh != nil {
			gh.Step(e.m)
			continue
		}
		m.wake()
		if err := m.n.Step(e.m); err != nil {
			panic(err)
		}
	}
}

// restoreSnapshot installs a donor's snapshot at its learner through the
// clone (restore, persist, tell the core), as racs does after the last
// chunk. It reports why it did not, if it did not.
func (c *cluster) restoreSnapshot(m *member, s snapTransfer) error {
	m.wake()
	if err := m.n.CheckRestore(s.pos); err != nil {
		return err
	}
	w, durable, err := m.cl.InstallSnapshot(s.pos, s.dedup, s.data)
	if err != nil {
		return err
	}
	if durable {
		if err := m.disk.Write(&replica.Batch{Writes: []replica.GroupWrite{w}}); err != nil {
			panic(err)
		}
	}
	if err := m.cl.Restored(s.pos, s.dedup); err != nil {
		return err
	}
	c.eventf("%v restored snapshot of %v at %v", m.id, s.from, s.pos)
	m.journal = append(m.journal, simcheck.Event{Kind: simcheck.Restore, Member: m.id, Pos: s.pos, Digest: m.sm.Digest(), Step: c.step})
	return nil
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
		c.restoreSnapshot(m, s)
	}
	c.pendingSnaps = keep
}

// runStep: deliver due messages, tick everyone (if tick), drain every
// node's Ready.
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
		if m.up {
			c.runGhosts(m, tick)
		}
		for i := 0; i < 4 && c.handleReady(m, nil, noCrash); i++ {
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
	m.ghosts = nil // they die with the process
	m.setClone(nil)
	m.idle = 0
	c.tracef("crash %d", id)
}

// restart brings a crashed member back: a durable one from its store
// (RECOVERING), a memory one (or one with an empty store) as a new
// incarnation that joins.
func (c *cluster) restart(id NodeID) {
	m := c.members[id]
	if m.up {
		return
	}
	m.up = true
	m.removed = false
	st, err := m.disk.Load(harnessGroup)
	if err != nil {
		panic(err)
	}
	if m.memory || st.HardState == nil {
		c.rejoinFresh(m)
		return
	}
	m.cfg.Logger = c.logger
	m.sm = &simcheck.DigestMachine{}
	cl, err := clone.Restart(c.cloneConfig(m), m.cfg, st)
	if err != nil {
		panic(fmt.Sprintf("restart %d: %v", id, err))
	}
	m.setClone(cl)
	in := m.n.Info()
	m.journal = append(m.journal, simcheck.Event{Kind: simcheck.Restart, Member: m.id, Step: c.step, Pos: cl.Applied(),
		Held: in.Held, Digest: m.sm.Digest(), View: m.n.View(), Restoring: in.Restoring})
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
	if m.n != nil && m.removed && !m.n.Retired() {
		m.ghosts = append(m.ghosts, m.n)
	}
	m.cfg, m.disk, m.sm = cfg, replica.NewMemStore(), &simcheck.DigestMachine{}
	cl, err := clone.Join(c.cloneConfig(m), cfg, contacts)
	if err != nil {
		panic(err)
	}
	m.setClone(cl)
	m.id, m.up, m.removed = cfg.Self, true, false
	m.journal = append(m.journal, simcheck.Event{Kind: simcheck.NewIncarnation, Member: cfg.Self, Step: c.step})
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

// multicast submits payload at node id through its clone, as racs does.
func (c *cluster) multicast(id NodeID, payload string) (EntryID, error) {
	m := c.members[id]
	if !m.up || m.n == nil {
		return EntryID{}, ErrNotNormal
	}
	m.wake()
	env := clone.NewEnvelope("", []byte(payload))
	eid, err := m.cl.Submit(env)
	if err == nil {
		c.submitted[eid] = env
	}
	return eid, err
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

// simRun hands the run to the checker.
func (c *cluster) simRun(settled bool, left map[NodeID]bool) *simcheck.Run {
	r := &simcheck.Run{Bootstrap: c.boot, Order: c.order, Journals: map[NodeID][]simcheck.Event{},
		Submitted: c.submitted, Acked: c.acked, Settled: settled, Describe: c.describe()}
	for _, id := range c.order {
		m := c.members[id]
		r.Journals[id] = m.journal
		if !m.up || m.removed || left[id] || m.n == nil {
			continue
		}
		in := m.n.Info()
		r.Final = append(r.Final, simcheck.Final{Member: m.id, View: in.View, Delivered: in.Delivered, Digest: m.sm.Digest()})
	}
	return r
}

func (c *cluster) describe() string {
	s := ""
	for _, id := range c.order {
		m := c.members[id]
		if !m.up || m.n == nil {
			s += fmt.Sprintf("[%d down] ", id)
			continue
		}
		in := m.n.Info()
		s += fmt.Sprintf("[%v %v v%d %v held=%v st=%v del=%v pend=%d rest=%v removed=%v] ", in.Self, in.Status, in.View, in.Role, in.Held, in.Stable, in.Delivered, in.Pending, in.Restoring, m.removed)
	}
	return s
}
