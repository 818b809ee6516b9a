package partitionmap

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// checkPlan checks what every plan must satisfy, whatever the map.
func checkPlan(tb tester, m *Map, live map[NodeID]bool, pol Policy, moves []Move) {
	tb.Helper()
	inflight := 0
	for i := range m.Partitions {
		p := &m.Partitions[i]
		if _, ok := p.Learner(); ok && liveVotersOf(p, live, m) >= quorum(p.numVoters()) {
			inflight++
		}
	}
	seen := map[PartRef]bool{}
	started := 0
	for _, mv := range moves {
		if seen[mv.Partition] {
			tb.Fatalf("two moves for %v in one plan", mv.Partition)
		}
		seen[mv.Partition] = true
		if mv.Reason == "" {
			tb.Fatalf("move without a reason: %v", mv)
		}
		p, err := m.Partition(mv.Partition)
		if err != nil {
			tb.Fatalf("move for a partition not in the map: %v", err)
		}
		_, inFlight := p.Learner()
		switch mv.Kind {
		case AddLearner:
			started++
			n, err := m.Node(mv.Node)
			if err != nil || !n.Offers(mv.Partition.Service) || n.State != NodeActive || !live[mv.Node] {
				tb.Fatalf("a learner on an unusable node: %v (%+v)", mv, n)
			}
			if inFlight {
				tb.Fatalf("a second learner: %v", mv)
			}
		case PromoteAndRemove:
			l, _ := p.Learner()
			if !inFlight || l.Node != mv.Node || !l.Ready || !live[mv.Node] {
				tb.Fatalf("promotes what is not a ready live learner: %v", mv)
			}
		case Remove:
			if c, _ := p.Holds(mv.Node); c.Role == Voter {
				started++
			}
		case Lead:
			started++
		}
	}
	if started > max(pol.MaxConcurrentMoves-inflight, 0) {
		tb.Fatalf("%d new moves with %d in flight and at most %d concurrent", started, inflight, pol.MaxConcurrentMoves)
	}
	// The same input gives the same plan.
	again, err := Plan(m, live, pol)
	if err != nil || !reflect.DeepEqual(again, moves) {
		tb.Fatalf("a second Plan differs: %v", err)
	}
}

// checkStep checks one applied move: the map is valid and no partition
// that had a live majority of voters lost it.
func checkStep(tb tester, before, after *Map, live map[NodeID]bool, mv Move) {
	tb.Helper()
	if err := after.Validate(); err != nil {
		tb.Fatalf("after %v: %v", mv, err)
	}
	for i := range before.Partitions {
		b, a := &before.Partitions[i], &after.Partitions[i]
		hadMajority := liveVotersOf(b, live, before) >= quorum(b.numVoters())
		if hadMajority && liveVotersOf(a, live, after) < quorum(a.numVoters()) {
			tb.Fatalf("%v lost its live majority: %v took voters %v to %v", b.Ref(), mv, b.Voters(), a.Voters())
		}
		if a.Group != b.Group || a.SlotLo != b.SlotLo || a.SlotHi != b.SlotHi || string(a.Start) != string(b.Start) {
			tb.Fatalf("a move changed %v's keys or group", b.Ref())
		}
	}
}

type stats struct{ rounds, moves, relocations, leads int }

// converge plans and applies, step by step, marking learners ready after
// each round as their groups would report, until nothing is left to do.
func converge(tb tester, m *Map, live map[NodeID]bool, pol Policy, maxRounds int) (*Map, stats) {
	tb.Helper()
	var st stats
	for ; ; st.rounds++ {
		if st.rounds == maxRounds {
			tb.Fatalf("no convergence in %d rounds", maxRounds)
		}
		moves, err := Plan(m, live, pol)
		if err != nil {
			tb.Fatal(err)
		}
		checkPlan(tb, m, live, pol, moves)
		for _, mv := range moves {
			next, err := m.Apply(m.Epoch, mv)
			if err != nil {
				tb.Fatalf("applying %v: %v", mv, err)
			}
			checkStep(tb, m, next, live, mv)
			m = next
			st.moves++
			switch mv.Kind {
			case AddLearner:
				st.relocations++
			case Lead:
				st.leads++
			}
		}
		marked := false
		m, marked = markReady(tb, m, live, func() bool { return true })
		if len(moves) == 0 && !marked {
			return m, st
		}
	}
}

