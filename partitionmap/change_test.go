package partitionmap

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// fixture: 4 nodes in 2 zones; node 4 offers only kv; a hash kv service
// of 4 partitions and a range catalog of 3, 3 clones each; partition kv/0
// has a learner on its free node (not ready), catalog/1 a ready one.
func fixture(t *testing.T) *Map {
	t.Helper()
	ns := nodes(5, 2, "catalog", "kv")
	ns[3].Services = []string{"kv"}
	ns[4].Services = []string{"catalog"}
	m := buildMap(t, ns)
	m = ok(t)(m.DefineService(m.Epoch, hashService("kv", 4, 3), nil))
	m = ok(t)(m.DefineService(m.Epoch, Service{Name: "catalog", Partitioning: Range, Clones: 3, Durability: Memory}, SplitRanges("D", "G")))
	m = startMove(t, m, PartRef{"kv", 0}, false)
	m = startMove(t, m, PartRef{"catalog", 1}, true)
	return m
}

// startMove moves the partition's last voter to a node that offers the
// service and holds no clone of it.
func startMove(t *testing.T, m *Map, ref PartRef, ready bool) *Map {
	t.Helper()
	p := must2(m.Partition(ref))
	for _, id := range m.NodesOffering(ref.Service) {
		if _, held := p.Holds(id); !held {
			m = ok(t)(m.MoveClone(m.Epoch, ref, p.Voters()[len(p.Voters())-1].Node, id))
			if ready {
				m = ok(t)(m.MarkLearnerReady(m.Epoch, ref, id))
			}
			return m
		}
	}
	t.Fatalf("no node for a move of %v", ref)
	return nil
}

