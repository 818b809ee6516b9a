package racs_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// idleCluster starts `nodes` hosts over memnet and `groups` Memory groups
// of 3 clones, the clones and sequencers spread round robin over the nodes
// (as placement spreads them), and waits until each group has applied one
// update.
func idleCluster(b *testing.B, nodes, groups int) ([]*racs.Host, func()) {
	net := memnet.New(memnet.Config{Seed: 1})
	hosts := make([]*racs.Host, nodes)
	var mu sync.Mutex
	for i := range nodes {
		id := groupcomm.NodeID(i + 1)
		tr := net.Endpoint(id, func(ps []racs.Packet) {
			mu.Lock()
			h := hosts[i]
			mu.Unlock()
			if h != nil {
				h.DeliverBatch(ps)
			}
		})
		cfg := racs.DefaultConfig()
		cfg.Node, cfg.Cluster, cfg.Transport = id, 1, tr
		cfg.Workers = 2
		h, err := racs.NewHost(cfg)
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		hosts[i] = h
		mu.Unlock()
	}
	stop := func() {
		for _, h := range hosts {
			h.Close()
		}
		net.Close()
	}
	// Create the groups 500 at a time, each batch with one update per
	// group (64 in flight), as a placer creates partitions with bounded
	// concurrency: every group has ordered, stabilised and applied
	// something before it goes idle, and no creation storm makes the
	// groups change views.
	for lo := 1; lo <= groups; lo += 500 {
		hi := min(lo+499, groups)
		if err := createAndTouch(hosts, lo, hi, racs.Memory, nil); err != nil {
			stop()
			b.Fatal(err)
		}
	}
	return hosts, stop
}

// createAndTouch creates groups lo..hi of 3 clones, spread round robin
// over the hosts, and has each apply one update; seqOf (if not nil)
// records each group's sequencer host.
func createAndTouch(hosts []*racs.Host, lo, hi int, dur racs.Durability, seqOf map[int]*racs.Host) error {
	nodes := len(hosts)
	if seqOf == nil {
		seqOf = map[int]*racs.Host{}
	}
	for g := lo; g <= hi; g++ {
		v := groupcomm.View{Cluster: 1, Group: uint64(g), GroupIncarnation: 1, ID: 1}
		var on []*racs.Host
		for r := range 3 {
			i := (g + r) % nodes
			v.Members = append(v.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: groupcomm.NodeID(i + 1), Incarnation: 1}, Role: groupcomm.Voter})
			on = append(on, hosts[i])
		}
		seqOf[g] = on[0]
		for _, h := range on {
			if _, err := h.AddGroup(racs.GroupConfig{Group: replica.GroupID(g), Incarnation: 1, Durability: dur,
				StateMachine: &listSM{}, Bootstrap: &v, Create: true}); err != nil {
				return err
			}
		}
	}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for g := lo; g <= hi; g++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			grp, _ := seqOf[g].Group(replica.GroupID(g))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for {
				_, err := grp.Submit(ctx, []byte("x"), "")
				if err == nil {
					return
				}
				if ctx.Err() != nil {
					select {
					case errs <- fmt.Errorf("group %d: %w", g, err):
					default:
					}
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkIdleGroups: the cost of groups that exist and do nothing.
// 10,000 Memory groups of 3 clones on 5 in-process nodes (30,000 clones),
// each having applied one update; then the process's CPU time over an
// idle window (cpu-%-of-core: 100 = one core busy) and the heap per
// clone (heap-B/clone: the heap in use with the groups, less the heap of
// the same hosts without them, over the clones). One op = one window of
// one second. Run it with -benchtime 5x.
func BenchmarkIdleGroups(b *testing.B) {
	for _, groups := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("groups=%d/nodes=5", groups), func(b *testing.B) {
			base := heapInUse()
			hosts, stop := idleCluster(b, 5, groups)
			defer stop()
			// Let the last stability announcements and their acks settle.
			time.Sleep(500 * time.Millisecond)
			heap := heapInUse()
			ticking := 0
			for _, h := range hosts {
				ticking += h.Stats().Ticking
			}
			b.ResetTimer()
			c0, t0 := cpuTime(), time.Now()
			for range b.N {
				time.Sleep(time.Second)
			}
			cpu, wall := cpuTime()-c0, time.Since(t0)
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%-of-core")
			b.ReportMetric(float64(ticking), "ticking-clones")
			if heap > base && groups >= 1000 { // one group: the hosts' own noise
				b.ReportMetric(float64(heap-base)/float64(3*groups), "heap-B/clone")
			}
		})
	}
}
