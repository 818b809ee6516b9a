package node

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/metrics"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Node is one running node (Start).
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *replica.DiskStore
	ml    *membership.Membership
	tr    *tcp.Transport
	host  *racs.Host
	// raps is the partitioned-service runtime (the partitioned mode).
	raps   *raps.Node
	rapsMu sync.Mutex
	stop   chan struct{}
	reg    *prometheus.Registry
	live   *ops.LiveSet // the partitioned mode's live nodes
	// draining is set on SIGTERM: /readyz answers 503 from then on.
	draining atomic.Bool
}

func (n *Node) Banner(lns ops.Listeners) {
	attrs := lns.URLs()
	attrs = append(attrs, "transport", n.tr.Addr().String(), "gossip", n.ml.LocalAddr(), "data", n.cfg.Data,
		"durability", n.cfg.Durability.String(), "transport_tls", n.cfg.TransportCA != "",
		"gossip_encrypted", n.cfg.GossipKey != "", "admin_api", n.cfg.AdminToken != "")
	n.log.Info("qs-node started", attrs...)
}

// watchReady logs every change of readiness: once the node has served,
// losing its quorum or its map is a WARN, and serving again an INFO.
func (n *Node) WatchReady() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	served, ready, lastWhy := false, false, ""
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		err := n.ready()
		if err == nil {
			if !ready {
				n.log.Info("ready: serving what this node hosts")
			}
			served, ready, lastWhy = true, true, ""
			continue
		}
		ready = false
		if why := err.Error(); why != lastWhy {
			lastWhy = why
			if served {
				n.log.Warn("not ready", "why", why)
			} else {
				n.log.Info("not ready yet", "why", why)
			}
		}
	}
}

// Start starts a node: gossip and the transport bind first (a busy port
// is reported as such), then the store opens and the groups restart.
func Start(cfg Config, logger *slog.Logger) (*Node, error) {
	n := &Node{cfg: cfg, log: logger, stop: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()
	// Membership and the transport bind their ports before the store is
	// opened: a busy port is reported as such.
	ml, err := ops.StartMembership(cfg.peer(logger))
	if err != nil {
		return nil, err
	}
	n.ml = ml
	// Transport: one TCP connection per pair of nodes for every group.
	var hmu sync.Mutex
	var h *racs.Host
	deliver := func(ps []racs.Packet) {
		hmu.Lock()
		hh := h
		hmu.Unlock()
		if hh != nil {
			hh.DeliverBatch(ps)
		}
	}
	if n.tr, err = ops.StartTransport(cfg.peer(logger), ml, deliver); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, fmt.Errorf("-data: %w", err)
	}
	var store replica.Store
	if cfg.Durability == racs.Disk {
		// node-N.db is the bbolt checkpoint (a node that ran on bbolt alone
		// opens it as is), node-N.wal the write-ahead log.
		bp, wd := replica.DiskPaths(cfg.Data, fmt.Sprintf("node-%d", cfg.ID))
		s, err := replica.OpenDisk(replica.DiskOptions{BoltPath: bp, WALDir: wd, Logger: logger})
		if err != nil {
			return nil, err
		}
		n.store, store = s, s
	}
	rc := racs.DefaultConfig()
	rc.Node, rc.Cluster, rc.Store, rc.Transport, rc.TickInterval, rc.Logger = groupcomm.NodeID(cfg.ID), cfg.Cluster, store, n.tr, cfg.Tick, logger
	// The Router's calls between nodes share the transport (raps, the
	// partitioned mode); they reach the node once it runs.
	rc.OnCall = func(from groupcomm.NodeID, c *racs.Call) {
		n.rapsMu.Lock()
		rn := n.raps
		n.rapsMu.Unlock()
		if rn != nil {
			rn.OnCall(from, c)
		}
	}
	hst, err := racs.NewHost(rc)
	if err != nil {
		return nil, err
	}
	hmu.Lock()
	h = hst
	hmu.Unlock()
	n.host = hst
	if err := n.startRaps(n.tr); err != nil {
		return nil, err
	}
	n.reg = metrics.NewRegistry()
	src := metrics.Sources{Host: hst, Store: n.store, Transport: n.tr, Members: ml.Members}
	if n.raps != nil {
		src.RPC, src.Router = n.raps.RPC(), n.raps.Client()
	}
	if err := metrics.Register(n.reg, src); err != nil {
		return nil, err
	}
	// Suspicions only suggest view changes; the protocol decides.
	ml.Subscribe(func(e membership.Event) {
		if e.Member.ID == groupcomm.NodeID(cfg.ID) || e.Member.ID == 0 || e.Member.FrontEnd {
			return
		}
		switch e.Type {
		case membership.EventSuspect, membership.EventFailed, membership.EventLeft:
			hst.SetSuspected(e.Member.ID, true)
		case membership.EventJoin, membership.EventRecovered:
			hst.SetSuspected(e.Member.ID, false)
		}
	})
	ops.JoinSeeds(ml, cfg.Seeds, logger, n.stop)
	ok = true
	return n, nil
}

// peer is what gossip and the transport need of the configuration.
func (c *Config) peer(logger *slog.Logger) ops.Peer {
	return ops.Peer{ID: c.ID, Cluster: c.Cluster, Label: c.Label, Transport: c.Transport, Gossip: c.Gossip,
		Advertise: c.Advertise, Zone: c.Zone, Seeds: c.Seeds, GossipKey: c.GossipKey,
		TransportCA: c.TransportCA, TransportCert: c.TransportCert, TransportKey: c.TransportKey, Logger: logger}
}

func (n *Node) memberList() []map[string]any {
	var out []map[string]any
	for _, m := range n.ml.Members() {
		out = append(out, map[string]any{"id": m.ID, "addr": m.Addr, "state": m.State.String(), "load": m.Load})
	}
	return out
}

// Close stops the node, leaving gossip gracefully.
func (n *Node) Close() { n.shut(true) }

// crash stops the node without leaving gossip: its peers learn of it by
// suspicion, as after kill -9 (the demo's crash button). Its files are
// closed in order; a real kill is the fault suite's business.
func (n *Node) crash() { n.shut(false) }

func (n *Node) shut(leave bool) {
	close(n.stop)
	if n.raps != nil {
		n.raps.Close()
	}
	if n.host != nil {
		n.host.Close()
	}
	if n.tr != nil {
		n.tr.Close()
	}
	if n.ml != nil {
		if leave {
			n.ml.Leave(time.Second)
		}
		n.ml.Shutdown()
	}
	if n.store != nil {
		n.store.Close()
	}
}

// SetDraining makes /readyz answer 503 (SIGTERM's first step).
func (n *Node) SetDraining() { n.draining.Store(true) }
