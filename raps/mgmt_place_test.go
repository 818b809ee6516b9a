package raps_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
	"github.com/quicksilver-go/quicksilver/replica"
)

// The management group is placed by the map like a partition: these tests
// grow it, move it off dead bootstrap nodes, restart a cluster whose
// management group left its bootstrap nodes, and bring back a wiped
// bootstrap node whose clone moved away.

// mgmtPlaced says whether the map held by every live node places the
// management group on exactly want voters, all live, with no learner, and
// the group's real view — as every one of those voters' clones sees it, in
// a normal view — has exactly those voters. It returns the voters.
func (c *pcluster) mgmtPlaced(want int) ([]groupcomm.NodeID, error) {
	live := c.live()
	m := c.node(live[0]).Map()
	if m == nil {
		return nil, fmt.Errorf("no map")
	}
	for _, id := range live {
		if nm := c.node(id).Map(); nm == nil || nm.Epoch != m.Epoch {
			return nil, fmt.Errorf("node %d is not at epoch %d", id, m.Epoch)
		}
	}
	p, ok := m.Mgmt()
	if !ok {
		return nil, fmt.Errorf("the map does not place the management group")
	}
	if _, busy := p.Learner(); busy {
		return nil, fmt.Errorf("a management move in flight: %+v", p.Clones)
	}
	var voters []groupcomm.NodeID
	for _, v := range m.MgmtVoters() {
		voters = append(voters, groupcomm.NodeID(v))
	}
	if len(voters) != want {
		return nil, fmt.Errorf("management voters %v, want %d", voters, want)
	}
	sorted := slices.Sorted(slices.Values(voters))
	for _, id := range voters {
		if !slices.Contains(live, id) {
			return nil, fmt.Errorf("management voter %d is not live", id)
		}
		g, err := c.host(id).Group(raps.MgmtGroup)
		if err != nil {
			return nil, fmt.Errorf("voter %d hosts no management clone: %v", id, err)
		}
		in := g.Info()
		if in.Status != groupcomm.StatusNormal || in.Role != groupcomm.Voter || in.Restoring {
			return nil, fmt.Errorf("voter %d: management clone %v %v", id, in.Status, in.Role)
		}
		var view []groupcomm.NodeID
		for _, mb := range g.View().Members {
			if mb.Role == groupcomm.Voter {
				view = append(view, mb.ID.Node)
			}
		}
		if slices.Sort(view); !slices.Equal(view, sorted) {
			return nil, fmt.Errorf("node %d's management view has voters %v, the map %v", id, view, sorted)
		}
	}
	// No other live node runs a management clone.
	for _, id := range live {
		if slices.Contains(voters, id) {
			continue
		}
		if g, err := c.host(id).Group(raps.MgmtGroup); err == nil && g.Info().Status != groupcomm.StatusRemoved {
			return nil, fmt.Errorf("node %d still runs a management clone (%v)", id, g.Info().Status)
		}
	}
	return voters, nil
}

func (c *pcluster) waitMgmt(what string, want int) []groupcomm.NodeID {
	c.t.Helper()
	var voters []groupcomm.NodeID
	var err error
	c.waitFor(what, 2*time.Minute, func() bool {
		voters, err = c.mgmtPlaced(want)
		return err == nil
	})
	return voters
}

// mgmtHistoryExplains counts the placer's changes whose reason names a
// move of the management group ("_mgmt/0").
func mgmtHistoryExplains(t *testing.T, hist []mgmt.Change) int {
	t.Helper()
	n := 0
	for _, h := range hist {
		if h.Op == mgmt.OpApplyMoves && strings.Contains(h.Reason, partitionmap.MgmtService+"/0") {
			n++
		}
	}
	return n
}

