package rapstest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
	"github.com/quicksilver-go/quicksilver/replica/wal"
)

// DefaultKVPartitions is the default kv service's partition count.
const DefaultKVPartitions = 4

// KVService is the built-in kv service as the cluster defines it by
// default: hash-partitioned, min(3, nodes) clones, in memory.
func KVService(partitions, clones int, dur partitionmap.Durability) raps.Service {
	return raps.Service{Name: raps.KVServiceName, Partitioning: partitionmap.Hash, Partitions: partitions,
		Clones: clones, Durability: dur, New: func(partitionmap.PartRef) replica.StateMachine { return kv.New() }}
}

type options struct {
	svcs       []raps.Service
	kvParts    int
	disk       bool
	powerLoss  bool // the WAL on a wal.MemFS per node (powerloss.go)
	net        memnet.Config
	logger     *slog.Logger
	node       func(*raps.Config)
	noBoot     bool
	noDefine   bool
	waitLimit  time.Duration
	attemptTTL time.Duration
}

// Option configures New.
type Option func(*options)

// WithServices makes the nodes offer, and New define, these services
// instead of the default kv service.
func WithServices(svcs ...raps.Service) Option {
	return func(o *options) { o.svcs = slices.Clone(svcs) }
}

// WithKVPartitions sets the default kv service's partition count.
func WithKVPartitions(n int) Option { return func(o *options) { o.kvParts = n } }

// WithDisk keeps each node's state in a replica.DiskStore under
// t.TempDir() (fsync skipped: a kill is a process crash, not a power
// loss), and makes the default kv service partitionmap.Disk.
func WithDisk() Option { return func(o *options) { o.disk = true } }

// WithNetwork sets the memnet configuration (default: a 100µs latency,
// no faults).
func WithNetwork(nc memnet.Config) Option { return func(o *options) { o.net = nc } }

// WithLogger gives the nodes a logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithNodeConfig lets the test adjust each node's raps.Config before the
// node starts.
func WithNodeConfig(f func(*raps.Config)) Option { return func(o *options) { o.node = f } }

// WithoutBootstrap starts nodes that were never bootstrapped and whose
// only seed never answers: they hold no map, and New waits for nothing
// (a Router call answers raps.ErrNoMap).
func WithoutBootstrap() Option { return func(o *options) { o.noBoot = true } }

// WithoutDefine leaves the services undefined: New waits only for the
// nodes to be in the map.
func WithoutDefine() Option { return func(o *options) { o.noDefine = true } }

// WithWaitLimit bounds New's waits for the map and convergence (default
// one minute).
func WithWaitLimit(d time.Duration) Option { return func(o *options) { o.waitLimit = d } }

// WithAttemptTimeout sets the nodes' and front ends' raps AttemptTimeout.
func WithAttemptTimeout(d time.Duration) Option { return func(o *options) { o.attemptTTL = d } }

// Cluster is an in-process raps cluster.
type Cluster struct {
	t    testing.TB
	o    options
	net  *memnet.Network
	boot []groupcomm.NodeID
	dir  string

	mu     sync.Mutex
	hosts  map[groupcomm.NodeID]*racs.Host
	nodes  map[groupcomm.NodeID]*raps.Node
	dead   map[groupcomm.NodeID]bool
	mems   map[groupcomm.NodeID]*replica.MemStore
	disks  map[groupcomm.NodeID]*replica.DiskStore
	walFS  map[groupcomm.NodeID]*wal.MemFS           // WithPowerLoss: each node's WAL disk
	faulty map[groupcomm.NodeID]*replica.FaultyStore // WithPowerLoss: each node's store, behind a fault layer
	fronts []*raps.Client
	closed bool
}

