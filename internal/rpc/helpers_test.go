package rpc

import (
	"context"
	"fmt"
	"testing"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/racs"
)

// cluster is a few endpoints on one memnet network.
type cluster struct {
	t   testing.TB
	net *memnet.Network
	eps map[groupcomm.NodeID]*Endpoint
	trs map[groupcomm.NodeID]racs.Transport
}

// box holds the endpoint a node's deliver func hands Call packets to (set
// before anything is sent to the node).
type box struct{ ep *Endpoint }

func (b *box) deliver(ps []racs.Packet) {
	for i := range ps {
		if ps[i].Call != nil {
			b.ep.Deliver(ps[i].From, ps[i].Call)
		}
	}
}

// newCluster starts endpoints 1..n, each with the handler h(self) and the
// config tweak (if not nil). Close closes them and the network.
func newCluster(t testing.TB, n int, h func(self groupcomm.NodeID) Handler, tweak func(*Config)) *cluster {
	t.Helper()
	return newClusterOn(t, memnet.DefaultConfig(), n, h, tweak)
}

// newClusterOn is newCluster on a network configured by nc.
func newClusterOn(t testing.TB, nc memnet.Config, n int, h func(self groupcomm.NodeID) Handler, tweak func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, net: memnet.New(nc),
		eps: map[groupcomm.NodeID]*Endpoint{}, trs: map[groupcomm.NodeID]racs.Transport{}}
	for i := 1; i <= n; i++ {
		c.add(groupcomm.NodeID(i), h, tweak)
	}
	return c
}

func (c *cluster) add(id groupcomm.NodeID, h func(self groupcomm.NodeID) Handler, tweak func(*Config)) *Endpoint {
	c.t.Helper()
	b := &box{}
	tr := c.net.Endpoint(id, b.deliver)
	cfg := DefaultConfig()
	cfg.Self, cfg.Send, cfg.Handler = id, tr.Send, h(id)
	if tweak != nil {
		tweak(&cfg)
	}
	ep, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	b.ep = ep
	c.eps[id], c.trs[id] = ep, tr
	return ep
}

func (c *cluster) close() {
	for _, ep := range c.eps {
		ep.Close()
	}
	c.net.Close()
}

// echo replies "<self> got <body> from <from>".
func echo(self groupcomm.NodeID) Handler {
	return func(_ context.Context, from groupcomm.NodeID, body []byte) ([]byte, error) {
		return fmt.Appendf(nil, "%d got %s from %d", self, body, from), nil
	}
}

// same returns the one handler for every node.
func same(h Handler) func(groupcomm.NodeID) Handler {
	return func(groupcomm.NodeID) Handler { return h }
}