// 1. Three bootstrap nodes and two more: the management group grows to 5
// voters, in the map and in its real view.
func TestMgmtGrowsToFiveVoters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 4, partitionmap.Disk)
		c := newPCluster(t, 5, []groupcomm.NodeID{1, 2, 3}, svc)
		m := func() *partitionmap.Map { return c.node(1).Map() }
		c.waitFor("the first map", 20*time.Second, func() bool { return m() != nil })
		if vs := m().MgmtVoters(); m().Epoch == 1 && !slices.Equal(vs, []partitionmap.NodeID{1, 2, 3}) {
			t.Fatalf("the first map places the management group on %v, not the bootstrap's 1, 2, 3", vs)
		}
		voters := c.waitMgmt("five management voters", 5)
		hist, err := c.node(4).Client().History(context.Background(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if hist[0].Op != mgmt.OpBootstrap || !strings.Contains(hist[0].Summary, "management group 1 on nodes 1, 2, 3") {
			t.Fatalf("bootstrap entry %+v", hist[0])
		}
		if k := mgmtHistoryExplains(t, hist); k < 2 {
			t.Fatalf("%d placer changes name the management group's moves, want ≥ 2 (two learners added)", k)
		}
		// Every bootstrap node registered its zone.
		for _, nd := range m().Nodes {
			if nd.Zone == "" || len(nd.Services) == 0 {
				t.Fatalf("node %+v did not describe itself", nd)
			}
		}
		t.Logf("management voters %v at epoch %d", voters, m().Epoch)
	})
}

// 2. Two of the bootstrap nodes die for good, one after the other (a
// majority of the current view stays live at each step): the management
// group leaves them and admin changes go on; then a third dies.
func TestMgmtMovesOffDeadBootstrapNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 4, partitionmap.Disk)
		other := kvService("other", partitionmap.Hash, 2, partitionmap.Memory)
		c := newPCluster(t, 5, []groupcomm.NodeID{1, 2, 3}, svc, other)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c.waitMgmt("five management voters", 5)
		if err := c.node(1).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", time.Minute, c.converged)
		// 4 active nodes: 3 voters, none on node 1.
		c.kill(1)
		voters := c.waitMgmt("the management group off node 1", 3)
		if slices.Contains(voters, 1) {
			t.Fatalf("voters %v", voters)
		}
		if err := c.node(4).DefineService(ctx, other); err != nil {
			t.Fatalf("admin change without node 1: %v", err)
		}
		// Node 2 dies too: 3 active nodes, 3 voters, on 3, 4, 5.
		c.kill(2)
		voters = c.waitMgmt("the management group off nodes 1 and 2", 3)
		if !slices.Equal(slices.Sorted(slices.Values(voters)), []groupcomm.NodeID{3, 4, 5}) {
			t.Fatalf("voters %v", voters)
		}
		if err := c.node(5).SetClones(ctx, "other", 2); err != nil {
			t.Fatalf("admin change without nodes 1 and 2: %v", err)
		}
		// A third death leaves 2 active nodes: 2 voters.
		c.kill(3)
		voters = c.waitMgmt("the management group on the last two", 2)
		if err := c.node(4).SetClones(ctx, "kv", 2); err != nil {
			t.Fatalf("admin change on the last two nodes: %v", err)
		}
		hist, err := c.node(voters[0]).History(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist[1:] {
			if h.Op == mgmt.OpBootstrap {
				t.Fatalf("a second bootstrap at epoch %d", h.Epoch)
			}
		}
		t.Logf("management voters %v; %d placer changes moved it", voters, mgmtHistoryExplains(t, hist))
	})
}