// markReady marks the learners on live nodes ready, where pick says so.
func markReady(tb tester, m *Map, live map[NodeID]bool, pick func() bool) (*Map, bool) {
	tb.Helper()
	marked := false
	for i := 0; i < len(m.Partitions); i++ {
		p := &m.Partitions[i]
		if l, busy := p.Learner(); busy && !l.Ready && live[l.Node] && pick() {
			m = ok(tb)(m.MarkLearnerReady(m.Epoch, p.Ref(), l.Node))
			marked = true
		}
	}
	return m, marked
}

func TestPlanRejectsBadInput(t *testing.T) {
	m := fixture(t)
	for _, pol := range []Policy{{MaxConcurrentMoves: 0, Now: t0}, {MaxConcurrentMoves: 1, DeadGrace: -1, Now: t0}, {MaxConcurrentMoves: 1}} {
		if _, err := Plan(m, allLive(m), pol); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("policy %+v: %v", pol, err)
		}
	}
	if _, err := Plan(nil, nil, DefaultPolicy(t0)); !errors.Is(err, ErrInvalidMap) {
		t.Error(err)
	}
	// Nobody live: nothing can change.
	if moves, err := Plan(m, nil, DefaultPolicy(t0)); err != nil || len(moves) != 0 {
		t.Errorf("plan with nobody live: %v %v", moves, err)
	}
}

func TestPlanDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := rapidSource{t}
		m := genMap(t, src, smallMaps)
		live := genLive(m, src)
		pol := Policy{MaxConcurrentMoves: src.intn(1, 8, "max moves"), DeadGrace: 10 * time.Minute, Now: t0}
		moves, err := Plan(m, live, pol)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, m, live, pol, moves)
		// A decoded copy and a live set built in another order plan the
		// same.
		var copied Map
		if err := copied.UnmarshalBinary(enc(t, m)); err != nil {
			t.Fatal(err)
		}
		live2 := map[NodeID]bool{}
		for i := len(m.Nodes) - 1; i >= 0; i-- {
			if live[m.Nodes[i].ID] {
				live2[m.Nodes[i].ID] = true
			}
		}
		if again := must2(Plan(&copied, live2, pol)); !reflect.DeepEqual(again, moves) {
			t.Fatalf("plans differ:\n%v\n%v", moves, again)
		}
		// The moves are independent: all of them apply as one change, in
		// either order.
		if _, err := m.ApplyAll(m.Epoch, moves); err != nil {
			t.Fatal(err)
		}
		slices.Reverse(moves)
		if _, err := m.ApplyAll(m.Epoch, moves); err != nil {
			t.Fatal(err)
		}
	})
}

// A new node takes about 1/N of the clones, with no more relocations than
// clones it ends up with, and a converged map is stable: its plan is empty.
func TestPlanNewNodeTakesItsShare(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := rapidSource{t}
		n := src.intn(3, 10, "nodes")
		m := buildMap(t, nodes(n, 1, "kv"))
		m = ok(t)(m.DefineService(m.Epoch, hashService("kv", src.intn(5, 80, "partitions"), src.intn(1, min(3, n), "clones")), nil))
		pol := Policy{MaxConcurrentMoves: src.intn(1, 10, "max moves"), DeadGrace: time.Minute, Now: t0}
		m, _ = converge(t, m, allLive(m), pol, 1000)
		if moves := must2(Plan(m, allLive(m), pol)); len(moves) != 0 {
			t.Fatalf("a converged map plans moves: %v", moves)
		}
		joiner := NodeID(n + 1)
		m = ok(t)(m.AddNode(m.Epoch, Node{ID: joiner, Zone: "z0", Services: []string{"kv"}}))
		m, st := converge(t, m, allLive(m), pol, 1000)
		l := loads(m, "kv")
		total := 0
		for _, k := range l {
			total += k
		}
		share := float64(total) / float64(n+1)
		if got := float64(l[joiner]); got < share-1 || got > share+1 {
			t.Fatalf("the new node holds %v clones of %d, its share is %.1f", got, total, share)
		}
		if st.relocations != l[joiner] {
			t.Fatalf("%d relocations to give the new node %d clones", st.relocations, l[joiner])
		}
		lo, hi := total, 0
		for id := NodeID(1); id <= joiner; id++ {
			lo, hi = min(lo, l[id]), max(hi, l[id])
		}
		if hi-lo > 1 {
			t.Fatalf("loads range %d..%d after the join", lo, hi)
		}
		if moves := must2(Plan(m, allLive(m), pol)); len(moves) != 0 {
			t.Fatalf("a converged map plans moves: %v", moves)
		}
	})
}

