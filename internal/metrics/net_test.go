package metrics

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/rpc"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
)

// tcpNode is a TCP transport on loopback with an rpc endpoint on it.
type tcpNode struct {
	tr *tcp.Transport
	ep *rpc.Endpoint
}

func startTCPNodes(t *testing.T, ids ...groupcomm.NodeID) map[groupcomm.NodeID]*tcpNode {
	t.Helper()
	var mu sync.Mutex
	addrs := map[groupcomm.NodeID]string{}
	resolve := func(id groupcomm.NodeID) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		a, ok := addrs[id]
		return a, ok
	}
	out := map[groupcomm.NodeID]*tcpNode{}
	for _, id := range ids {
		n := &tcpNode{}
		var ready sync.WaitGroup
		ready.Add(1)
		cfg := tcp.DefaultConfig()
		cfg.Node, cfg.Cluster, cfg.Label, cfg.Listen, cfg.Resolve = id, 1, "metrics-test", "127.0.0.1:0", resolve
		tr, err := tcp.New(cfg, func(ps []racs.Packet) {
			ready.Wait()
			for i := range ps {
				if ps[i].Call != nil {
					n.ep.Deliver(ps[i].From, ps[i].Call)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		rc := rpc.DefaultConfig()
		rc.Self, rc.Send = id, tr.Send
		rc.Handler = func(_ context.Context, _ groupcomm.NodeID, body []byte) ([]byte, error) { return body, nil }
		ep, err := rpc.New(rc)
		if err != nil {
			t.Fatal(err)
		}
		n.tr, n.ep = tr, ep
		ready.Done()
		if err := tr.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close(); tr.Close() })
		mu.Lock()
		addrs[id] = tr.Addr().String()
		mu.Unlock()
		out[id] = n
	}
	return out
}

// Calls between two nodes over TCP move the rpc and transport counters
// of both, as scraped.
func TestTransportAndRPCMetrics(t *testing.T) {
	nodes := startTCPNodes(t, 1, 2)
	reg1, reg2 := NewRegistry(), NewRegistry()
	if err := Register(reg1, Sources{Transport: nodes[1].tr, RPC: nodes[1].ep}); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg2, Sources{Transport: nodes[2].tr, RPC: nodes[2].ep}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const calls = 5
	for range calls {
		if out, err := nodes[1].ep.Call(ctx, 2, []byte("ping")); err != nil || string(out) != "ping" {
			t.Fatalf("call: %q %v", out, err)
		}
	}
	if _, err := nodes[1].ep.Call(ctx, 1, []byte("self")); err != nil {
		t.Fatal(err)
	}
	m1, m2 := scrape(t, reg1), scrape(t, reg2)
	for _, c := range []struct {
		fams    string
		got     float64
		want    float64
		atLeast bool
	}{
		{"1 qs_rpc_calls_total{kind=sent}", value(t, m1, "qs_rpc_calls_total", "kind", "sent"), calls, false},
		{"1 qs_rpc_calls_total{kind=local}", value(t, m1, "qs_rpc_calls_total", "kind", "local"), 1, false},
		{"2 qs_rpc_calls_total{kind=served}", value(t, m2, "qs_rpc_calls_total", "kind", "served"), calls, false},
		{"2 qs_rpc_in_flight", value(t, m2, "qs_rpc_in_flight"), 0, false},
		{"2 qs_rpc_errors_total{reason=busy}", value(t, m2, "qs_rpc_errors_total", "reason", "busy"), 0, false},
		{"1 qs_transport_frames_total{direction=sent}", value(t, m1, "qs_transport_frames_total", "direction", "sent"), calls, true},
		{"1 qs_transport_frames_total{direction=received}", value(t, m1, "qs_transport_frames_total", "direction", "received"), calls, true},
		{"2 qs_transport_bytes_total{direction=received}", value(t, m2, "qs_transport_bytes_total", "direction", "received"), calls * 8, true},
		{"qs_transport_connections", value(t, m1, "qs_transport_connections") + value(t, m2, "qs_transport_connections"), 2, false},
		{"1 qs_transport_dials_total", value(t, m1, "qs_transport_dials_total"), 1, true},
		{"1 qs_transport_dropped_total{reason=unreachable}", value(t, m1, "qs_transport_dropped_total", "reason", "unreachable"), 0, false},
	} {
		if c.got != c.want && !(c.atLeast && c.got > c.want) {
			t.Errorf("%s = %v, want %v", c.fams, c.got, c.want)
		}
	}
}
