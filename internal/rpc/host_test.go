package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
)

// hostBox holds the host a transport's deliver func hands packets to (set
// before anything can be delivered).
type hostBox struct{ h *racs.Host }

func (b *hostBox) deliver(ps []racs.Packet) { b.h.DeliverBatch(ps) }

// newHostEndpoint wires an endpoint to a racs.Host the way a node does:
// the host's OnCall is the endpoint's Deliver, and both send through tr.
func newHostEndpoint(t testing.TB, id groupcomm.NodeID, tr racs.Transport, b *hostBox, tweak func(*Config)) *Endpoint {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Self, cfg.Send, cfg.Handler = id, tr.Send, echo(id)
	if tweak != nil {
		tweak(&cfg)
	}
	ep, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc := racs.DefaultConfig()
	hc.Node, hc.Cluster, hc.Transport, hc.OnCall = id, 1, tr, ep.Deliver
	h, err := racs.NewHost(hc)
	if err != nil {
		t.Fatal(err)
	}
	b.h = h
	return ep
}

// Calls reach the endpoint through racs.Host's Deliver and DeliverBatch
// (Config.OnCall), alone or bundled with group packets, on memnet.
func TestCallsThroughRacsHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := memnet.New(memnet.DefaultConfig())
		defer w.Close()
		eps := map[groupcomm.NodeID]*Endpoint{}
		hosts := map[groupcomm.NodeID]*racs.Host{}
		for _, id := range []groupcomm.NodeID{1, 2} {
			b := &hostBox{}
			tr := w.Endpoint(id, b.deliver)
			eps[id] = newHostEndpoint(t, id, tr, b, nil)
			hosts[id] = b.h
		}
		defer func() {
			for id := range eps {
				eps[id].Close()
				hosts[id].Close()
			}
		}()
		// One call: a batch of one packet (Host.Deliver).
		if got, err := eps[1].Call(t.Context(), 2, []byte("a")); err != nil || string(got) != "2 got a from 1" {
			t.Fatalf("call: %q %v", got, err)
		}
		// Concurrent calls: memnet hands them over in bundles
		// (Host.DeliverBatch).
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				body := fmt.Appendf(nil, "c%d", i)
				if got, err := eps[2].Call(t.Context(), 1, body); err != nil || string(got) != fmt.Sprintf("1 got c%d from 2", i) {
					t.Errorf("call %d: %q %v", i, got, err)
				}
			})
		}
		wg.Wait()
		if s := eps[1].Stats(); s.Served != 32 {
			t.Fatalf("node 1 served %d calls", s.Served)
		}
		// A bundle mixing calls with packets for groups (unknown here):
		// the calls go to OnCall, the rest to the groups (dropped).
		var mu sync.Mutex
		var replies []racs.Packet
		probe, err := New(Config{Self: 3, Handler: echo(3), Send: func(ps []racs.Packet) {
			mu.Lock()
			replies = append(replies, ps...)
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer probe.Close()
		hc := racs.DefaultConfig()
		hc.Node, hc.Transport, hc.OnCall = 3, racs.Transport(nopTransport{}), probe.Deliver
		h3, err := racs.NewHost(hc)
		if err != nil {
			t.Fatal(err)
		}
		defer h3.Close()
		msg := &groupcomm.Message{Type: groupcomm.MsgAck}
		h3.DeliverBatch([]racs.Packet{
			{From: 1, To: 3, Call: &racs.Call{ID: 1, Body: newRequest(0, []byte("x"))}},
			{From: 1, To: 3, Group: 9, Msg: msg},
			{From: 2, To: 3, Call: &racs.Call{ID: 1, Body: newRequest(time.Second, []byte("y"))}},
		})
		h3.Deliver(racs.Packet{From: 2, To: 3, Call: &racs.Call{ID: 2, Body: newRequest(0, []byte("z"))}})
		synctest.Wait()
		if s := probe.Stats(); s.Served != 3 || len(replies) != 3 {
			t.Fatalf("served %d, %d replies", s.Served, len(replies))
		}
		// A host without OnCall drops calls.
		hc.OnCall, hc.Node = nil, 4
		h4, err := racs.NewHost(hc)
		if err != nil {
			t.Fatal(err)
		}
		h4.Deliver(racs.Packet{From: 1, To: 4, Call: &racs.Call{ID: 1}})
		h4.DeliverBatch([]racs.Packet{{From: 1, To: 4, Call: &racs.Call{ID: 1}}, {From: 1, To: 4, Call: &racs.Call{ID: 2}}})
		h4.Close()
	})
}

