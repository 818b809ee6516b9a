package rpc

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// BenchmarkCall: node 1 calls node 2 (a 64-byte request echoed back, with
// a deadline) from 1 or 64 concurrent callers, over memnet and over TCP
// loopback (the TCP transport, wired through racs.Host's OnCall). It
// reports calls/s; allocs/op are per call, both ends (and, for memnet,
// the network) included.
func BenchmarkCall(b *testing.B) {
	for _, net := range []string{"memnet", "tcp"} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", net, callers), func(b *testing.B) {
				var call func(ctx context.Context, body []byte) ([]byte, error)
				switch net {
				case "memnet":
					c := newCluster(b, 2, same(echoBody), nil)
					b.Cleanup(c.close)
					call = func(ctx context.Context, body []byte) ([]byte, error) { return c.eps[1].Call(ctx, 2, body) }
				case "tcp":
					nodes := startTCPNodes(b, 2, func(cfg *Config) { cfg.Handler = echoBody })
					call = func(ctx context.Context, body []byte) ([]byte, error) { return nodes[0].ep.Call(ctx, 2, body) }
				}
				benchCalls(b, callers, call)
			})
		}
	}
}

func echoBody(_ context.Context, _ groupcomm.NodeID, body []byte) ([]byte, error) {
	return body, nil
}

func benchCalls(b *testing.B, callers int, call func(context.Context, []byte) ([]byte, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	body := bytes.Repeat([]byte{'x'}, 64)
	if _, err := call(ctx, body); err != nil { // connect before timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				got, err := call(ctx, body)
				if err != nil || len(got) != len(body) {
					b.Errorf("call: %d bytes, %v", len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
