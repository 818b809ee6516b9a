package groupcomm_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	. "github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
	"github.com/quicksilver-go/quicksilver/replica"
)

// interactionEnv drives a harness cluster by hand for the scripted
// scenarios: nothing moves unless a command says so. Messages wait in
// c.net until deliver-msgs or stabilize hands them over (or drops them);
// snapshots wait in c.pendingSnaps until deliver-snaps or stabilize; nodes
// tick only on tick or stabilize ticks=N; suspicions change only on
// suspect or detect. Every Ready is handled by the harness's handleReady
// (persist → send → apply → Advance, through each member's clone) and
// printed.
type interactionEnv struct {
	c *cluster
	// trace collects the harness's own trace lines (crash, restart, join).
	trace strings.Builder
	// views holds every view record seen (bootstrap or installed) by id.
	views map[uint64]View
	// problems found while running (conflicting view records, a Ready that
	// HasReady announced but that held nothing).
	problems []string
	boot     View
	ticks    int // tick rounds run by stabilize ticks=N (for the trace)
	// delayed holds messages put aside (deliver-msgs hold=true or
	// keep=true) until release puts them back in flight.
	delayed []Message
}

func newInteractionEnv() *interactionEnv {
	return &interactionEnv{views: map[uint64]View{}}
}

// handle runs one command. Commands:
//
//	bootstrap n=3 [learners=1] [memory=(2,3)] [seed=1] [snapshot-every=1] [log-tail=N]
//	multicast node=2 payload=x [count=5]
//	tick [nodes=(1,2)] [n=1] [until-ready]
//	process-ready [nodes=(1,2)] [crash-before-persist]
//	deliver-msgs [from=(1)] [to=(2,3)] [type=(Order,Ack)] [count=N] [drop=true|hold=true|keep=true]
//	release [from=] [to=] [type=]        (delayed messages back in flight)
//	deliver-snaps [to=(4)] [drop=true]
//	net                                  (list queued and delayed messages)
//	stabilize [nodes=(..)] [ticks=N] [trace=events] [snaps=false]
//	crash node=1 | restart node=1 [incarnation=9] | wipe node=1
//	rebootstrap node=1 [incarnation=1]
//	partition 1,2|3 | heal
//	suspect node=1 of=3 [on=false] | detect
//	propose node=1 kind=add|promote|remove|readmit|lead member=4[.2] [epoch=N]
//	leave node=2 | read node=2
//	join [contacts=(1,2)|none]
//	status | delivered [nodes=..] | check
func (e *interactionEnv) handle(t *testing.T, td *datadriven.TestData) string {
	var b strings.Builder
	if td.Cmd != "bootstrap" && e.c == nil {
		td.Fatalf(t, "bootstrap first")
	}
	if e.c != nil {
		e.c.step++
	}
	switch td.Cmd {
	case "bootstrap":
		e.bootstrap(t, td, &b)
	case "multicast":
		e.multicast(t, td, &b)
	case "tick":
		// tick [nodes=..] [n=N] [until-ready]: with until-ready, tick each
		// node until it has a Ready (at most N times) and say how long.
		n := envIntArg(t, td, "n", 1)
		until := td.HasArg("until-ready")
		for _, id := range e.nodes(t, td, "nodes") {
			m := e.c.members[id]
			if !m.up || m.n == nil {
				fmt.Fprintf(&b, "%d is down\n", id)
				continue
			}
			k := 0
			for k < n && !(until && m.n.HasReady()) {
				m.n.Tick()
				k++
			}
			if until {
				if m.n.HasReady() {
					fmt.Fprintf(&b, "%v: ready after %d tick(s)\n", m.id, k)
				} else {
					fmt.Fprintf(&b, "%v: nothing after %d tick(s)\n", m.id, k)
				}
			}
		}
	case "process-ready":
		// process-ready [nodes=..] [crash-before-persist]: with
		// crash-before-persist, the node sends the ORDER frames of its
		// Ready (the only messages allowed to leave before the write)
		// and crashes before anything of the Ready is written.
		crash := noCrash
		if td.HasArg("crash-before-persist") {
			crash = crashBeforePersist
		}
		for _, id := range e.nodes(t, td, "nodes") {
			e.processReady(e.c.members[id], &b, true, crash)
		}
	case "deliver-msgs":
		e.deliverMsgs(t, td, &b)
	case "deliver-snaps":
		e.deliverSnaps(t, td, &b)
	case "net":
		if len(e.c.net) == 0 {
			b.WriteString("(empty)\n")
		}
		for _, env := range e.c.net {
			fmt.Fprintf(&b, "%v\n", env.m)
		}
		for _, s := range e.c.pendingSnaps {
			fmt.Fprintf(&b, "snapshot %v->%v at %v\n", s.from, s.to, s.pos)
		}
		for _, m := range e.delayed {
			fmt.Fprintf(&b, "delayed: %v\n", m)
		}
	case "release":
		// release [from=] [to=] [type=]: put delayed messages back in
		// flight, after everything already queued.
		f := e.filter(t, td)
		keep := e.delayed[:0:0]
		for _, msg := range e.delayed {
			if f.match(msg) {
				e.c.net = append(e.c.net, envelope{m: msg, at: e.c.step})
				fmt.Fprintf(&b, "released: %v\n", msg)
				continue
			}
			keep = append(keep, msg)
		}
		e.delayed = keep
	case "stabilize":
		e.stabilize(t, td, &b)
	case "crash":
		e.crash(t, td, &b)
	case "restart":
		e.restart(t, td, &b)
	case "wipe":
		id := NodeID(envIntArg(t, td, "node", 0))
		m := e.c.members[id]
		if m.up {
			td.Fatalf(t, "wipe a crashed node")
		}
		m.disk = replica.NewMemStore()
		fmt.Fprintf(&b, "disk of %d wiped\n", id)
	case "rebootstrap":
		e.rebootstrap(t, td, &b)
	case "partition":
		e.partition(t, td, &b)
	case "heal":
		e.c.heal()
		b.WriteString("healed\n")
	case "suspect":
		id := NodeID(envIntArg(t, td, "node", 0))
		of := NodeID(envIntArg(t, td, "of", 0))
		on := envBoolArg(t, td, "on", true)
		m := e.c.members[id]
		if m.up && m.n != nil {
			m.wake()
			m.n.SetSuspected(of, on)
		}
		e.printSuspicions(&b, []NodeID{id})
	case "detect":
		e.c.updateSuspicions()
		e.printSuspicions(&b, e.c.order)
	case "propose":
		e.propose(t, td, &b)
	case "leave":
		id := NodeID(envIntArg(t, td, "node", 0))
		e.c.members[id].n.Leave()
		fmt.Fprintf(&b, "%v leaving\n", e.c.members[id].id)
	case "read":
		id := NodeID(envIntArg(t, td, "node", 0))
		e.c.strictRead(id)
		fmt.Fprintf(&b, "read %d at %v (highest acknowledged seq %d)\n", e.c.nextRead, e.c.members[id].id, e.c.maxAcked)
	case "join":
		e.join(t, td, &b)
	case "status":
		e.status(&b)
	case "delivered":
		e.delivered(t, td, &b)
	case "check":
		e.check(&b)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	if e.trace.Len() > 0 {
		b.WriteString(e.trace.String())
		e.trace.Reset()
	}
	return b.String()
}

// ---- arguments

func envIntArg(t *testing.T, td *datadriven.TestData, key string, def int) int {
	if a, ok := td.Arg(key); ok {
		v, err := strconv.Atoi(a.SingleVal(t))
		if err != nil {
			td.Fatalf(t, "%s: %v", key, err)
		}
		return v
	}
	return def
}

func envBoolArg(t *testing.T, td *datadriven.TestData, key string, def bool) bool {
	if a, ok := td.Arg(key); ok {
		v, err := strconv.ParseBool(a.SingleVal(t))
		if err != nil {
			td.Fatalf(t, "%s: %v", key, err)
		}
		return v
	}
	return def
}

func envStrArg(td *datadriven.TestData, key, def string) string {
	if a, ok := td.Arg(key); ok && len(a.Vals) > 0 {
		return a.Vals[0]
	}
	return def
}

// envListArg returns the values of key, accepting key=(1,2) and key=1,2.
func envListArg(td *datadriven.TestData, key string) ([]string, bool) {
	a, ok := td.Arg(key)
	if !ok {
		return nil, false
	}
	var out []string
	for _, v := range a.Vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out, true
}

func envParseNodes(t *testing.T, td *datadriven.TestData, vals []string) []NodeID {
	var out []NodeID
	for _, s := range vals {
		v, err := strconv.Atoi(s)
		if err != nil {
			td.Fatalf(t, "bad node %q", s)
		}
		out = append(out, NodeID(v))
	}
	return out
}

// nodes returns the nodes named by key, or every node.
func (e *interactionEnv) nodes(t *testing.T, td *datadriven.TestData, key string) []NodeID {
	vals, ok := envListArg(td, key)
	if !ok {
		return slices.Clone(e.c.order)
	}
	return envParseNodes(t, td, vals)
}

// memberArg parses "4" (the node's current member) or "4.2".
func (e *interactionEnv) memberArg(t *testing.T, td *datadriven.TestData, key string) MemberID {
	s := envStrArg(td, key, "")
	node, inc, dotted := strings.Cut(s, ".")
	n, err := strconv.Atoi(node)
	if err != nil {
		td.Fatalf(t, "bad member %q", s)
	}
	if dotted {
		i, err := strconv.Atoi(inc)
		if err != nil {
			td.Fatalf(t, "bad member %q", s)
		}
		return MemberID{Node: NodeID(n), Incarnation: uint64(i)}
	}
	m := e.c.members[NodeID(n)]
	if m == nil {
		td.Fatalf(t, "no node %d", n)
	}
	return m.id
}

// ---- commands

func (e *interactionEnv) bootstrap(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	n := envIntArg(t, td, "n", 3)
	learners := envIntArg(t, td, "learners", 0)
	seed := envIntArg(t, td, "seed", 1)
	var memory []NodeID
	if vals, ok := envListArg(td, "memory"); ok {
		memory = envParseNodes(t, td, vals)
	}
	c := newCluster(uint64(seed), n, TestingKnobs{})
	c.autoSuspect, c.autoRejoin, c.scripted = false, false, true
	c.snapEvery = uint64(envIntArg(t, td, "snapshot-every", 1))
	c.logTail = uint64(envIntArg(t, td, "log-tail", 1<<20))
	c.trace = &e.trace
	v := c.boot.Clone()
	if learners > 0 {
		donor := v.Members[0].ID
		if n > 1 {
			donor = v.Members[1].ID
		}
		for i := n + 1; i <= n+learners; i++ {
			cfg := c.memberConfig(NodeID(i), 1)
			c.members[NodeID(i)] = &member{id: cfg.Self, up: true, cfg: cfg, disk: replica.NewMemStore()}
			c.order = append(c.order, NodeID(i))
			v.Members = append(v.Members, Member{ID: cfg.Self, Role: Learner, Donor: donor})
		}
		c.boot = v.Clone()
	}
	for _, id := range memory {
		c.members[id].memory = true
	}
	if learners > 0 || len(memory) > 0 || c.snapEvery != 1 || c.logTail != 1<<20 {
		for _, id := range c.order {
			m := c.members[id]
			m.journal = nil
			if err := c.bootstrapMember(m, v); err != nil {
				td.Fatalf(t, "bootstrap: %v", err)
			}
		}
	}
	e.c = c
	e.views, e.problems, e.ticks = map[uint64]View{}, nil, 0
	e.boot = v.Clone()
	e.views[v.ID] = v.Clone()
	fmt.Fprintf(b, "%v\n", v)
	for _, id := range memory {
		fmt.Fprintf(b, "%d is a memory member\n", id)
	}
}

func (e *interactionEnv) multicast(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	id := NodeID(envIntArg(t, td, "node", 0))
	payload := envStrArg(td, "payload", "x")
	count := envIntArg(t, td, "count", 1)
	var ids []EntryID
	for i := 1; i <= count; i++ {
		p := payload
		if count > 1 {
			p = fmt.Sprintf("%s%d", payload, i)
		}
		eid, err := e.c.multicast(id, p)
		if err != nil {
			fmt.Fprintf(b, "%d: multicast %q: %v\n", id, p, err)
			continue
		}
		ids = append(ids, eid)
	}
	switch {
	case len(ids) == 1:
		fmt.Fprintf(b, "%v submitted\n", ids[0])
	case len(ids) > 1:
		fmt.Fprintf(b, "%v..#%d submitted\n", ids[0], ids[len(ids)-1].Counter)
	}
}

// envFmtPayload prints the update an envelope carries.
func envFmtPayload(p []byte) string {
	s := string(p)
	if _, u, err := clone.DecodeEnvelope(p); err == nil {
		s = string(u)
	}
	if len(s) > 12 {
		s = s[:12] + "…"
	}
	return s
}

func envFmtEntries(ents []Entry) string {
	var parts []string
	for i, e := range ents {
		if len(ents) > 8 && i >= 3 && i < len(ents)-2 {
			if i == 3 {
				parts = append(parts, "…")
			}
			continue
		}
		parts = append(parts, fmt.Sprintf("%v:%s", e.VS, envFmtPayload(e.Payload)))
	}
	s := strings.Join(parts, " ")
	if len(ents) > 8 {
		s += fmt.Sprintf(" [%d entries]", len(ents))
	}
	return s
}

func envFmtDeliveries(ds []Delivery) string {
	var parts []string
	for i, d := range ds {
		if len(ds) > 8 && i >= 3 && i < len(ds)-2 {
			if i == 3 {
				parts = append(parts, "…")
			}
			continue
		}
		s := fmt.Sprintf("%v:%s", d.VS, envFmtPayload(d.Payload))
		if d.InView != d.VS.View {
			s += fmt.Sprintf("@v%d", d.InView)
		}
		if d.Duplicate {
			s += "(dup)"
		}
		parts = append(parts, s)
	}
	s := strings.Join(parts, " ")
	if len(ds) > 8 {
		s += fmt.Sprintf(" [%d entries]", len(ds))
	}
	return s
}

func envFmtHS(hs *HardState) string {
	acc := "-"
	if hs.AcceptedView != nil {
		acc = fmt.Sprintf("%v->v%d", hs.Accepted, hs.AcceptedView.ID)
	}
	return fmt.Sprintf("promised=%v accepted=%s installed=v%d", hs.Promised, acc, hs.Installed.ID)
}

// processReady handles one Ready of m with the harness's handleReady
// (acceptances are journaled by the harness's OnAccept knob), printing it.
// verbose=false prints only events (deliveries, views, removals, reads,
// outcomes, snapshot requests). crash stops m at that boundary (only
// crashBeforePersist is scripted: the ORDER frames leave, nothing is
// written).
func (e *interactionEnv) processReady(m *member, b *strings.Builder, verbose bool, crash crashPoint) bool {
	c := e.c
	if m == nil || !m.up || m.n == nil || !m.n.HasReady() {
		return false
	}
	id := m.id
	// Look at the Ready without taking it: HasReady must not lie.
	pr := &readyPrinter{verbose: verbose}
	installs := len(m.journal)
	if !c.handleReady(m, pr, crash) {
		return false
	}
	if pr.empty {
		e.problems = append(e.problems, fmt.Sprintf("step %d: %v: HasReady was true but Ready held nothing", c.step, id))
		pr.lines = append(pr.lines, "(empty Ready although HasReady was true)")
	}
	for _, ev := range m.journal[installs:] {
		if ev.Kind == simcheck.Install {
			e.recordView(ev.View, id)
		}
	}
	if crash != noCrash {
		fmt.Fprintf(b, "> %v ready (crashes before the write lands)\n", id)
		for _, l := range pr.lines {
			fmt.Fprintf(b, "  %s\n", l)
		}
		e.crashNode(id.Node, b)
		return true
	}
	if !verbose && len(pr.lines) == 0 {
		return true
	}
	fmt.Fprintf(b, "> %v ready\n", id)
	for _, l := range pr.lines {
		fmt.Fprintf(b, "  %s\n", l)
	}
	return true
}

// recordView notes an installed view record and flags a second, different
// record with the same id (P1).
func (e *interactionEnv) recordView(v View, by MemberID) {
	if old, ok := e.views[v.ID]; ok {
		if !old.Equal(&v) {
			e.problems = append(e.problems, fmt.Sprintf("step %d: P1: %v installed %v, but %v was installed before", e.c.step, by, v, old))
		}
		return
	}
	e.views[v.ID] = v.Clone()
}

type envMsgFilter struct {
	from, to map[NodeID]bool
	types    map[MsgType]bool
}

func (f envMsgFilter) match(m Message) bool {
	if f.from != nil && !f.from[m.From.Node] {
		return false
	}
	if f.to != nil && !f.to[m.To.Node] {
		return false
	}
	if f.types != nil && !f.types[m.Type] {
		return false
	}
	return true
}

func (e *interactionEnv) filter(t *testing.T, td *datadriven.TestData) envMsgFilter {
	var f envMsgFilter
	set := func(key string) map[NodeID]bool {
		vals, ok := envListArg(td, key)
		if !ok {
			return nil
		}
		s := map[NodeID]bool{}
		for _, id := range envParseNodes(t, td, vals) {
			s[id] = true
		}
		return s
	}
	f.from, f.to = set("from"), set("to")
	if vals, ok := envListArg(td, "type"); ok {
		f.types = map[MsgType]bool{}
		for _, v := range vals {
			found := false
			for mt := MsgType(1); mt <= MaxMsgType; mt++ {
				if strings.EqualFold(mt.String(), v) {
					f.types[mt] = true
					found = true
				}
			}
			if !found {
				td.Fatalf(t, "unknown message type %q", v)
			}
		}
	}
	return f
}

// deliverOne steps one message into its recipient and reports how it went.
func (e *interactionEnv) deliverOne(msg Message) string {
	c := e.c
	m := c.members[msg.To.Node]
	switch {
	case m == nil:
		return fmt.Sprintf("%v (lost: no such node)", msg)
	case !m.up || m.n == nil:
		return fmt.Sprintf("%v (lost: down)", msg)
	case c.cutoff[[2]NodeID{msg.From.Node, msg.To.Node}]:
		return fmt.Sprintf("%v (lost: partition)", msg)
	}
	m.wake()
	if err := m.n.Step(msg); err != nil {
		return fmt.Sprintf("%v (error: %v)", msg, err)
	}
	return msg.String()
}

func (e *interactionEnv) deliverMsgs(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	c := e.c
	f := e.filter(t, td)
	drop := envBoolArg(t, td, "drop", false)
	// keep=true delivers the messages and puts a duplicate aside;
	// hold=true puts them aside undelivered. Messages put aside stay out
	// of deliver-msgs and stabilize until release.
	dup := envBoolArg(t, td, "keep", false)
	hold := envBoolArg(t, td, "hold", false)
	count := envIntArg(t, td, "count", -1)
	var take []Message
	keep := c.net[:0:0]
	for _, env := range c.net {
		if f.match(env.m) && count != 0 {
			take = append(take, env.m)
			count--
			continue
		}
		keep = append(keep, env)
	}
	c.net = keep
	for _, msg := range take {
		if drop {
			fmt.Fprintf(b, "dropped: %v\n", msg)
			continue
		}
		if hold {
			e.delayed = append(e.delayed, msg)
			fmt.Fprintf(b, "delayed: %v\n", msg)
			continue
		}
		if dup {
			e.delayed = append(e.delayed, msg)
		}
		fmt.Fprintf(b, "%s\n", e.deliverOne(msg))
	}
	if len(take) == 0 {
		b.WriteString("(no messages)\n")
	}
}

func (e *interactionEnv) deliverSnaps(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	var to map[NodeID]bool
	if vals, ok := envListArg(td, "to"); ok {
		to = map[NodeID]bool{}
		for _, id := range envParseNodes(t, td, vals) {
			to[id] = true
		}
	}
	drop := envBoolArg(t, td, "drop", false)
	if !e.deliverSnapshots(to, drop, b) {
		b.WriteString("(no snapshots)\n")
	}
}

// deliverSnapshots restores the pending snapshots (to the nodes in to, or
// all) at their learners, or drops them.
func (e *interactionEnv) deliverSnapshots(to map[NodeID]bool, drop bool, b *strings.Builder) bool {
	c := e.c
	var take []snapTransfer
	keep := c.pendingSnaps[:0:0]
	for _, s := range c.pendingSnaps {
		if to == nil || to[s.to.Node] {
			take = append(take, s)
		} else {
			keep = append(keep, s)
		}
	}
	c.pendingSnaps = keep
	for _, s := range take {
		desc := fmt.Sprintf("snapshot %v->%v at %v (%d applied)", s.from, s.to, s.pos, s.count)
		m := c.members[s.to.Node]
		switch {
		case drop:
			fmt.Fprintf(b, "dropped: %s\n", desc)
			continue
		case m == nil || !m.up || m.n == nil:
			fmt.Fprintf(b, "%s (lost: down)\n", desc)
			continue
		case m.id != s.to:
			fmt.Fprintf(b, "%s (lost: %v is now %v)\n", desc, s.to, m.id)
			continue
		case c.cutoff[[2]NodeID{s.from.Node, s.to.Node}]:
			fmt.Fprintf(b, "%s (lost: partition)\n", desc)
			continue
		}
		if err := c.restoreSnapshot(m, s); err != nil {
			fmt.Fprintf(b, "%s: Restore: %v\n", desc, err)
			continue
		}
		fmt.Fprintf(b, "%s restored\n", desc)
	}
	return len(take) > 0
}

// stabilize alternates Ready handling and message (and snapshot) delivery
// until nothing moves. With ticks=N it then ticks every live node, up to N
// times, continuing after each tick until nothing moves, and stops early
// once the cluster has settled. trace=events prints only events;
// snaps=false leaves snapshots in flight.
func (e *interactionEnv) stabilize(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	c := e.c
	nodes := e.nodes(t, td, "nodes")
	only := map[NodeID]bool{}
	for _, id := range nodes {
		only[id] = true
	}
	ticks := envIntArg(t, td, "ticks", 0)
	verbose := envStrArg(td, "trace", "full") != "events"
	holdSnaps := !envBoolArg(t, td, "snaps", true)
	idleTicks := 0
	ticked := 0
	for rounds := 0; ; rounds++ {
		if rounds > 100000 {
			b.WriteString("stabilize: no quiescence\n")
			return
		}
		var rb strings.Builder
		moved := false
		for _, id := range nodes {
			if e.processReady(c.members[id], &rb, verbose, noCrash) {
				moved = true
			}
		}
		var take []Message
		keep := c.net[:0:0]
		for _, env := range c.net {
			if only[env.m.To.Node] || c.members[env.m.To.Node] == nil {
				take = append(take, env.m)
			} else {
				keep = append(keep, env)
			}
		}
		c.net = keep
		var db strings.Builder
		for _, msg := range take {
			moved = true
			s := e.deliverOne(msg)
			if verbose {
				fmt.Fprintf(&db, "  %s\n", s)
			}
		}
		var snapTo map[NodeID]bool = only
		var sb strings.Builder
		if holdSnaps {
			snapTo = map[NodeID]bool{}
		}
		if len(c.pendingSnaps) > 0 && e.deliverSnapshots(snapTo, false, &sb) {
			moved = true
		}
		if rb.Len() > 0 || sb.Len() > 0 || db.Len() > 0 {
			if idleTicks > 0 {
				fmt.Fprintf(b, "---- after %d tick(s)\n", idleTicks)
				idleTicks = 0
			}
			b.WriteString(rb.String())
			if db.Len() > 0 {
				b.WriteString("> deliver\n")
				b.WriteString(db.String())
			}
			b.WriteString(sb.String())
		}
		if moved {
			continue
		}
		if ticked >= ticks || e.settled() {
			break
		}
		ticked++
		idleTicks++
		e.ticks++
		for _, id := range nodes {
			if m := c.members[id]; m.up && m.n != nil {
				m.wake()
				m.n.Tick()
			}
		}
	}
	if ticks > 0 {
		if e.settled() {
			fmt.Fprintf(b, "---- settled after %d tick(s)\n", ticked)
		} else {
			fmt.Fprintf(b, "---- not settled after %d tick(s)\n", ticked)
		}
	}
}

// settled is the harness's settled() plus: no partition, no snapshot in
// flight, no strict read pending, no membership change queued or member
// leaving, every
// live member's sequencer up.
func (e *interactionEnv) settled() bool {
	if len(e.c.pendingSnaps) > 0 || len(e.c.cutoff) > 0 || !e.c.settled() {
		return false
	}
	for _, r := range e.c.reads {
		if !r.done {
			return false
		}
	}
	for _, id := range e.c.order {
		m := e.c.members[id]
		if m.up && m.n != nil && !m.removed && (PendingChanges(m.n) > 0 || IsLeaving(m.n)) {
			return false
		}
		if m.up && m.n != nil && !m.removed {
			v := m.n.View()
			if sq := e.c.members[v.Sequencer().Node]; sq == nil || !sq.up {
				return false
			}
		}
	}
	return true
}

func (e *interactionEnv) crash(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	e.crashNode(NodeID(envIntArg(t, td, "node", 0)), b)
}

func (e *interactionEnv) crashNode(id NodeID, b *strings.Builder) {
	c := e.c
	c.crash(id)
	keep := c.net[:0:0]
	for _, env := range c.net {
		if env.m.To.Node == id {
			fmt.Fprintf(b, "lost in flight: %v\n", env.m)
			continue
		}
		keep = append(keep, env)
	}
	c.net = keep
	kd := e.delayed[:0:0]
	for _, m := range e.delayed {
		if m.To.Node == id {
			fmt.Fprintf(b, "lost in flight: %v\n", m)
			continue
		}
		kd = append(kd, m)
	}
	e.delayed = kd
	ks := c.pendingSnaps[:0:0]
	for _, s := range c.pendingSnaps {
		if s.from.Node == id || s.to.Node == id {
			fmt.Fprintf(b, "snapshot %v->%v at %v lost mid-transfer\n", s.from, s.to, s.pos)
			continue
		}
		ks = append(ks, s)
	}
	c.pendingSnaps = ks
	m := c.members[id]
	st, _ := m.disk.Load(harnessGroup)
	switch {
	case m.memory:
		fmt.Fprintf(b, "%d crashed (memory member: state lost)\n", id)
	case st.HardState != nil:
		applied := Viewstamp{}
		if st.Snapshot != nil {
			applied = st.Snapshot.Pos
		}
		fmt.Fprintf(b, "%d crashed (disk: %s, log %s, applied %v)\n", id, envFmtHS(st.HardState), envFmtLogRange(st.Log), applied)
	default:
		fmt.Fprintf(b, "%d crashed (disk empty)\n", id)
	}
}

func envFmtLogRange(log []Entry) string {
	if len(log) == 0 {
		return "empty"
	}
	return fmt.Sprintf("%v..%v", log[0].VS, log[len(log)-1].VS)
}

func (e *interactionEnv) restart(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	c := e.c
	id := NodeID(envIntArg(t, td, "node", 0))
	m := c.members[id]
	if m.up {
		td.Fatalf(t, "%d is up", id)
	}
	if a, ok := td.Arg("incarnation"); ok {
		inc, _ := strconv.Atoi(a.SingleVal(t))
		d, _ := m.disk.Load(harnessGroup)
		if d.HardState == nil {
			td.Fatalf(t, "incarnation= needs a disk")
		}
		cfg := m.cfg
		cfg.Self.Incarnation = uint64(inc)
		st := RestartState{HardState: *d.HardState, Log: d.Log, StableHint: d.StableHint}
		if d.Snapshot != nil {
			st.Applied, st.Dedup = d.Snapshot.Pos, d.Snapshot.Dedup
		}
		if _, err := Restart(cfg, st); err != nil {
			fmt.Fprintf(b, "Restart as %v: %v\n", cfg.Self, err)
			return
		}
		fmt.Fprintf(b, "Restart as %v: accepted (not started)\n", cfg.Self)
		return
	}
	c.restart(id)
	in := m.n.Info()
	fmt.Fprintf(b, "%v %v in v%d, held %v, applied %v\n", in.Self, in.Status, in.View, in.Held, m.cl.Applied())
}

// rebootstrap runs Bootstrap again on a node (an operator re-running the
// bootstrap of view 1), with its old or a new incarnation.
func (e *interactionEnv) rebootstrap(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	c := e.c
	id := NodeID(envIntArg(t, td, "node", 0))
	m := c.members[id]
	cfg := m.cfg
	cfg.Self.Incarnation = uint64(envIntArg(t, td, "incarnation", int(cfg.Self.Incarnation)))
	old := m.cfg
	m.cfg, m.disk = cfg, replica.NewMemStore()
	if err := c.bootstrapMember(m, e.boot); err != nil {
		m.cfg = old
		fmt.Fprintf(b, "Bootstrap %v: %v\n", cfg.Self, err)
		return
	}
	m.journal = append(m.journal, simcheck.Event{Kind: simcheck.NewIncarnation, Member: cfg.Self, Step: c.step})
	fmt.Fprintf(b, "Bootstrap %v: ok, %v\n", cfg.Self, m.n.View())
}

func (e *interactionEnv) partition(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	var groups [][]NodeID
	for _, a := range td.CmdArgs {
		for _, side := range strings.Split(a.Key, "|") {
			var g []NodeID
			for _, s := range strings.Split(side, ",") {
				v, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil {
					td.Fatalf(t, "bad partition %q", a.Key)
				}
				g = append(g, NodeID(v))
			}
			groups = append(groups, g)
		}
	}
	e.c.partition(groups...)
	var parts []string
	for _, g := range groups {
		var s []string
		for _, id := range g {
			s = append(s, strconv.Itoa(int(id)))
		}
		parts = append(parts, "{"+strings.Join(s, ",")+"}")
	}
	fmt.Fprintf(b, "partitioned %s\n", strings.Join(parts, " | "))
}

func (e *interactionEnv) printSuspicions(b *strings.Builder, ids []NodeID) {
	for _, id := range ids {
		m := e.c.members[id]
		if !m.up || m.n == nil {
			continue
		}
		var s []string
		for _, o := range e.c.order {
			if Suspects(m.n, o) {
				s = append(s, strconv.Itoa(int(o)))
			}
		}
		fmt.Fprintf(b, "%v suspects {%s}\n", m.id, strings.Join(s, ","))
	}
}

func (e *interactionEnv) propose(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	id := NodeID(envIntArg(t, td, "node", 0))
	var kind ChangeKind
	switch k := envStrArg(td, "kind", ""); k {
	case "add":
		kind = AddLearner
	case "promote":
		kind = Promote
	case "remove":
		kind = Remove
	case "readmit":
		kind = Readmit
	case "lead":
		kind = Lead
	default:
		td.Fatalf(t, "unknown kind %q", k)
	}
	ch := Change{Kind: kind, Member: e.memberArg(t, td, "member"), Epoch: uint64(envIntArg(t, td, "epoch", 0))}
	m := e.c.members[id]
	m.wake()
	if err := m.n.Propose(ch); err != nil {
		fmt.Fprintf(b, "propose %v at %v: %v\n", ch, m.id, err)
		return
	}
	fmt.Fprintf(b, "propose %v at %v: queued\n", ch, m.id)
}

func (e *interactionEnv) join(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	c := e.c
	id := NodeID(len(c.order) + 1)
	var contacts []NodeID
	if vals, ok := envListArg(td, "contacts"); ok {
		if !(len(vals) == 1 && vals[0] == "none") {
			contacts = envParseNodes(t, td, vals)
		}
	} else {
		contacts = slices.Clone(c.order)
	}
	inc := c.nextInc
	c.nextInc++
	cfg := c.memberConfig(id, inc)
	m := &member{id: cfg.Self, up: true, cfg: cfg, disk: replica.NewMemStore(), sm: &simcheck.DigestMachine{}}
	cl, err := clone.Join(c.cloneConfig(m), cfg, contacts)
	if err != nil {
		td.Fatalf(t, "join: %v", err)
	}
	m.setClone(cl)
	c.members[id] = m
	c.order = append(c.order, id)
	fmt.Fprintf(b, "%v joining via %v\n", cfg.Self, contacts)
}

func (e *interactionEnv) status(b *strings.Builder) {
	for _, id := range e.c.order {
		m := e.c.members[id]
		if !m.up || m.n == nil {
			fmt.Fprintf(b, "%d: down\n", id)
			continue
		}
		in := m.n.Info()
		role := in.Role.String()
		if in.Restoring {
			role += ",restoring"
		}
		anyRead := "no"
		if m.n.CanServeAny() {
			anyRead = "yes"
		}
		fmt.Fprintf(b, "%v: %v v%d %s held=%v stable=%v delivered=%v digest=%04x pending=%d any-read=%s\n",
			in.Self, in.Status, in.View, role, in.Held, in.Stable, in.Delivered, m.sm.Digest()&0xffff, in.Pending, anyRead)
	}
	views := map[uint64]bool{}
	for _, id := range e.c.order {
		m := e.c.members[id]
		if m.up && m.n != nil && !views[m.n.View().ID] {
			views[m.n.View().ID] = true
			fmt.Fprintf(b, "  %v\n", m.n.View())
		}
	}
}

func (e *interactionEnv) delivered(t *testing.T, td *datadriven.TestData, b *strings.Builder) {
	for _, id := range e.nodes(t, td, "nodes") {
		m := e.c.members[id]
		var parts []string
		for _, ev := range m.journal {
			switch ev.Kind {
			case simcheck.Deliver:
				s := fmt.Sprintf("%v:%s", ev.Entry.VS, envFmtPayload(ev.Entry.Payload))
				if ev.Dup {
					s += "(dup)"
				}
				parts = append(parts, s)
			case simcheck.Restore:
				parts = append(parts, fmt.Sprintf("[snapshot@%v]", ev.Pos))
			case simcheck.Restart:
				parts = append(parts, "[restart]")
			case simcheck.NewIncarnation:
				parts = append(parts, "[new incarnation]")
			case simcheck.Install:
				parts = append(parts, fmt.Sprintf("|v%d", ev.View.ID))
			case simcheck.Removed:
				parts = append(parts, "[removed]")
			}
		}
		fmt.Fprintf(b, "%d: %s\n", id, strings.Join(parts, " "))
	}
}

// check verifies, from every member's journal, the properties that hold
// at any moment (simcheck.CheckSafety: P1–P7, P8's "acknowledged updates
// are in every later cut", P10, P13, P14, S6 and G7's "a voter holds
// state"), and:
//
//	P12 members at the same applied position have the same digest
//	G7  every live NORMAL member that is not restoring has delivered up to
//	    its view's cut (holds the state the cut implies)
//
// and that no Ready was empty although HasReady said otherwise. It prints
// "ok" or every violation.
func (e *interactionEnv) check(b *strings.Builder) {
	c := e.c
	probs := slices.Clone(e.problems)
	probs = append(probs, simcheck.CheckSafety(c.simRun(false, nil)).Violations...)
	byPos := map[Viewstamp]struct {
		digest uint64
		who    NodeID
	}{}
	for _, nid := range c.order {
		m := c.members[nid]
		if !m.up || m.n == nil || m.cl.Applied() == (Viewstamp{}) {
			continue
		}
		applied := m.cl.Applied()
		if o, ok := byPos[applied]; ok && o.digest != m.sm.Digest() {
			probs = append(probs, fmt.Sprintf("P12: %d and %d both applied up to %v with different digests", o.who, nid, applied))
		}
		byPos[applied] = struct {
			digest uint64
			who    NodeID
		}{m.sm.Digest(), nid}
	}
	for _, nid := range c.order {
		m := c.members[nid]
		if !m.up || m.n == nil || m.removed {
			continue
		}
		in := m.n.Info()
		if v := m.n.View(); in.Status == StatusNormal && !in.Restoring && in.Delivered.Less(v.Cut) {
			probs = append(probs, fmt.Sprintf("G7: %v is a %v of v%d but delivered only %v, below the cut %v (no state)", in.Self, in.Role, in.View, in.Delivered, v.Cut))
		}
	}
	if len(probs) == 0 {
		b.WriteString("ok\n")
		return
	}
	for _, p := range probs {
		fmt.Fprintf(b, "%s\n", p)
	}
}
