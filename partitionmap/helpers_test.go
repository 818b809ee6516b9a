package partitionmap

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestMain pins rapid's seed unless one is given (-rapid.seed or
// RAPID_SEED), so the property tests are deterministic like the rest.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.seed" })
	if !set && os.Getenv("RAPID_SEED") == "" {
		_ = flag.Set("rapid.seed", "20260101")
	}
	os.Exit(m.Run())
}

// tester is what both *testing.T and *rapid.T offer.
type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ok(tb)(m.Change(...)) is the changed map, or the test fails.
func ok(tb tester) func(*Map, error) *Map {
	return func(m *Map, err error) *Map {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return m
	}
}

func enc(tb tester, m *Map) []byte {
	tb.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// source abstracts rapid and a seeded PRNG, so one generator serves the
// shrinking property tests and the long seeded simulations.
type source interface {
	intn(lo, hi int, label string) int
}

type rapidSource struct{ t *rapid.T }

func (s rapidSource) intn(lo, hi int, label string) int {
	return rapid.IntRange(lo, hi).Draw(s.t, label)
}

type randSource struct{ r *rand.Rand }

func (s randSource) intn(lo, hi int, _ string) int { return lo + s.r.IntN(hi-lo+1) }

func seeded(seed uint64) randSource {
	return randSource{rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

type genOpts struct {
	maxNodes, maxZones, maxParts, maxClones, mutations int
}

var smallMaps = genOpts{maxNodes: 8, maxZones: 3, maxParts: 12, maxClones: 3, mutations: 6}

var serviceNames = []string{"cart", "catalog", "kv"}

// genMap builds a random valid map through the public changes (so it is
// a map the package can really produce), then roughs it up with random
// admin changes, some of which fail and must change nothing.
func genMap(tb tester, src source, o genOpts) *Map {
	tb.Helper()
	m := ok(tb)(New(uint64(src.intn(1, 5, "first group"))))
	nz := src.intn(1, o.maxZones, "zones")
	nn := src.intn(1, o.maxNodes, "nodes")
	for i := 0; i < nn; i++ {
		n := Node{ID: NodeID(10 + i*3 + src.intn(0, 2, "id")), Zone: fmt.Sprintf("z%d", src.intn(0, nz-1, "zone")),
			Addr: fmt.Sprintf("10.0.0.%d:7300", i)}
		for _, s := range serviceNames {
			if src.intn(0, 4, "offers") > 0 {
				n.Services = append(n.Services, s)
			}
		}
		m = ok(tb)(m.AddNode(m.Epoch, n))
	}
	for _, name := range serviceNames[:src.intn(0, len(serviceNames), "services")] {
		avail := len(m.activeOffering(name))
		if avail == 0 {
			continue
		}
		svc := Service{Name: name, Partitions: src.intn(1, o.maxParts, "partitions"),
			Clones: src.intn(1, min(o.maxClones, avail), "clones"), Durability: Durability(src.intn(1, 2, "durability"))}
		svc.Acks, svc.Reads = AckPolicy(src.intn(0, 1, "acks")), ReadLevels(src.intn(0, 7, "reads"))
		svc.Retain = uint32(src.intn(0, 3, "retain") * 500)
		if src.intn(0, 3, "topic?") == 3 {
			svc.Kind, svc.Durability, svc.Retain = KindTopic, Memory, svc.Retain+1
		}
		var ranges []KeyRange
		if src.intn(0, 1, "range?") == 1 {
			svc.Partitioning = Range
			var bounds []string
			k := 0
			for len(bounds) < svc.Partitions-1 {
				k += src.intn(1, 40, "bound gap")
				bounds = append(bounds, fmt.Sprintf("k%04d", k))
			}
			ranges = SplitRanges(bounds...)
			if src.intn(0, 1, "infer partitions") == 1 {
				svc.Partitions = 0
			}
		} else {
			svc.Partitioning = Hash
			svc.Slots = uint32(svc.Partitions + src.intn(0, 100, "extra slots"))
		}
		m = ok(tb)(m.DefineService(m.Epoch, svc, ranges))
	}
	for i := src.intn(0, o.mutations, "mutations"); i > 0; i-- {
		m = mutate(tb, m, src)
	}
	return m
}

// mutate tries one random admin change; a refused change must leave the
// map as it was.
func mutate(tb tester, m *Map, src source) *Map {
	tb.Helper()
	before := enc(tb, m)
	var next *Map
	var err error
	nodeAt := func() NodeID {
		if len(m.Nodes) == 0 {
			return 1
		}
		return m.Nodes[src.intn(0, len(m.Nodes)-1, "node")].ID
	}
	partAt := func() (PartRef, *Partition) {
		if len(m.Partitions) == 0 {
			return PartRef{Service: "kv"}, nil
		}
		p := &m.Partitions[src.intn(0, len(m.Partitions)-1, "partition")]
		return p.Ref(), p
	}
	switch src.intn(0, 5, "mutation") {
	case 0:
		next, err = m.SetNodeState(m.Epoch, nodeAt(), NodeDraining, time.Time{})
	case 1:
		next, err = m.SetNodeState(m.Epoch, nodeAt(), NodeDead, t0.Add(-time.Duration(src.intn(0, 30, "dead minutes"))*time.Minute))
	case 2:
		next, err = m.SetNodeState(m.Epoch, nodeAt(), NodeActive, time.Time{})
	case 3:
		ref, p := partAt()
		from := NodeID(1)
		if p != nil {
			from = p.Clones[src.intn(0, len(p.Clones)-1, "from")].Node
		}
		next, err = m.MoveClone(m.Epoch, ref, from, nodeAt())
	case 4:
		ref, p := partAt()
		if p != nil {
			if l, ok := p.Learner(); ok {
				next, err = m.MarkLearnerReady(m.Epoch, ref, l.Node)
				break
			}
		}
		next, err = m.MarkLearnerReady(m.Epoch, ref, nodeAt())
	case 5:
		name := serviceNames[src.intn(0, len(serviceNames)-1, "service")]
		next, err = m.SetClones(m.Epoch, name, src.intn(1, 4, "new clones"))
	}
	if err != nil {
		if next != nil {
			tb.Fatalf("a refused change returned a map: %v", err)
		}
		if !bytes.Equal(before, enc(tb, m)) {
			tb.Fatalf("a refused change modified the map: %v", err)
		}
		return m
	}
	if next.Epoch != m.Epoch+1 {
		tb.Fatalf("epoch %d after %d", next.Epoch, m.Epoch)
	}
	if !bytes.Equal(before, enc(tb, m)) {
		tb.Fatal("a change modified the map it was applied to")
	}
	return next
}

// genLive: most nodes live, dead ones mostly not.
func genLive(m *Map, src source) map[NodeID]bool {
	live := map[NodeID]bool{}
	for _, n := range m.Nodes {
		if n.State == NodeDead {
			live[n.ID] = src.intn(0, 5, "dead live") == 0
		} else {
			live[n.ID] = src.intn(0, 7, "live") > 0
		}
	}
	return live
}

func allLive(m *Map) map[NodeID]bool {
	live := map[NodeID]bool{}
	for _, n := range m.Nodes {
		live[n.ID] = n.State != NodeDead
	}
	return live
}

// nodes returns n active nodes 1..n in zones z0..z{zones-1}, round robin,
// offering the services.
func nodes(n, zones int, services ...string) []Node {
	ns := make([]Node, n)
	for i := range ns {
		ns[i] = Node{ID: NodeID(i + 1), Zone: fmt.Sprintf("z%d", i%zones), Services: slices.Clone(services)}
	}
	return ns
}

func buildMap(tb tester, ns []Node) *Map {
	tb.Helper()
	m := ok(tb)(New(1))
	for _, n := range ns {
		m = ok(tb)(m.AddNode(m.Epoch, n))
	}
	return m
}

func hashService(name string, parts, clones int) Service {
	return Service{Name: name, Partitioning: Hash, Slots: uint32(parts * 16), Partitions: parts, Clones: clones, Durability: Disk}
}

// loads counts each node's clones of a service (voters and learners).
func loads(m *Map, service string) map[NodeID]int {
	l := map[NodeID]int{}
	for _, p := range m.Partitions {
		if p.Service == service {
			for _, c := range p.Clones {
				l[c.Node]++
			}
		}
	}
	return l
}

func liveVotersOf(p *Partition, live map[NodeID]bool, m *Map) int {
	k := 0
	for _, v := range p.Voters() {
		if n, err := m.Node(v.Node); err == nil && n.State != NodeDead && live[v.Node] {
			k++
		}
	}
	return k
}
