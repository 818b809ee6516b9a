package dispatcher_test

import (
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
	"github.com/quicksilver-go/quicksilver/replica"
)

// A node cut off on a minority side, whose failure detector (gossip)
// holds the others dead: its clones' view changes cannot finish without a
// majority, so an update it takes for a group it sequences is certainly
// not ordered, and its Router has no live node to try instead — 503
// not_applied with Retry-After, safe to retry elsewhere — and its
// readiness says why. Healed, the same update applies.
func TestMinoritySide503(t *testing.T) {
	var cut atomic.Bool // node 3's gossip view: 1 and 2 are gone
	liveOf3 := func(orig func() []groupcomm.NodeID) func() []groupcomm.NodeID {
		return func() []groupcomm.NodeID {
			if cut.Load() {
				return []groupcomm.NodeID{3}
			}
			return orig()
		}
	}
	c := rapstest.New(t, 3, rapstest.WithKVPartitions(4), rapstest.WithAttemptTimeout(300*time.Millisecond),
		rapstest.WithNodeConfig(func(cfg *raps.Config) {
			if cfg.ID == 3 {
				cfg.Live = liveOf3(cfg.Live)
			}
		}))
	c.WaitConverged(60 * time.Second)
	// A key whose group node 3 sequences (the placer gives node 3 some
	// kv sequencers; a hand-off may still be under way after convergence,
	// on a loaded machine).
	var key string
	var gid uint64
	c.WaitFor("node 3 sequences a kv group", 60*time.Second, func() bool {
		for i := 0; key == "" && i < 1000; i++ {
			k := fmt.Sprint("minority-", i)
			ref, _ := c.ClonesOf("kv", []byte(k))
			p, err := c.Node(3).Map().Partition(ref)
			if err != nil {
				t.Fatal(err)
			}
			g, err := c.Host(3).Group(replica.GroupID(p.Group))
			if err != nil {
				continue
			}
			if g.Info().Sequencer.Node == 3 {
				key, gid = k, p.Group
			}
		}
		return key != ""
	})
	cfg := dispatcher.DefaultConfig()
	cfg.Router, cfg.RequestTimeout, cfg.TokenWait = c.Node(3).Client(), 2*time.Second, 500*time.Millisecond
	cfg.Ready = c.Node(3).Ready
	d, err := dispatcher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	a := &front{t: t, d: d, srv: srv}
	a.want(a.do("PUT", "/v1/kv/"+key, "before"), 200, "")

	c.Partition([]groupcomm.NodeID{1, 2}, []groupcomm.NodeID{3})
	cut.Store(true)
	c.Host(3).SetSuspected(1, true)
	c.Host(3).SetSuspected(2, true)
	g, _ := c.Host(3).Group(replica.GroupID(gid))
	c.WaitFor("node 3's group to leave its view", 30*time.Second, func() bool { return g.Serving() != nil })
	r := a.want(a.do("PUT", "/v1/kv/"+key, "during"), 503, "not_applied")
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %v", r.header)
	}
	a.want(a.do("GET", "/readyz"), 503, "not_ready")

	c.Heal()
	cut.Store(false)
	c.Host(3).SetSuspected(1, false)
	c.Host(3).SetSuspected(2, false)
	c.WaitFor("the update applied after healing", 60*time.Second, func() bool {
		return a.do("PUT", "/v1/kv/"+key, "after").status == 200
	})
	a.want(a.do("GET", "/v1/kv/"+key+"?consistency=strict"), 200, "")
}
