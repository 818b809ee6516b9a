package raps_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
	"github.com/quicksilver-go/quicksilver/replica"
)

// mgmtSequencer returns the management group's sequencer as a live member
// in a normal view sees it (0 if none does).
func (c *pcluster) mgmtSequencer() groupcomm.NodeID {
	for _, id := range c.live() {
		if g, err := c.host(id).Group(raps.MgmtGroup); err == nil {
			if in := g.Info(); in.Status == groupcomm.StatusNormal {
				return in.Sequencer.Node
			}
		}
	}
	return 0
}

// wipe kills a node and brings it back on an empty store, with the same
// configuration (its Bootstrap list too, as a restarted process would be
// given its flags again).
func (c *pcluster) wipe(id groupcomm.NodeID) {
	c.kill(id)
	c.mu.Lock()
	c.stores[id] = replica.NewMemStore()
	c.mu.Unlock()
	c.restart(id)
}

// sameMapAndHistory: the live management members hold the same map epoch
// and the same history, and every live node holds that epoch. It returns
// the epoch and the history, or why not.
func (c *pcluster) sameMapAndHistory(members []groupcomm.NodeID) (uint64, []mgmt.Change, error) {
	var epoch uint64
	var hist []mgmt.Change
	for i, id := range members {
		h, err := c.node(id).History(0, 0)
		if err != nil {
			return 0, nil, err
		}
		m := c.node(id).Map()
		if m == nil {
			return 0, nil, fmt.Errorf("node %d has no map", id)
		}
		if i == 0 {
			epoch, hist = m.Epoch, h
			continue
		}
		if m.Epoch != epoch {
			return 0, nil, fmt.Errorf("node %d is at epoch %d, node %d at %d", id, m.Epoch, members[0], epoch)
		}
		if !slices.EqualFunc(h, hist, func(a, b mgmt.Change) bool {
			return a.Epoch == b.Epoch && a.Time.Equal(b.Time) && a.Op == b.Op && a.Reason == b.Reason && a.Summary == b.Summary
		}) {
			return 0, nil, fmt.Errorf("node %d's history (%d entries) differs from node %d's (%d)", id, len(h), members[0], len(hist))
		}
	}
	for _, id := range c.live() {
		if m := c.node(id).Map(); m == nil || m.Epoch != epoch {
			return 0, nil, fmt.Errorf("node %d does not hold epoch %d", id, epoch)
		}
	}
	return epoch, hist, nil
}

// readAll reads every key of want through nd at Strict, retrying each for
// up to a minute of fake time (a group may be changing views).
func readAll(ctx context.Context, t *testing.T, nd *raps.Node, svc string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		var got string
		var err error
		for {
			if got, err = get(cctx, nd, svc, k, racs.Strict); err == nil || cctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		if err != nil || got != v {
			t.Fatalf("%s/%s: read %q, %v; want %q", svc, k, got, err, v)
		}
	}
}

