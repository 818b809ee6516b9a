package raps_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// On disk stores and the real clock: five nodes, the management group
// grows to 5, node 1 (a bootstrap node) dies for good and the group
// leaves it, then every other node restarts on its disk — the nodes the
// bootstrap does not list restart their management clones from their
// state — and the cluster comes back with one map and working admin
// changes.
func TestMgmtOnDiskMovesAndRestartsWhole(t *testing.T) {
	c := rapstest.New(t, 5, rapstest.WithDisk(), rapstest.WithKVPartitions(4))
	voters := func() []groupcomm.NodeID {
		var out []groupcomm.NodeID
		for _, v := range c.Node(2).Map().MgmtVoters() {
			out = append(out, groupcomm.NodeID(v))
		}
		return out
	}
	viewOK := func(want int) bool {
		vs := voters()
		if len(vs) != want {
			return false
		}
		for _, id := range vs {
			if !slices.Contains(c.Live(), id) {
				return false
			}
			g, err := c.Host(id).Group(raps.MgmtGroup)
			if err != nil || g.Info().Status != groupcomm.StatusNormal || len(g.View().Members) != want {
				return false
			}
		}
		return true
	}
	c.WaitFor("five management voters", time.Minute, func() bool { return viewOK(5) })
	c.Kill(1)
	c.WaitFor("the management group off node 1", time.Minute, func() bool {
		return viewOK(3) && !slices.Contains(voters(), 1)
	})
	epoch := c.Node(2).Map().Epoch
	for id := groupcomm.NodeID(2); id <= 5; id++ {
		c.Kill(id)
	}
	for id := groupcomm.NodeID(2); id <= 5; id++ {
		c.Restart(id)
	}
	c.WaitFor("the map back on every node", time.Minute, func() bool {
		for _, id := range c.Live() {
			if m := c.Node(id).Map(); m == nil || m.Epoch < epoch {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Node(5).SetClones(ctx, "kv", 2); err != nil {
		t.Fatalf("admin change after restarting every node: %v", err)
	}
	c.WaitFor("one management group of 3", time.Minute, func() bool { return viewOK(3) })
	t.Logf("management voters %v", voters())
}
