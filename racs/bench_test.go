package racs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// benchStore is a durable store whose fsyncs the benchmark counts.
type benchStore interface {
	replica.Store
	// syncs returns the durable writes (one fsync each: bbolt's commit
	// takes two) and the log entries they carried.
	syncs() (writes, entries uint64)
}

type benchDisk struct{ *replica.DiskStore }

func (s benchDisk) syncs() (uint64, uint64) { st := s.Stats(); return st.Writes, st.Entries }

type benchBolt struct{ *replica.BoltStore }

func (s benchBolt) syncs() (uint64, uint64) { st := s.Stats(); return st.Writes, st.Entries }

// openBenchStore opens the store of node i: "wal" is the production
// DiskStore, "bolt" the BoltStore the nodes used before it (for the
// before/after comparison).
func openBenchStore(b *testing.B, kind, dir string, i int) benchStore {
	switch kind {
	case "bolt":
		s, err := replica.OpenBolt(filepath.Join(dir, fmt.Sprintf("n%d.db", i)), replica.BoltOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return benchBolt{s}
	default:
		bp, wd := replica.DiskPaths(dir, fmt.Sprintf("n%d", i))
		s, err := replica.OpenDisk(replica.DiskOptions{BoltPath: bp, WALDir: wd})
		if err != nil {
			b.Fatal(err)
		}
		return benchDisk{s}
	}
}

// benchCluster: 3 nodes over memnet hosting `groups` groups of 3, each
// node with one store of the kind (real fsyncs) for Disk.
func benchCluster(b *testing.B, groups int, dur racs.Durability, kind string) ([]*racs.Host, []benchStore, map[int]*racs.Host, func()) {
	net := memnet.New(memnet.Config{Seed: 1})
	dir := b.TempDir()
	var hosts []*racs.Host
	var stores []benchStore
	for i := 1; i <= 3; i++ {
		id := groupcomm.NodeID(i)
		var store replica.Store
		if dur == racs.Disk {
			s := openBenchStore(b, kind, dir, i)
			stores = append(stores, s)
			store = s
		}
		var h *racs.Host
		var mu sync.Mutex
		tr := net.Endpoint(id, func(ps []racs.Packet) {
			mu.Lock()
			hh := h
			mu.Unlock()
			if hh != nil {
				hh.DeliverBatch(ps)
			}
		})
		cfg := racs.DefaultConfig()
		cfg.Node, cfg.Cluster, cfg.Store, cfg.Transport = id, 1, store, tr
		cfg.Workers = 2
		nh, err := racs.NewHost(cfg)
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		h = nh
		mu.Unlock()
		hosts = append(hosts, nh)
	}
	stop := func() {
		for _, h := range hosts {
			h.Close()
		}
		for _, s := range stores {
			s.Close()
		}
		net.Close()
	}
	// 500 groups at a time, each warmed up by one update (idle_bench_test.go).
	seqOf := map[int]*racs.Host{}
	for lo := 1; lo <= groups; lo += 500 {
		if err := createAndTouch(hosts, lo, min(lo+499, groups), dur, seqOf); err != nil {
			stop()
			b.Fatal(err)
		}
	}
	return hosts, stores, seqOf, stop
}

// BenchmarkGroupUpdates: closed-loop clients submitting 100-byte updates
// to each group's sequencer node; one op = one acknowledged update. Disk
// runs on the DiskStore (WAL and bbolt); Disk-bolt on the BoltStore alone,
// as nodes ran before the WAL. entries/fsync and fsyncs/s count the
// durable writes of all three nodes.
func BenchmarkGroupUpdates(b *testing.B) {
	for _, tc := range []struct {
		groups  int
		dur     racs.Durability
		clients int
		store   string
	}{
		{1, racs.Memory, 64, ""}, {1, racs.Disk, 64, "wal"}, {1, racs.Disk, 1, "wal"},
		{1, racs.Disk, 64, "bolt"}, {1, racs.Disk, 1, "bolt"},
		{1000, racs.Memory, 64, ""}, {1000, racs.Disk, 64, "wal"}, {1000, racs.Disk, 64, "bolt"},
	} {
		name := fmt.Sprintf("groups=%d/%v/clients=%d", tc.groups, tc.dur, tc.clients)
		if tc.store == "bolt" {
			name = fmt.Sprintf("groups=%d/%v-bolt/clients=%d", tc.groups, tc.dur, tc.clients)
		}
		b.Run(name, func(b *testing.B) { runUpdates(b, tc.groups, tc.dur, tc.clients, tc.store) })
	}
}

// BenchmarkGroupSweep: the aggregate throughput of 1 to 10,000 groups
// with the same 64 clients, for Memory and Disk (the curve of QSM's and
// dragonboat's charts; P7 wants 1,000 groups at 0.9x of one). Run with
// -benchtime 20000x or more.
func BenchmarkGroupSweep(b *testing.B) {
	for _, dur := range []racs.Durability{racs.Memory, racs.Disk} {
		for _, groups := range []int{1, 10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%v/groups=%d", dur, groups), func(b *testing.B) { runUpdates(b, groups, dur, 64, "wal") })
		}
	}
}

// runUpdates: closed-loop clients, each submitting 100-byte updates to a
// group's sequencer node, the groups taken in turn; one op = one
// acknowledged update.
func runUpdates(b *testing.B, groups int, dur racs.Durability, clients int, store string) {
	_, stores, seqOf, stop := benchCluster(b, groups, dur, store)
	defer stop()
	payload := make([]byte, 100)
	seqNode := func(g int) *racs.Host { return seqOf[g] }
	var writes0 uint64
	var entries0 uint64
	for _, s := range stores {
		w, e := s.syncs()
		writes0 += w
		entries0 += e
	}
	lat := make([][]time.Duration, clients)
	var next sync.Mutex
	issued := 0
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				next.Lock()
				if issued >= b.N {
					next.Unlock()
					return
				}
				issued++
				next.Unlock()
				g := 1 + (c*7919+k)%groups
				grp, _ := seqNode(g).Group(replica.GroupID(g))
				t0 := time.Now()
				for {
					_, err := grp.Submit(context.Background(), payload, "")
					if err == nil {
						break
					}
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/el.Seconds(), "updates/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
	if len(stores) > 0 {
		var writes, entries uint64
		for _, s := range stores {
			w, e := s.syncs()
			writes += w
			entries += e
		}
		if writes > writes0 {
			b.ReportMetric(float64(entries-entries0)/float64(writes-writes0), "entries/fsync")
			b.ReportMetric(float64(writes-writes0)/el.Seconds(), "fsyncs/s")
		}
	}
}
