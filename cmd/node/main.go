// Command qs-node runs one Quicksilver node: memberlist membership, the
// multiplexed TCP transport, the write-ahead log and bbolt store, and a
// racs.Host. It runs in one of two modes.
//
// The partitioned mode (the default): the node hosts what the partition
// map gives it (raps). The first nodes of a new cluster, on empty disks,
// bootstrap the management group with the same -bootstrap list; the first
// of them defines the built-in kv service once enough nodes offer it.
// Later nodes join through -seeds. A node with state restarts its clones,
// and a node never bootstraps a second cluster. Any node's API routes any
// key: PUT/GET/DELETE /v1/kv/{key}, GET /v1/map.
//
//	qs-node -id 1 -bootstrap 1,2,3 -transport 127.0.0.1:7101 \
//	        -gossip 127.0.0.1:7201 -http 127.0.0.1:7301 -data /tmp/n1
//	qs-node -id 2 -bootstrap 1,2,3 -transport 127.0.0.1:7102 \
//	        -gossip 127.0.0.1:7202 -http 127.0.0.1:7302 -data /tmp/n2 -seeds 127.0.0.1:7201
//	qs-node -id 4 -transport 127.0.0.1:7104 -gossip 127.0.0.1:7204 \
//	        -http 127.0.0.1:7304 -data /tmp/n4 -seeds 127.0.0.1:7201
//
// The fixed-groups mode (-members): -groups N kv groups, each with first
// view -members (ranks rotated per group so sequencers spread), addressed
// as /v1/groups/{g}/kv/{key}; the built-in load generator (-load-clients)
// runs in this mode (scripts/bench-tcp.sh). -create is safe to pass on
// every start: a node with state for a group restarts it; one without asks
// the other members and starts the group's first view only if none of them
// holds it yet, and joins it otherwise.
//
// Every flag has a QS_* environment twin (QS_ID, QS_BOOTSTRAP, ...).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/metrics"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

type node struct {
	cfg   config
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

func main() {
	cfg, logger := ops.Setup("qs-node", os.Args[1:], func(args []string) (config, error) { return parseConfig(args, nil) },
		func(c config) string { return c.LogLevel }, func(c config) string { return c.LogFormat })
	if cfg.Demo == 0 {
		logger = logger.With("node", cfg.ID)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if cfg.Demo > 0 {
		err = runDemo(ctx, cfg, logger)
	} else {
		err = run(ctx, cfg, logger)
	}
	if err != nil {
		logger.Error("node failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	lns, err := ops.ListenHTTP(cfg.HTTP, cfg.Admin, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return err
	}
	n, err := start(cfg, logger)
	if err != nil {
		lns.Close()
		return err
	}
	defer n.close()
	h, err := n.routes()
	if err != nil {
		lns.Close()
		return err
	}
	n.banner(lns)
	go n.watchReady()
	if cfg.LoadClients > 0 {
		go n.runLoad(ctx)
	}
	// On the drain the node then leaves gossip and closes its groups (its
	// clones stay in their views: a restart is not a move).
	return lns.ServeUntil(ctx, h, n.adminRoutes(), cfg.DrainTimeout, func() { n.draining.Store(true) }, logger)
}

// banner logs every address the node serves and its data directory.
func (n *node) banner(lns ops.Listeners) {
	mode := "partitioned"
	if !n.cfg.rapsMode() {
		mode = "fixed-groups"
	}
	attrs := append([]any{"mode", mode}, lns.URLs()...)
	attrs = append(attrs, "transport", n.tr.Addr().String(), "gossip", n.ml.LocalAddr(), "data", n.cfg.Data,
		"durability", n.cfg.Durability.String(), "transport_tls", n.cfg.TransportCA != "",
		"gossip_encrypted", n.cfg.GossipKey != "", "admin_api", n.cfg.AdminToken != "")
	if !n.cfg.rapsMode() {
		attrs = append(attrs, "groups", n.cfg.Groups)
	}
	n.log.Info("qs-node started", attrs...)
}

// watchReady logs every change of readiness: once the node has served,
// losing its quorum or its map is a WARN, and serving again an INFO.
func (n *node) watchReady() {
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

func start(cfg config, logger *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: logger, stop: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			n.close()
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
	if cfg.rapsMode() {
		if err := n.startRaps(n.tr); err != nil {
			return nil, err
		}
	}
	n.reg = metrics.NewRegistry()
	src := metrics.Sources{Host: hst, Store: n.store, Transport: n.tr, Members: ml.Members}
	if n.raps != nil {
		src.RPC, src.Router = n.raps.RPC(), n.raps.Client()
	}
	if err := metrics.Register(n.reg, src); err != nil {
		return nil, err
	}
	for g := 1; !cfg.rapsMode() && g <= cfg.Groups; g++ {
		v := firstView(cfg, g)
		if _, err := hst.AddGroup(racs.GroupConfig{Group: replica.GroupID(g), Incarnation: 1, Durability: cfg.Durability,
			StateMachine: kv.New(), Bootstrap: &v, Create: cfg.Create}); err != nil {
			return nil, fmt.Errorf("group %d: %w", g, err)
		}
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
func (c *config) peer(logger *slog.Logger) ops.Peer {
	return ops.Peer{ID: c.ID, Cluster: c.Cluster, Label: c.Label, Transport: c.Transport, Gossip: c.Gossip,
		Advertise: c.Advertise, Zone: c.Zone, Seeds: c.Seeds, GossipKey: c.GossipKey,
		TransportCA: c.TransportCA, TransportCert: c.TransportCert, TransportKey: c.TransportKey, Logger: logger}
}

// firstView is group g's first view: the -members nodes, ranks rotated so
// that sequencers spread over the nodes (placement's job, later).
func firstView(cfg config, g int) groupcomm.View {
	v := groupcomm.View{Cluster: cfg.Cluster, Group: uint64(g), GroupIncarnation: 1, ID: 1}
	k := len(cfg.Members)
	for i := range k {
		id := cfg.Members[(i+g-1)%k]
		v.Members = append(v.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: id, Incarnation: 1}, Role: groupcomm.Voter})
	}
	return v
}

func (n *node) memberList() []map[string]any {
	var out []map[string]any
	for _, m := range n.ml.Members() {
		out = append(out, map[string]any{"id": m.ID, "addr": m.Addr, "state": m.State.String(), "load": m.Load})
	}
	return out
}

func (n *node) close() {
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
		n.ml.Leave(time.Second)
		n.ml.Shutdown()
	}
	if n.store != nil {
		n.store.Close()
	}
}