func TestChangesRejectBadInput(t *testing.T) {
	m := fixture(t)
	e := m.Epoch
	kv0 := must2(m.Partition(PartRef{"kv", 0}))
	kv1 := must2(m.Partition(PartRef{"kv", 1}))
	cat1 := must2(m.Partition(PartRef{"catalog", 1}))
	l0, _ := kv0.Learner()
	l1, _ := cat1.Learner()
	free := func(p *Partition) NodeID { // an active node offering kv without a clone of p
		for _, id := range m.NodesOffering(p.Service) {
			if _, held := p.Holds(id); !held {
				return id
			}
		}
		return 0
	}
	kvSvc := hashService("web", 2, 2)
	rangeSvc := func(rs ...KeyRange) (*Map, error) {
		return m.DefineService(e, Service{Name: "web", Partitioning: Range, Clones: 1, Durability: Disk}, rs)
	}
	kr := func(a, b string) KeyRange { return KeyRange{Start: Key(a), End: Key(b)} }

	cases := []struct {
		name string
		do   func() (*Map, error)
		want error
		msg  string // a fragment the message must contain
	}{
		{"stale epoch: AddNode", func() (*Map, error) { return m.AddNode(e-1, Node{ID: 99}) }, ErrStaleEpoch, "expects epoch"},
		{"stale epoch: future", func() (*Map, error) { return m.SetClones(e+1, "kv", 2) }, ErrStaleEpoch, ""},
		{"stale epoch: DefineService", func() (*Map, error) { return m.DefineService(e-3, kvSvc, nil) }, ErrStaleEpoch, ""},
		{"stale epoch: Apply", func() (*Map, error) { return m.Apply(e-1, Move{}) }, ErrStaleEpoch, ""},

		{"add node id 0", func() (*Map, error) { return m.AddNode(e, Node{}) }, ErrInvalidArgument, "id 0"},
		{"add existing node", func() (*Map, error) { return m.AddNode(e, Node{ID: 2}) }, ErrExists, "node 2"},
		{"add node, duplicate services", func() (*Map, error) { return m.AddNode(e, Node{ID: 9, Services: []string{"kv", "kv"}}) }, ErrInvalidArgument, "distinct"},
		{"add node, bad service name", func() (*Map, error) { return m.AddNode(e, Node{ID: 9, Services: []string{"a b"}}) }, ErrInvalidArgument, "service name"},
		{"add node, unknown state", func() (*Map, error) { return m.AddNode(e, Node{ID: 9, State: 7}) }, ErrInvalidArgument, "state"},
		{"add dead node without time", func() (*Map, error) { return m.AddNode(e, Node{ID: 9, State: NodeDead}) }, ErrInvalidArgument, "dead-since"},
		{"add node, bad zone", func() (*Map, error) { return m.AddNode(e, Node{ID: 9, Zone: "\xff"}) }, ErrInvalidArgument, "zone"},

		{"state of unknown node", func() (*Map, error) { return m.SetNodeState(e, 42, NodeDraining, time.Time{}) }, ErrUnknownNode, "42"},
		{"unknown state", func() (*Map, error) { return m.SetNodeState(e, 1, 9, time.Time{}) }, ErrInvalidArgument, "state"},
		{"dead without time", func() (*Map, error) { return m.SetNodeState(e, 1, NodeDead, time.Time{}) }, ErrInvalidArgument, "time it died"},
		{"dead in year 1", func() (*Map, error) { return m.SetNodeState(e, 1, NodeDead, time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)) }, ErrInvalidArgument, "year"},

		{"services of unknown node", func() (*Map, error) { return m.SetNodeServices(e, 42, nil) }, ErrUnknownNode, ""},
		{"drop a service with clones", func() (*Map, error) { return m.SetNodeServices(e, kv1.Clones[0].Node, []string{"catalog"}) }, ErrNodeInUse, "drain it first"},

		{"remove unknown node", func() (*Map, error) { return m.RemoveNode(e, 42) }, ErrUnknownNode, ""},
		{"remove node with clones", func() (*Map, error) { return m.RemoveNode(e, kv1.Clones[0].Node) }, ErrNodeInUse, "holds"},

		{"define existing service", func() (*Map, error) { return m.DefineService(e, hashService("kv", 2, 2), nil) }, ErrExists, "kv"},
		{"define bad name", func() (*Map, error) { return m.DefineService(e, hashService("-x", 2, 2), nil) }, ErrInvalidArgument, "service name"},
		{"define without durability", func() (*Map, error) {
			return m.DefineService(e, Service{Name: "web", Partitioning: Hash, Slots: 8, Partitions: 2, Clones: 1}, nil)
		}, ErrInvalidArgument, "durability"},
		{"define without partitioning", func() (*Map, error) {
			return m.DefineService(e, Service{Name: "web", Partitions: 2, Clones: 1, Durability: Disk}, nil)
		}, ErrInvalidArgument, "partitioning"},
		{"hash with ranges", func() (*Map, error) { return m.DefineService(e, kvSvc, SplitRanges("m")) }, ErrInvalidArgument, "no key ranges"},
		{"hash, fewer slots than partitions", func() (*Map, error) {
			return m.DefineService(e, Service{Name: "web", Partitioning: Hash, Slots: 3, Partitions: 4, Clones: 1, Durability: Disk}, nil)
		}, ErrInvalidArgument, "slots"},
		{"zero clones", func() (*Map, error) { return m.DefineService(e, hashService("web", 2, 0), nil) }, ErrInvalidArgument, "clones"},
		{"clones > nodes", func() (*Map, error) { return m.DefineService(e, hashService("kv2", 2, 4), nil) }, ErrTooFewNodes, "0 active nodes"},
		{"clones > nodes offering", func() (*Map, error) {
			m2 := ok(t)(m.AddNode(e, Node{ID: 50, Services: []string{"web"}}))
			return m2.DefineService(m2.Epoch, hashService("web", 2, 2), nil)
		}, ErrTooFewNodes, "1 active nodes"},
		{"ranges: none", func() (*Map, error) { return rangeSvc() }, ErrBadRanges, "at least one"},
		{"ranges: overlap", func() (*Map, error) { return rangeSvc(kr("", "D"), kr("C", "F"), kr("F", "")) }, ErrBadRanges, "overlaps"},
		{"ranges: gap", func() (*Map, error) { return rangeSvc(kr("", "C"), kr("D", "F"), kr("F", "")) }, ErrBadRanges, "gap"},
		{"ranges: not from the start", func() (*Map, error) { return rangeSvc(kr("A", "")) }, ErrBadRanges, "empty key"},
		{"ranges: bounded end", func() (*Map, error) { return rangeSvc(kr("", "Z")) }, ErrBadRanges, "unbounded"},
		{"ranges: unbounded middle", func() (*Map, error) { return rangeSvc(kr("", ""), kr("", "")) }, ErrBadRanges, "not the last"},
		{"ranges: reversed", func() (*Map, error) { return rangeSvc(kr("", "F"), kr("F", "D"), kr("D", "")) }, ErrBadRanges, "reversed"},
		{"ranges: count mismatch", func() (*Map, error) {
			return m.DefineService(e, Service{Name: "web", Partitioning: Range, Partitions: 5, Clones: 1, Durability: Disk}, SplitRanges("m"))
		}, ErrInvalidArgument, "5 partitions but 2 ranges"},

		{"remove unknown service", func() (*Map, error) { return m.RemoveService(e, "nope") }, ErrUnknownService, "nope"},
		{"set clones, unknown service", func() (*Map, error) { return m.SetClones(e, "nope", 2) }, ErrUnknownService, ""},
		{"set clones > nodes", func() (*Map, error) { return m.SetClones(e, "kv", 5) }, ErrTooFewNodes, "4 active nodes"},
		{"set clones 0", func() (*Map, error) { return m.SetClones(e, "kv", 0) }, ErrInvalidArgument, ""},

		{"move: unknown service", func() (*Map, error) { return m.MoveClone(e, PartRef{"nope", 0}, 1, 2) }, ErrUnknownService, ""},
		{"move: unknown partition", func() (*Map, error) { return m.MoveClone(e, PartRef{"kv", 4}, 1, 2) }, ErrUnknownPartition, "0..3"},
		{"move: to a node lacking the service", func() (*Map, error) {
			return m.MoveClone(e, kv1.Ref(), kv1.Clones[0].Node, 5)
		}, ErrNodeLacksService, "does not offer"},
		{"move: to an unknown node", func() (*Map, error) { return m.MoveClone(e, kv1.Ref(), kv1.Clones[0].Node, 77) }, ErrUnknownNode, ""},
		{"move: from a node without a voter", func() (*Map, error) {
			return m.MoveClone(e, kv1.Ref(), free(kv1), kv1.Clones[0].Node)
		}, ErrInvalidMove, ""},
		{"move: to a node holding a clone", func() (*Map, error) {
			return m.MoveClone(e, kv1.Ref(), kv1.Clones[0].Node, kv1.Clones[1].Node)
		}, ErrInvalidMove, "already holds"},
		{"move: from nowhere", func() (*Map, error) { return m.MoveClone(e, kv1.Ref(), 0, free(kv1)) }, ErrInvalidArgument, ""},
		{"move: while one is in flight", func() (*Map, error) {
			m2 := ok(t)(m.AddNode(e, Node{ID: 9, Services: []string{"kv"}}))
			return m2.MoveClone(m2.Epoch, kv0.Ref(), kv0.Clones[0].Node, 9)
		}, ErrMoveInProgress, "already has a learner"},
		{"move: to a draining node", func() (*Map, error) {
			m2 := ok(t)(m.SetNodeState(e, free(kv1), NodeDraining, time.Time{}))
			return m2.MoveClone(m2.Epoch, kv1.Ref(), kv1.Clones[0].Node, free(kv1))
		}, ErrInvalidMove, "draining"},

		{"ready: not a learner", func() (*Map, error) { return m.MarkLearnerReady(e, kv1.Ref(), kv1.Clones[0].Node) }, ErrInvalidMove, "voter"},
		{"ready: no clone", func() (*Map, error) { return m.MarkLearnerReady(e, kv1.Ref(), free(kv1)) }, ErrInvalidMove, "no clone"},
		{"ready: already", func() (*Map, error) { return m.MarkLearnerReady(e, cat1.Ref(), l1.Node) }, ErrInvalidMove, "already ready"},
		{"ready: a batch with one bad", func() (*Map, error) {
			return m.MarkLearnersReady(e, CloneRef{kv0.Ref(), l0.Node}, CloneRef{kv1.Ref(), kv1.Clones[0].Node})
		}, ErrInvalidMove, "voter"},
		{"ready: unknown partition", func() (*Map, error) { return m.MarkLearnersReady(e, CloneRef{PartRef{"kv", 9}, 1}) }, ErrUnknownPartition, ""},

		{"promote: not ready", func() (*Map, error) {
			return m.Apply(e, Move{Partition: kv0.Ref(), Kind: PromoteAndRemove, Node: l0.Node, Replace: l0.Replaces})
		}, ErrInvalidMove, "not ready"},
		{"promote: wrong replace", func() (*Map, error) {
			return m.Apply(e, Move{Partition: cat1.Ref(), Kind: PromoteAndRemove, Node: l1.Node, Replace: cat1.Clones[0].Node})
		}, ErrInvalidMove, "replaces"},
		{"promote: a voter", func() (*Map, error) {
			return m.Apply(e, Move{Partition: cat1.Ref(), Kind: PromoteAndRemove, Node: cat1.Clones[0].Node})
		}, ErrInvalidMove, "no learner"},
		{"remove: the voter being replaced", func() (*Map, error) {
			return m.Apply(e, Move{Partition: cat1.Ref(), Kind: Remove, Node: l1.Replaces})
		}, ErrMoveInProgress, "replacing"},
		{"remove: no clone", func() (*Map, error) { return m.Apply(e, Move{Partition: kv1.Ref(), Kind: Remove, Node: free(kv1)}) }, ErrInvalidMove, ""},
		{"lead: already", func() (*Map, error) {
			return m.Apply(e, Move{Partition: kv1.Ref(), Kind: Lead, Node: kv1.Clones[0].Node})
		}, ErrInvalidMove, "already leads"},
		{"lead: stale leader", func() (*Map, error) {
			return m.Apply(e, Move{Partition: kv1.Ref(), Kind: Lead, Node: kv1.Clones[1].Node, Replace: kv1.Clones[2].Node})
		}, ErrInvalidMove, "led by"},
		{"unknown move kind", func() (*Map, error) { return m.Apply(e, Move{Partition: kv1.Ref(), Kind: 9, Node: 1}) }, ErrInvalidArgument, "kind"},
		{"apply all: second fails", func() (*Map, error) {
			return m.ApplyAll(e, []Move{
				{Partition: kv1.Ref(), Kind: Lead, Node: kv1.Clones[1].Node},
				{Partition: kv1.Ref(), Kind: Lead, Node: kv1.Clones[0].Node, Replace: 77},
			})
		}, ErrInvalidMove, "move 2 of 2"},

		{"reincarnate with live voters", func() (*Map, error) { return m.Reincarnate(e, kv1.Ref()) }, ErrInvalidMove, "not declared dead"},
		{"new with group 0", func() (*Map, error) { return New(0) }, ErrInvalidArgument, ""},
	}
	before := enc(t, m)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.do()
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if got != nil {
				t.Fatalf("a refused change returned a map")
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "partitionmap: ") && !strings.Contains(err.Error(), ": partitionmap: ") {
				t.Fatalf("message %q does not say %q", err, c.msg)
			}
			if !bytes.Equal(before, enc(t, m)) {
				t.Fatal("a refused change modified the map")
			}
		})
	}
}

