package dashboard

import (
	"sync"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
)

// fakes are scripted sources: a test sets what the next sample reads.
type fakes struct {
	mu      sync.Mutex
	now     time.Time
	members []dispatcher.Member
	m       *partitionmap.Map
	groups  []GroupView
	stats   map[string]raps.ServiceStats
	down    []uint64
	crashed []uint64
}

func (f *fakes) config() Config {
	c := DefaultConfig()
	c.Now = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	c.Members = func() []dispatcher.Member { f.mu.Lock(); defer f.mu.Unlock(); return f.members }
	c.Map = func() *partitionmap.Map { f.mu.Lock(); defer f.mu.Unlock(); return f.m }
	c.Stats = func() map[string]raps.ServiceStats { f.mu.Lock(); defer f.mu.Unlock(); return f.stats }
	return c
}

func (f *fakes) set(fn func(f *fakes)) { f.mu.Lock(); defer f.mu.Unlock(); fn(f) }

func nodes3() []dispatcher.Member {
	return []dispatcher.Member{{ID: 2, State: "alive", Role: "node", Zone: "b"}, {ID: 1, State: "alive", Role: "node", Zone: "a"},
		{ID: 3, State: "alive", Role: "node", Zone: "c"}, {ID: 100, State: "alive", Role: "frontend"}}
}

// kvMap: one hash service of two partitions, groups 10 and 11, three
// clones each on nodes 1..3 (rank 0 differs), plus the clones given.
func kvMap(epoch uint64, p0 []partitionmap.Clone) *partitionmap.Map {
	v := func(ids ...partitionmap.NodeID) []partitionmap.Clone {
		var out []partitionmap.Clone
		for _, id := range ids {
			out = append(out, partitionmap.Clone{Node: id})
		}
		return out
	}
	if p0 == nil {
		p0 = v(2, 1, 3)
	}
	return &partitionmap.Map{Epoch: epoch, NextGroup: 12,
		Nodes: []partitionmap.Node{{ID: 1, Zone: "a"}, {ID: 2, Zone: "b"}, {ID: 3, Zone: "c"}, {ID: 4, Zone: "d"}},
		Services: []partitionmap.Service{{Name: "kv", Partitioning: partitionmap.Hash, Slots: 16, Partitions: 2, Clones: 3,
			Durability: partitionmap.Memory}},
		Partitions: []partitionmap.Partition{
			{Service: "kv", ID: 0, SlotLo: 0, SlotHi: 8, Group: 10, Incarnation: 1, Clones: p0},
			{Service: "kv", ID: 1, SlotLo: 8, SlotHi: 16, Group: 11, Incarnation: 1, Clones: v(1, 2, 3)},
		}}
}

// report is every given node's report of a group at a view.
func report(group, view uint64, seq string, status string, members []uint64, from ...uint64) []GroupView {
	var out []GroupView
	for _, n := range from {
		out = append(out, GroupView{Node: n, Group: group, View: view, Sequencer: seq, Role: "voter", Status: status,
			Members: members, Applied: 100})
	}
	return out
}
