package raps_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// sequencerPlaces counts the partitions whose group's sequencer (as its
// clones see it) is the map's preferred one, and the groups each live
// node sequences.
func (c *pcluster) sequencerPlaces(m *partitionmap.Map) (matching int, per map[groupcomm.NodeID]int) {
	per = map[groupcomm.NodeID]int{}
	for i := range m.Partitions {
		p := &m.Partitions[i]
		for _, id := range c.live() {
			g, err := c.host(id).Group(replica.GroupID(p.Group))
			if err != nil {
				continue
			}
			if in := g.Info(); in.Status == groupcomm.StatusNormal && in.Sequencer.Node == id {
				per[id]++
				if partitionmap.NodeID(id) == p.Sequencer() {
					matching++
				}
			}
		}
	}
	return matching, per
}

// TestSequencersReturnToTheMap: a node's crash moves the sequencers of its
// groups to the survivors; once it is back, each group's sequencer is
// handed back to the node the map prefers (a Lead view change), so the
// sequencers end spread as the map places them, not piled on the nodes
// that survived. Updates keep working throughout.
func TestSequencersReturnToTheMap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 9, partitionmap.Memory)
		c := newPCluster(t, 3, []groupcomm.NodeID{1, 2, 3}, svc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c.waitFor("three nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 3
		})
		if err := c.node(1).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", 30*time.Second, c.converged)
		m := c.node(1).Map()
		preferred1 := 0
		for i := range m.Partitions {
			if m.Partitions[i].Sequencer() == 1 {
				preferred1++
			}
		}
		if preferred1 == 0 {
			t.Fatal("the map prefers node 1 for no partition")
		}
		c.waitFor("sequencers where the map prefers them", 30*time.Second, func() bool {
			n, _ := c.sequencerPlaces(c.node(2).Map())
			return n == len(m.Partitions)
		})
		c.kill(1)
		c.waitFor("node 1's groups sequenced by the survivors", 30*time.Second, func() bool {
			_, per := c.sequencerPlaces(c.node(2).Map())
			return per[2]+per[3] == len(m.Partitions)
		})
		for i := range 20 {
			if err := put(ctx, c.node(2), "kv", "k"+string(rune('a'+i)), "v"); err != nil {
				t.Fatal(err)
			}
		}
		c.restart(1)
		c.waitFor("sequencers handed back where the map prefers them", 60*time.Second, func() bool {
			n, per := c.sequencerPlaces(c.node(2).Map())
			return n == len(c.node(2).Map().Partitions) && per[1] == preferred1
		})
		for i := range 20 {
			if v, err := get(ctx, c.node(1), "kv", "k"+string(rune('a'+i)), 0); err != nil || v != "v" {
				t.Fatalf("after the hand-offs: %q, %v", v, err)
			}
		}
		c.waitFor("clones converged", 30*time.Second, c.converged)
	})
}