// New starts n nodes (ids 1..n), bootstraps the management group on the
// first min(n, 3), waits for every node in the map, defines the services
// and waits until their clones converged. Close runs at t.Cleanup.
func New(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("rapstest: %d nodes", n)
	}
	o := options{kvParts: DefaultKVPartitions, waitLimit: time.Minute,
		net: memnet.Config{Seed: 1, MinDelay: 100 * time.Microsecond, MaxDelay: 100 * time.Microsecond}}
	for _, f := range opts {
		f(&o)
	}
	if o.svcs == nil {
		dur := partitionmap.Memory
		if o.disk {
			dur = partitionmap.Disk
		}
		o.svcs = []raps.Service{KVService(o.kvParts, min(3, n), dur)}
	}
	c := &Cluster{t: t, o: o, net: memnet.New(o.net),
		hosts: map[groupcomm.NodeID]*racs.Host{}, nodes: map[groupcomm.NodeID]*raps.Node{},
		dead: map[groupcomm.NodeID]bool{}, mems: map[groupcomm.NodeID]*replica.MemStore{},
		disks: map[groupcomm.NodeID]*replica.DiskStore{}, walFS: map[groupcomm.NodeID]*wal.MemFS{},
		faulty: map[groupcomm.NodeID]*replica.FaultyStore{}}
	if o.disk {
		c.dir = t.TempDir()
	}
	if o.noBoot {
		c.boot = []groupcomm.NodeID{groupcomm.NodeID(n + 1000)} // a seed that never answers
	} else {
		for i := 1; i <= min(n, 3); i++ {
			c.boot = append(c.boot, groupcomm.NodeID(i))
		}
	}
	t.Cleanup(c.Close)
	for i := 1; i <= n; i++ {
		c.Start(groupcomm.NodeID(i))
	}
	if o.noBoot {
		return c
	}
	c.WaitFor(fmt.Sprintf("%d nodes in the map", n), o.waitLimit, func() bool {
		m := c.Node(1).Map()
		return m != nil && len(m.Nodes) == n
	})
	if o.noDefine {
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.waitLimit)
	defer cancel()
	for _, s := range o.svcs {
		if err := c.Node(1).DefineService(ctx, s); err != nil {
			t.Fatalf("rapstest: define %q: %v", s.Name, err)
		}
	}
	c.WaitConverged(o.waitLimit)
	return c
}

// Net is the cluster's network: its fault controls (Partition, Isolate,
// Cut, Mend, Heal, SetDropRate, SetDelay) act on the nodes and front ends.
func (c *Cluster) Net() *memnet.Network { return c.net }

// Partition splits the network into groups that cannot talk (memnet's
// Partition); Heal repairs it. The failure detector (Live) is not told.
func (c *Cluster) Partition(groups ...[]groupcomm.NodeID) { c.net.Partition(groups...) }

// Heal repairs every network fault made by Partition, Isolate or Cut.
func (c *Cluster) Heal() { c.net.Heal() }

// Bootstrap is the management group's bootstrap list (the front ends'
// seeds).
func (c *Cluster) Bootstrap() []groupcomm.NodeID { return slices.Clone(c.boot) }

// Services are the services the nodes offer.
func (c *Cluster) Services() []raps.Service { return slices.Clone(c.o.svcs) }