func TestPlanDrainEmptiesNode(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := rapidSource{t}
		m := genMap(t, src, smallMaps)
		if len(m.Nodes) == 0 {
			return
		}
		live := allLive(m)
		pol := Policy{MaxConcurrentMoves: src.intn(1, 10, "max moves"), DeadGrace: 0, Now: t0.Add(time.Hour)}
		drained := m.Nodes[src.intn(0, len(m.Nodes)-1, "drained")].ID
		if must2(m.Node(drained)).State == NodeDead {
			return
		}
		m = ok(t)(m.SetNodeState(m.Epoch, drained, NodeDraining, time.Time{}))
		m, _ = converge(t, m, live, pol, 1000)
		for i := range m.Partitions {
			p := &m.Partitions[i]
			if _, held := p.Holds(drained); !held {
				continue
			}
			// It may stay only where it cannot go: no other usable node,
			// or a group without a live majority.
			usable := 0
			for _, id := range m.NodesOffering(p.Service) {
				if n := must2(m.Node(id)); n.State == NodeActive && live[id] && id != drained {
					if _, h := p.Holds(id); !h {
						usable++
					}
				}
			}
			if usable > 0 && liveVotersOf(p, live, m) >= quorum(p.numVoters()) {
				t.Fatalf("drained node %d still holds %v: %v", drained, p.Ref(), p.Clones)
			}
		}
	})
}

func TestPlanDeadGrace(t *testing.T) {
	m := buildMap(t, nodes(6, 3, "kv"))
	m = ok(t)(m.DefineService(m.Epoch, hashService("kv", 30, 3), nil))
	held := loads(m, "kv")[1]
	m = ok(t)(m.SetNodeState(m.Epoch, 1, NodeDead, t0))
	live := allLive(m)
	pol := Policy{MaxConcurrentMoves: 100, DeadGrace: 10 * time.Minute, Now: t0.Add(10*time.Minute - time.Second)}
	for _, mv := range must2(Plan(m, live, pol)) {
		if mv.Replace == 1 || mv.Node == 1 {
			t.Fatalf("moved node 1's clone within the grace: %v", mv)
		}
	}
	pol.Now = t0.Add(10 * time.Minute)
	moves := must2(Plan(m, live, pol))
	replaced := 0
	for _, mv := range moves {
		if mv.Kind == AddLearner && mv.Replace == 1 {
			replaced++
			if !strings.HasPrefix(mv.Reason, "re-replicate: node 1 has been dead since 2026-03-01T12:00:00Z") {
				t.Fatalf("reason: %q", mv.Reason)
			}
			// Same zone as the dead node's: the spread over zones stays.
			if must2(m.Node(mv.Node)).Zone != "z0" {
				t.Fatalf("replacement in another zone: %v", mv)
			}
		}
	}
	if replaced != held {
		t.Fatalf("re-replicated %d of node 1's %d clones", replaced, held)
	}
	m, _ = converge(t, m, live, pol, 100)
	if l := loads(m, "kv"); l[1] != 0 {
		t.Fatalf("node 1 still holds %d clones", l[1])
	}
	m = ok(t)(m.RemoveNode(m.Epoch, 1))

	// A learner on a node declared dead is cancelled at once, grace or not.
	p := must2(m.Partition(PartRef{"kv", 0}))
	var spare NodeID
	for _, id := range m.NodesOffering("kv") {
		if _, h := p.Holds(id); !h {
			spare = id
			break
		}
	}
	m = ok(t)(m.MoveClone(m.Epoch, p.Ref(), p.Clones[0].Node, spare))
	m = ok(t)(m.SetNodeState(m.Epoch, spare, NodeDead, pol.Now))
	moves = must2(Plan(m, allLive(m), pol))
	if len(moves) == 0 || moves[0].Kind != Remove || moves[0].Node != spare || !strings.HasPrefix(moves[0].Reason, "cancel move") {
		t.Fatalf("learner on a dead node not cancelled first: %v", moves)
	}
}

func TestPlanSpreadsOverZones(t *testing.T) {
	// Three nodes of one zone first: every partition lives in z0 only.
	m := buildMap(t, nodes(3, 1, "kv"))
	m = ok(t)(m.DefineService(m.Epoch, hashService("kv", 24, 3), nil))
	for i, z := range []string{"z1", "z1", "z2", "z2"} {
		m = ok(t)(m.AddNode(m.Epoch, Node{ID: NodeID(10 + i), Zone: z, Services: []string{"kv"}}))
	}
	m, st := converge(t, m, allLive(m), Policy{MaxConcurrentMoves: 5, Now: t0}, 1000)
	for _, p := range m.Partitions {
		zones := map[string]bool{}
		for _, c := range p.Clones {
			zones[must2(m.Node(c.Node)).Zone] = true
		}
		if len(zones) != 3 {
			t.Fatalf("%v spans %d zones: %v", p.Ref(), len(zones), p.Clones)
		}
	}
	// Each partition needed two clones moved out of z0; balancing inside
	// the zones may add a few more, not many.
	if st.relocations > 24*2+8 {
		t.Fatalf("%d relocations to spread 24 partitions", st.relocations)
	}
}