// 3. The management group moved off a bootstrap node; then every node
// restarts on its store (node 4, which the bootstrap does not list,
// restarts its management clone from its state): one map, admin works.
// 4. A wiped bootstrap node whose clone moved away comes back and joins:
// it creates no second management group.
func TestMgmtMovedOffBootstrapSurvivesRestartsAndWipes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boot := []groupcomm.NodeID{1, 2, 3}
		svc := kvService("kv", partitionmap.Hash, 4, partitionmap.Disk)
		c := newPCluster(t, 4, boot, svc)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c.waitMgmt("three management voters", 3)
		if err := c.node(1).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", time.Minute, c.converged)
		for i := range 20 {
			if err := put(ctx, c.node(2), "kv", fmt.Sprint("k", i), "v"); err != nil {
				t.Fatal(err)
			}
		}
		h0, err := c.node(2).History(0, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Node 1 dies: its management clone is re-replicated onto node 4.
		c.kill(1)
		voters := c.waitMgmt("the management group on 2, 3, 4", 3)
		if !slices.Equal(slices.Sorted(slices.Values(voters)), []groupcomm.NodeID{2, 3, 4}) {
			t.Fatalf("voters %v", voters)
		}
		// 3. Every node restarts (node 1 on its old store: its stale
		// management clone must leave).
		epoch := c.node(2).Map().Epoch
		for _, id := range []groupcomm.NodeID{2, 3, 4} {
			c.kill(id)
		}
		for _, id := range []groupcomm.NodeID{1, 2, 3, 4} {
			c.restart(id)
		}
		c.waitFor("the map back on every node", 2*time.Minute, func() bool {
			for _, id := range c.live() {
				if m := c.node(id).Map(); m == nil || m.Epoch < epoch {
					return false
				}
			}
			return true
		})
		if err := c.node(1).SetClones(ctx, "kv", 2); err != nil {
			t.Fatalf("admin change after restarting every node: %v", err)
		}
		voters = c.waitMgmt("one management group after the restarts", 3)
		t.Logf("after restarting every node: management voters %v, epoch %d", voters, c.node(1).Map().Epoch)
		c.waitFor("clones converged after the restarts", 2*time.Minute, c.converged)
		// 4. Move it off node 1 (if it came back there), then wipe node 1.
		c.kill(1)
		c.waitMgmt("the management group off node 1", 3)
		c.mu.Lock()
		c.stores[1] = replica.NewMemStore()
		c.mu.Unlock()
		c.restart(1)
		c.waitFor("the wiped node 1 at the cluster's epoch", 2*time.Minute, func() bool {
			m1, m2 := c.node(1).Map(), c.node(2).Map()
			return m1 != nil && m2 != nil && m1.Epoch == m2.Epoch && c.converged()
		})
		voters = c.waitMgmt("one management group after the wipe", 3)
		t.Logf("after wiping node 1: management voters %v, epoch %d", voters, c.node(1).Map().Epoch)
		for _, id := range voters {
			hist, err := c.node(id).History(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if os.Getenv("MGMT_DEBUG") != "" {
				for _, h := range hist {
					t.Logf("epoch %d %s: %s | %s", h.Epoch, h.Op, h.Reason, h.Summary)
				}
			}
			if hist[0] != h0[0] {
				t.Fatalf("node %d's history starts with %+v, not the cluster's bootstrap", id, hist[0])
			}
			for _, h := range hist[1:] {
				if h.Op == mgmt.OpBootstrap {
					t.Fatalf("node %d: a second bootstrap at epoch %d", id, h.Epoch)
				}
			}
		}
		if !slices.Contains(voters, 1) {
			if g, err := c.host(1).Group(raps.MgmtGroup); err == nil && g.Info().Status != groupcomm.StatusRemoved {
				t.Fatalf("the wiped node 1 runs a management clone the map does not place there")
			}
		}
		for i := range 20 {
			if v, err := get(ctx, c.node(1), "kv", fmt.Sprint("k", i), racs.Strict); err != nil || v != "v" {
				t.Fatalf("k%d = %q, %v", i, v, err)
			}
		}
	})
}

