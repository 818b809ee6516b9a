package racs

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// HistogramBuckets is the number of buckets of a Histogram: bucket 0
// counts the values 0 and 1, bucket i (1 ≤ i < 64) the values in
// (2^(i-1), 2^i], bucket 64 the values above 2^63.
const HistogramBuckets = 65

// Histogram counts uint64 observations (nanoseconds, entries, …) in
// fixed power-of-two buckets. Observe is lock-free and allocates nothing:
// two atomic adds. The zero value is ready to use; a Histogram must not
// be copied after first use.
type Histogram struct {
	counts [HistogramBuckets]atomic.Uint64
	sum    atomic.Uint64
}

// Observe counts one value.
func (h *Histogram) Observe(v uint64) {
	h.counts[bucketOf(v)].Add(1)
	h.sum.Add(v)
}

// ObserveDuration counts a duration in nanoseconds (a negative one as 0).
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(uint64(max(d, 0))) }

// Snapshot returns the counts. It is not atomic as a whole: an
// observation that races with it may be in the counts and not yet in
// the sum; Count is always the total of the counts.
func (h *Histogram) Snapshot() HistogramSnapshot {
	var s HistogramSnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = h.sum.Load()
	return s
}

func bucketOf(v uint64) int {
	if v <= 1 {
		return 0
	}
	return bits.Len64(v - 1)
}

// BucketBound is the largest value bucket i counts (its inclusive upper
// bound): 2^i, and math.MaxUint64 for the last bucket.
func BucketBound(i int) uint64 {
	if i >= HistogramBuckets-1 {
		return math.MaxUint64
	}
	return 1 << i
}

// HistogramSnapshot is a Histogram's counts at one moment.
type HistogramSnapshot struct {
	// Counts[i] is the number of values in bucket i (not cumulative).
	Counts [HistogramBuckets]uint64
	// Sum is the total of the values observed.
	Sum uint64
}

// Count is the number of values observed.
func (s HistogramSnapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// CountAtMost is the number of values observed in buckets 0 to i, that
// is, of the values ≤ BucketBound(i) (a cumulative bucket).
func (s HistogramSnapshot) CountAtMost(i int) uint64 {
	var n uint64
	for _, c := range s.Counts[:min(i+1, HistogramBuckets)] {
		n += c
	}
	return n
}

// Add adds o's counts to s (merging the histograms of several workers).
func (s *HistogramSnapshot) Add(o *HistogramSnapshot) {
	for i, c := range o.Counts {
		s.Counts[i] += c
	}
	s.Sum += o.Sum
}

// Quantile returns the upper bound of the bucket that holds the q-th
// quantile (0 ≤ q ≤ 1) of the values observed, 0 if none was: an
// overestimate by at most a factor of two.
func (s HistogramSnapshot) Quantile(q float64) uint64 {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range s.Counts {
		if seen += c; seen >= rank {
			return BucketBound(i)
		}
	}
	return math.MaxUint64
}