func TestPlanChangesCloneCount(t *testing.T) {
	m := buildMap(t, nodes(7, 2, "kv"))
	m = ok(t)(m.DefineService(m.Epoch, hashService("kv", 20, 3), nil))
	pol := Policy{MaxConcurrentMoves: 4, Now: t0}
	for _, want := range []int{5, 2, 1, 7} {
		m = ok(t)(m.SetClones(m.Epoch, "kv", want))
		m, _ = converge(t, m, allLive(m), pol, 1000)
		for _, p := range m.Partitions {
			if len(p.Clones) != want || p.numVoters() != want {
				t.Fatalf("want %d clones, %v has %v", want, p.Ref(), p.Clones)
			}
		}
	}
}

func TestPlanBalancesSequencers(t *testing.T) {
	m := buildMap(t, nodes(4, 1, "kv"))
	m = ok(t)(m.DefineService(m.Epoch, hashService("kv", 40, 3), nil))
	// Make node 1 lead everything it holds.
	for _, p := range m.Partitions {
		if c, held := p.Holds(1); held && c.Role == Voter && p.Sequencer() != 1 {
			m = ok(t)(m.Apply(m.Epoch, Move{Partition: p.Ref(), Kind: Lead, Node: 1}))
		}
	}
	m, st := converge(t, m, allLive(m), Policy{MaxConcurrentMoves: 3, Now: t0}, 1000)
	seqs := map[NodeID]int{}
	for _, p := range m.Partitions {
		seqs[p.Sequencer()]++
	}
	for id := NodeID(1); id <= 4; id++ {
		if seqs[id] < 9 || seqs[id] > 11 {
			t.Fatalf("sequencers per node %v", seqs)
		}
	}
	if st.relocations != 0 {
		t.Fatalf("%d clones moved to balance sequencers", st.relocations)
	}
}

// TestPlanSimulation runs seeded random clusters through random events —
// joins, drains, deaths, revivals, nodes flapping, clone counts changing,
// operator moves — applying each plan one move at a time in a random order
// (and only part of it, sometimes), with learners becoming ready at random,
// checking every plan and every step. Then it lets the cluster settle and
// checks where it ends.
var simSeeds = flag.Int("sim.seeds", 60, "seeds for TestPlanSimulation")

func TestPlanSimulation(t *testing.T) {
	seeds := *simSeeds
	if testing.Short() {
		seeds = 15
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { simulate(t, seed) })
	}
}

func simulate(t *testing.T, seed uint64) {
	src := seeded(seed)
	m := genMap(t, src, genOpts{maxNodes: 12, maxZones: 3, maxParts: 25, maxClones: 5, mutations: 4})
	live := genLive(m, src)
	pol := Policy{MaxConcurrentMoves: src.intn(1, 6, ""), DeadGrace: 5 * time.Minute, Now: t0}
	type probe struct {
		svc, key string
		id       int
		group    uint64
	}
	var probes []probe
	for _, s := range m.Services {
		for k := 0; k < 50; k++ {
			key := fmt.Sprintf("k%04d", src.intn(0, 1200, ""))
			p := must2(m.LocateString(s.Name, key))
			probes = append(probes, probe{s.Name, key, p.ID, p.Group})
		}
	}
	nextID := NodeID(1000)
	for round := 0; round < 40; round++ {
		if src.intn(0, 2, "") == 0 {
			m, live = simEvent(t, m, live, src, &nextID, pol)
		}
		moves, err := Plan(m, live, pol)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, m, live, pol, moves)
		r := src.r
		r.Shuffle(len(moves), func(i, j int) { moves[i], moves[j] = moves[j], moves[i] })
		if src.intn(0, 4, "") == 0 {
			moves = moves[:src.intn(0, len(moves), "")] // the applier stopped part way
		}
		for _, mv := range moves {
			next, err := m.Apply(m.Epoch, mv)
			if err != nil {
				t.Fatalf("round %d: applying %v: %v", round, mv, err)
			}
			checkStep(t, m, next, live, mv)
			m = next
		}
		m, _ = markReady(t, m, live, func() bool { return src.intn(0, 2, "") > 0 })
		pol.Now = pol.Now.Add(time.Minute)
	}
	// Settle: every node not declared dead comes back, the grace passes.
	live = allLive(m)
	pol.Now = pol.Now.Add(time.Hour)
	m, _ = converge(t, m, live, pol, 2000)
	for _, pr := range probes {
		p := must2(m.LocateString(pr.svc, pr.key))
		if p.ID != pr.id || p.Group != pr.group {
			t.Fatalf("key %q of %q moved from partition %d to %d", pr.key, pr.svc, pr.id, p.ID)
		}
	}
	for i := range m.Partitions {
		p := &m.Partitions[i]
		svc := must2(m.Service(p.Service))
		if liveVotersOf(p, live, m) < quorum(p.numVoters()) {
			continue // lost its majority: nothing can change it
		}
		if _, busy := p.Learner(); busy {
			t.Fatalf("%v still has a learner: %v", p.Ref(), p.Clones)
		}
		usable := 0
		for _, id := range m.NodesOffering(p.Service) {
			if must2(m.Node(id)).State == NodeActive {
				usable++
			}
		}
		if usable >= svc.Clones && p.numVoters() != svc.Clones {
			t.Fatalf("%v has %d voters, wants %d: %v", p.Ref(), p.numVoters(), svc.Clones, p.Clones)
		}
		if usable < svc.Clones {
			continue
		}
		for _, c := range p.Clones {
			if n := must2(m.Node(c.Node)); n.State != NodeActive {
				t.Fatalf("%v keeps a clone on %v node %d", p.Ref(), n.State, n.ID)
			}
		}
	}
}

