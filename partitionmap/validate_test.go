package partitionmap

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// deepCopy copies every slice a corruption below may write.
func deepCopy(m *Map) *Map {
	c := *m
	c.Nodes = slices.Clone(m.Nodes)
	for i := range c.Nodes {
		c.Nodes[i].Services = slices.Clone(c.Nodes[i].Services)
	}
	c.Services = slices.Clone(m.Services)
	c.Partitions = slices.Clone(m.Partitions)
	for i := range c.Partitions {
		c.Partitions[i].Clones = slices.Clone(c.Partitions[i].Clones)
	}
	return &c
}

func TestValidateCatchesEveryBrokenInvariant(t *testing.T) {
	m := fixture(t)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	// Partition indexes in the fixture: catalog/0..2 then kv/0..3.
	const cat0, cat1, cat2, kv0, kv1 = 0, 1, 2, 3, 4
	cases := []struct {
		name string
		f    func(m *Map)
		msg  string
	}{
		{"epoch 0", func(m *Map) { m.Epoch = 0 }, "epoch 0"},
		{"next group 0", func(m *Map) { m.NextGroup = 0 }, "next group"},
		{"nodes unsorted", func(m *Map) { m.Nodes[0], m.Nodes[1] = m.Nodes[1], m.Nodes[0] }, "sorted"},
		{"node id 0", func(m *Map) { m.Nodes[0].ID = 0 }, "id 0"},
		{"node bad state", func(m *Map) { m.Nodes[0].State = 3 }, "state"},
		{"dead without time", func(m *Map) { m.Nodes[0].State = NodeDead }, "dead-since"},
		{"active with time", func(m *Map) { m.Nodes[0].DeadSince = t0 }, "dead-since"},
		{"services unsorted", func(m *Map) { m.Nodes[0].Services = []string{"kv", "catalog"} }, "sorted"},
		{"long zone", func(m *Map) { m.Nodes[0].Zone = strings.Repeat("z", 300) }, "zone"},
		{"service order", func(m *Map) { m.Services[0], m.Services[1] = m.Services[1], m.Services[0] }, "sorted"},
		{"service bad name", func(m *Map) { m.Services[0].Name = "" }, "name"},
		{"service durability", func(m *Map) { m.Services[1].Durability = 0 }, "durability"},
		{"service kind", func(m *Map) { m.Services[1].Partitioning = 0 }, "partitioning"},
		{"range with slots", func(m *Map) { m.Services[0].Slots = 5 }, "slots"},
		{"too many clones", func(m *Map) { m.Services[1].Clones = 5 }, "nodes offer it"},
		{"partition count", func(m *Map) { m.Services[0].Partitions = 2 }, ""},
		{"partition count 2", func(m *Map) { m.Services[1].Partitions = 5 }, ""},
		{"partition id", func(m *Map) { m.Partitions[cat1].ID = 7 }, "expected partition"},
		{"key gap", func(m *Map) { m.Partitions[cat1].Start = Key("E") }, "gap or overlap"},
		{"key overlap", func(m *Map) { m.Partitions[cat0].End = Key("E") }, "gap or overlap"},
		{"bounded last", func(m *Map) { m.Partitions[cat2].End = Key("Z") }, "unbounded"},
		{"empty range", func(m *Map) { m.Partitions[cat1].End = Key("D"); m.Partitions[cat2].Start = Key("D") }, "empty range"},
		{"slot gap", func(m *Map) { m.Partitions[kv1].SlotLo++ }, "gap or overlap"},
		{"slot end", func(m *Map) { m.Partitions[len(m.Partitions)-1].SlotHi-- }, "slots end"},
		{"range with hash slots", func(m *Map) { m.Partitions[cat0].SlotHi = 3 }, "hash slots"},
		{"hash with keys", func(m *Map) { m.Partitions[kv0].End = Key("x") }, "key bounds"},
		{"group reused", func(m *Map) { m.Partitions[kv1].Group = m.Partitions[kv0].Group }, "twice"},
		{"group beyond next", func(m *Map) { m.Partitions[kv1].Group = m.NextGroup }, "group id"},
		{"incarnation 0", func(m *Map) { m.Partitions[kv1].Incarnation = 0 }, "incarnation"},
		{"no clones", func(m *Map) { m.Partitions[kv1].Clones = nil }, "clones"},
		{"two clones on a node", func(m *Map) { m.Partitions[kv1].Clones[1].Node = m.Partitions[kv1].Clones[0].Node }, "two clones"},
		{"clone on unknown node", func(m *Map) { m.Partitions[kv1].Clones[1].Node = 99 }, "unknown node"},
		{"clone on node lacking service", func(m *Map) { m.Partitions[kv1].Clones[1].Node = 5 }, "does not offer"},
		{"learner first", func(m *Map) { m.Partitions[kv1].Clones[0].Role = Learner }, "rank 0"},
		{"voter after learner", func(m *Map) {
			c := m.Partitions[kv0].Clones
			c[2], c[3] = c[3], c[2]
		}, "after a learner"},
		{"two learners", func(m *Map) { m.Partitions[kv0].Clones[2].Role = Learner }, "more than one learner"},
		{"voter ready", func(m *Map) { m.Partitions[kv1].Clones[1].Ready = true }, "learner fields"},
		{"replaces a non-voter", func(m *Map) { m.Partitions[kv0].Clones[3].Replaces = 5 }, "holds no voter"},
		{"bad role", func(m *Map) { m.Partitions[kv1].Clones[1].Role = 4 }, "role"},
		{"stray partition", func(m *Map) { m.Partitions = append(m.Partitions, m.Partitions[kv1]) }, "no service"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := deepCopy(m)
			c.f(b)
			err := b.Validate()
			if !errors.Is(err, ErrInvalidMap) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Validate = %v; want ErrInvalidMap saying %q", err, c.msg)
			}
			// Nothing downstream panics on it either.
			if _, err := b.MarshalBinary(); err == nil {
				t.Fatal("marshalled an invalid map")
			}
			if _, err := Plan(b, allLive(m), DefaultPolicy(t0)); err == nil {
				t.Fatal("planned on an invalid map")
			}
			_, _ = b.Locate("kv", []byte("k"))
			_, _ = b.Locate("catalog", []byte("k"))
		})
	}
	var nilMap *Map
	if err := nilMap.Validate(); !errors.Is(err, ErrInvalidMap) {
		t.Fatal(err)
	}
	if _, err := nilMap.AddNode(0, Node{ID: 1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
}