// Live returns the nodes started and not killed, in id order: the
// cluster's failure detector.
func (c *Cluster) Live() []groupcomm.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []groupcomm.NodeID
	for id := range c.hosts {
		if !c.dead[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Start starts node id (a new one; Restart brings back a killed one).
func (c *Cluster) Start(id groupcomm.NodeID) {
	c.t.Helper()
	var node *raps.Node
	var host *racs.Host
	var mu sync.Mutex
	deliver := func(ps []racs.Packet) {
		mu.Lock()
		h := host
		mu.Unlock()
		if h != nil {
			h.DeliverBatch(ps)
		}
	}
	c.mu.Lock()
	_, restart := c.hosts[id]
	delete(c.dead, id)
	c.mu.Unlock()
	store := c.store(id)
	var tr racs.Transport
	if restart {
		tr = c.net.Restart(id, deliver)
	} else {
		tr = c.net.Endpoint(id, deliver)
	}
	rc := racs.DefaultConfig()
	rc.Node, rc.Cluster, rc.Transport, rc.Store = id, 1, tr, store
	rc.OnCall = func(from groupcomm.NodeID, call *racs.Call) {
		mu.Lock()
		nd := node
		mu.Unlock()
		if nd != nil {
			nd.OnCall(from, call)
		}
	}
	h, err := racs.NewHost(rc)
	if err != nil {
		c.t.Fatalf("rapstest: host %d: %v", id, err)
	}
	cfg := raps.DefaultConfig()
	cfg.ID, cfg.Cluster, cfg.Host, cfg.Transport, cfg.Services = id, 1, h, tr, c.o.svcs
	cfg.Zone = fmt.Sprintf("z%d", id%3)
	cfg.Addr = fmt.Sprintf("memnet:%d", id)
	cfg.Live = c.Live
	cfg.Seeds = c.boot
	if slices.Contains(c.boot, id) && !c.o.noBoot {
		cfg.Bootstrap = c.boot
	}
	cfg.Logger = c.o.logger
	cfg.DeadAfter = time.Second
	cfg.MgmtDurability = racs.Disk
	cfg.Policy.DeadGrace = 2 * time.Second
	cfg.Policy.MaxConcurrentMoves = 8
	cfg.AttemptTimeout = c.o.attemptTTL
	if c.o.node != nil {
		c.o.node(&cfg)
	}
	nd, err := raps.NewNode(cfg)
	if err != nil {
		c.t.Fatalf("rapstest: node %d: %v", id, err)
	}
	mu.Lock()
	node, host = nd, h
	mu.Unlock()
	c.mu.Lock()
	c.hosts[id], c.nodes[id] = h, nd
	c.mu.Unlock()
}

// store returns node id's store: the one it had before a kill, else a
// new one.
func (c *Cluster) store(id groupcomm.NodeID) replica.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.o.disk {
		s, ok := c.mems[id]
		if !ok {
			s = replica.NewMemStore()
			c.mems[id] = s
		}
		return s
	}
	bp, wd := replica.DiskPaths(c.dir, fmt.Sprintf("node-%d", id))
	opts := replica.DiskOptions{BoltPath: bp, WALDir: wd, NoSync: true}
	if c.o.powerLoss {
		opts = c.powerLossOptions(id, bp)
	}
	s, err := replica.OpenDisk(opts)
	if err != nil {
		c.t.Fatalf("rapstest: open the disk store of node %d: %v", id, err)
	}
	c.disks[id] = s
	if c.o.powerLoss {
		return c.faultyLocked(id, s)
	}
	return s
}

// Node returns node id's raps.Node (nil if never started).
func (c *Cluster) Node(id groupcomm.NodeID) *raps.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Host returns node id's racs.Host.
func (c *Cluster) Host(id groupcomm.NodeID) *racs.Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hosts[id]
}

// Kill stops node id as a crash would: its transport drops everything,
// the others' failure detectors suspect it, and it leaves Live.
func (c *Cluster) Kill(id groupcomm.NodeID) {
	c.mu.Lock()
	if c.dead[id] || c.nodes[id] == nil {
		c.mu.Unlock()
		return
	}
	c.dead[id] = true
	nd, h, ds := c.nodes[id], c.hosts[id], c.disks[id]
	delete(c.disks, id)
	c.mu.Unlock()
	c.net.Crash(id)
	nd.Close()
	h.Close()
	if ds != nil {
		_ = ds.Close()
	}
	for _, o := range c.Live() {
		c.Host(o).SetSuspected(id, true)
	}
}

// Restart brings a killed node back on its store.
func (c *Cluster) Restart(id groupcomm.NodeID) {
	c.t.Helper()
	c.Start(id)
	for _, o := range c.Live() {
		if o != id {
			c.Host(o).SetSuspected(id, false)
		}
	}
}

// FrontEnd starts a Router that hosts nothing (raps.NewClient), on its
// own memnet endpoint id (distinct from every node's), as qs-frontend
// runs it; adjust its configuration with the funcs. It is closed by
// Close.
func (c *Cluster) FrontEnd(id groupcomm.NodeID, adjust ...func(*raps.ClientConfig)) *raps.Client {
	c.t.Helper()
	var cl atomic.Pointer[raps.Client]
	tr := c.net.Endpoint(id, func(ps []racs.Packet) {
		if x := cl.Load(); x != nil {
			x.DeliverBatch(ps)
		}
	})
	cfg := raps.DefaultClientConfig()
	cfg.ID, cfg.Transport, cfg.Seeds, cfg.Live = id, tr, c.boot, c.Live
	cfg.AttemptTimeout = c.o.attemptTTL
	cfg.Logger = c.o.logger
	for _, f := range adjust {
		f(&cfg)
	}
	fe, err := raps.NewClient(cfg)
	if err != nil {
		c.t.Fatalf("rapstest: front end %d: %v", id, err)
	}
	cl.Store(fe)
	c.mu.Lock()
	c.fronts = append(c.fronts, fe)
	c.mu.Unlock()
	return fe
}

