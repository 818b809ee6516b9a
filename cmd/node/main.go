// Command qs-node runs one Quicksilver node: memberlist membership, the
// multiplexed TCP transport, the write-ahead log and bbolt store, and a
// racs.Host. The node hosts what the partition map gives it (raps). The first nodes of a new cluster, on empty disks,
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
// -load-clients N runs the built-in load generator: N closed-loop kv
// clients through the node's Router against the partitions this node
// sequences, for -load-for, then a JSON report (scripts/bench-tcp.sh).
//
// Every flag has a QS_* environment twin (QS_ID, QS_BOOTSTRAP, ...).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/node"
)

func main() {
	cfg, logger := ops.Setup("qs-node", os.Args[1:], func(args []string) (node.Config, error) { return parseConfig(args, nil) },
		func(c node.Config) string { return c.LogLevel }, func(c node.Config) string { return c.LogFormat })
	if cfg.Demo == 0 {
		logger = logger.With("node", cfg.ID)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if cfg.Demo > 0 {
		err = node.RunDemo(ctx, cfg, logger, node.DemoOptions{})
	} else {
		err = run(ctx, cfg, logger)
	}
	if err != nil {
		logger.Error("node failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg node.Config, logger *slog.Logger) error {
	lns, err := ops.ListenHTTP(cfg.HTTP, cfg.Admin, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return err
	}
	n, err := node.Start(cfg, logger)
	if err != nil {
		lns.Close()
		return err
	}
	defer n.Close()
	h, err := n.Routes()
	if err != nil {
		lns.Close()
		return err
	}
	n.Banner(lns)
	go n.WatchReady()
	if cfg.LoadClients > 0 {
		go n.RunLoad(ctx)
	}
	// On the drain the node then leaves gossip and closes its groups (its
	// clones stay in their views: a restart is not a move).
	return lns.ServeUntil(ctx, h, n.AdminRoutes(), cfg.DrainTimeout, n.SetDraining, logger)
}
