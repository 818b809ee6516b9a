package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/frontend"
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/ops"
)

// ErrDemo reports a bad demo control call (an unknown node, or one already
// in the state asked for).
var ErrDemo = errors.New("node: demo")

// DemoOptions let a program (examples/estuff) run its own services and
// routes on the demo cluster. The zero value runs the kv demo of qs-node.
type DemoOptions struct {
	// FrontEnd adds the program's routes to the front end; ctl crashes and
	// restarts nodes (demo mode only: it is how failover is watched).
	FrontEnd func(r chi.Router, fe *frontend.FrontEnd, ctl *DemoControl)
	// Started runs once the front end serves (load sample data, say); an
	// error stops the demo.
	Started func(ctx context.Context, fe *frontend.FrontEnd) error
	// Banner prints what to open and try; nil prints the kv demo's.
	Banner func(w io.Writer, info DemoInfo)
	// PortBase places the loopback ports: node i's transport, gossip and
	// HTTP on PortBase+100+i, +200+i, +300+i, the front end's transport
	// and gossip on PortBase and PortBase+10. 0 means 7000.
	PortBase int
}

// DemoInfo is what a banner shows.
type DemoInfo struct {
	FrontEnd   string // host:port of the front end
	AdminToken string
	Dir        string // the data directory
	Nodes      int
	NodeHTTP   []string // each node's HTTP address
}

// DemoControl crashes and restarts the demo's nodes: a crash stops the
// node at once (no graceful leave: its peers find out by suspicion, as
// after kill -9), a restart starts it again on the same data directory.
type DemoControl struct {
	mu    sync.Mutex
	cfgs  map[uint64]Config
	nodes map[uint64]*Node
	slot  map[uint64]*swapHandler
	log   *slog.Logger
	// published is a copy of nodes (nil: down), replaced under mu after
	// every change (publish) and read without it, so that Nodes, Down and
	// GroupStatus do not wait for a restart, which holds mu while the node
	// starts: a dashboard samples them every second.
	published atomic.Pointer[map[uint64]*Node]
}

// publish copies c.nodes; c.mu is held.
func (c *DemoControl) publish() {
	m := maps.Clone(c.nodes)
	c.published.Store(&m)
}

func (c *DemoControl) snapshot() map[uint64]*Node {
	if p := c.published.Load(); p != nil {
		return *p
	}
	return nil
}

// Nodes lists the demo's node ids.
func (c *DemoControl) Nodes() []uint64 {
	return slices.Sorted(maps.Keys(c.snapshot()))
}

// Down lists the nodes crashed and not restarted.
func (c *DemoControl) Down() []uint64 {
	var ids []uint64
	for id, nd := range c.snapshot() {
		if nd == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// GroupStatus returns each running node's GroupStatus, by node id; a
// crashed node is absent. It does not take the control's lock, so a slow
// restart does not hold up a dashboard's sample (the node restarting
// appears once it runs).
func (c *DemoControl) GroupStatus() map[uint64][]GroupStatus {
	out := map[uint64][]GroupStatus{}
	for id, nd := range c.snapshot() {
		if nd != nil {
			out[id] = nd.GroupStatus()
		}
	}
	return out
}

// Crash stops node id abruptly.
func (c *DemoControl) Crash(id uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd, known := c.nodes[id]
	switch {
	case !known:
		return fmt.Errorf("%w: no node %d", ErrDemo, id)
	case nd == nil:
		return fmt.Errorf("%w: node %d is already down", ErrDemo, id)
	}
	c.slot[id].set(nil)
	c.nodes[id] = nil
	c.publish() // before the crash: a sample no longer asks the node
	nd.crash()
	c.log.Warn("demo: crashed a node", "node", id)
	return nil
}

// Restart starts a crashed node again on its data directory.
func (c *DemoControl) Restart(id uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd, known := c.nodes[id]
	switch {
	case !known:
		return fmt.Errorf("%w: no node %d", ErrDemo, id)
	case nd != nil:
		return fmt.Errorf("%w: node %d is running", ErrDemo, id)
	}
	nd, err := Start(c.cfgs[id], c.log.With("node", id))
	if err != nil {
		return fmt.Errorf("restart node %d: %w", id, err)
	}
	h, err := nd.Routes()
	if err != nil {
		nd.Close()
		return fmt.Errorf("restart node %d: %w", id, err)
	}
	go nd.WatchReady()
	c.nodes[id] = nd
	c.publish()
	c.slot[id].set(h)
	c.log.Info("demo: restarted a node", "node", id)
	return nil
}

func (c *DemoControl) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, nd := range c.nodes {
		if nd != nil {
			nd.Close()
			c.nodes[id] = nil
		}
	}
	c.publish()
}

// swapHandler serves a node's API while it runs, 503 while it is down.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) {
	if h == nil {
		s.h.Store(nil)
		return
	}
	s.h.Store(&h)
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "node down (crashed by the demo)", http.StatusServiceUnavailable)
}

