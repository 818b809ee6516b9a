package mgmt

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// TestEveryOp applies every op once, in a sequence that makes each one
// valid, and checks: the result, the epoch, that the new map is exactly
// what the partitionmap change gives on the old one, the history entry,
// and the change notification.
func TestEveryOp(t *testing.T) {
	s := New()
	var notified []*partitionmap.Map
	s.SetOnChange(func(m *partitionmap.Map) { notified = append(notified, m) })

	kv0 := partitionmap.PartRef{Service: "kv", ID: 0}
	var from, to partitionmap.NodeID // the operator's move of kv/0
	type step struct {
		cmd  func(m *partitionmap.Map) Command
		want func(m *partitionmap.Map) (*partitionmap.Map, error) // nil for bootstrap
		sum  string                                               // in the summary
	}
	steps := []step{
		{
			cmd: func(*partitionmap.Map) Command { return bootstrapCmd(testNodes(4, 2, "cat", "kv", "solo")) },
			sum: "bootstrapped cluster 7 with nodes 1, 2, 3, 4",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpAddNode, Node: partitionmap.Node{ID: 5, Zone: "z2", Services: []string{"kv", "cat"}}}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.AddNode(m.Epoch, partitionmap.Node{ID: 5, Zone: "z2", Services: []string{"cat", "kv"}})
			},
			sum: "added node 5",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: hashService("kv", 8, 3)}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.DefineService(m.Epoch, hashService("kv", 8, 3), nil)
			},
			sum: `defined service "kv": hash, 8 partitions over 128 slots, 3 clones each, disk; groups 100 to 107`,
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: rangeService("cat", 0, 3), Ranges: partitionmap.SplitRanges("D", "G")}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.DefineService(m.Epoch, rangeService("cat", 0, 3), partitionmap.SplitRanges("D", "G"))
			},
			sum: `defined service "cat": range, 3 partitions`,
		},
		{
			cmd: func(*partitionmap.Map) Command { return Command{Op: OpSetClones, Name: "kv", Clones: 4} },
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.SetClones(m.Epoch, "kv", 4)
			},
			sum: `service "kv" wants 4 clones per partition (was 3)`,
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpSetNodeServices, NodeID: 5, Services: []string{"kv", "cat", "extra"}}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.SetNodeServices(m.Epoch, 5, []string{"cat", "extra", "kv"})
			},
			sum: "node 5 offers [cat extra kv] (was [cat kv])",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpUpdateNode, Node: partitionmap.Node{ID: 5, Zone: "zq", Addr: "q:5", Services: []string{"kv", "cat", "extra"}}}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.UpdateNode(m.Epoch, partitionmap.Node{ID: 5, Zone: "zq", Addr: "q:5", Services: []string{"cat", "extra", "kv"}})
			},
			sum: `node 5 is in zone "zq" at "q:5" and offers [cat extra kv]`,
		},
		{
			cmd: func(m *partitionmap.Map) Command {
				from, to = voterAndFreeNode(t, m, kv0)
				return Command{Op: OpMoveClone, Ref: kv0, From: from, To: to}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.MoveClone(m.Epoch, kv0, from, to)
			},
			sum: "kv/0: learner on node",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpLearnersReady, Ready: []partitionmap.CloneRef{{Partition: kv0, Node: to}}}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.MarkLearnersReady(m.Epoch, partitionmap.CloneRef{Partition: kv0, Node: to})
			},
			sum: "learners ready: kv/0 on node",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpApplyMoves, Moves: []partitionmap.Move{
					{Partition: kv0, Kind: partitionmap.PromoteAndRemove, Node: to, Replace: from, Reason: "the operator's move, done"},
				}}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.ApplyAll(m.Epoch, []partitionmap.Move{
					{Partition: kv0, Kind: partitionmap.PromoteAndRemove, Node: to, Replace: from, Reason: "the operator's move, done"},
				})
			},
			sum: "1 moves: kv/0 promote_and_remove node",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpSetNodeState, NodeID: 2, State: partitionmap.NodeDraining}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.SetNodeState(m.Epoch, 2, partitionmap.NodeDraining, time.Time{})
			},
			sum: "node 2 is draining",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpSetNodeState, NodeID: 2, State: partitionmap.NodeDead, Since: t0.Add(time.Minute)}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.SetNodeState(m.Epoch, 2, partitionmap.NodeDead, t0.Add(time.Minute))
			},
			sum: "node 2 is dead since 2026-03-01T12:01:00Z",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpSetNodeState, NodeID: 2, State: partitionmap.NodeActive}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.SetNodeState(m.Epoch, 2, partitionmap.NodeActive, time.Time{})
			},
			sum: "node 2 is active",
		},
		{
			// A one-clone service, so that declaring its node dead loses
			// the partition's every voter and Reincarnate may run.
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: hashService("solo", 1, 1)}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.DefineService(m.Epoch, hashService("solo", 1, 1), nil)
			},
			sum: `defined service "solo"`,
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpSetNodeServices, NodeID: 5, Services: []string{"cat", "kv"}}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.SetNodeServices(m.Epoch, 5, []string{"cat", "kv"})
			},
			sum: "node 5 offers [cat kv] (was [cat extra kv])",
		},
		{
			cmd: func(m *partitionmap.Map) Command {
				p, _ := m.Partition(partitionmap.PartRef{Service: "solo"})
				return Command{Op: OpSetNodeState, NodeID: p.Sequencer(), State: partitionmap.NodeDead, Since: t0}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				p, _ := m.Partition(partitionmap.PartRef{Service: "solo"})
				return m.SetNodeState(m.Epoch, p.Sequencer(), partitionmap.NodeDead, t0)
			},
			sum: "is dead since",
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpReincarnate, Ref: partitionmap.PartRef{Service: "solo"}}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.Reincarnate(m.Epoch, partitionmap.PartRef{Service: "solo"})
			},
			sum: "solo/0 re-created empty as incarnation 2 of group",
		},
		{
			cmd: func(*partitionmap.Map) Command { return Command{Op: OpRemoveService, Name: "cat"} },
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.RemoveService(m.Epoch, "cat")
			},
			sum: `removed service "cat" and its 3 partitions`,
		},
		{
			cmd: func(*partitionmap.Map) Command {
				return Command{Op: OpAddNode, Node: partitionmap.Node{ID: 9, Zone: "z9"}}
			},
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.AddNode(m.Epoch, partitionmap.Node{ID: 9, Zone: "z9"})
			},
			sum: "added node 9",
		},
		{
			cmd: func(*partitionmap.Map) Command { return Command{Op: OpRemoveNode, NodeID: 9} },
			want: func(m *partitionmap.Map) (*partitionmap.Map, error) {
				return m.RemoveNode(m.Epoch, 9)
			},
			sum: "removed node 9",
		},
	}
	seen := map[Op]bool{}
	for i, st := range steps {
		old := s.Map()
		c := st.cmd(old)
		c.Time = t0.Add(time.Duration(i) * time.Second)
		c.Reason = "step " + string(c.Op)
		if old != nil {
			c.Epoch = old.Epoch
		}
		r := apply(t, s, c)
		if err := r.Err(); err != nil {
			t.Fatalf("step %d %s: %v", i, c.Op, err)
		}
		seen[c.Op] = true
		m := s.Map()
		if r.Epoch != uint64(i+1) || m.Epoch != uint64(i+1) {
			t.Fatalf("step %d %s: result epoch %d, map epoch %d, want %d", i, c.Op, r.Epoch, m.Epoch, i+1)
		}
		if st.want != nil {
			want, err := st.want(old)
			if err != nil {
				t.Fatalf("step %d: the direct change fails: %v", i, err)
			}
			if !bytes.Equal(mapBytes(t, m), mapBytes(t, want)) {
				t.Fatalf("step %d %s: the map differs from partitionmap's own change", i, c.Op)
			}
		}
		h := s.History(m.Epoch-1, 0)
		if len(h) != 1 {
			t.Fatalf("step %d: %d history entries after epoch %d, want 1", i, len(h), m.Epoch-1)
		}
		e := h[0]
		if e.Epoch != m.Epoch || e.Op != c.Op || e.Reason != c.Reason || !e.Time.Equal(c.Time) || e.Time.Location() != time.UTC {
			t.Fatalf("step %d: history entry %+v for %+v", i, e, c)
		}
		if !strings.Contains(e.Summary, st.sum) {
			t.Fatalf("step %d %s: summary %q lacks %q", i, c.Op, e.Summary, st.sum)
		}
		if len(notified) != i+1 || notified[i] != m {
			t.Fatalf("step %d: %d notifications, the last not the new map", i, len(notified))
		}
	}
	for op := range opArgs {
		if !seen[op] {
			t.Errorf("op %s not applied", op)
		}
	}
	if s.Cluster() != testCluster {
		t.Fatalf("cluster %d", s.Cluster())
	}
	if h := s.History(0, 0); len(h) != len(steps) || h[0].Op != OpBootstrap || h[0].Epoch != 1 {
		t.Fatalf("history of %d entries from %+v", len(h), h[0])
	}
}

