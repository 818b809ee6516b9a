package mgmt

import (
	"slices"
	"strings"
	"testing"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// TestBootstrapPlacesMgmt: with MgmtGroup, the first map places the
// management group on the bootstrap nodes, in order, and says so.
func TestBootstrapPlacesMgmt(t *testing.T) {
	s := New()
	c := Command{Op: OpBootstrap, Cluster: 7, FirstGroup: 2, Nodes: []partitionmap.Node{{ID: 3}, {ID: 1}, {ID: 2}},
		MgmtGroup: 1, MgmtDurability: partitionmap.Disk}
	b, err := EncodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := DecodeResult(s.Apply(b))
	if err != nil || res.Err() != nil {
		t.Fatalf("bootstrap: %v %v", err, res.Err())
	}
	m := s.Map()
	p, ok := m.Mgmt()
	if !ok || p.Group != 1 || m.Epoch != 1 || !slices.Equal(m.MgmtVoters(), []partitionmap.NodeID{3, 1, 2}) {
		t.Fatalf("map %+v", m)
	}
	if h := s.History(0, 0); len(h) != 1 || !strings.Contains(h[0].Summary, "management group 1 on nodes") {
		t.Fatalf("history %+v", h)
	}
	// The management group's id must be below FirstGroup.
	c.FirstGroup = 1
	if _, _, err := change(0, nil, &c); err == nil {
		t.Fatal("a management group id not below FirstGroup was accepted")
	}
}