// The management group, on all 5 nodes, survives the loss of a minority
// of its members, its sequencer among them: admin changes (Drain,
// SetClones, DefineService) still succeed and move the epoch, data groups
// keep serving reads and writes, and the placer (now on another node)
// declares the lost nodes dead and re-replicates. Restarted, the two
// members catch up to the same map epoch and the same history as the
// others.
func TestMgmtSurvivesLossOfMinorityWithItsSequencer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		all := []groupcomm.NodeID{1, 2, 3, 4, 5}
		kvs := kvService("kv", partitionmap.Hash, 8, partitionmap.Disk)
		kvs.Clones = 5 // any two nodes may go: every partition keeps a majority
		extra := kvService("extra", partitionmap.Hash, 4, partitionmap.Memory)
		c := newPCluster(t, 5, all, kvs, extra)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c.waitFor("five nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 5
		})
		if err := c.node(2).DefineService(ctx, kvs); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", time.Minute, c.converged)
		acked := map[string]string{}
		for i := range 40 {
			k := fmt.Sprint("before-", i)
			if err := put(ctx, c.node(all[i%5]), "kv", k, "v"+k); err != nil {
				t.Fatal(err)
			}
			acked[k] = "v" + k
		}

		var seq groupcomm.NodeID
		c.waitFor("a management sequencer", 20*time.Second, func() bool { seq = c.mgmtSequencer(); return seq != 0 })
		other := seq%5 + 1
		c.kill(seq)
		c.kill(other)
		survivors := c.live()
		admin := c.node(survivors[0])
		t.Logf("killed the management sequencer %d and member %d; admin through node %d", seq, other, survivors[0])

		epoch := admin.Map().Epoch
		lost := epoch
		grew := func(what string) {
			t.Helper()
			if e := admin.Map().Epoch; e <= epoch {
				t.Fatalf("%s succeeded but the epoch stayed at %d", what, epoch)
			} else {
				epoch = e
			}
		}
		if err := admin.Drain(ctx, partitionmap.NodeID(other)); err != nil {
			t.Fatalf("drain with a minority of the management group down: %v", err)
		}
		grew("drain")
		if err := admin.SetClones(ctx, "kv", 3); err != nil {
			t.Fatalf("set clones with a minority of the management group down: %v", err)
		}
		grew("set clones")
		// A new service is defined once the placer (on the new sequencer)
		// has declared the lost nodes dead, so its clones go to live
		// nodes: a group whose first view has a majority on nodes that are
		// down cannot be created until they return.
		c.waitFor("the lost nodes declared dead", time.Minute, func() bool {
			m := admin.Map()
			a, _ := m.Node(partitionmap.NodeID(seq))
			b, _ := m.Node(partitionmap.NodeID(other))
			return a.State == partitionmap.NodeDead && b.State == partitionmap.NodeDead
		})
		epoch = admin.Map().Epoch
		if err := admin.DefineService(ctx, extra); err != nil {
			t.Fatalf("define a service with a minority of the management group down: %v", err)
		}
		grew("define service")
		var newSeq groupcomm.NodeID
		c.waitFor("a new management sequencer", time.Minute, func() bool {
			newSeq = c.mgmtSequencer()
			return newSeq != 0 && newSeq != seq && newSeq != other
		})

		// Data groups keep serving: writes and reads through every survivor.
		for i := range 30 {
			k := fmt.Sprint("during-", i)
			nd := c.node(survivors[i%len(survivors)])
			if err := put(ctx, nd, "kv", k, "v"+k); err != nil {
				t.Fatalf("put %s through node %d with two nodes down: %v", k, survivors[i%len(survivors)], err)
			}
			acked[k] = "v" + k
			if err := put(ctx, nd, "extra", k, "x"+k); err != nil {
				t.Fatalf("put extra/%s with two nodes down: %v", k, err)
			}
		}
		for _, id := range survivors {
			readAll(ctx, t, c.node(id), "kv", acked)
		}

		// The placer, on the new sequencer, declares both dead, moves their
		// clones to the survivors and trims kv to 3 clones.
		c.waitFor("the lost nodes' clones re-replicated", 2*time.Minute, func() bool {
			m := admin.Map()
			return clonesOn(m, partitionmap.NodeID(seq)) == 0 && clonesOn(m, partitionmap.NodeID(other)) == 0 && c.converged()
		})
		m := admin.Map()
		c.checkPlacement(m)
		for i := range m.Partitions {
			if p := &m.Partitions[i]; len(p.Voters()) != 3 {
				t.Fatalf("%v has %d voters, want 3", p.Ref(), len(p.Voters()))
			}
		}
		if nd, _ := m.Node(partitionmap.NodeID(seq)); nd.State != partitionmap.NodeDead {
			t.Fatalf("node %d is %v, want dead", seq, nd.State)
		}
		counts := c.checkMovesExplained(lost, m.Epoch)
		t.Logf("new sequencer %d; epochs %d to %d since the loss, explained by the history: %v", newSeq, lost, m.Epoch, counts)

		// Restart both: they catch up to the others' epoch and history.
		c.restart(seq)
		c.restart(other)
		var herr error
		var final uint64
		var hist []mgmt.Change
		c.waitFor("the restarted members at the same epoch and history", 2*time.Minute, func() bool {
			final, hist, herr = c.sameMapAndHistory(all)
			return herr == nil && final > epoch && c.converged()
		})
		if herr != nil {
			t.Fatal(herr)
		}
		if nd, _ := c.node(seq).Map().Node(partitionmap.NodeID(seq)); nd.State != partitionmap.NodeActive {
			t.Fatalf("restarted node %d is %v in the map, want active", seq, nd.State)
		}
		boots := 0
		for _, h := range hist {
			if h.Op == mgmt.OpBootstrap {
				boots++
			}
		}
		if boots != 1 || hist[0].Epoch != 1 || len(hist) != int(final) {
			t.Fatalf("history of %d entries (final epoch %d) with %d bootstraps", len(hist), final, boots)
		}
		readAll(ctx, t, c.node(seq), "kv", acked)
		readAll(ctx, t, c.node(other), "kv", acked)
		t.Logf("all five at epoch %d with the same %d-entry history", final, len(hist))
	})
}

