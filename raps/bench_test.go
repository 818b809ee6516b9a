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
