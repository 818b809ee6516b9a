package dispatcher_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
	"github.com/quicksilver-go/quicksilver/replica"
)

// slowKV is the kv store whose queries take a second while slow is set:
// a clone that stalls (a GC pause, a slow disk), as in raps's
// TestQueryHedgesAroundStalledClone.
type slowKV struct {
	*kv.Store
	slow  *atomic.Bool
	asked *atomic.Int64 // queries that met the stall
}

func (s slowKV) Query(q []byte) ([]byte, error) {
	if s.slow.Load() {
		s.asked.Add(1)
		time.Sleep(time.Second)
	}
	return s.Store.Query(q)
}

// Reads over HTTP are hedged around a stalled clone: (almost) none waits
// for the stall, and the Router hedged (few) queries to do it.
func TestHedgingAvoidsStalledClone(t *testing.T) {
	var mu sync.Mutex
	made := 0
	stall := new(atomic.Bool)
	asked := new(atomic.Int64)
	svc := rapstest.KVService(1, 3, partitionmap.Memory)
	svc.New = func(partitionmap.PartRef) replica.StateMachine {
		mu.Lock()
		defer mu.Unlock()
		if made++; made == 1 { // the first clone made, wherever it is, stalls
			return slowKV{kv.New(), stall, asked}
		}
		return kv.New()
	}
	c := rapstest.New(t, 3, rapstest.WithServices(svc))
	t.Cleanup(func() { stall.Store(false) }) // let the cluster stop promptly
	a := newFront(t, c, 100, nil)
	a.waitMap(c)
	a.want(a.do("PUT", "/v1/kv/x", "1"), 200, "")
	c.WaitConverged(30 * time.Second)
	answered := map[string]int{}
	query := func() time.Duration {
		t0 := time.Now()
		r := a.want(a.do("GET", "/v1/kv/x"), 200, "")
		if string(r.body) != "1" {
			t.Fatalf("get: %q", r.body)
		}
		answered[r.header.Get("QS-Clone")]++
		return time.Since(t0)
	}
	for range 200 { // learn the p95
		query()
	}
	t.Logf("before the stall, answers by clone: %v", answered)
	clear(answered)
	h0 := a.fe.Stats().Hedges
	stall.Store(true)
	var worst time.Duration
	stalled := 0 // reads that waited out the stall
	for range 200 {
		d := query()
		worst = max(worst, d)
		if d >= time.Second {
			stalled++
		}
	}
	st := a.fe.Stats()
	t.Logf("during the stall, answers by clone: %v; worst %v, %d reads waited out the stall; %d hedges (%d during the stall) of %d queries; p95 %v",
		answered, worst, stalled, st.Hedges, st.Hedges-h0, st.Queries, st.QueryP95)
	// A clone a hedge overtook is charged its whole round trip (the
	// stall), so the picker leaves it after its first slow answer; on the
	// real clock of a busy shared machine the others' peak EWMAs spike
	// too, so allow one read to wait out the stall, never more.
	if stalled > 1 {
		t.Fatalf("%d reads waited for the stalled clone (worst %v)", stalled, worst)
	}
	// The picker may shun the stalled clone from the start (it looked
	// slower before the stall): then nothing needs a hedge. Every query
	// that did meet the stall must have been hedged, or waited it out.
	if n := asked.Load(); n > int64(stalled) && st.Hedges == h0 {
		t.Fatalf("%d queries met the stall and none was hedged", n)
	}
	if float64(st.Hedges) > 0.1*float64(st.Queries)+10 {
		t.Fatalf("%d hedges of %d queries: over the budget", st.Hedges, st.Queries)
	}
	if stalled == 0 && len(answered) > 2 {
		t.Fatalf("answers during the stall came from %v: the stalled clone answered too", answered)
	}
}
