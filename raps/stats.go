package raps

import (
	"errors"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Per-service counters of the Router's calls, for dashboards: cumulative
// counts and a latency histogram per service, so that a sampler derives
// rates and quantiles per interval from two readings (Sub, Quantile).
// Recording is a map read and a few atomic adds on the caller's path;
// services that do not exist are not recorded, so a caller's typos cannot
// grow the map.

// LatencyBuckets is the number of histogram buckets: bucket i counts the
// calls that took less than 2^i microseconds (and at least 2^(i-1)); the
// last bucket also holds everything slower.
const LatencyBuckets = 32

// LatencyHistogram is a cumulative histogram of call latencies.
type LatencyHistogram [LatencyBuckets]uint64

// BucketBound is the upper bound of bucket i.
func BucketBound(i int) time.Duration { return time.Duration(uint64(1)<<uint(i)) * time.Microsecond }

func bucketOf(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	// us < 2^i for the smallest i: the bit length of us.
	return min(bits.Len64(us), LatencyBuckets-1)
}

// Sub returns h - prev: the calls recorded between two readings.
func (h LatencyHistogram) Sub(prev LatencyHistogram) LatencyHistogram {
	var out LatencyHistogram
	for i := range h {
		out[i] = h[i] - prev[i]
	}
	return out
}

// Count is the number of calls in h.
func (h LatencyHistogram) Count() uint64 {
	var n uint64
	for _, v := range h {
		n += v
	}
	return n
}

// Quantile returns the upper bound of the bucket that holds the q-th
// quantile (0 < q ≤ 1), so the true quantile is at most the answer and
// more than half of it; 0 when h is empty.
func (h LatencyHistogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1) // the rank-th smallest call

	var seen uint64
	for i, v := range h {
		seen += v
		if seen >= rank {
			return BucketBound(i)
		}
	}
	return BucketBound(LatencyBuckets - 1)
}

// ServiceStats are one service's cumulative counters: calls that
// returned (successes and failures alike), failures among them, and the
// latency of all of them.
type ServiceStats struct {
	Updates  uint64
	Queries  uint64
	Scatters uint64
	Errors   uint64
	// Partial counts the scatters some partition did not answer (they
	// are not Errors: the others answered).
	Partial uint64
	Latency LatencyHistogram
}

type serviceCounters struct {
	updates, queries, scatters, errors, partial atomic.Uint64
	lat                                         [LatencyBuckets]atomic.Uint64
}

// callStats holds the counters of every service called.
type callStats struct {
	m sync.Map // service name → *serviceCounters
}

type callKind uint8

const (
	callUpdate callKind = iota
	callQuery
	callScatter
)

func (s *callStats) record(service string, kind callKind, took time.Duration, err error, partial bool) {
	if errors.Is(err, ErrUnknownService) {
		return
	}
	v, ok := s.m.Load(service)
	if !ok {
		v, _ = s.m.LoadOrStore(service, &serviceCounters{})
	}
	c := v.(*serviceCounters)
	switch kind {
	case callUpdate:
		c.updates.Add(1)
	case callQuery:
		c.queries.Add(1)
	case callScatter:
		c.scatters.Add(1)
	}
	if err != nil {
		c.errors.Add(1)
	}
	if partial {
		c.partial.Add(1)
	}
	c.lat[bucketOf(took)].Add(1)
}

// ServiceStats returns the counters of every service this client has
// called, by service name. The counters of one service are read one after
// the other, not at one instant: a call that ends meanwhile may be in
// some and not others.
func (c *Client) ServiceStats() map[string]ServiceStats {
	out := map[string]ServiceStats{}
	c.stats.m.Range(func(k, v any) bool {
		sc := v.(*serviceCounters)
		st := ServiceStats{Updates: sc.updates.Load(), Queries: sc.queries.Load(), Scatters: sc.scatters.Load(),
			Errors: sc.errors.Load(), Partial: sc.partial.Load()}
		for i := range sc.lat {
			st.Latency[i] = sc.lat[i].Load()
		}
		out[k.(string)] = st
		return true
	})
	return out
}
