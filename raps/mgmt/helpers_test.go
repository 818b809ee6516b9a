package mgmt

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// The contract, checked here so that the package itself imports only
// partitionmap (replica would bring the stores along).
var _ replica.StateMachine = (*StateMachine)(nil)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testCluster = 7

// encode encodes c or fails the test.
func encode(tb testing.TB, c Command) []byte {
	tb.Helper()
	b, err := EncodeCommand(c)
	if err != nil {
		tb.Fatalf("EncodeCommand(%+v): %v", c, err)
	}
	return b
}

// applyRaw applies raw bytes and decodes the result.
func applyRaw(tb testing.TB, s *StateMachine, b []byte) Result {
	tb.Helper()
	r, err := DecodeResult(s.Apply(b))
	if err != nil {
		tb.Fatalf("DecodeResult: %v", err)
	}
	return r
}

func apply(tb testing.TB, s *StateMachine, c Command) Result {
	tb.Helper()
	return applyRaw(tb, s, encode(tb, c))
}

// mustApply applies c at the current epoch and fails unless it applied.
func mustApply(tb testing.TB, s *StateMachine, c Command) *partitionmap.Map {
	tb.Helper()
	if m := s.Map(); m != nil && c.Op != OpBootstrap {
		c.Epoch = m.Epoch
	}
	r := apply(tb, s, c)
	if err := r.Err(); err != nil {
		tb.Fatalf("%s: %v", c.Op, err)
	}
	if r.Epoch != s.Map().Epoch {
		tb.Fatalf("%s: result at epoch %d, map at %d", c.Op, r.Epoch, s.Map().Epoch)
	}
	return s.Map()
}

func snapshot(tb testing.TB, s *StateMachine) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func restore(tb testing.TB, b []byte) *StateMachine {
	tb.Helper()
	s := New()
	if err := s.Restore(bytes.NewReader(b)); err != nil {
		tb.Fatal(err)
	}
	return s
}

func mapBytes(tb testing.TB, m *partitionmap.Map) []byte {
	tb.Helper()
	if m == nil {
		return nil
	}
	b, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// testNodes are n nodes over zones z0..z(zones-1), offering services.
func testNodes(n, zones int, services ...string) []partitionmap.Node {
	ns := make([]partitionmap.Node, n)
	for i := range ns {
		ns[i] = partitionmap.Node{
			ID:       partitionmap.NodeID(i + 1),
			Zone:     fmt.Sprintf("z%d", i%zones),
			Addr:     fmt.Sprintf("10.0.0.%d:7000", i+1),
			Services: services,
		}
	}
	return ns
}

func bootstrapCmd(nodes []partitionmap.Node) Command {
	return Command{Op: OpBootstrap, Time: t0, Reason: "first", Cluster: testCluster, FirstGroup: 100, Nodes: nodes}
}

// bootstrapped is a management group with five nodes in three zones
// offering kv and cat, and a hash service kv of 8 partitions × 3 clones.
func bootstrapped(tb testing.TB) *StateMachine {
	tb.Helper()
	s := New()
	mustApply(tb, s, bootstrapCmd(testNodes(5, 3, "cat", "kv")))
	mustApply(tb, s, Command{Op: OpDefineService, Time: t0, Service: hashService("kv", 8, 3)})
	return s
}

func hashService(name string, parts, clones int) partitionmap.Service {
	return partitionmap.Service{Name: name, Partitioning: partitionmap.Hash, Slots: uint32(parts * 16),
		Partitions: parts, Clones: clones, Durability: partitionmap.Disk}
}

func rangeService(name string, parts, clones int) partitionmap.Service {
	return partitionmap.Service{Name: name, Partitioning: partitionmap.Range,
		Partitions: parts, Clones: clones, Durability: partitionmap.Memory}
}

// frozen is everything a refused command must leave as it was.
type frozen struct {
	m       *partitionmap.Map
	cluster uint64
	hist    []Change
	snap    []byte
}

func freeze(tb testing.TB, s *StateMachine) frozen {
	tb.Helper()
	return frozen{m: s.Map(), cluster: s.Cluster(), hist: s.History(0, 0), snap: snapshot(tb, s)}
}

func (f frozen) check(tb testing.TB, s *StateMachine, what string) {
	tb.Helper()
	if s.Map() != f.m {
		tb.Fatalf("%s: the map changed", what)
	}
	if s.Cluster() != f.cluster {
		tb.Fatalf("%s: the cluster id changed", what)
	}
	if h := s.History(0, 0); !reflect.DeepEqual(h, f.hist) {
		tb.Fatalf("%s: the history changed: %d entries, was %d", what, len(h), len(f.hist))
	}
	if b := snapshot(tb, s); !bytes.Equal(b, f.snap) {
		tb.Fatalf("%s: the snapshot changed", what)
	}
}

// wantRefused checks r is a refusal matching sentinel at the state's
// epoch.
func wantRefused(tb testing.TB, s *StateMachine, r Result, sentinel error, what string) {
	tb.Helper()
	err := r.Err()
	if err == nil {
		tb.Fatalf("%s: applied, want %v", what, sentinel)
	}
	if !errors.Is(err, sentinel) {
		tb.Fatalf("%s: %v (code %s), want %v", what, err, r.Code, sentinel)
	}
	epoch := uint64(0)
	if m := s.Map(); m != nil {
		epoch = m.Epoch
	}
	if r.Epoch != epoch {
		tb.Fatalf("%s: refusal at epoch %d, map at %d", what, r.Epoch, epoch)
	}
	if len(err.Error()) < 6 || err.Error()[:6] != "mgmt: " {
		tb.Fatalf("%s: error %q lacks the package prefix", what, err)
	}
}

// voterAndFreeNode returns a voter of ref and an active node offering the
// service that holds no clone of it.
func voterAndFreeNode(tb testing.TB, m *partitionmap.Map, ref partitionmap.PartRef) (voter, free partitionmap.NodeID) {
	tb.Helper()
	p, err := m.Partition(ref)
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range m.NodesOffering(ref.Service) {
		if n, _ := m.Node(id); n.State != partitionmap.NodeActive {
			continue
		}
		if _, held := p.Holds(id); !held {
			return p.Clones[0].Node, id
		}
	}
	tb.Fatalf("no free node for %v", ref)
	return 0, 0
}
