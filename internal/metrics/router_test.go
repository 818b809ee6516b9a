package metrics

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// stallKV is a kv store whose queries take half a second while stall is
// set (a clone in a GC pause).
type stallKV struct {
	*kv.Store
	stall *atomic.Bool
}

func (s stallKV) Query(q []byte) ([]byte, error) {
	if s.stall.Load() {
		time.Sleep(500 * time.Millisecond)
	}
	return s.Store.Query(q)
}

// startRAPS runs n raps nodes over memnet (all bootstrap members), in a
// synctest bubble.
func startRAPS(t *testing.T, n int, svc raps.Service) map[groupcomm.NodeID]*raps.Node {
	t.Helper()
	net := memnet.New(memnet.Config{Seed: 1, MinDelay: 100 * time.Microsecond, MaxDelay: 100 * time.Microsecond})
	var ids []groupcomm.NodeID
	for i := 1; i <= n; i++ {
		ids = append(ids, groupcomm.NodeID(i))
	}
	live := func() []groupcomm.NodeID { return ids }
	nodes := map[groupcomm.NodeID]*raps.Node{}
	var hosts []*racs.Host
	for _, id := range ids {
		var mu sync.Mutex
		var h *racs.Host
		var nd *raps.Node
		tr := net.Endpoint(id, func(ps []racs.Packet) {
			mu.Lock()
			hh := h
			mu.Unlock()
			if hh != nil {
				hh.DeliverBatch(ps)
			}
		})
		rc := racs.DefaultConfig()
		rc.Node, rc.Cluster, rc.Transport, rc.Store = id, 1, tr, replica.NewMemStore()
		rc.OnCall = func(from groupcomm.NodeID, call *racs.Call) {
			mu.Lock()
			x := nd
			mu.Unlock()
			if x != nil {
				x.OnCall(from, call)
			}
		}
		host, err := racs.NewHost(rc)
		if err != nil {
			t.Fatal(err)
		}
		cfg := raps.DefaultConfig()
		cfg.ID, cfg.Cluster, cfg.Host, cfg.Transport, cfg.Services = id, 1, host, tr, []raps.Service{svc}
		cfg.Live, cfg.Seeds, cfg.Bootstrap = live, ids, ids
		node, err := raps.NewNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		h, nd = host, node
		mu.Unlock()
		nodes[id] = node
		hosts = append(hosts, host)
	}
	t.Cleanup(func() {
		for i, id := range ids {
			nodes[id].Close()
			hosts[i].Close()
		}
		net.Close()
	})
	return nodes
}

// The Router's counters, scraped: queries, hedges around a stalled clone
// and the hedges that won, retries of a read that cannot be served, and
// the p95 the hedges wait for.
func TestRouterMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		made := 0
		stall := new(atomic.Bool)
		svc := raps.Service{Name: "kv", Partitioning: partitionmap.Hash, Partitions: 1, Clones: 3, Durability: partitionmap.Memory,
			New: func(partitionmap.PartRef) replica.StateMachine {
				mu.Lock()
				defer mu.Unlock()
				if made++; made == 1 {
					return stallKV{kv.New(), stall} // the first clone made stalls
				}
				return kv.New()
			}}
		nodes := startRAPS(t, 3, svc)
		cl := nodes[1].Client()
		reg := NewRegistry()
		if err := Register(reg, Sources{Router: cl}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for cl.Map() == nil || len(cl.Map().Nodes) < 3 {
			time.Sleep(50 * time.Millisecond)
		}
		if err := cl.DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Update(ctx, "kv", []byte("x"), kv.Encode(kv.OpPut, "x", []byte("1")), raps.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// query reads until it succeeds (a view change may refuse a read
		// now and then); calls counts the Router's Query calls.
		calls := 0
		query := func(level racs.Level) {
			t.Helper()
			for deadline := time.Now().Add(time.Minute); ; {
				calls++
				res, err := cl.Query(ctx, "kv", []byte("x"), kv.Encode(kv.OpGet, "x"), level, racs.Token{})
				if err == nil && string(res.Data) == "\x001" {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("get: %q %v", res.Data, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		for range 20 { // clones may still be placed: retried
			query(racs.Strict)
		}
		m := scrape(t, reg)
		q0, r0 := value(t, m, "qs_router_queries_total"), value(t, m, "qs_router_retries_total")
		if q0 < 20 {
			t.Errorf("qs_router_queries_total = %v after 20 reads", q0)
		}
		const n = 200
		calls = 0
		for range n { // the p95 is learnt over these
			query(racs.Strict)
		}
		m = scrape(t, reg)
		// Every query attempt is a Query call's first or one of its
		// retries (no update runs meanwhile).
		q, r := value(t, m, "qs_router_queries_total")-q0, value(t, m, "qs_router_retries_total")-r0
		if q != float64(calls)+r || calls < n {
			t.Errorf("%v query attempts for %d Query calls and %v retries", q, calls, r)
		}
		if p := value(t, m, "qs_router_query_p95_seconds"); p <= 0 || p > 1 {
			t.Errorf("qs_router_query_p95_seconds = %v", p)
		}
		stall.Store(true)
		for range n {
			query(racs.Any)
		}
		stall.Store(false)
		m = scrape(t, reg)
		st := cl.Stats()
		h, w := value(t, m, "qs_router_hedges_total"), value(t, m, "qs_router_hedge_wins_total")
		if h == 0 || w == 0 || w > h || h != float64(st.Hedges) || w != float64(st.HedgeWins) {
			t.Errorf("during the stall: %v hedges, %v won (Stats %+v)", h, w, st)
		}
		// A session read at a position no clone reaches times out attempt
		// after attempt: each retry is counted.
		sctx, scancel := context.WithTimeout(ctx, 3*raps.DefaultAttemptTimeout)
		_, err := cl.Query(sctx, "kv", []byte("x"), kv.Encode(kv.OpGet, "x"), racs.Session, racs.Token{Seq: 1 << 40})
		scancel()
		if err == nil {
			t.Fatal("a read at an unreachable position succeeded")
		}
		r1 := value(t, m, "qs_router_retries_total")
		m = scrape(t, reg)
		if r := value(t, m, "qs_router_retries_total"); r-r1 < 1 || r != float64(cl.Stats().Retries) {
			t.Errorf("qs_router_retries_total %v → %v after %v (Stats %d)", r1, r, errors.Unwrap(err), cl.Stats().Retries)
		}
		t.Logf("router: %+v", cl.Stats())
	})
}
