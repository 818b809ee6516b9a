package raps_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// frontEnd starts a Router that hosts nothing, on its own memnet
// endpoint, as qs-frontend runs it.
func (c *pcluster) frontEnd(id groupcomm.NodeID) *raps.Client {
	var cl atomic.Pointer[raps.Client]
	tr := c.net.Endpoint(id, func(ps []racs.Packet) {
		if x := cl.Load(); x != nil {
			x.DeliverBatch(ps)
		}
	})
	cfg := raps.DefaultClientConfig()
	cfg.ID, cfg.Transport, cfg.Seeds, cfg.Live = id, tr, c.boot, c.live
	fe, err := raps.NewClient(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	cl.Store(fe)
	c.t.Cleanup(fe.Close)
	return fe
}

// A front end's Router learns the map from the nodes, updates, reads at
// every level, scatters, administers and reads the history, all over the
// transport; it keeps working when a management member dies.
func TestFrontEndClientServesAndAdministers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 6, partitionmap.Memory)
		c := newPCluster(t, 4, []groupcomm.NodeID{1, 2, 3}, svc)
		fe := c.frontEnd(100)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c.waitFor("four nodes in the front end's map", 20*time.Second, func() bool {
			m := fe.Map()
			return m != nil && len(m.Nodes) == 4
		})
		if err := fe.DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		write := func(i int) raps.Result {
			k := fmt.Sprint("k", i)
			res, err := fe.Update(ctx, "kv", []byte(k), kv.Encode(kv.OpPut, k, []byte("v"+k)), raps.UpdateOptions{})
			if err != nil || len(res.Data) == 0 || res.Data[0] != kv.StatusOK {
				t.Fatalf("put %s: %v %v", k, res.Data, err)
			}
			return res
		}
		read := func(i int, lvl racs.Level, tok racs.Token) {
			k := fmt.Sprint("k", i)
			res, err := fe.Query(ctx, "kv", []byte(k), kv.Encode(kv.OpGet, k), lvl, tok)
			if err != nil || string(res.Data) != "\x00v"+k {
				t.Fatalf("get %s at %v: %q %v", k, lvl, res.Data, err)
			}
		}
		for i := range 40 {
			res := write(i)
			read(i, racs.Session, res.Token)
			read(i, racs.Strict, racs.Token{})
		}
		out, partial, err := fe.Scatter(ctx, "kv", kv.Encode(kv.OpGet, "k1"), racs.Any)
		if err != nil || partial || len(out) != 6 {
			t.Fatalf("scatter: %d answers, partial %v, %v", len(out), partial, err)
		}
		h, err := fe.History(ctx, 0, 0)
		if err != nil || len(h) < 2 || h[0].Epoch != 1 {
			t.Fatalf("history: %d changes, %v", len(h), err)
		}
		before := fe.Map().Epoch
		if err := fe.Drain(ctx, 4); err != nil {
			t.Fatal(err)
		}
		if fe.Map().Epoch <= before {
			t.Fatalf("drain: epoch %d after %d", fe.Map().Epoch, before)
		}
		c.waitFor("node 4 drained", 60*time.Second, func() bool {
			return clonesOn(fe.Map(), 4) == 0 && c.converged()
		})
		c.kill(1) // a management member, and a clone of many partitions
		for i := range 40 {
			read(i, racs.Strict, racs.Token{})
			write(100 + i)
		}
		if _, err := fe.Update(ctx, "nope", []byte("k"), nil, raps.UpdateOptions{}); err == nil {
			t.Fatal("update of an unknown service succeeded")
		}
	})
}

// slowKV is the kv store whose queries take the given time on one node
// while slow is set: a clone that stalls (a GC pause, a slow disk).
type slowKV struct {
	*kv.Store
	slow *atomic.Bool
}

func (s slowKV) Query(q []byte) ([]byte, error) {
	if s.slow.Load() {
		time.Sleep(time.Second)
	}
	return s.Store.Query(q)
}

// A query to a stalled clone is hedged to another one: no read waits for
// the stall, and few are hedged.
func TestQueryHedgesAroundStalledClone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The first clone made (on whichever node) is the one that stalls.
		var mu sync.Mutex
		var made int
		stall := new(atomic.Bool)
		svc := kvService("kv", partitionmap.Hash, 1, partitionmap.Memory)
		svc.New = func(partitionmap.PartRef) replica.StateMachine {
			mu.Lock()
			defer mu.Unlock()
			if made++; made == 1 {
				return slowKV{kv.New(), stall}
			}
			return kv.New()
		}
		c := newPCluster(t, 3, []groupcomm.NodeID{1, 2, 3}, svc)
		fe := c.frontEnd(100)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c.waitFor("three nodes in the map", 20*time.Second, func() bool {
			m := fe.Map()
			return m != nil && len(m.Nodes) == 3
		})
		if err := fe.DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		if _, err := fe.Update(ctx, "kv", []byte("x"), kv.Encode(kv.OpPut, "x", []byte("1")), raps.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", 20*time.Second, c.converged)
		answered := map[groupcomm.NodeID]int{}
		query := func() time.Duration {
			t0 := time.Now()
			res, err := fe.Query(ctx, "kv", []byte("x"), kv.Encode(kv.OpGet, "x"), racs.Any, racs.Token{})
			if err != nil || string(res.Data) != "\x001" {
				t.Fatalf("get: %q %v", res.Data, err)
			}
			answered[res.Clone]++
			return time.Since(t0)
		}
		for range 200 { // learn the p95
			query()
		}
		t.Logf("before the stall, answers by clone: %v", answered)
		clear(answered)
		h0 := fe.Stats().Hedges
		stall.Store(true)
		var worst time.Duration
		for range 200 {
			worst = max(worst, query())
		}
		st := fe.Stats()
		if worst >= time.Second {
			t.Fatalf("a query waited %v for the stalled clone (hedges %d)", worst, st.Hedges)
		}
		if st.Hedges == h0 || float64(st.Hedges) > 0.1*float64(st.Queries)+10 {
			t.Fatalf("%d hedges of %d queries", st.Hedges, st.Queries)
		}
		t.Logf("during the stall, answers by clone: %v; worst %v, %d hedges (%d during the stall) of %d queries, p95 %v",
			answered, worst, st.Hedges, st.Hedges-h0, st.Queries, st.QueryP95)
		if len(answered) != 2 {
			t.Fatalf("answers during the stall came from %v, not from the two clones that did not stall", answered)
		}
	})
}
