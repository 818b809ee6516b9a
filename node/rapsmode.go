package node

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/frontend"
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/metrics"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// The node hosts what the partition map gives it. The built-in kv service
// is an ordinary raps.Service (hash-partitioned, 3 clones, on disk); the
// first node of -bootstrap defines it once enough nodes offer it. The node
// API is the service/key form: /v1/kv/{key}.

func (n *Node) kvService() raps.Service {
	s := raps.KVService(n.cfg.KVPartitions)
	if n.cfg.Demo > 0 && n.cfg.Demo < s.Clones {
		s.Clones = n.cfg.Demo
	}
	if n.cfg.Durability == racs.Memory {
		s.Durability = partitionmap.Memory
	}
	return s
}

// startRaps starts the partitioned-service runtime on the host.
func (n *Node) startRaps(tr racs.Transport) error {
	cfg := n.cfg
	rc := raps.DefaultConfig()
	rc.ID, rc.Cluster, rc.Host, rc.Transport = groupcomm.NodeID(cfg.ID), cfg.Cluster, n.host, tr
	rc.Addr, rc.Zone = ops.Advertised(cfg.Advertise, cfg.Transport), cfg.Zone
	rc.Services = n.services()
	// -bootstrap names the management group's first members; a node it
	// does not list (a StatefulSet's fourth pod, with the same flags as the
	// first three) joins them instead of refusing to start.
	if slices.Contains(cfg.Bootstrap, groupcomm.NodeID(cfg.ID)) {
		rc.Bootstrap = cfg.Bootstrap
	}
	rc.Seeds = cfg.Bootstrap
	n.live = ops.NewLiveSet(n.ml, groupcomm.NodeID(cfg.ID))
	rc.Live = n.liveNodes
	rc.Load = func(id groupcomm.NodeID) float64 {
		if m, ok := n.ml.Lookup(id); ok {
			return m.Load
		}
		return 0
	}
	rc.Logger = n.log
	rc.OnEpoch = n.ml.SetEpoch // gossip it: a holder of an older map notices
	n.ml.Subscribe(func(e membership.Event) {
		if e.Type == membership.EventUpdate || e.Type == membership.EventJoin {
			n.rapsMu.Lock()
			rn := n.raps
			n.rapsMu.Unlock()
			if rn != nil {
				rn.Notice(e.Member.Epoch)
			}
		}
	})
	if cfg.Durability == racs.Memory {
		rc.MgmtDurability = racs.Memory
	}
	rn, err := raps.NewNode(rc)
	if err != nil {
		return err
	}
	n.rapsMu.Lock()
	n.raps = rn
	n.rapsMu.Unlock()
	go n.gossipLoad()
	if len(rc.Bootstrap) > 0 && rc.Bootstrap[0] == groupcomm.NodeID(cfg.ID) {
		go n.defineBuiltins()
	}
	if len(cfg.Bootstrap) == 0 && len(cfg.Seeds) == 0 {
		n.log.Warn("not bootstrapped and no seeds: waiting for a partition map (give -bootstrap on the first nodes of a new cluster, -seeds to join one)")
	}
	return nil
}

// liveNodes: the members gossip holds alive, and this node.
func (n *Node) liveNodes() []groupcomm.NodeID { return n.live.IDs() }

// gossipLoad publishes the node's load (calls in flight) for the Routers'
// choice of clones.
func (n *Node) gossipLoad() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.ml.SetLoad(n.raps.Load())
		}
	}
}

// services are the services this node offers: the built-in kv and the
// application's (Config.Services).
func (n *Node) services() []raps.Service {
	return append([]raps.Service{n.kvService()}, n.cfg.Services...)
}

// defineBuiltins defines each service this node offers (on the first
// bootstrap node) once the map lists enough nodes offering it.
func (n *Node) defineBuiltins() {
	for _, svc := range n.services() {
		if !n.define(svc) {
			return
		}
	}
}

// define defines svc once the map lists enough nodes offering it (its
// clone count), unless it exists; false if the node stopped first.
func (n *Node) define(svc raps.Service) bool {
	clones := svc.Clones
	if clones == 0 {
		clones = 3
	}
	for {
		select {
		case <-n.stop:
			return false
		case <-time.After(200 * time.Millisecond):
		}
		m := n.raps.Map()
		if m == nil {
			continue
		}
		if _, err := m.Service(svc.Name); err == nil {
			return true
		}
		if len(m.NodesOffering(svc.Name)) < clones {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.raps.DefineService(ctx, svc)
		cancel()
		if err == nil || errors.Is(err, partitionmap.ErrExists) {
			n.log.Info("defined a service", "service", svc.Name, "partitions", svc.Partitions, "clones", clones)
			return true
		}
		n.log.Warn("defining a service failed; retrying", "service", svc.Name, "err", err)
	}
}

// apiRoutes is the partitioned mode's HTTP API: the dispatcher (the same
// front door as qs-frontend's) on this node's Router, so a query to a
// clone this node hosts takes no hop; the node adds GET /status.
func (n *Node) apiRoutes() (http.Handler, error) {
	dc := dispatcher.DefaultConfig()
	dc.Router, dc.AdminToken, dc.Logger, dc.Ready = n.raps.Client(), n.cfg.AdminToken, n.log, n.ready
	dc.Members = func() []dispatcher.Member { return frontend.MembersOf(n.ml) }
	dc.Middlewares = append(dc.Middlewares, metrics.HTTPMiddleware(n.reg))
	dc.Extra = func(r chi.Router) {
		r.Get("/status", n.handleStatus)
		r.Handle("/metrics", metrics.Handler(n.reg))
	}
	d, err := dispatcher.New(dc)
	if err != nil {
		return nil, err
	}
	return d.Handler(), nil
}
