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
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/membership"
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
}

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "qs-node:", err)
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "qs-node: -log-level:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if cfg.Demo == 0 {
		logger = logger.With("node", cfg.ID)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
	n, err := start(cfg, logger)
	if err != nil {
		return err
	}
	defer n.close()
	srv := &http.Server{Addr: cfg.HTTP, Handler: n.routes(), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	logger.Info("node started", "transport", cfg.Transport, "gossip", n.ml.LocalAddr(), "http", ln.Addr().String(),
		"groups", cfg.Groups, "durability", cfg.Durability.String())
	if cfg.LoadClients > 0 {
		go n.runLoad(ctx)
	}
	<-ctx.Done()
	logger.Info("draining")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

func start(cfg config, logger *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: logger, stop: make(chan struct{})}
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, err
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
	// Membership: gossip carries the transport address and the load.
	host, port, err := splitHostPort(cfg.Gossip)
	if err != nil {
		return nil, fmt.Errorf("-gossip: %w", err)
	}
	mc := membership.DefaultConfig()
	mc.NodeID = groupcomm.NodeID(cfg.ID)
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	mc.Seeds = cfg.Seeds
	mc.Meta = membership.Static{Addr: cfg.Transport}
	mc.Label = cfg.Label
	mc.Logger = logger
	if cfg.GossipKey != "" {
		k, err := hex.DecodeString(cfg.GossipKey)
		if err != nil {
			return nil, fmt.Errorf("-gossip-key: %w", err)
		}
		mc.SecretKeys = [][]byte{k}
	}
	ml, err := membership.New(mc)
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
	tc := tcp.DefaultConfig()
	tc.Node, tc.Cluster, tc.Label, tc.Listen = groupcomm.NodeID(cfg.ID), cfg.Cluster, cfg.Label, cfg.Transport
	tc.Resolve = ml.Resolve
	tc.Logger = logger
	tr, err := tcp.New(tc, deliver)
	if err != nil {
		return nil, err
	}
	if err := tr.Start(); err != nil {
		return nil, err
	}
	n.tr = tr
	rc := racs.DefaultConfig()
	rc.Node, rc.Cluster, rc.Store, rc.Transport, rc.TickInterval, rc.Logger = groupcomm.NodeID(cfg.ID), cfg.Cluster, store, tr, cfg.Tick, logger
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
		if err := n.startRaps(tr); err != nil {
			return nil, err
		}
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
		if e.Member.ID == groupcomm.NodeID(cfg.ID) || e.Member.ID == 0 {
			return
		}
		switch e.Type {
		case membership.EventSuspect, membership.EventFailed, membership.EventLeft:
			hst.SetSuspected(e.Member.ID, true)
		case membership.EventJoin, membership.EventRecovered:
			hst.SetSuspected(e.Member.ID, false)
		}
	})
	if len(cfg.Seeds) > 0 {
		go func() {
			for i := 0; i < 100; i++ {
				if _, err := ml.Join(cfg.Seeds...); err == nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	return n, nil
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

func splitHostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, errors.New("bad port")
	}
	return strings.TrimSpace(h), port, nil
}
