package racs_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
)

// BenchmarkFailover: the crash of one of 5 in-process hosts that hold
// 10,000 Memory groups (30,000 clones; the crashed host holds 6,000),
// with default settings. The others' failure detectors suspect it at
// once (as memberlist would after its suspicion timeout); reported is how
// long until each affected group's surviving sequencer (or its successor)
// installed a view without the crashed node: the distribution, and the
// share within 5 s. Run with -benchtime 1x.
func BenchmarkFailover(b *testing.B) {
	const nodes, groups, dead = 5, 10000, 5
	hosts, stop := idleCluster(b, nodes, groups)
	defer stop()
	time.Sleep(500 * time.Millisecond)
	affected := map[int]bool{}
	for g := 1; g <= groups; g++ {
		for r := range 3 {
			if (g+r)%nodes+1 == dead {
				affected[g] = true
			}
		}
	}
	b.ResetTimer()
	start := time.Now()
	hosts[dead-1].Close()
	for i, h := range hosts {
		if i != dead-1 {
			h.SetSuspected(dead, true)
		}
	}
	took := map[int]time.Duration{}
	for len(took) < len(affected) && time.Since(start) < time.Minute {
		for g := range affected {
			if _, ok := took[g]; ok {
				continue
			}
			for r := range 3 {
				i := (g + r) % nodes
				if i == dead-1 {
					continue
				}
				grp, err := hosts[i].Group(replica.GroupID(g))
				if err != nil {
					continue
				}
				v := grp.View()
				if _, in := v.LookupNode(groupcomm.NodeID(dead)); !in && v.ID > 1 && grp.Info().Status == groupcomm.StatusNormal {
					took[g] = time.Since(start)
					break
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	var ds []time.Duration
	within := 0
	for _, d := range took {
		ds = append(ds, d)
		if d <= 5*time.Second {
			within++
		}
	}
	slices.Sort(ds)
	if len(ds) == 0 {
		b.Fatal("no group installed a view without the crashed node")
	}
	q := func(p float64) float64 { return ds[int(p*float64(len(ds)-1))].Seconds() }
	b.ReportMetric(float64(len(affected)), "groups-affected")
	b.ReportMetric(float64(len(ds)), "groups-recovered")
	b.ReportMetric(100*float64(within)/float64(len(affected)), "%-within-5s")
	b.ReportMetric(q(0.5), "p50-s")
	b.ReportMetric(q(0.99), "p99-s")
	b.ReportMetric(ds[len(ds)-1].Seconds(), "max-s")
	if len(ds) < len(affected) {
		b.Log(fmt.Sprintf("%d of %d affected groups had no new view after a minute", len(affected)-len(ds), len(affected)))
	}
}