func TestChangesAreCopyOnWrite(t *testing.T) {
	m := fixture(t)
	before := enc(t, m)
	kv2 := must2(m.Partition(PartRef{"kv", 2}))
	n := m
	n = ok(t)(n.Apply(n.Epoch, Move{Partition: kv2.Ref(), Kind: Lead, Node: kv2.Clones[2].Node}))
	n = ok(t)(n.SetNodeState(n.Epoch, 1, NodeDraining, time.Time{}))
	n = ok(t)(n.AddNode(n.Epoch, Node{ID: 9, Zone: "z9", Services: []string{"kv", "catalog"}}))
	n = ok(t)(n.SetNodeServices(n.Epoch, 9, []string{"kv", "aaa"}))
	n = ok(t)(n.SetClones(n.Epoch, "kv", 4))
	n = ok(t)(n.DefineService(n.Epoch, hashService("aaa", 3, 1), nil))
	n = ok(t)(n.RemoveService(n.Epoch, "catalog"))
	if n.Epoch != m.Epoch+7 {
		t.Fatalf("epoch %d after 7 changes from %d", n.Epoch, m.Epoch)
	}
	if !bytes.Equal(before, enc(t, m)) {
		t.Fatal("changes modified the map they started from")
	}
	if s := must2(n.Service("kv")); s.Clones != 4 {
		t.Fatalf("kv clones %d", s.Clones)
	}
	if _, err := n.Service("catalog"); !errors.Is(err, ErrUnknownService) {
		t.Fatal("catalog still defined")
	}
	if p := must2(n.Partition(kv2.Ref())); p.Sequencer() != kv2.Clones[2].Node {
		t.Fatalf("lead did not move: %v", p.Clones)
	}
	// Group ids are never reused: aaa got fresh ones.
	aaa := must2(n.ServicePartitions("aaa"))
	if aaa[0].Group != m.NextGroup {
		t.Fatalf("aaa's first group %d, next was %d", aaa[0].Group, m.NextGroup)
	}
}

