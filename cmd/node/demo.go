package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// runDemo runs an in-process cluster: n nodes on loopback, each with its
// real TCP transport, memberlist gossip, write-ahead log and bbolt file
// (in a temporary directory unless -data is given) and HTTP API. The
// first min(n, 5) bootstrap the management group; the built-in kv service
// is partitioned (-kv-partitions) and placed by the partition map, and any
// node's API routes a key to its partition's clones. It is the project's
// main job until the front end exists.
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
		nd, err := start(c, logger.With("node", i))
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		defer nd.close()
		ln, err := net.Listen("tcp", c.HTTP)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: nd.routes(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		nodes = append(nodes, nd)
		servers = append(servers, srv)
	}
	fmt.Printf(`Quicksilver demo: %d nodes; the kv service in %d partitions of %d clones (%s), placed by the partition map; data in %s

  write:   curl -X PUT localhost:7301/v1/kv/greeting -d hello
  read:    curl 'localhost:7302/v1/kv/greeting?consistency=strict'
  map:     curl localhost:7303/v1/map
  status:  curl localhost:7301/status

Nodes answer on ports 7301..%d; any node routes any key. Ctrl-C stops the cluster.
`, n, base.KVPartitions, min(n, 3), base.Durability, dir, 7300+n)
	if base.LoadClients > 0 {
		for _, nd := range nodes {
			go nd.runLoad(ctx)
		}
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	return nil
}