// A node the map lists (the bootstrap lists each member) that comes back
// in another zone updates its entry (update_node), keeping its state.
func TestRegisterUpdatesAListedNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var moved atomic.Bool
		svc := kvService("kv", partitionmap.Hash, 2, partitionmap.Disk)
		c := &pcluster{svcs: []raps.Service{svc}, boot: []groupcomm.NodeID{1, 2, 3}, rec: newRecorder()}
		c.zone = func(id groupcomm.NodeID) string {
			if id == 2 && moved.Load() {
				return "elsewhere"
			}
			return fmt.Sprintf("z%d", id%3)
		}
		c.init(t, memnet.Config{Seed: 1, MinDelay: 100 * time.Microsecond, MaxDelay: 100 * time.Microsecond})
		t.Cleanup(c.close)
		for i := 1; i <= 3; i++ {
			c.start(groupcomm.NodeID(i))
		}
		c.waitMgmt("three management voters", 3)
		if nd, err := c.node(1).Map().Node(2); err != nil || nd.Zone != "z2" || len(nd.Services) != 1 {
			t.Fatalf("the bootstrap lists node 2 as %+v, %v", nd, err)
		}
		moved.Store(true)
		c.kill(2)
		c.restart(2)
		c.waitFor("node 2's new zone in the map", time.Minute, func() bool {
			nd, err := c.node(1).Map().Node(2)
			return err == nil && nd.Zone == "elsewhere" && nd.State == partitionmap.NodeActive
		})
		hist, err := c.node(1).History(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(hist, func(h mgmt.Change) bool { return h.Op == mgmt.OpUpdateNode }) {
			t.Fatalf("no update_node in the history")
		}
	})
}

// A wiped bootstrap node whose clone moved away, cut off from every node
// when it restarts, finds no map and so takes part in creating the
// management group — which racs holds until the first view's members
// answer; once the network heals they say the group exists, the node
// joins it, learns the map, and leaves the clone the map does not place
// on it. There is never a second group 1.
func TestWipedBootstrapNodeCutOffNeverCreatesASecondGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 4, partitionmap.Disk)
		c := newPCluster(t, 4, []groupcomm.NodeID{1, 2, 3}, svc)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c.waitMgmt("three management voters", 3)
		if err := c.node(1).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", time.Minute, c.converged)
		c.kill(1)
		voters := c.waitMgmt("the management group off node 1", 3)
		if slices.Contains(voters, 1) {
			t.Fatalf("voters %v", voters)
		}
		epoch := c.node(2).Map().Epoch
		c.mu.Lock()
		c.stores[1] = replica.NewMemStore()
		c.mu.Unlock()
		c.net.Isolate(1)
		c.restart(1)
		time.Sleep(10 * time.Second)
		if m := c.node(1).Map(); m != nil {
			t.Fatalf("the cut-off node 1 holds a map at epoch %d", m.Epoch)
		}
		g, err := c.host(1).Group(raps.MgmtGroup)
		if err != nil {
			t.Fatalf("the cut-off node 1 is not creating the management group: %v", err)
		}
		if in := g.Info(); in.Status == groupcomm.StatusNormal || len(in.WaitingFor) == 0 {
			t.Fatalf("the cut-off node 1's management group is %v, waiting for %v", in.Status, in.WaitingFor)
		}
		t.Logf("cut off, node 1's management clone waits for %v", g.Info().WaitingFor)
		c.net.Heal()
		c.waitFor("node 1 at the cluster's epoch", 2*time.Minute, func() bool {
			m1, m2 := c.node(1).Map(), c.node(2).Map()
			return m1 != nil && m2 != nil && m1.Epoch == m2.Epoch && m1.Epoch >= epoch
		})
		voters = c.waitMgmt("one management group", 3)
		hist, err := c.node(voters[0]).History(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hist[1:] {
			if h.Op == mgmt.OpBootstrap {
				t.Fatalf("a second bootstrap at epoch %d", h.Epoch)
			}
		}
		t.Logf("management voters %v at epoch %d", voters, c.node(1).Map().Epoch)
	})
}
