package raps_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// TestMapWatchPushesNewEpochs: a front end whose poll is an hour learns
// every new epoch through its watch over the transport, within a moment of
// the change (no poll could explain it), and keeps doing so after the
// management member it watched dies.
func TestMapWatchPushesNewEpochs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 4, partitionmap.Memory)
		c := newPCluster(t, 4, []groupcomm.NodeID{1, 2, 3}, svc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c.waitFor("four nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 4
		})
		var cl atomic.Pointer[raps.Client]
		tr := c.net.Endpoint(100, func(ps []racs.Packet) {
			if x := cl.Load(); x != nil {
				x.DeliverBatch(ps)
			}
		})
		cfg := raps.DefaultClientConfig()
		cfg.ID, cfg.Transport, cfg.Seeds, cfg.Live = 100, tr, c.boot, c.live
		cfg.Poll = time.Hour // only the first fetch, then the watch
		fe, err := raps.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cl.Store(fe)
		defer fe.Close()
		c.waitFor("the front end's first map", 5*time.Second, func() bool { return fe.Map() != nil })
		pushed := func(what string) {
			t.Helper()
			want := c.node(1).Map().Epoch
			if want == 0 {
				want = c.node(2).Map().Epoch
			}
			c.waitFor(what, 2*time.Second, func() bool { return fe.Map().Epoch >= want && c.node(4).Map().Epoch >= want })
		}
		if err := c.node(2).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		pushed("the new service's epoch pushed to the front end and node 4")
		if err := c.node(2).SetClones(ctx, "kv", 2); err != nil {
			t.Fatal(err)
		}
		pushed("the clone count's epoch pushed")
		c.kill(1)
		if err := c.node(2).SetClones(ctx, "kv", 3); err != nil {
			t.Fatal(err)
		}
		want := c.node(2).Map().Epoch
		c.waitFor("an epoch pushed after management member 1 died", 5*time.Second, func() bool {
			return fe.Map().Epoch >= want && c.node(4).Map().Epoch >= want
		})
	})
}
