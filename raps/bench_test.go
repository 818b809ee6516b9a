package raps_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// BenchmarkRouter: the Router's cost, next to calling the group directly.
// 3 nodes over memnet (real time, no synctest), the kv service in 8
// Memory partitions; 64 closed-loop clients on node 1. "direct" submits to
// racs.Group on the partition's sequencer host (what the Router would
// reach); "router-local" goes through node 1's Client with keys whose
// sequencer is node 1 (no hop); "router" uses every key, so about two in
// three updates take a hop over internal/rpc. One op = one acknowledged
// update, or one strict read for the query variants.
func BenchmarkRouter(b *testing.B) {
	c := &pcluster{svcs: []raps.Service{kvService("kv", partitionmap.Hash, 8, partitionmap.Memory)},
		boot: []groupcomm.NodeID{1, 2, 3}}
	c.init(b, memnet.Config{Seed: 1})
	for i := 1; i <= 3; i++ {
		c.start(groupcomm.NodeID(i))
	}
	defer c.close()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := c.node(1).Map()
		if m != nil && len(m.Nodes) == 3 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no map")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.node(1).DefineService(ctx, c.svcs[0]); err != nil {
		b.Fatal(err)
	}
	for !c.converged() {
		if time.Now().After(deadline) {
			b.Fatal("not converged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := c.node(1).Map()
	var keys, localKeys []string
	for i := 0; len(keys) < 256 || len(localKeys) < 64; i++ {
		k := fmt.Sprint("key", i)
		p, _ := m.LocateString("kv", k)
		keys = append(keys, k)
		if p.Sequencer() == 1 {
			localKeys = append(localKeys, k)
		}
	}
	run := func(b *testing.B, op func(i int) error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		for range 64 {
			wg.Go(func() {
				for {
					i := int(next.Add(1))
					if i > b.N {
						return
					}
					if err := op(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	}
	upd := func(k string) []byte { return kv.Encode(kv.OpPut, k, []byte("v")) }
	// group: the clone on node 1 of k's partition (node 1 sequences it).
	group := func(k string) (*racs.Group, error) {
		p, _ := m.LocateString("kv", k)
		return c.host(1).Group(replica.GroupID(p.Group))
	}
	b.Run("update/direct", func(b *testing.B) {
		run(b, func(i int) error {
			k := localKeys[i%len(localKeys)]
			g, err := group(k)
			if err != nil {
				return err
			}
			_, err = g.Submit(ctx, upd(k), "")
			return err
		})
	})
	b.Run("update/router-local", func(b *testing.B) {
		cl := c.node(1).Client()
		run(b, func(i int) error {
			k := localKeys[i%len(localKeys)]
			_, err := cl.Update(ctx, "kv", []byte(k), upd(k), raps.UpdateOptions{})
			return err
		})
	})
	b.Run("update/router", func(b *testing.B) {
		cl := c.node(1).Client()
		run(b, func(i int) error {
			k := keys[i%len(keys)]
			_, err := cl.Update(ctx, "kv", []byte(k), upd(k), raps.UpdateOptions{})
			return err
		})
	})
	b.Run("query/direct", func(b *testing.B) {
		run(b, func(i int) error {
			k := localKeys[i%len(localKeys)]
			g, err := group(k)
			if err != nil {
				return err
			}
			_, _, err = g.Query(ctx, kv.Encode(kv.OpGet, k), racs.Any, racs.Token{})
			return err
		})
	})
	b.Run("query/router", func(b *testing.B) {
		cl := c.node(1).Client()
		run(b, func(i int) error {
			k := keys[i%len(keys)]
			_, err := cl.Query(ctx, "kv", []byte(k), kv.Encode(kv.OpGet, k), racs.Any, racs.Token{})
			return err
		})
	})
}

// BenchmarkReReplicate: the time to re-replicate a 100-MiB partition onto
// a new node. 3 nodes over memnet (real time, no synctest), each on a
// replica.DiskStore in b.TempDir() (fsync on); one service of one Disk
// partition × 3 clones, filled through node 1's Router with 400 values of
// 256 KiB (16 writers). Then node 4 starts, and the partition's clone on
// a follower moves to it (MoveClone). Reported: "MB/s", the state's bytes
// (keys and values, 10^6 bytes a MB) over the state transfer's time, from
// the learner's group appearing on node 4 to that clone holding the state
// (a voter in its group, not restoring); "transfer-s", that time;
// "move-s", from the MoveClone call to the move's end in the map (the
// learner reported ready, promoted, the old clone removed).
func BenchmarkReReplicate(b *testing.B) {
	const (
		valueSize = 256 << 10
		values    = 400 // 100 MiB
		writers   = 16
	)
	for range b.N {
		b.StopTimer()
		c := &pcluster{svcs: []raps.Service{{Name: "big", Partitioning: partitionmap.Hash, Partitions: 1, Clones: 3,
			Durability: partitionmap.Disk, New: func(partitionmap.PartRef) replica.StateMachine { return kv.New() }}},
			boot: []groupcomm.NodeID{1, 2, 3}}
		dir := b.TempDir()
		c.openStore = func(id groupcomm.NodeID) (replica.Store, func() error, error) {
			d := fmt.Sprintf("%s/node%d", dir, id)
			s, err := replica.OpenDisk(replica.DiskOptions{BoltPath: d + "/state.bolt", WALDir: d + "/wal"})
			if err != nil {
				return nil, nil, err
			}
			return s, s.Close, nil
		}
		c.init(b, memnet.Config{Seed: 1})
		for i := 1; i <= 3; i++ {
			c.start(groupcomm.NodeID(i))
		}
		ctx := context.Background()
		// poll re-checks cond every millisecond (the timed waits); a
		// condition that digests 100 MB of state on every clone
		// (converged) is re-checked every 50 ms instead.
		pollEvery := func(what string, limit, every time.Duration, cond func() bool) {
			deadline := time.Now().Add(limit)
			for !cond() {
				if time.Now().After(deadline) {
					b.Fatalf("timed out after %v waiting for %s; %s", limit, what, c.describe())
				}
				time.Sleep(every)
			}
		}
		poll := func(what string, limit time.Duration, cond func() bool) {
			pollEvery(what, limit, time.Millisecond, cond)
		}
		poll("three nodes in the map", 30*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 3
		})
		if err := c.node(1).DefineService(ctx, c.svcs[0]); err != nil {
			b.Fatal(err)
		}
		poll("clones converged", 30*time.Second, c.converged)

		fillStart := time.Now()
		var next atomic.Int64
		var stateBytes atomic.Int64
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				val := make([]byte, valueSize)
				for {
					i := int(next.Add(1))
					if i > values {
						return
					}
					k := fmt.Sprintf("value-%04d", i)
					for j := range val {
						val[j] = byte(i + j)
					}
					if err := put(ctx, c.node(1), "big", k, string(val)); err != nil {
						b.Error(err)
						return
					}
					stateBytes.Add(int64(len(k) + len(val)))
				}
			})
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		fill := time.Since(fillStart)
		pollEvery("clones converged after the fill", time.Minute, 50*time.Millisecond, c.converged)

		m := c.node(1).Map()
		p := m.Partitions[0]
		from := p.Clones[len(p.Voters())-1].Node // a follower
		gid := replica.GroupID(p.Group)
		c.start(4)
		poll("node 4 in the map", 30*time.Second, func() bool {
			m := c.node(1).Map()
			_, err := m.Node(4)
			return err == nil
		})

		b.StartTimer()
		moveStart := time.Now()
		if err := c.node(1).MoveClone(ctx, p.Ref(), from, 4); err != nil {
			b.Fatal(err)
		}
		var hosted time.Time
		poll("the clone on node 4 holding the state", 5*time.Minute, func() bool {
			g, err := c.host(4).Group(gid)
			if err != nil {
				return false
			}
			if hosted.IsZero() {
				hosted = time.Now()
			}
			in := g.Info()
			return in.Status == groupcomm.StatusNormal && in.Role == groupcomm.Voter && !in.Restoring
		})
		transfer := time.Since(hosted)
		poll("the move done in the map", 5*time.Minute, func() bool {
			m := c.node(1).Map()
			q, err := m.Partition(p.Ref())
			if err != nil {
				return false
			}
			_, moving := q.Learner()
			return !moving && hasNode(q, 4) && !hasNode(q, from)
		})
		move := time.Since(moveStart)
		b.StopTimer()

		pollEvery("clones converged after the move", time.Minute, 50*time.Millisecond, c.converged)
		mb := float64(stateBytes.Load()) / 1e6
		b.ReportMetric(mb/transfer.Seconds(), "MB/s")
		b.ReportMetric(transfer.Seconds(), "transfer-s")
		b.ReportMetric(move.Seconds(), "move-s")
		b.Logf("%.1f MB of state (%d values of %d KiB), filled in %v (%.1f MB/s through the Router); moved from node %d: transfer %v, whole move %v",
			mb, values, valueSize>>10, fill.Round(time.Millisecond), mb/fill.Seconds(), from, transfer.Round(time.Millisecond), move.Round(time.Millisecond))
		c.close()
	}
}

func hasNode(p *partitionmap.Partition, n partitionmap.NodeID) bool {
	for _, cl := range p.Clones {
		if cl.Node == n {
			return true
		}
	}
	return false
}
