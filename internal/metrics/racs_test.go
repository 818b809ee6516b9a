package metrics

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/kv"
)

// A real host and its disk store, scraped: the counters follow what the
// test did (updates submitted, applied everywhere, committed; a joiner's
// state transfer).
func TestRACSAndStoreMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newRCluster(t, 3)
		c.waitFor("group created", func() bool { return c.normal(0) })
		reg := NewRegistry()
		if err := Register(reg, Sources{Host: c.host(1), Store: c.stores[1]}); err != nil {
			t.Fatal(err)
		}
		before := scrape(t, reg)
		if v := value(t, before, "qs_racs_groups"); v != 1 {
			t.Fatalf("qs_racs_groups = %v", v)
		}
		d0 := value(t, before, "qs_racs_delivered_total")
		fs0 := value(t, before, "qs_store_fsyncs_total")
		const n = 10
		ctx := context.Background()
		for i := range n {
			k := fmt.Sprint("k", i)
			if _, err := c.group(1).Submit(ctx, kv.Encode(kv.OpPut, k, []byte("v")), ""); err != nil {
				t.Fatal(err)
			}
		}
		c.waitFor("updates applied everywhere", func() bool { return c.normal(n) })
		after := scrape(t, reg)
		if d := value(t, after, "qs_racs_delivered_total") - d0; d != n {
			t.Errorf("qs_racs_delivered_total moved by %v, want %d", d, n)
		}
		if cnt, sum := hist(t, after, "qs_racs_delivery_latency_seconds"); cnt != n || sum <= 0 {
			t.Errorf("delivery latency: %d samples, sum %v; want %d", cnt, sum, n)
		}
		cnt, sum := hist(t, after, "qs_racs_commit_latency_seconds")
		if cnt == 0 || sum < 0 {
			t.Errorf("commit latency: %d samples", cnt)
		}
		if ec, es := hist(t, after, "qs_racs_commit_entries"); ec != cnt || es < n {
			t.Errorf("commit entries: %d samples (%d commits), %v entries, want ≥ %d", ec, cnt, es, n)
		}
		if gc, gs := hist(t, after, "qs_racs_commit_groups"); gc != cnt || gs < float64(gc) {
			t.Errorf("commit groups: %d samples, sum %v", gc, gs)
		}
		if v := value(t, after, "qs_racs_views_installed_total"); v < 1 {
			t.Errorf("qs_racs_views_installed_total = %v", v)
		}
		if fs := value(t, after, "qs_store_fsyncs_total"); fs <= fs0 || fs < float64(cnt) {
			t.Errorf("qs_store_fsyncs_total %v → %v (%d commits)", fs0, fs, cnt)
		}
		if e := value(t, after, "qs_store_entries_total"); e < n {
			t.Errorf("qs_store_entries_total = %v", e)
		}
		if b := value(t, after, "qs_store_wal_bytes_total"); b <= 0 {
			t.Errorf("qs_store_wal_bytes_total = %v", b)
		}
		if s := value(t, after, "qs_store_wal_segments"); s < 1 {
			t.Errorf("qs_store_wal_segments = %v", s)
		}

		// A joiner gets the state by transfer: bytes both ways.
		c.start(4, []groupcomm.NodeID{1, 2, 3})
		c.waitFor("joiner admitted with the state", func() bool { return c.normal(n) })
		reg4 := NewRegistry()
		if err := Register(reg4, Sources{Host: c.host(4)}); err != nil {
			t.Fatal(err)
		}
		j := scrape(t, reg4)
		if v := value(t, j, "qs_racs_transfer_bytes_total", "direction", "received"); v <= 0 {
			t.Errorf("joiner received %v transfer bytes", v)
		}
		if v := value(t, j, "qs_racs_transfers_total", "direction", "received"); v != 1 {
			t.Errorf("joiner restored %v transfers, want 1", v)
		}
		if cnt, _ := hist(t, j, "qs_racs_view_change_duration_seconds"); cnt == 0 {
			t.Error("joiner: no view-change (join) duration")
		}
		var sent float64
		for id := groupcomm.NodeID(1); id <= 3; id++ {
			s := c.host(id).Stats()
			sent += float64(s.TransferBytesSent)
		}
		if sent == 0 {
			t.Error("no donor sent transfer bytes")
		}
		if got := value(t, scrape(t, reg), "qs_racs_transfer_bytes_total", "direction", "sent"); got != float64(c.host(1).Stats().TransferBytesSent) {
			t.Errorf("node 1 exports %v bytes sent, its Stats say %d", got, c.host(1).Stats().TransferBytesSent)
		}
	})
}
