package raps_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
)

// waitReady polls until node id's Ready answer satisfies ok, and returns it.
func (c *pcluster) waitReady(what string, id groupcomm.NodeID, ok func(error) bool) error {
	c.t.Helper()
	var last error
	c.waitFor(what, 30*time.Second, func() bool {
		last = c.node(id).Ready()
		return ok(last)
	})
	return last
}

func isNil(err error) bool { return err == nil }

// TestReadyMeansServing: ready is withheld before the map, while draining,
// and on a node that sees no majority of the map's nodes; it is given once
// every clone the map places on a node serves.
func TestReadyMeansServing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 4, partitionmap.Memory)
		c := newPCluster(t, 4, []groupcomm.NodeID{1, 2, 3}, svc)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.waitFor("four nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 4
		})
		if err := c.node(1).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", 30*time.Second, c.converged)
		for id := groupcomm.NodeID(1); id <= 4; id++ {
			c.waitReady("every node ready", id, isNil)
		}
		if err := c.node(1).Drain(ctx, 4); err != nil {
			t.Fatal(err)
		}
		err := c.waitReady("node 4 not ready while draining", 4, func(err error) bool { return err != nil })
		if !errors.Is(err, raps.ErrNotReady) || !strings.Contains(err.Error(), "draining") {
			t.Fatalf("draining node: %v", err)
		}
		c.waitFor("drained", 30*time.Second, func() bool { return clonesOn(c.node(1).Map(), 4) == 0 && c.converged() })
		c.kill(3)
		// Three of the map's four nodes live (4 drained, not dead): 1 keeps
		// serving once its groups installed views without 3.
		c.waitReady("node 1 ready without node 3", 1, isNil)
		c.kill(2)
		c.kill(4)
		err = c.waitReady("node 1 alone is not ready", 1, func(err error) bool { return err != nil })
		if !errors.Is(err, raps.ErrNotReady) {
			t.Fatalf("lone node: %v", err)
		}
		t.Logf("lone node: %v", err)
	})
}