// A node with state, or a wiped one, joins and never bootstraps, even
// when it is given its Bootstrap list again (as a restarted process is
// given its flags): a management member restarted on its disk, and the
// bootstrap's first node and a non-member restarted on empty disks, all
// come back to the cluster's map and history — one bootstrap, one
// cluster — and every acknowledged update is still there.
func TestRestartedAndWipedNodesJoinAndNeverBootstrap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boot := []groupcomm.NodeID{1, 2, 3}
		svc := kvService("kv", partitionmap.Hash, 6, partitionmap.Disk)
		c := newPCluster(t, 4, boot, svc)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c.waitFor("four nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 4
		})
		if err := c.node(1).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", time.Minute, c.converged)
		acked := map[string]string{}
		for i := range 30 {
			k := fmt.Sprint("k", i)
			if err := put(ctx, c.node(groupcomm.NodeID(1+i%4)), "kv", k, "v"+k); err != nil {
				t.Fatal(err)
			}
			acked[k] = "v" + k
		}
		h0, err := c.node(2).History(0, 1)
		if err != nil || len(h0) != 1 || h0[0].Op != mgmt.OpBootstrap {
			t.Fatalf("first history entry %+v, %v", h0, err)
		}
		settle := func(what string, rejoined groupcomm.NodeID) {
			t.Helper()
			before := c.node(3).Map().Epoch // never restarted
			var herr error
			var hist []mgmt.Change
			c.waitFor(what, 2*time.Minute, func() bool {
				var e uint64
				e, hist, herr = c.sameMapAndHistory(boot)
				return herr == nil && e >= before && c.converged()
			})
			if herr != nil {
				t.Fatal(herr)
			}
			if hist[0] != h0[0] {
				t.Fatalf("%s: the history starts with %+v, not the cluster's bootstrap %+v", what, hist[0], h0[0])
			}
			for _, h := range hist[1:] {
				if h.Op == mgmt.OpBootstrap {
					t.Fatalf("%s: a second bootstrap at epoch %d", what, h.Epoch)
				}
			}
			if m := c.node(rejoined).Map(); m == nil || m.Epoch != hist[len(hist)-1].Epoch {
				t.Fatalf("%s: node %d is not at the cluster's epoch", what, rejoined)
			}
			readAll(ctx, t, c.node(rejoined), "kv", acked)
			t.Logf("%s: epoch %d, %d history entries", what, hist[len(hist)-1].Epoch, len(hist))
		}

		c.kill(2)
		c.restart(2)
		settle("management member 2 restarted on its disk", 2)
		c.kill(4)
		c.restart(4)
		settle("node 4 restarted on its disk", 4)
		c.wipe(1)
		settle("node 1, the bootstrap's first node, wiped", 1)
		if _, err := c.host(1).Group(raps.MgmtGroup); err != nil {
			t.Fatalf("wiped node 1 hosts no management clone: %v", err)
		}
		c.wipe(4)
		settle("node 4 wiped", 4)
	})
}