func TestMoveLifecycle(t *testing.T) {
	m := buildMap(t, nodes(4, 1, "kv"))
	m = ok(t)(m.DefineService(m.Epoch, hashService("kv", 1, 3), nil))
	p := must2(m.Partition(PartRef{"kv", 0}))
	seq := p.Sequencer()
	var spare NodeID
	for id := NodeID(1); id <= 4; id++ {
		if _, held := p.Holds(id); !held {
			spare = id
		}
	}
	// Move the sequencer away: the learner takes its rank.
	m = ok(t)(m.MoveClone(m.Epoch, p.Ref(), seq, spare))
	if _, err := m.Apply(m.Epoch, Move{Partition: p.Ref(), Kind: PromoteAndRemove, Node: spare, Replace: seq}); !errors.Is(err, ErrInvalidMove) {
		t.Fatalf("promoted a learner without state: %v", err)
	}
	m = ok(t)(m.MarkLearnerReady(m.Epoch, p.Ref(), spare))
	m = ok(t)(m.Apply(m.Epoch, Move{Partition: p.Ref(), Kind: PromoteAndRemove, Node: spare, Replace: seq}))
	q := must2(m.Partition(p.Ref()))
	if q.Sequencer() != spare || len(q.Clones) != 3 {
		t.Fatalf("after the move: %+v", q.Clones)
	}
	if _, held := q.Holds(seq); held {
		t.Fatal("the replaced clone is still there")
	}
	// Reincarnate: only once every voter is declared dead.
	for _, v := range q.Voters() {
		m = ok(t)(m.SetNodeState(m.Epoch, v.Node, NodeDead, t0))
	}
	if _, err := m.Reincarnate(m.Epoch, p.Ref()); !errors.Is(err, ErrTooFewNodes) {
		t.Fatalf("reincarnated on too few nodes: %v", err)
	}
	m = ok(t)(m.AddNode(m.Epoch, Node{ID: 5, Services: []string{"kv"}}))
	m = ok(t)(m.AddNode(m.Epoch, Node{ID: 6, Services: []string{"kv"}}))
	m = ok(t)(m.Reincarnate(m.Epoch, p.Ref()))
	r := must2(m.Partition(p.Ref()))
	if r.Incarnation != 2 || r.Group != p.Group {
		t.Fatalf("reincarnated: group %d incarnation %d", r.Group, r.Incarnation)
	}
	for _, c := range r.Clones {
		if c.Node != seq && c.Node != 5 && c.Node != 6 {
			t.Fatalf("reincarnated onto node %d", c.Node)
		}
	}
}

