package racs_test

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

func TestHistogramBuckets(t *testing.T) {
	var h racs.Histogram
	for _, v := range []uint64{0, 1, 2, 3, 4, 5, 1000, 1024, 1025, math.MaxUint64} {
		h.Observe(v)
	}
	s := h.Snapshot()
	want := map[int]uint64{0: 2, 1: 1, 2: 2, 3: 1, 10: 2, 11: 1, 64: 1}
	for i, c := range s.Counts {
		if c != want[i] {
			t.Errorf("bucket %d (≤ %d): %d values, want %d", i, racs.BucketBound(i), c, want[i])
		}
	}
	if s.Count() != 10 {
		t.Errorf("Count = %d, want 10", s.Count())
	}
	if got := s.CountAtMost(10); got != 8 {
		t.Errorf("CountAtMost(10) = %d, want 8 (the values ≤ 1024)", got)
	}
	if got := s.CountAtMost(100); got != 10 {
		t.Errorf("CountAtMost(100) = %d, want 10", got)
	}
	if b := racs.BucketBound(10); b != 1024 {
		t.Errorf("BucketBound(10) = %d", b)
	}
	if b := racs.BucketBound(64); b != math.MaxUint64 {
		t.Errorf("BucketBound(64) = %d", b)
	}
	if q := s.Quantile(0.5); q != 4 {
		t.Errorf("median bound = %d, want 4", q) // 5th of 10 values is 3 or 4: bucket ≤ 4
	}
	var e racs.HistogramSnapshot
	if e.Quantile(0.99) != 0 || e.Count() != 0 {
		t.Error("an empty snapshot has quantiles")
	}
	e.Add(&s)
	e.Add(&s)
	if e.Count() != 20 || e.Counts[0] != 4 || e.Sum != 2*s.Sum {
		t.Errorf("Add: count %d bucket0 %d sum %d", e.Count(), e.Counts[0], e.Sum)
	}
	var d racs.Histogram
	d.ObserveDuration(-time.Second)
	d.ObserveDuration(3 * time.Microsecond)
	if ds := d.Snapshot(); ds.Counts[0] != 1 || ds.Counts[12] != 1 || ds.Sum != 3000 {
		t.Errorf("durations: %v sum %d", ds.Counts[:13], ds.Sum)
	}
}

func TestHistogramConcurrentNoAlloc(t *testing.T) {
	var h racs.Histogram
	const goroutines, each = 4, 10000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				h.Observe(uint64(g*each + i))
			}
		})
	}
	// Snapshots race with the observers (the race detector checks it).
	for range 10 {
		s := h.Snapshot()
		if s.Count() > goroutines*each {
			t.Fatal("more values than observed")
		}
	}
	wg.Wait()
	s := h.Snapshot()
	n := uint64(goroutines * each)
	if s.Count() != n || s.Sum != n*(n-1)/2 {
		t.Fatalf("count %d sum %d, want %d and %d", s.Count(), s.Sum, n, n*(n-1)/2)
	}
	if a := testing.AllocsPerRun(1000, func() { h.Observe(12345) }); a != 0 {
		t.Fatalf("Observe allocates %v times", a)
	}
}