// WaitFrontEnd waits until fe holds a map at the epoch of node 1's map or
// later (or any map, if node 1 holds none).
func (c *Cluster) WaitFrontEnd(fe *raps.Client, limit time.Duration) {
	c.t.Helper()
	c.WaitFor("the front end's map", limit, func() bool {
		m := fe.Map()
		if m == nil {
			return false
		}
		for _, id := range c.Live() {
			if nm := c.Node(id).Map(); nm != nil && nm.Epoch > m.Epoch {
				return false
			}
		}
		return true
	})
}

// WaitFor re-checks cond every 10ms until it holds, failing the test
// after limit.
func (c *Cluster) WaitFor(what string, limit time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("rapstest: timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitConverged waits until Converged holds.
func (c *Cluster) WaitConverged(limit time.Duration) {
	c.t.Helper()
	c.WaitFor("clones converged", limit, c.Converged)
}

// Converged reports whether every live node holds the same map, every
// partition's clones are live voters in a normal view (no learner, none
// restoring), and the clones of each partition agree on their state
// (digest and applied position).
func (c *Cluster) Converged() bool {
	live := c.Live()
	if len(live) == 0 {
		return false
	}
	m := c.Node(live[0]).Map()
	if m == nil {
		return false
	}
	for _, id := range live {
		if nm := c.Node(id).Map(); nm == nil || nm.Epoch != m.Epoch {
			return false
		}
	}
	for i := range m.Partitions {
		p := &m.Partitions[i]
		if _, ok := p.Learner(); ok {
			return false
		}
		var dig, pos uint64
		for k, cl := range p.Clones {
			id := groupcomm.NodeID(cl.Node)
			if !slices.Contains(live, id) {
				return false
			}
			g, err := c.Host(id).Group(replica.GroupID(p.Group))
			if err != nil {
				return false
			}
			in := g.Info()
			if in.Status != groupcomm.StatusNormal || in.Role != groupcomm.Voter || in.Restoring {
				return false
			}
			d, err := g.Digest()
			if err != nil {
				return false
			}
			if k == 0 {
				dig, pos = d, g.Applied().Seq
			} else if d != dig || g.Applied().Seq != pos {
				return false
			}
		}
	}
	return true
}

// ClonesOf returns the nodes holding the clones of the partition that
// owns key in service, in rank order (from node 1's map, else any live
// node's).
func (c *Cluster) ClonesOf(service string, key []byte) (partitionmap.PartRef, []groupcomm.NodeID) {
	c.t.Helper()
	for _, id := range c.Live() {
		m := c.Node(id).Map()
		if m == nil {
			continue
		}
		p, err := m.Locate(service, key)
		if err != nil {
			c.t.Fatalf("rapstest: locate %q in %q: %v", key, service, err)
		}
		var out []groupcomm.NodeID
		for _, cl := range p.Clones {
			out = append(out, groupcomm.NodeID(cl.Node))
		}
		return p.Ref(), out
	}
	c.t.Fatal("rapstest: no live node holds a map")
	return partitionmap.PartRef{}, nil
}

// Close stops the front ends, the nodes and the network (idempotent; New
// registers it with t.Cleanup).
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	fronts := c.fronts
	var nodes []*raps.Node
	var hosts []*racs.Host
	var disks []*replica.DiskStore
	for id, nd := range c.nodes {
		if !c.dead[id] {
			nodes, hosts = append(nodes, nd), append(hosts, c.hosts[id])
		}
	}
	for _, d := range c.disks {
		disks = append(disks, d)
	}
	c.mu.Unlock() // a node's loop calls Live while it stops
	for _, fe := range fronts {
		fe.Close()
	}
	for i := range nodes {
		nodes[i].Close()
		hosts[i].Close()
	}
	for _, d := range disks {
		_ = d.Close()
	}
	c.net.Close()
}
