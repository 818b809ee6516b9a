package partitionmap

import (
	"testing"
	"time"
)

// bigMap is the benchmark cluster: 50 nodes in 5 zones, one hash service
// of 10,000 partitions with 3 clones each, converged.
func bigMap(tb tester) *Map {
	m := buildMap(tb, nodes(50, 5, "kv"))
	return ok(tb)(m.DefineService(m.Epoch, hashService("kv", 10000, 3), nil))
}

// BenchmarkPlan measures one Plan call on the 50-node, 10,000-partition
// map when a node joins and when one has died (past its grace). The
// unbounded cases allow every move at once, so "moves" is everything the
// event costs (the first steps: learners added; each is completed later by
// one promote); the bounded cases are a typical plan of 64 moves.
func BenchmarkPlan(b *testing.B) {
	base := bigMap(b)
	join := ok(b)(base.AddNode(base.Epoch, Node{ID: 51, Zone: "z0", Services: []string{"kv"}}))
	die := ok(b)(base.SetNodeState(base.Epoch, 7, NodeDead, t0))
	for _, c := range []struct {
		name string
		m    *Map
		max  int
	}{
		{"join/unbounded", join, 1 << 20},
		{"join/max64", join, 64},
		{"die/unbounded", die, 1 << 20},
		{"die/max64", die, 64},
		{"steady", base, 64},
	} {
		b.Run(c.name, func(b *testing.B) {
			live := allLive(c.m)
			pol := Policy{MaxConcurrentMoves: c.max, DeadGrace: 10 * time.Minute, Now: t0.Add(time.Hour)}
			var moves []Move
			for b.Loop() {
				var err error
				if moves, err = Plan(c.m, live, pol); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(moves)), "moves")
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	m := bigMap(b)
	for b.Loop() {
		if err := m.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// settle runs plans to the end, one ApplyAll per plan and one
// MarkLearnersReady per round (as a management service would batch them),
// checking each plan; it returns the map and what it took.
func settle(tb tester, m *Map, live map[NodeID]bool, pol Policy, maxRounds int) (*Map, stats) {
	tb.Helper()
	var st stats
	for ; st.rounds < maxRounds; st.rounds++ {
		moves, err := Plan(m, live, pol)
		if err != nil {
			tb.Fatal(err)
		}
		for _, mv := range moves {
			switch mv.Kind {
			case AddLearner:
				st.relocations++
			case Lead:
				st.leads++
			}
		}
		st.moves += len(moves)
		if len(moves) > 0 {
			if m, err = m.ApplyAll(m.Epoch, moves); err != nil {
				tb.Fatal(err)
			}
		}
		var ready []CloneRef
		for i := range m.Partitions {
			if l, ok := m.Partitions[i].Learner(); ok && !l.Ready && live[l.Node] {
				ready = append(ready, CloneRef{m.Partitions[i].Ref(), l.Node})
			}
		}
		if len(ready) > 0 {
			m = ok(tb)(m.MarkLearnersReady(m.Epoch, ready...))
		}
		if len(moves) == 0 && len(ready) == 0 {
			return m, st
		}
	}
	tb.Fatalf("no convergence in %d rounds", maxRounds)
	return nil, st
}

// BenchmarkSettle measures the whole of a join or a death on the big map
// with 64 concurrent moves: every plan and every change until the plan is
// empty. It reports the relocations (learners added: state copied), the
// sequencer handoffs, and the plan rounds.
func BenchmarkSettle(b *testing.B) {
	base := bigMap(b)
	join := ok(b)(base.AddNode(base.Epoch, Node{ID: 51, Zone: "z0", Services: []string{"kv"}}))
	die := ok(b)(base.SetNodeState(base.Epoch, 7, NodeDead, t0))
	for _, c := range []struct {
		name string
		m    *Map
	}{{"join", join}, {"die", die}} {
		b.Run(c.name, func(b *testing.B) {
			live := allLive(c.m)
			pol := Policy{MaxConcurrentMoves: 64, DeadGrace: 10 * time.Minute, Now: t0.Add(time.Hour)}
			var st stats
			for b.Loop() {
				_, st = settle(b, c.m, live, pol, 1000)
			}
			b.ReportMetric(float64(st.relocations), "relocations")
			b.ReportMetric(float64(st.leads), "leads")
			b.ReportMetric(float64(st.rounds), "rounds")
		})
	}
}

// TestBigMapEvents: on the benchmark map, a join and a death each cost
// (almost) exactly the relocations they must: the joiner's share, the dead
// node's clones.
func TestBigMapEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("big map")
	}
	base := bigMap(t)
	pol := Policy{MaxConcurrentMoves: 1 << 20, DeadGrace: time.Minute, Now: t0.Add(time.Hour)}
	count := func(moves []Move, kind MoveKind) int {
		k := 0
		for _, mv := range moves {
			if mv.Kind == kind {
				k++
			}
		}
		return k
	}

	join := ok(t)(base.AddNode(base.Epoch, Node{ID: 51, Zone: "z0", Services: []string{"kv"}}))
	moves := must2(Plan(join, allLive(join), pol))
	if n := count(moves, AddLearner); n != 30000/51 {
		t.Errorf("a join plans %d relocations, want the joiner's share %d", n, 30000/51)
	}
	for _, mv := range moves {
		if mv.Kind == AddLearner && mv.Node != 51 {
			t.Fatalf("a join moves a clone between old nodes: %v", mv)
		}
	}

	die := ok(t)(base.SetNodeState(base.Epoch, 7, NodeDead, t0))
	held := loads(base, "kv")[7]
	moves = must2(Plan(die, allLive(die), pol))
	if n := count(moves, AddLearner); n < held || n > held+5 {
		t.Errorf("a death plans %d relocations for the dead node's %d clones", n, held)
	}
	if n := count(moves, Lead); n != 0 {
		t.Errorf("%d sequencer handoffs planned while clones move", n)
	}
}
