package dashboard

import (
	"slices"
	"time"

	"github.com/quicksilver-go/quicksilver/raps"
)

// The Router's counters are cumulative; each sample keeps the previous
// reading and turns the difference into rates and quantiles over the
// interval between the two.

// ring is a bounded series, oldest first.
type ring struct {
	vals []float64
	max  int
}

func (r *ring) add(v float64) {
	if len(r.vals) == r.max {
		copy(r.vals, r.vals[1:])
		r.vals = r.vals[:r.max-1]
	}
	r.vals = append(r.vals, v)
}

type serviceSeries struct{ rate, p99 ring }

// rates holds the previous reading and the series of every service.
type rates struct {
	samples int
	prev    map[string]raps.ServiceStats
	prevAt  time.Time
	series  map[string]*serviceSeries
}

func newRates(samples int) *rates {
	return &rates{samples: samples, series: map[string]*serviceSeries{}}
}

func calls(s raps.ServiceStats) uint64 { return s.Updates + s.Queries + s.Scatters }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// step derives the rows from a new reading taken at now. The first
// reading gives no rates: there is no interval yet.
func (r *rates) step(cur map[string]raps.ServiceStats, now time.Time) []ServiceRow {
	dt := now.Sub(r.prevAt).Seconds()
	first := r.prev == nil || dt <= 0
	var out []ServiceRow
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range cur {
			if !yield(k) {
				return
			}
		}
	}) {
		s := cur[name]
		se := r.series[name]
		if se == nil {
			se = &serviceSeries{rate: ring{max: r.samples}, p99: ring{max: r.samples}}
			r.series[name] = se
		}
		row := ServiceRow{Name: name}
		if !first {
			p := r.prev[name] // zero if the service is new: all its calls are in this interval
			if calls(s) < calls(p) {
				p = raps.ServiceStats{} // a counter went backwards: a new client; start over
			}
			lat := s.Latency.Sub(p.Latency)
			row.Rate = float64(calls(s)-calls(p)) / dt
			row.Errors = float64(s.Errors-min(p.Errors, s.Errors)) / dt
			row.P50, row.P99 = ms(lat.Quantile(0.5)), ms(lat.Quantile(0.99))
			se.rate.add(row.Rate)
			se.p99.add(row.P99)
		}
		row.RateSeries, row.P99Series = slices.Clone(se.rate.vals), slices.Clone(se.p99.vals)
		if row.RateSeries == nil {
			row.RateSeries, row.P99Series = []float64{}, []float64{}
		}
		out = append(out, row)
	}
	r.prev, r.prevAt = cur, now
	return out
}
