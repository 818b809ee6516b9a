package ops

import (
	"slices"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// TestLiveSet: two members and a front end in real gossip on loopback; a
// node's live set holds itself and the other node, never the front end,
// and a snapshot's slice cannot be grown into by a caller.
func TestLiveSet(t *testing.T) {
	start := func(id uint64, frontEnd bool, seeds ...string) *Peer {
		return &Peer{ID: id, Cluster: 1, Label: "live", Transport: "127.0.0.1:1", Gossip: "127.0.0.1:0", FrontEnd: frontEnd, Seeds: seeds}
	}
	a, err := StartMembership(*start(1, false))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	b, err := StartMembership(*start(2, false))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	f, err := StartMembership(*start(100, true))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Shutdown()
	if _, err := b.Join(a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Join(a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	s := NewLiveSet(a, 1)
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(s.IDs(), []groupcomm.NodeID{1, 2}) {
		if time.Now().After(deadline) {
			t.Fatalf("live set %v, want [1 2]", s.IDs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ids := s.IDs()
	if cap(ids) != len(ids) {
		t.Fatalf("snapshot has spare capacity %d > %d", cap(ids), len(ids))
	}
}
