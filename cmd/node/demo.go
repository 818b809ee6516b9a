package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/frontend"
	"github.com/quicksilver-go/quicksilver/internal/ops"
)

// runDemo runs an in-process cluster: n nodes on loopback, each with its
// real TCP transport, memberlist gossip, write-ahead log and bbolt file
// (in a temporary directory unless -data is given) and HTTP API. The
// first min(n, 5) bootstrap the management group; a front end (the
// dispatcher on a raps.Client, as in qs-frontend) serves on -frontend-http; the built-in kv service
// is partitioned (-kv-partitions) and placed by the partition map, and any
// node's API routes a key to its partition's clones. It is the project's
// main job: the README's first command.
func runDemo(ctx context.Context, base config, logger *slog.Logger) error {
	n := base.Demo
	dir := base.Data
	if dir == defaultConfig().Data {
		d, err := os.MkdirTemp("", "qs-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var boot []groupcomm.NodeID
	for i := 1; i <= min(n, 5); i++ {
		boot = append(boot, groupcomm.NodeID(i))
	}
	var nodes []*node
	var servers []*http.Server
	for i := 1; i <= n; i++ {
		c := base
		c.ID, c.Members, c.Bootstrap = uint64(i), nil, boot
		c.Transport = fmt.Sprintf("127.0.0.1:%d", 7100+i)
		c.Gossip = fmt.Sprintf("127.0.0.1:%d", 7200+i)
		c.HTTP = fmt.Sprintf("127.0.0.1:%d", 7300+i)
		c.Data = filepath.Join(dir, fmt.Sprintf("n%d", i))
		if i > 1 {
			c.Seeds = []string{"127.0.0.1:7201"}
		}
		lns, err := ops.ListenHTTP(c.HTTP, c.Admin, c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		nd, err := start(c, logger.With("node", i))
		if err != nil {
			lns.Close()
			return fmt.Errorf("node %d: %w", i, err)
		}
		defer nd.close()
		h, err := nd.routes()
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		srv := ops.NewServer(h)
		ops.Serve(srv, lns.API)
		go nd.watchReady()
		nodes = append(nodes, nd)
		servers = append(servers, srv)
	}
	// The front end: stateless, in the same process here, talking to the
	// nodes over their transport like a qs-frontend would.
	feLn, err := ops.Listen("front end", base.FrontEndHTTP, nil)
	if err != nil {
		return err
	}
	fc := frontend.DefaultConfig()
	fc.Peer = ops.Peer{ID: 100, Cluster: base.Cluster, Transport: "127.0.0.1:7000", Gossip: "127.0.0.1:7010",
		Seeds: []string{"127.0.0.1:7201"}}
	fc.Dispatcher.AdminToken = base.AdminToken
	if fc.Dispatcher.AdminToken == "" {
		fc.Dispatcher.AdminToken = "demo"
	}
	fc.Logger = logger.With("frontend", 100)
	fe, err := frontend.Start(fc)
	if err != nil {
		feLn.Close()
		return fmt.Errorf("front end: %w", err)
	}
	defer fe.Close()
	feSrv := ops.NewServer(fe.Handler())
	ops.Serve(feSrv, feLn)
	servers = append(servers, feSrv)
	fe8 := feLn.Addr().String()
	fmt.Printf(`Quicksilver demo: %d nodes and a front end; the kv service in %d partitions of %d clones (%s),
placed by the partition map; data in %s

Through the front end (http://%s):
  write:   curl -X PUT %s/v1/kv/greeting -d hello
  read:    curl '%s/v1/kv/greeting?consistency=strict'
  append:  curl -X POST %s/v1/kv/cart/append -d socks; curl %s/v1/kv/cart/list
  admin:   curl -H 'Authorization: Bearer %s' %s/v1/admin/members
  trace:   curl -H 'Authorization: Bearer %s' '%s/v1/admin/trace?service=kv&key=greeting'
  map:     curl %s/v1/map

Nodes answer too, on ports 7301..%d (status: curl localhost:7301/status). Ctrl-C stops the cluster.
`, n, base.KVPartitions, min(n, 3), base.Durability, dir, fe8, fe8, fe8, fe8, fe8, fc.Dispatcher.AdminToken, fe8,
		fc.Dispatcher.AdminToken, fe8, fe8, 7300+n)
	if base.LoadClients > 0 {
		for _, nd := range nodes {
			go nd.runLoad(ctx)
		}
	}
	<-ctx.Done()
	fe.SetDraining()
	ops.Shutdown(2*time.Second, servers...)
	return nil
}
