package frontend

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/metrics"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// ErrInvalidConfig: a Config that cannot work; the error names the field.
var ErrInvalidConfig = errors.New("frontend: invalid config")

// Config configures a front end.
type Config struct {
	// Peer: its id (distinct from every node's and front end's), gossip
	// and transport addresses, seeds, keys. Peer.FrontEnd is forced on.
	Peer ops.Peer
	// AttemptTimeout bounds one attempt of a call to a node.
	AttemptTimeout time.Duration
	// Dispatcher holds the HTTP API's limits and admin token; Router,
	// Members and Ready are set by Start.
	Dispatcher dispatcher.Config
	// Extra, if set, adds routes to the front end's router (an
	// application's own pages and APIs beside the generic ones); it may
	// keep fe to call fe.Client() and fe.Members() later.
	Extra  func(r chi.Router, fe *FrontEnd)
	Logger *slog.Logger
}

// DefaultConfig returns a Config with the timers and limits set; the
// caller sets the Peer.
func DefaultConfig() Config {
	return Config{AttemptTimeout: raps.DefaultAttemptTimeout, Dispatcher: dispatcher.DefaultConfig()}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Peer.ID == 0:
		return fmt.Errorf("%w: Peer.ID must be set", ErrInvalidConfig)
	case len(c.Peer.Seeds) == 0:
		return fmt.Errorf("%w: Peer.Seeds must name at least one node's gossip address", ErrInvalidConfig)
	case c.AttemptTimeout <= 0:
		return fmt.Errorf("%w: AttemptTimeout must be positive, not %v", ErrInvalidConfig, c.AttemptTimeout)
	}
	return nil
}

// FrontEnd is a running front end.
type FrontEnd struct {
	cfg      Config
	log      *slog.Logger
	ml       *membership.Membership
	tr       *tcp.Transport
	client   *raps.Client
	disp     *dispatcher.Dispatcher
	reg      *prometheus.Registry
	live     *ops.LiveSet
	draining atomic.Bool
	stop     chan struct{}
}

// Start joins gossip as a front end, starts the transport and the Router,
// and builds the dispatcher.
func Start(cfg Config) (*FrontEnd, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Peer.FrontEnd = true
	cfg.Peer.Logger = cfg.Logger
	fe := &FrontEnd{cfg: cfg, log: cfg.Logger, stop: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			fe.Close()
		}
	}()
	var err error
	if fe.ml, err = ops.StartMembership(cfg.Peer); err != nil {
		return nil, err
	}
	fe.live = ops.NewLiveSet(fe.ml, 0)
	var client atomic.Pointer[raps.Client]
	deliver := func(ps []racs.Packet) {
		if c := client.Load(); c != nil {
			c.DeliverBatch(ps)
		}
	}
	if fe.tr, err = ops.StartTransport(cfg.Peer, fe.ml, deliver); err != nil {
		return nil, err
	}
	rc := raps.DefaultClientConfig()
	rc.ID, rc.Transport, rc.Live, rc.Load, rc.Logger = groupcomm.NodeID(cfg.Peer.ID), fe.tr, fe.liveNodes, fe.load, cfg.Logger
	rc.AttemptTimeout = cfg.AttemptTimeout
	if fe.client, err = raps.NewClient(rc); err != nil {
		return nil, err
	}
	client.Store(fe.client)
	fe.ml.Subscribe(func(e membership.Event) {
		if e.Type == membership.EventUpdate || e.Type == membership.EventJoin {
			fe.client.Notice(e.Member.Epoch) // a node holds a newer map: fetch it
		}
	})
	fe.reg = metrics.NewRegistry()
	if err := metrics.Register(fe.reg, metrics.Sources{Transport: fe.tr, RPC: fe.client.RPC(), Members: fe.ml.Members,
		Router: fe.client}); err != nil {
		return nil, err
	}
	dc := cfg.Dispatcher
	dc.Router, dc.Members, dc.Ready = fe.client, fe.members, fe.Ready
	dc.Middlewares = append(dc.Middlewares, metrics.HTTPMiddleware(fe.reg))
	extra := dc.Extra
	dc.Extra = func(r chi.Router) {
		r.Handle("/metrics", metrics.Handler(fe.reg))
		if extra != nil {
			extra(r)
		}
		if cfg.Extra != nil {
			cfg.Extra(r, fe)
		}
	}
	if dc.Logger == nil {
		dc.Logger = cfg.Logger
	}
	if fe.disp, err = dispatcher.New(dc); err != nil {
		return nil, err
	}
	ops.JoinSeeds(fe.ml, cfg.Peer.Seeds, cfg.Logger, fe.stop)
	ok = true
	return fe, nil
}

// Client is the front end's Router: what an application's own routes call.
func (fe *FrontEnd) Client() *raps.Client { return fe.client }

// Members lists the cluster's members as the admin API shows them.
func (fe *FrontEnd) Members() []dispatcher.Member { return fe.members() }

// Handler is the HTTP API.
func (fe *FrontEnd) Handler() http.Handler { return fe.disp.Handler() }

// Metrics is the front end's /metrics handler (also on the API listener),
// for an admin listener.
func (fe *FrontEnd) Metrics() http.Handler { return metrics.Handler(fe.reg) }

// TransportAddr and GossipAddr are where the front end listens.
func (fe *FrontEnd) TransportAddr() string { return fe.tr.Addr().String() }
func (fe *FrontEnd) GossipAddr() string    { return fe.ml.LocalAddr() }

// SetDraining turns readiness off: the first step of a graceful stop.
func (fe *FrontEnd) SetDraining() { fe.draining.Store(true) }

// Ready: the front end holds a partition map and sees a node alive, and
// it is not draining.
func (fe *FrontEnd) Ready() error {
	switch {
	case fe.draining.Load():
		return errors.New("draining: shutting down")
	case fe.client.Map() == nil:
		return errors.New("no partition map yet (no node answered)")
	case len(fe.liveNodes()) == 0:
		return errors.New("no node alive in gossip")
	}
	return nil
}

// liveNodes are the nodes gossip holds alive (front ends excluded).
func (fe *FrontEnd) liveNodes() []groupcomm.NodeID { return fe.live.IDs() }

// load is a node's gossiped load.
func (fe *FrontEnd) load(id groupcomm.NodeID) float64 {
	if m, ok := fe.ml.Lookup(id); ok {
		return m.Load
	}
	return 0
}

// members lists the cluster as gossip sees it, for the admin API.
func (fe *FrontEnd) members() []dispatcher.Member { return MembersOf(fe.ml) }

// Close stops the Router, the transport and gossip (leaving it first).
func (fe *FrontEnd) Close() {
	select {
	case <-fe.stop:
		return
	default:
	}
	close(fe.stop)
	if fe.client != nil {
		fe.client.Close()
	}
	if fe.tr != nil {
		fe.tr.Close()
	}
	if fe.ml != nil {
		fe.ml.Leave(time.Second)
		fe.ml.Shutdown()
	}
}

// MembersOf lists the cluster as ml sees it, for the admin API's members
// route (nodes and front ends).
func MembersOf(ml *membership.Membership) []dispatcher.Member {
	var out []dispatcher.Member
	for _, m := range ml.Members() {
		role := "node"
		if m.FrontEnd {
			role = "frontend"
		}
		out = append(out, dispatcher.Member{ID: uint64(m.ID), Addr: m.Addr, State: m.State.String(), Zone: m.Zone,
			Load: m.Load, Epoch: m.Epoch, Role: role})
	}
	return out
}