type nopTransport struct{}

func (nopTransport) Send([]racs.Packet) {}

// tcpNode is a node on loopback: TCP transport, racs.Host, rpc endpoint.
type tcpNode struct {
	tr *tcp.Transport
	h  *racs.Host
	ep *Endpoint
}

// addrBook resolves node ids to the transports' listening addresses.
type addrBook struct {
	mu sync.Mutex
	m  map[groupcomm.NodeID]string
}

func (a *addrBook) resolve(id groupcomm.NodeID) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.m[id]
	return s, ok
}

func (a *addrBook) set(id groupcomm.NodeID, addr net.Addr) {
	a.mu.Lock()
	a.m[id] = addr.String()
	a.mu.Unlock()
}

// startTCPNodes starts nodes 1..n on 127.0.0.1 (port 0), each wired like
// qs-node: tcp.New(cfg, host.DeliverBatch), host OnCall = endpoint.Deliver.
func startTCPNodes(t testing.TB, n int, tweak func(*Config)) []*tcpNode {
	t.Helper()
	book := &addrBook{m: map[groupcomm.NodeID]string{}}
	var nodes []*tcpNode
	for i := 1; i <= n; i++ {
		id := groupcomm.NodeID(i)
		cfg := tcp.DefaultConfig()
		cfg.Node, cfg.Cluster, cfg.Label = id, 1, "rpc-test"
		cfg.Listen = "127.0.0.1:0"
		cfg.Resolve = book.resolve
		cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 200*time.Millisecond
		cfg.Logger = slog.New(slog.DiscardHandler)
		b := &hostBox{}
		tr, err := tcp.New(cfg, b.deliver)
		if err != nil {
			t.Fatal(err)
		}
		ep := newHostEndpoint(t, id, tr, b, tweak)
		if err := tr.Start(); err != nil {
			t.Fatal(err)
		}
		book.set(id, tr.Addr())
		nd := &tcpNode{tr: tr, h: b.h, ep: ep}
		t.Cleanup(func() {
			nd.ep.Close()
			nd.h.Close()
			nd.tr.Close()
		})
		nodes = append(nodes, nd)
	}
	return nodes
}

// A call round-trips over the real TCP transport (packet kind 5), both
// ways, with a registered error crossing the hop.
func TestCallOverTCP(t *testing.T) {
	nodes := startTCPNodes(t, 2, func(cfg *Config) {
		cfg.Errors = map[string]error{"racs.not_applied": racs.ErrNotApplied}
		self := cfg.Self
		cfg.Handler = func(ctx context.Context, from groupcomm.NodeID, body []byte) ([]byte, error) {
			if string(body) == "fail" {
				return nil, fmt.Errorf("node %d: %w", self, racs.ErrNotApplied)
			}
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("no deadline on the handler's context")
			}
			return fmt.Appendf(nil, "%d got %s from %d", self, body, from), nil
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, dir := range [][2]int{{0, 1}, {1, 0}} {
		a, b := nodes[dir[0]], nodes[dir[1]]
		to := b.ep.cfg.Self
		got, err := a.ep.Call(ctx, to, []byte("hello"))
		if want := fmt.Sprintf("%d got hello from %d", to, a.ep.cfg.Self); err != nil || string(got) != want {
			t.Fatalf("call to %d: %q %v, want %q", to, got, err, want)
		}
		if _, err := a.ep.Call(ctx, to, []byte("fail")); !errors.Is(err, racs.ErrNotApplied) || !errors.Is(err, ErrRemote) {
			t.Fatalf("failing call to %d: %v", to, err)
		}
	}
	if s := nodes[0].tr.Stats(); s.ProtocolErrors != 0 || s.FramesReceived < 4 { // 2 replies and 2 requests
		t.Fatalf("transport stats %+v", s)
	}
}