// TestBootstrapMap: the first map is at epoch 1, holds the nodes (their
// services sorted) and hands out group ids from FirstGroup.
func TestBootstrapMap(t *testing.T) {
	s := New()
	if s.Map() != nil || s.Cluster() != 0 || len(s.History(0, 0)) != 0 {
		t.Fatal("a new state machine has state")
	}
	nodes := testNodes(3, 3, "kv", "cat")
	m := mustApply(t, s, bootstrapCmd(nodes))
	if m.Epoch != 1 || m.NextGroup != 100 || len(m.Nodes) != 3 || s.Cluster() != testCluster {
		t.Fatalf("first map %+v, cluster %d", m, s.Cluster())
	}
	for i, n := range m.Nodes {
		if n.ID != nodes[i].ID || strings.Join(n.Services, ",") != "cat,kv" {
			t.Fatalf("node %d: %+v", i, n)
		}
	}
}

// TestCompareAndSet: a change at a stale (or future) epoch is refused and
// changes nothing; at the current epoch it applies; a retry of the same
// command is then stale, which is what makes an unkeyed retry safe.
func TestCompareAndSet(t *testing.T) {
	s := bootstrapped(t)
	epoch := s.Map().Epoch
	c := Command{Op: OpSetClones, Name: "kv", Clones: 2, Time: t0}
	for _, e := range []uint64{0, epoch - 1, epoch + 1, 1 << 63} {
		c.Epoch = e
		f := freeze(t, s)
		wantRefused(t, s, apply(t, s, c), partitionmap.ErrStaleEpoch, "stale")
		f.check(t, s, "stale")
	}
	c.Epoch = epoch
	b := encode(t, c)
	if r := applyRaw(t, s, b); r.Err() != nil || r.Epoch != epoch+1 {
		t.Fatalf("at the current epoch: %+v", r)
	}
	f := freeze(t, s)
	wantRefused(t, s, applyRaw(t, s, b), partitionmap.ErrStaleEpoch, "retry")
	f.check(t, s, "retry")
}
