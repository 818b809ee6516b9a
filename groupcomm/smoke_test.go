package groupcomm_test

import (
	"fmt"
	"testing"

	. "github.com/quicksilver-go/quicksilver/groupcomm"
)

func TestSmokeNormalCase(t *testing.T) {
	c := newCluster(1, 3, TestingKnobs{})
	for i := 0; i < 30; i++ {
		for _, id := range c.order {
			if _, err := c.multicast(id, fmt.Sprintf("m%d-%d", id, i)); err != nil {
				t.Fatalf("multicast: %v", err)
			}
		}
		c.runStep(true)
	}
	for i := 0; i < 200 && !c.settled(); i++ {
		c.runStep(true)
	}
	if !c.settled() {
		for _, id := range c.order {
			t.Logf("%v", c.members[id].n.Info())
		}
		t.Fatal("not settled")
	}
	d := c.members[1].sm.Digest()
	for _, id := range c.order {
		m := c.members[id]
		if m.sm.Count() != 90 || m.sm.Digest() != d {
			t.Fatalf("member %d applied %d digest %x (want 90, %x)", id, m.sm.Count(), m.sm.Digest(), d)
		}
	}
}

func TestSmokeSequencerCrash(t *testing.T) {
	c := newCluster(2, 3, TestingKnobs{})
	for i := 0; i < 10; i++ {
		c.multicast(2, fmt.Sprintf("a%d", i))
		c.runStep(true)
	}
	c.crash(1)
	for i := 0; i < 10; i++ {
		c.multicast(2, fmt.Sprintf("b%d", i))
		c.runStep(true)
	}
	for i := 0; i < 300 && !c.settled(); i++ {
		c.runStep(true)
	}
	if !c.settled() {
		for _, id := range c.order {
			if c.members[id].n != nil {
				t.Logf("%+v", c.members[id].n.Info())
			}
		}
		t.Fatal("not settled")
	}
	t.Logf("view %v", c.members[2].n.View())
	c.restart(1)
	for i := 0; i < 400 && !c.settled(); i++ {
		c.runStep(true)
	}
	for _, id := range c.order {
		t.Logf("%+v", c.members[id].n.Info())
	}
	if !c.settled() {
		t.Fatal("not settled after restart")
	}
	for _, id := range c.order {
		if c.members[id].sm.Digest() != c.members[2].sm.Digest() {
			t.Fatalf("digest differs at %d", id)
		}
	}
}

// After a total outage, a returning voter that cannot reach Q(w) waits and
// says whom it waits for (L8).
func TestRestartReportsWhomItWaitsFor(t *testing.T) {
	c := newCluster(3, 3, TestingKnobs{})
	c.multicast(1, "x")
	for i := 0; i < 100 && !c.settled(); i++ {
		c.runStep(true)
	}
	for _, id := range c.order {
		c.crash(id)
	}
	c.restart(2)
	for i := 0; i < 200; i++ {
		c.runStep(true)
	}
	in := c.members[2].n.Info()
	if in.Status == StatusNormal {
		t.Fatalf("a lone returner installed a view: %+v", in)
	}
	if len(in.WaitingFor) != 2 {
		t.Fatalf("waiting for %v, want the two other voters", in.WaitingFor)
	}
	c.restart(1)
	c.restart(3)
	for i := 0; i < 600 && !c.settled(); i++ {
		c.runStep(true)
	}
	if !c.settled() {
		t.Fatal("the group did not come back once a quorum returned")
	}
}