func TestDefineServicePlacement(t *testing.T) {
	m := buildMap(t, nodes(9, 3, "kv"))
	m = ok(t)(m.DefineService(m.Epoch, hashService("kv", 300, 3), nil))
	seqs := map[NodeID]int{}
	for _, p := range m.Partitions {
		zones := map[string]bool{}
		for _, c := range p.Clones {
			zones[must2(m.Node(c.Node)).Zone] = true
		}
		if len(zones) != 3 {
			t.Fatalf("%v is in %d zones", p.Ref(), len(zones))
		}
		seqs[p.Sequencer()]++
	}
	l := loads(m, "kv")
	for id := NodeID(1); id <= 9; id++ {
		if l[id] != 100 {
			t.Errorf("node %d holds %d clones, want 100", id, l[id])
		}
		if seqs[id] < 33 || seqs[id] > 34 {
			t.Errorf("node %d leads %d partitions, want 33 or 34", id, seqs[id])
		}
	}
	if ms := ok(t)(New(7)); ms.Epoch != 1 || ms.NextGroup != 7 {
		t.Fatal("New")
	}
}

func TestMarkLearnersReadyBatch(t *testing.T) {
	m := fixture(t)
	m = startMove(t, m, PartRef{"kv", 2}, false)
	var refs []CloneRef
	for _, p := range m.Partitions {
		if l, busy := p.Learner(); busy && !l.Ready {
			refs = append(refs, CloneRef{p.Ref(), l.Node})
		}
	}
	if len(refs) != 2 {
		t.Fatalf("%d learners waiting", len(refs))
	}
	n := ok(t)(m.MarkLearnersReady(m.Epoch, refs...))
	if n.Epoch != m.Epoch+1 {
		t.Fatal("a batch is one change")
	}
	moves := must2(Plan(n, allLive(n), DefaultPolicy(t0)))
	promotes := 0
	for _, mv := range moves {
		if mv.Kind == PromoteAndRemove {
			promotes++
		}
	}
	if promotes != 3 { // the two just marked and catalog/1's
		t.Fatalf("%d promotions planned: %v", promotes, moves)
	}
}
