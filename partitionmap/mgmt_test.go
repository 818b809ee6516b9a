package partitionmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestMgmtClones(t *testing.T) {
	want := map[int]int{0: 1, 1: 1, 2: 2, 3: 3, 4: 3, 5: 5, 6: 5, 9: 5, 100: 5}
	for active, w := range want {
		if got := MgmtClones(active); got != w {
			t.Errorf("MgmtClones(%d) = %d, want %d", active, got, w)
		}
	}
}

// mgmtMap is n nodes over 3 zones offering "s", with the management group
// on the first boot of them (group 1, data groups from 2).
func mgmtMap(tb tester, n, boot int) *Map {
	tb.Helper()
	m := ok(tb)(New(2))
	for _, nd := range nodes(n, 3, "s") {
		m = ok(tb)(m.AddNode(m.Epoch, nd))
	}
	var voters []NodeID
	for i := 1; i <= boot; i++ {
		voters = append(voters, NodeID(i))
	}
	return ok(tb)(m.DefineMgmt(m.Epoch, 1, voters, Disk))
}

func mgmtClones(tb tester, m *Map) int {
	tb.Helper()
	s, err := m.Service(MgmtService)
	if err != nil {
		tb.Fatal(err)
	}
	return s.Clones
}

func TestDefineMgmtAndItsSize(t *testing.T) {
	m := mgmtMap(t, 3, 3)
	p, ok1 := m.Mgmt()
	if !ok1 || p.Group != 1 || p.Incarnation != 1 || !slices.Equal(m.MgmtVoters(), []NodeID{1, 2, 3}) {
		t.Fatalf("mgmt partition %+v", p)
	}
	if c := mgmtClones(t, m); c != 3 {
		t.Fatalf("clones %d, want 3", c)
	}
	m = ok(t)(m.AddNode(m.Epoch, Node{ID: 4}))
	if c := mgmtClones(t, m); c != 3 {
		t.Fatalf("4 nodes: clones %d, want 3", c)
	}
	m = ok(t)(m.AddNode(m.Epoch, Node{ID: 5}))
	if c := mgmtClones(t, m); c != 5 {
		t.Fatalf("5 nodes: clones %d, want 5", c)
	}
	m = ok(t)(m.SetNodeState(m.Epoch, 5, NodeDraining, time.Time{}))
	if c := mgmtClones(t, m); c != 3 {
		t.Fatalf("4 active: clones %d, want 3", c)
	}
	m = ok(t)(m.SetNodeState(m.Epoch, 5, NodeActive, time.Time{}))
	// A pre-listed node fills in its zone, address and services.
	m = ok(t)(m.UpdateNode(m.Epoch, Node{ID: 4, Zone: "zz", Addr: "a:1", Services: []string{"s", "b"}}))
	if n, _ := m.Node(4); n.Zone != "zz" || n.Addr != "a:1" || !slices.Equal(n.Services, []string{"b", "s"}) {
		t.Fatalf("updated node %+v", n)
	}
	// The binary and JSON encodings carry it.
	var back Map
	if err := back.UnmarshalBinary(enc(t, m)); err != nil || !slices.Equal(back.MgmtVoters(), m.MgmtVoters()) {
		t.Fatalf("binary round trip: %v", err)
	}
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	jm, err := DecodeJSON(js)
	if err != nil || !slices.Equal(jm.MgmtVoters(), m.MgmtVoters()) {
		t.Fatalf("JSON round trip: %v\n%s", err, js)
	}
	// Refusals: it is not a user service.
	refused := map[string]error{}
	_, refused["set clones"] = m.SetClones(m.Epoch, MgmtService, 3)
	_, refused["remove"] = m.RemoveService(m.Epoch, MgmtService)
	_, refused["reincarnate"] = m.Reincarnate(m.Epoch, PartRef{Service: MgmtService})
	_, refused["define"] = m.DefineService(m.Epoch, Service{Name: MgmtService, Partitioning: Hash, Slots: 1, Partitions: 1, Clones: 1, Durability: Disk}, nil)
	_, refused["define again"] = m.DefineMgmt(m.Epoch, 1, []NodeID{1}, Disk)
	_, refused["offer"] = m.AddNode(m.Epoch, Node{ID: 9, Services: []string{MgmtService}})
	_, refused["locate"] = m.Locate(MgmtService, []byte("k"))
	for what, err := range refused {
		if err == nil {
			t.Errorf("%s of the management service: accepted", what)
		}
	}
	// A node holding a management clone cannot be removed.
	if _, err := m.RemoveNode(m.Epoch, 1); !errors.Is(err, ErrNodeInUse) {
		t.Errorf("remove a management voter: %v", err)
	}
	// Bad definitions.
	m0 := ok(t)(New(2))
	m0 = ok(t)(m0.AddNode(m0.Epoch, Node{ID: 1}))
	for _, bad := range []struct {
		group  uint64
		voters []NodeID
	}{{0, []NodeID{1}}, {2, []NodeID{1}}, {1, nil}, {1, []NodeID{1, 1}}, {1, []NodeID{7}}} {
		if _, err := m0.DefineMgmt(m0.Epoch, bad.group, bad.voters, Disk); err == nil {
			t.Errorf("DefineMgmt(%d, %v) accepted", bad.group, bad.voters)
		}
	}
}