// TestHostStats checks the host's counters against what the test did:
// every update counted once as delivered at every clone and once as a
// latency at the clone that submitted it, commits with their entries, a
// view change after a kill, and a state transfer to a joiner.
func TestHostStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Disk)
		const n = 20
		for i := range n {
			if _, err := c.submit(1, fmt.Sprint("u", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		c.waitConverged()
		before := map[groupcomm.NodeID]racs.HostStats{}
		for id := groupcomm.NodeID(1); id <= 3; id++ {
			s := c.host(id).Stats()
			before[id] = s
			t.Logf("node %d: %d views installed, %d view-change durations", id, s.ViewsInstalled, s.ViewChange.Count())
			if s.Groups != 1 {
				t.Errorf("node %d: Groups = %d", id, s.Groups)
			}
			if s.Delivered != n {
				t.Errorf("node %d: Delivered = %d, want %d", id, s.Delivered, n)
			}
			wantLat := uint64(0)
			if id == 1 {
				wantLat = n
			}
			if got := s.DeliveryLatency.Count(); got != wantLat {
				t.Errorf("node %d: %d delivery latencies, want %d (the updates it submitted)", id, got, wantLat)
			}
			if s.CommitLatency.Count() == 0 || s.CommitEntries.Sum < n ||
				s.CommitEntries.Count() != s.CommitLatency.Count() || s.CommitGroups.Sum < s.CommitGroups.Count() {
				t.Errorf("node %d: commits %d, entries %d in %d, groups %d in %d", id, s.CommitLatency.Count(),
					s.CommitEntries.Sum, s.CommitEntries.Count(), s.CommitGroups.Sum, s.CommitGroups.Count())
			}
			if s.TransfersSent+s.TransfersReceived+s.TransferBytesSent+s.TransferBytesReceived != 0 {
				t.Errorf("node %d: transfers counted without a joiner: %+v", id, s)
			}
		}
		if l := before[1].DeliveryLatency; l.Sum == 0 || l.Quantile(1) < uint64(netDelay) {
			t.Errorf("delivery latency sum %d, max bound %d: an update takes a network hop (%v) at least", l.Sum, l.Quantile(1), netDelay)
		}

		c.kill(3)
		c.suspect(1, 3, true)
		c.suspect(2, 3, true)
		c.waitUntil("node 3 removed", func() bool {
			for id := groupcomm.NodeID(1); id <= 2; id++ {
				v := c.group(id).View()
				if _, in := v.LookupNode(3); in || c.group(id).Info().Status != groupcomm.StatusNormal {
					return false
				}
			}
			return true
		})
		for id := groupcomm.NodeID(1); id <= 2; id++ {
			s := c.host(id).Stats()
			if s.ViewsInstalled <= before[id].ViewsInstalled {
				t.Errorf("node %d: ViewsInstalled %d → %d after a kill", id, before[id].ViewsInstalled, s.ViewsInstalled)
			}
			if s.ViewChange.Count() <= before[id].ViewChange.Count() {
				t.Errorf("node %d: no view-change duration counted (%d)", id, s.ViewChange.Count())
			}
		}

		c.start(4, []groupcomm.NodeID{1, 2})
		if _, err := c.submit(2, "after", ""); err != nil {
			t.Fatal(err)
		}
		c.waitConverged()
		var sent, sentBytes uint64
		for id := groupcomm.NodeID(1); id <= 2; id++ {
			s := c.host(id).Stats()
			sent += s.TransfersSent
			sentBytes += s.TransferBytesSent
		}
		j := c.host(4).Stats()
		if sent == 0 || sentBytes == 0 {
			t.Errorf("donors: %d transfers, %d bytes sent", sent, sentBytes)
		}
		if j.TransfersReceived != 1 || j.TransferBytesReceived == 0 || j.TransferBytesReceived > sentBytes {
			t.Errorf("joiner: %d transfers, %d bytes received (%d sent)", j.TransfersReceived, j.TransferBytesReceived, sentBytes)
		}
		if j.ViewsInstalled == 0 || j.ViewChange.Count() == 0 {
			t.Errorf("joiner: %d views installed, %d durations", j.ViewsInstalled, j.ViewChange.Count())
		}
		t.Logf("node 1: %d views, view change p100 ≤ %v, delivery p50 ≤ %v, %d commits (%d entries); joiner got %d bytes",
			c.host(1).Stats().ViewsInstalled, time.Duration(c.host(1).Stats().ViewChange.Quantile(1)),
			time.Duration(before[1].DeliveryLatency.Quantile(0.5)), before[1].CommitLatency.Count(), before[1].CommitEntries.Sum,
			j.TransferBytesReceived)
	})
}

// BenchmarkHistogramObserve: the cost a counted latency adds to the
// delivery path, alone and with every core observing into one histogram.
func BenchmarkHistogramObserve(b *testing.B) {
	var h racs.Histogram
	b.Run("one", func(b *testing.B) {
		for i := range b.N {
			h.Observe(uint64(i))
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := uint64(0); pb.Next(); i++ {
				h.Observe(i)
			}
		})
	})
}