// simEvent applies one random event to the cluster.
func simEvent(t *testing.T, m *Map, live map[NodeID]bool, src randSource, nextID *NodeID, pol Policy) (*Map, map[NodeID]bool) {
	t.Helper()
	live = maps.Clone(live)
	anyNode := func() NodeID { return m.Nodes[src.intn(0, len(m.Nodes)-1, "")].ID }
	try := func(next *Map, err error) *Map {
		if err != nil {
			return m
		}
		return next
	}
	switch src.intn(0, 8, "") {
	case 0, 1: // a node joins
		*nextID++
		n := Node{ID: *nextID, Zone: fmt.Sprintf("z%d", src.intn(0, 2, ""))}
		for _, s := range serviceNames {
			if src.intn(0, 3, "") > 0 {
				n.Services = append(n.Services, s)
			}
		}
		m = ok(t)(m.AddNode(m.Epoch, n))
		live[n.ID] = true
	case 2:
		if len(m.Nodes) > 0 {
			m = try(m.SetNodeState(m.Epoch, anyNode(), NodeDraining, time.Time{}))
		}
	case 3: // a node dies
		if len(m.Nodes) > 0 {
			id := anyNode()
			m = ok(t)(m.SetNodeState(m.Epoch, id, NodeDead, pol.Now))
			live[id] = false
		}
	case 4: // back to service
		if len(m.Nodes) > 0 {
			id := anyNode()
			m = ok(t)(m.SetNodeState(m.Epoch, id, NodeActive, time.Time{}))
			live[id] = true
		}
	case 5: // flapping: the failure detector loses or regains a node
		if len(m.Nodes) > 0 {
			id := anyNode()
			live[id] = !live[id]
		}
	case 6:
		if len(m.Services) > 0 {
			s := m.Services[src.intn(0, len(m.Services)-1, "")]
			m = try(m.SetClones(m.Epoch, s.Name, src.intn(1, 5, "")))
		}
	case 7: // an operator moves a clone
		if len(m.Partitions) > 0 && len(m.Nodes) > 0 {
			p := &m.Partitions[src.intn(0, len(m.Partitions)-1, "")]
			m = try(m.MoveClone(m.Epoch, p.Ref(), p.Clones[0].Node, anyNode()))
		}
	case 8: // an empty node leaves
		if len(m.Nodes) > 0 {
			m = try(m.RemoveNode(m.Epoch, anyNode()))
		}
	}
	return m, live
}

// A service starts balanced: right after DefineService (every node live)
// Plan has nothing to do.
func TestPlanNothingAfterDefineService(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := rapidSource{t}
		n := src.intn(1, 12, "nodes")
		ns := nodes(n, src.intn(1, 4, "zones"), "kv")
		for i := range ns {
			ns[i].Zone = fmt.Sprintf("z%d", src.intn(0, 3, "zone"))
		}
		m := buildMap(t, ns)
		m = ok(t)(m.DefineService(m.Epoch, hashService("kv", src.intn(1, 200, "partitions"), src.intn(1, min(n, 5), "clones")), nil))
		if moves := must2(Plan(m, allLive(m), Policy{MaxConcurrentMoves: 1000, Now: t0})); len(moves) != 0 {
			t.Fatalf("a new service needs moves: %v", moves)
		}
	})
}