func mgmtVotersOn(tb tester, m *Map, live map[NodeID]bool) {
	tb.Helper()
	vs := m.MgmtVoters()
	active := 0
	for _, n := range m.Nodes {
		if n.State == NodeActive {
			active++
		}
	}
	if active == 0 {
		return // nowhere to go: it stays where it is
	}
	if len(vs) != MgmtClones(active) {
		tb.Fatalf("management voters %v, want %d (%d active nodes)", vs, MgmtClones(active), active)
	}
	for _, v := range vs {
		if n, _ := m.Node(v); !live[v] || n.State != NodeActive {
			js, _ := json.Marshal(m)
			tb.Fatalf("management voter on node %d (%v, live %v): %s", v, n.State, live[v], js)
		}
	}
}

func TestPlanGrowsMgmtToFive(t *testing.T) {
	m := mgmtMap(t, 5, 3)
	m = ok(t)(m.DefineService(m.Epoch, hashService("s", 8, 3), nil))
	live := allLive(m)
	m, _ = converge(t, m, live, DefaultPolicy(t0), 50)
	mgmtVotersOn(t, m, live)
	if len(m.MgmtVoters()) != 5 {
		t.Fatalf("voters %v", m.MgmtVoters())
	}
}

func TestPlanMovesMgmtOffDeadNodes(t *testing.T) {
	m := mgmtMap(t, 6, 3)
	live := allLive(m)
	pol := DefaultPolicy(t0)
	m, _ = converge(t, m, live, pol, 50)
	mgmtVotersOn(t, m, live)
	// Two of the bootstrap members die for good, one after the other.
	for _, dead := range []NodeID{1, 2} {
		live[dead] = false
		m = ok(t)(m.SetNodeState(m.Epoch, dead, NodeDead, pol.Now))
		pol.Now = pol.Now.Add(pol.DeadGrace)
		m, _ = converge(t, m, live, pol, 50)
		mgmtVotersOn(t, m, live)
	}
	// 4 active: 3 voters, none on 1 or 2.
	if vs := m.MgmtVoters(); len(vs) != 3 || slices.Contains(vs, 1) || slices.Contains(vs, 2) {
		t.Fatalf("voters %v", vs)
	}
}

// TestPlanMgmtNeverBelowLiveMajority runs random histories — nodes join,
// die, are drained, come back; live sets flicker — and checks every step of
// every plan (checkPlan, checkStep: no partition, the management group
// among them, loses a live majority it had) and that the management
// group settles at its size on live active nodes.
func TestPlanMgmtNeverBelowLiveMajority(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { mgmtHistory(t, seed) })
	}
}

func mgmtHistory(t *testing.T, seed uint64) {
	src := seeded(seed)
	n := src.intn(1, 7, "nodes")
	m := mgmtMap(t, n, src.intn(1, n, "boot"))
	next := NodeID(n + 1)
	pol := DefaultPolicy(t0)
	pol.MaxConcurrentMoves = src.intn(1, 4, "budget")
	live := allLive(m)
	for step := 0; step < 30; step++ {
		switch src.intn(0, 6, "event") {
		case 6: // a drain of a node not dead, if an active one stays
			id := m.Nodes[src.intn(0, len(m.Nodes)-1, "drained")].ID
			if nd, _ := m.Node(id); nd.State != NodeActive || len(m.activeOffering(MgmtService)) < 2 {
				break
			}
			m = ok(t)(m.SetNodeState(m.Epoch, id, NodeDraining, time.Time{}))
		case 0:
			m = ok(t)(m.AddNode(m.Epoch, Node{ID: next, Zone: fmt.Sprintf("z%d", next%3)}))
			live[next] = true
			next++
		case 1: // a death, if a live majority of the management group stays
			id := m.Nodes[src.intn(0, len(m.Nodes)-1, "victim")].ID
			if nd, _ := m.Node(id); nd.State == NodeDead {
				break
			}
			live[id] = false
			p, _ := m.Mgmt()
			if liveVotersOf(p, live, m) < quorum(p.numVoters()) {
				live[id] = true
				break
			}
			m = ok(t)(m.SetNodeState(m.Epoch, id, NodeDead, pol.Now))
		case 2: // a dead node comes back
			for _, nd := range m.Nodes {
				if nd.State == NodeDead {
					live[nd.ID] = true
					m = ok(t)(m.SetNodeState(m.Epoch, nd.ID, NodeActive, time.Time{}))
					break
				}
			}
		default: // plan rounds with a flickering live set
			for range src.intn(1, 4, "rounds") {
				flick := map[NodeID]bool{}
				for id, l := range live {
					flick[id] = l && src.intn(0, 6, "flicker") > 0
				}
				moves, err := Plan(m, flick, pol)
				if err != nil {
					t.Fatal(err)
				}
				checkPlan(t, m, flick, pol, moves)
				for _, mv := range moves {
					after := ok(t)(m.Apply(m.Epoch, mv))
					checkStep(t, m, after, flick, mv)
					m = after
				}
				m, _ = markReady(t, m, flick, func() bool { return src.intn(0, 1, "ready") == 1 })
			}
		}
		pol.Now = pol.Now.Add(pol.DeadGrace / 4)
	}
	pol.Now = pol.Now.Add(pol.DeadGrace)
	m, _ = converge(t, m, live, pol, 200)
	mgmtVotersOn(t, m, live)
}