// RunDemo runs an in-process cluster: base.Demo nodes on loopback, each
// with its real TCP transport, memberlist gossip, write-ahead log and
// bbolt file (in a temporary directory unless base.Data is set) and HTTP
// API. The first min(n, 5) bootstrap the management group; a front end
// (the dispatcher on a raps.Client, as in qs-frontend) serves on
// base.FrontEndHTTP; the built-in kv service and base.Services are
// partitioned and placed by the partition map, and any node's API routes a
// key to its partition's clones. A data directory that holds a cluster is
// restarted as it was. It is qs-node's -demo and examples/estuff.
func RunDemo(ctx context.Context, base Config, logger *slog.Logger, opts DemoOptions) error {
	n := base.Demo
	dir := base.Data
	if dir == DefaultConfig().Data || dir == "" {
		d, err := os.MkdirTemp("", "qs-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	pb := opts.PortBase
	if pb == 0 {
		pb = 7000
	}
	var boot []groupcomm.NodeID
	for i := 1; i <= min(n, 5); i++ {
		boot = append(boot, groupcomm.NodeID(i))
	}
	seed := fmt.Sprintf("127.0.0.1:%d", pb+201)
	ctl := &DemoControl{cfgs: map[uint64]Config{}, nodes: map[uint64]*Node{}, slot: map[uint64]*swapHandler{}, log: logger}
	defer ctl.closeAll()
	var servers []*http.Server
	info := DemoInfo{AdminToken: base.AdminToken, Dir: dir, Nodes: n}
	if info.AdminToken == "" {
		info.AdminToken = "demo"
	}
	for i := 1; i <= n; i++ {
		c := base
		c.ID, c.Bootstrap = uint64(i), boot
		c.Transport = fmt.Sprintf("127.0.0.1:%d", pb+100+i)
		c.Gossip = fmt.Sprintf("127.0.0.1:%d", pb+200+i)
		c.HTTP = fmt.Sprintf("127.0.0.1:%d", pb+300+i)
		c.Data = filepath.Join(dir, fmt.Sprintf("n%d", i))
		if i > 1 {
			c.Seeds = []string{seed}
		}
		lns, err := ops.ListenHTTP(c.HTTP, c.Admin, c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		nd, err := Start(c, logger.With("node", i))
		if err != nil {
			lns.Close()
			return fmt.Errorf("node %d: %w", i, err)
		}
		h, err := nd.Routes()
		if err != nil {
			nd.Close()
			lns.Close()
			return fmt.Errorf("node %d: %w", i, err)
		}
		slot := &swapHandler{}
		slot.set(h)
		ctl.mu.Lock()
		ctl.cfgs[c.ID], ctl.nodes[c.ID], ctl.slot[c.ID] = c, nd, slot
		ctl.publish()
		ctl.mu.Unlock()
		srv := ops.NewServer(slot)
		ops.Serve(srv, lns.API)
		go nd.WatchReady()
		servers = append(servers, srv)
		info.NodeHTTP = append(info.NodeHTTP, c.HTTP)
	}
	// The front end: stateless, in the same process here, talking to the
	// nodes over their transport like a qs-frontend would.
	feLn, err := ops.Listen("front end", base.FrontEndHTTP, nil)
	if err != nil {
		return err
	}
	fc := frontend.DefaultConfig()
	fc.Peer = ops.Peer{ID: 100, Cluster: base.Cluster, Transport: fmt.Sprintf("127.0.0.1:%d", pb),
		Gossip: fmt.Sprintf("127.0.0.1:%d", pb+10), Seeds: []string{seed}}
	fc.Dispatcher.AdminToken = info.AdminToken
	fc.Logger = logger.With("frontend", 100)
	if opts.FrontEnd != nil {
		fc.Extra = func(r chi.Router, fe *frontend.FrontEnd) { opts.FrontEnd(r, fe, ctl) }
	}
	fe, err := frontend.Start(fc)
	if err != nil {
		feLn.Close()
		return fmt.Errorf("front end: %w", err)
	}
	defer fe.Close()
	feSrv := ops.NewServer(fe.Handler())
	ops.Serve(feSrv, feLn)
	servers = append(servers, feSrv)
	info.FrontEnd = feLn.Addr().String()
	if opts.Started != nil {
		if err := opts.Started(ctx, fe); err != nil {
			fe.SetDraining()
			ops.Shutdown(2*time.Second, servers...)
			return err
		}
	}
	if opts.Banner != nil {
		opts.Banner(os.Stdout, info)
	} else {
		kvBanner(os.Stdout, base, info)
	}
	if base.LoadClients > 0 {
		for _, nd := range ctl.nodes {
			go nd.RunLoad(ctx)
		}
	}
	<-ctx.Done()
	fe.SetDraining()
	ops.Shutdown(2*time.Second, servers...)
	return nil
}

// kvBanner is qs-node -demo's banner: the kv service's curl lines.
func kvBanner(w io.Writer, base Config, info DemoInfo) {
	fe8 := info.FrontEnd
	fmt.Fprintf(w, `Quicksilver demo: %d nodes and a front end; the kv service in %d partitions of %d clones (%s),
placed by the partition map; data in %s

Through the front end (http://%s):
  write:   curl -X PUT %s/v1/kv/greeting -d hello
  read:    curl '%s/v1/kv/greeting?consistency=strict'
  append:  curl -X POST %s/v1/kv/cart/append -d socks; curl %s/v1/kv/cart/list
  admin:   curl -H 'Authorization: Bearer %s' %s/v1/admin/members
  trace:   curl -H 'Authorization: Bearer %s' '%s/v1/admin/trace?service=kv&key=greeting'
  map:     curl %s/v1/map

Nodes answer too, on %s..%s (status: curl %s/status). Ctrl-C stops the cluster.
`, info.Nodes, base.KVPartitions, min(info.Nodes, 3), base.Durability, info.Dir, fe8, fe8, fe8, fe8, fe8, info.AdminToken, fe8,
		info.AdminToken, fe8, fe8, info.NodeHTTP[0], info.NodeHTTP[len(info.NodeHTTP)-1], info.NodeHTTP[0])
}
