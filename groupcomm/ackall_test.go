package groupcomm_test

import (
	"fmt"
	"testing"

	. "github.com/quicksilver-go/quicksilver/groupcomm"
)

// With AckAll an entry is delivered only once every voter persisted it: a
// voter cut off holds delivery for as long as the view lists it, where a
// majority group delivers without it; once it is back, everyone delivers
// everything in one order.
func TestAckAllWaitsForEveryVoter(t *testing.T) {
	for _, all := range []bool{false, true} {
		t.Run(fmt.Sprint("AckAll=", all), func(t *testing.T) {
			c := newCluster(7, 3, TestingKnobs{}, func(c *cluster) { c.ackAll = all })
			c.autoSuspect = false // the cut-off voter stays in the view
			c.partition([]NodeID{1, 2}, []NodeID{3})
			for i := range 5 {
				if _, err := c.multicast(1, fmt.Sprint("u", i)); err != nil {
					t.Fatal(err)
				}
			}
			// Fewer ticks than the core's own failure detector (TickFD)
			// takes to exclude the silent voter: view 1 still lists it.
			for range 6 {
				c.runStep(true)
			}
			if in := c.members[1].n.Info(); in.View != 1 {
				t.Fatalf("view %d: the test needs the cut-off voter still in view 1", in.View)
			}
			got := c.members[1].sm.Count()
			switch {
			case all && got != 0:
				t.Fatalf("AckAll: node 1 delivered %d entries while voter 3 had none", got)
			case !all && got != 5:
				t.Fatalf("majority: node 1 delivered %d entries, want 5 without voter 3", got)
			}
			c.heal()
			for i := 0; i < 400 && !c.settled(); i++ {
				c.runStep(true)
			}
			if !c.settled() {
				t.Fatal("not settled after the heal")
			}
			d := c.members[1].sm.Digest()
			for _, id := range c.order {
				if m := c.members[id]; m.sm.Count() != 5 || m.sm.Digest() != d {
					t.Fatalf("node %d delivered %d (digest %x), want 5 (%x)", id, m.sm.Count(), m.sm.Digest(), d)
				}
			}
		})
	}
}
