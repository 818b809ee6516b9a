package raps_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

func TestLatencyHistogramQuantile(t *testing.T) {
	var h raps.LatencyHistogram
	if got := h.Quantile(0.5); got != 0 {
		t.Fatalf("empty histogram: p50 %v, want 0", got)
	}
	h[3] = 98 // < 8µs
	h[10] = 2 // < 1.024ms
	if got := h.Quantile(0.5); got != 8*time.Microsecond {
		t.Errorf("p50 %v, want 8µs", got)
	}
	if got := h.Quantile(0.99); got != raps.BucketBound(10) {
		t.Errorf("p99 %v, want %v", got, raps.BucketBound(10))
	}
	var prev raps.LatencyHistogram
	prev[3] = 90
	if d := h.Sub(prev); d.Count() != 10 || d[3] != 8 {
		t.Errorf("Sub: %v", d)
	}
}

// The Router counts each service's calls, failures and latencies, and
// leaves out services that do not exist.
func TestClientServiceStats(t *testing.T) {
	c := rapstest.New(t, 3)
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		k := string(rune('a' + i))
		if _, err := fe.Update(ctx, "kv", []byte(k), kv.Encode(kv.OpPut, k, []byte("v")), raps.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := fe.Query(ctx, "kv", []byte(k), kv.Encode(kv.OpGet, k), racs.Strict, racs.Token{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := fe.Scatter(ctx, "kv", kv.Encode(kv.OpGet, "a"), racs.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := fe.Update(ctx, "nope", []byte("k"), nil, raps.UpdateOptions{}); !errors.Is(err, raps.ErrUnknownService) {
		t.Fatalf("unknown service: %v", err)
	}
	st := fe.ServiceStats()
	if _, ok := st["nope"]; ok {
		t.Errorf("an unknown service was recorded: %v", st)
	}
	s := st["kv"]
	if s.Updates != 5 || s.Queries != 5 || s.Scatters != 1 || s.Errors != 0 {
		t.Errorf("kv counters %+v, want 5 updates, 5 queries, 1 scatter, no errors", s)
	}
	if n := s.Latency.Count(); n != 11 {
		t.Errorf("latency histogram holds %d calls, want 11", n)
	}
	if p := s.Latency.Quantile(0.99); p <= 0 {
		t.Errorf("p99 %v", p)
	}
}
