package raps_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// pcluster runs raps nodes in one process over memnet, in a synctest
// bubble (fake clock: timers and deadlines cannot fire early because the
// machine is slow).
type pcluster struct {
	t     testing.TB
	net   *memnet.Network
	svcs  []raps.Service
	boot  []groupcomm.NodeID
	mu    sync.Mutex
	hosts map[groupcomm.NodeID]*racs.Host
	nodes map[groupcomm.NodeID]*raps.Node
	dead  map[groupcomm.NodeID]bool
	// stores survive a kill: a restarted node finds its disk.
	stores map[groupcomm.NodeID]*replica.MemStore
	// rec, if set, records every map the management clones apply and
	// the placer's logged moves (moves_test.go).
	rec *recorder
	// openStore, if set, opens a node's store at its first start (a
	// DiskStore, say) in place of a MemStore; close closes them.
	openStore func(groupcomm.NodeID) (replica.Store, func() error, error)
	closers   []func() error
	// zone, if set, gives a node's zone at each start (else z{id%3}).
	zone func(groupcomm.NodeID) string
}

func kvService(name string, kind partitionmap.PartitionKind, parts int, dur partitionmap.Durability) raps.Service {
	s := raps.Service{Name: name, Partitioning: kind, Partitions: parts, Clones: 3, Durability: dur,
		New: func(partitionmap.PartRef) replica.StateMachine { return kv.New() }}
	if kind == partitionmap.Range {
		s.Ranges = partitionmap.SplitRanges("d", "h", "m", "r", "w")
	}
	return s
}

func newPCluster(t *testing.T, n int, boot []groupcomm.NodeID, svcs ...raps.Service) *pcluster {
	c := &pcluster{svcs: svcs, boot: boot, rec: newRecorder()}
	c.init(t, memnet.Config{Seed: 1, MinDelay: 100 * time.Microsecond, MaxDelay: 100 * time.Microsecond})
	t.Cleanup(c.close)
	for i := 1; i <= n; i++ {
		c.start(groupcomm.NodeID(i))
	}
	return c
}

// init sets up the network and the maps.
func (c *pcluster) init(t testing.TB, nc memnet.Config) {
	c.t = t
	c.net = memnet.New(nc)
	c.hosts, c.nodes = map[groupcomm.NodeID]*racs.Host{}, map[groupcomm.NodeID]*raps.Node{}
	c.dead, c.stores = map[groupcomm.NodeID]bool{}, map[groupcomm.NodeID]*replica.MemStore{}
}

func (c *pcluster) live() []groupcomm.NodeID {
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

func (c *pcluster) start(id groupcomm.NodeID) {
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
	store, restart := c.stores[id]
	if !restart {
		store = replica.NewMemStore()
		c.stores[id] = store
	}
	delete(c.dead, id)
	c.mu.Unlock()
	var rs replica.Store = store
	if c.openStore != nil && !restart {
		ds, closer, err := c.openStore(id)
		if err != nil {
			c.t.Fatal(err)
		}
		rs = ds
		c.mu.Lock()
		c.closers = append(c.closers, closer)
		c.mu.Unlock()
	}
	var tr racs.Transport
	if restart {
		tr = c.net.Restart(id, deliver)
	} else {
		tr = c.net.Endpoint(id, deliver)
	}
	rc := racs.DefaultConfig()
	rc.Node, rc.Cluster, rc.Transport, rc.Store = id, 1, tr, rs
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
		c.t.Fatal(err)
	}
	cfg := raps.DefaultConfig()
	cfg.ID, cfg.Cluster, cfg.Host, cfg.Transport, cfg.Services = id, 1, h, tr, c.svcs
	cfg.Zone = fmt.Sprintf("z%d", id%3)
	if c.zone != nil {
		cfg.Zone = c.zone(id)
	}
	cfg.Live = c.live
	cfg.Seeds = c.boot
	if slices.Contains(c.boot, id) {
		cfg.Bootstrap = c.boot
	}
	if os.Getenv("RAPS_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if c.rec != nil {
		var inner slog.Handler
		if cfg.Logger != nil {
			inner = cfg.Logger.Handler()
		}
		cfg.Logger = slog.New(&moveLog{r: c.rec, inner: inner})
	}
	cfg.DeadAfter = time.Second
	cfg.MgmtDurability = racs.Disk
	cfg.Policy.DeadGrace = 2 * time.Second
	cfg.Policy.MaxConcurrentMoves = 16
	nd, err := raps.NewNode(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.rec != nil {
		nd.ObserveMgmt(func(m *partitionmap.Map) { c.rec.record(id, m) })
	}
	mu.Lock()
	node, host = nd, h
	mu.Unlock()
	c.mu.Lock()
	c.hosts[id], c.nodes[id] = h, nd
	c.mu.Unlock()
}

// kill stops a node as a crash would: its transport drops everything and
// the others' failure detectors suspect it.
func (c *pcluster) kill(id groupcomm.NodeID) {
	c.mu.Lock()
	c.dead[id] = true
	nd, h := c.nodes[id], c.hosts[id]
	c.mu.Unlock()
	c.net.Crash(id)
	nd.Close()
	h.Close()
	for _, o := range c.live() {
		c.host(o).SetSuspected(id, true)
	}
}

// restart brings a killed node back on its store.
func (c *pcluster) restart(id groupcomm.NodeID) {
	c.start(id)
	for _, o := range c.live() {
		if o != id {
			c.host(o).SetSuspected(id, false)
		}
	}
}

func (c *pcluster) close() {
	c.mu.Lock()
	var nodes []*raps.Node
	var hosts []*racs.Host
	for id, nd := range c.nodes {
		if !c.dead[id] {
			nodes, hosts = append(nodes, nd), append(hosts, c.hosts[id])
		}
	}
	c.mu.Unlock() // a node's loop calls live while it stops
	for i := range nodes {
		nodes[i].Close()
		hosts[i].Close()
	}
	c.net.Close()
	for _, f := range c.closers {
		if err := f(); err != nil {
			c.t.Error(err)
		}
	}
}

func (c *pcluster) node(id groupcomm.NodeID) *raps.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

func (c *pcluster) host(id groupcomm.NodeID) *racs.Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hosts[id]
}

// waitFor re-checks cond every 50ms of fake time, up to limit.
func (c *pcluster) waitFor(what string, limit time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// converged: every live node holds the same map, every partition's voters
// host a normal voter clone of its group, and the clones of each
// partition agree on their state.
func (c *pcluster) converged() bool {
	live := c.live()
	m := c.node(live[0]).Map()
	if m == nil {
		return false
	}
	for _, id := range live {
		if nm := c.node(id).Map(); nm == nil || nm.Epoch != m.Epoch {
			return false
		}
	}
	for i := range m.Partitions {
		p := &m.Partitions[i]
		if _, ok := p.Learner(); ok {
			return false
		}
		var dig uint64
		var pos uint64
		for k, cl := range p.Clones {
			if c.dead[groupcomm.NodeID(cl.Node)] {
				return false
			}
			g, err := c.host(groupcomm.NodeID(cl.Node)).Group(replica.GroupID(p.Group))
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

func put(ctx context.Context, nd *raps.Node, svc, key, val string) error {
	res, err := nd.Client().Update(ctx, svc, []byte(key), kv.Encode(kv.OpPut, key, []byte(val)), raps.UpdateOptions{})
	if err == nil && (len(res.Data) == 0 || res.Data[0] != kv.StatusOK) {
		err = fmt.Errorf("put %s: status %v", key, res.Data)
	}
	return err
}

func get(ctx context.Context, nd *raps.Node, svc, key string, level racs.Level) (string, error) {
	res, err := nd.Client().Query(ctx, svc, []byte(key), kv.Encode(kv.OpGet, key), level, racs.Token{})
	if err != nil {
		return "", err
	}
	if len(res.Data) == 0 || res.Data[0] != kv.StatusOK {
		return "", fmt.Errorf("get %s: status %v", key, res.Data)
	}
	return string(res.Data[1:]), err
}

// The basic path: bootstrap, define a service, write through any node's
// Router, read back at every level from every node.
func TestRouterWritesAndReadsEveryPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 8, partitionmap.Memory)
		c := newPCluster(t, 3, []groupcomm.NodeID{1, 2, 3}, svc)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.waitFor("three nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 3
		})
		if err := c.node(2).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		for i := range 64 {
			k := fmt.Sprint("k", i)
			if err := put(ctx, c.node(groupcomm.NodeID(1+i%3)), "kv", k, "v"+k); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 64 {
			k := fmt.Sprint("k", i)
			for _, lvl := range []racs.Level{racs.Strict, racs.Any} {
				v, err := get(ctx, c.node(groupcomm.NodeID(1+(i+1)%3)), "kv", k, lvl)
				if err != nil || v != "v"+k {
					t.Fatalf("get %s at %v: %q, %v", k, lvl, v, err)
				}
			}
		}
		c.waitFor("clones converged", 20*time.Second, c.converged)
		out, partial, err := c.node(3).Client().Scatter(ctx, "kv", kv.Encode(kv.OpGet, "k1"), racs.Strict)
		if err != nil || partial || len(out) != 8 {
			t.Fatalf("scatter: %d answers, partial %v, %v", len(out), partial, err)
		}
		if _, err := c.node(1).Client().Update(ctx, "nope", []byte("k"), nil, raps.UpdateOptions{}); err == nil {
			t.Fatal("update of an unknown service succeeded")
		}
	})
}

// checkPlacement: every partition's clones sit on distinct nodes, and
// none on a dead or draining node once the cluster converged.
func (c *pcluster) checkPlacement(m *partitionmap.Map) {
	c.t.Helper()
	for i := range m.Partitions {
		p := &m.Partitions[i]
		seen := map[partitionmap.NodeID]bool{}
		for _, cl := range p.Clones {
			if seen[cl.Node] {
				c.t.Fatalf("partition %v has two clones on node %d", p.Ref(), cl.Node)
			}
			seen[cl.Node] = true
			nd, err := m.Node(cl.Node)
			if err != nil || nd.State != partitionmap.NodeActive {
				c.t.Fatalf("partition %v has a clone on node %d (%v)", p.Ref(), cl.Node, err)
			}
		}
	}
}

// 5 nodes, 3 services, 64 partitions of 3 clones, under load: a node
// joins, one is drained, one dies past the grace period. After each step
// the clones sit on distinct live nodes, the clones of each partition
// agree, the map's epochs only grew, every live node hosts exactly the
// groups the map places on it, and the moves the placer reported are the
// moves that happened: each epoch's clone sets are the previous epoch's
// changed by what its history entry reports (checkMovesExplained). At the
// end every acknowledged update is there.
func TestClusterAddDrainKillUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svcs := []raps.Service{
			kvService("kv", partitionmap.Hash, 40, partitionmap.Memory),
			kvService("catalog", partitionmap.Range, 6, partitionmap.Disk),
			kvService("carts", partitionmap.Hash, 18, partitionmap.Disk),
		}
		c := newPCluster(t, 5, []groupcomm.NodeID{1, 2, 3}, svcs...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		c.waitFor("five nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 5
		})
		defined := c.node(1).Map().Epoch
		for _, s := range svcs {
			if err := c.node(4).DefineService(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if m := c.node(1).Map(); len(m.Partitions) != 64+1 { // and the management group's
			t.Fatalf("%d partitions, want 64 and the management group's", len(m.Partitions))
		}
		c.waitFor("clones converged", time.Minute, c.converged)

		// Load: writers put unique keys through random nodes; every
		// acknowledged one must be readable at the end.
		var amu sync.Mutex
		acked := map[string]string{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					svc := svcs[(w+i)%3].Name
					k := fmt.Sprintf("%c-w%d-%d", 'a'+byte(i%26), w, i)
					live := c.live()
					nd := c.node(live[i%len(live)])
					cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
					err := put(cctx, nd, svc, k, "v"+k)
					ccancel()
					if err == nil {
						amu.Lock()
						acked[svc+"/"+k] = "v" + k
						amu.Unlock()
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		epochs := map[groupcomm.NodeID]uint64{}
		checkEpochs := func() {
			for _, id := range c.live() {
				if m := c.node(id).Map(); m != nil {
					if m.Epoch < epochs[id] {
						t.Fatalf("node %d went back from epoch %d to %d", id, epochs[id], m.Epoch)
					}
					epochs[id] = m.Epoch
				}
			}
		}
		stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
		defer stopLoad()
		// After each step: the placement is sound, the hosts run what the
		// map places on them, and the moves the history reports for the
		// step's epochs are exactly the clone-set changes of those epochs.
		settled := func(what string, from uint64) {
			t.Helper()
			c.checkPlacement(c.node(c.live()[0]).Map())
			var herr error
			var m *partitionmap.Map
			c.waitFor(what+": every node hosts what the map places on it", time.Minute, func() bool {
				m = c.node(1).Map()
				herr = c.hostingMatches(m)
				return herr == nil
			})
			if herr != nil {
				t.Fatal(herr)
			}
			counts := c.checkMovesExplained(from, m.Epoch)
			t.Logf("%s: epochs %d to %d explained by the history: %v", what, from, m.Epoch, counts)
		}
		step := func(what string, act func(), done func(*partitionmap.Map) bool) {
			t.Helper()
			from := c.node(1).Map().Epoch
			act()
			c.waitFor(what, 2*time.Minute, func() bool {
				checkEpochs()
				m := c.node(c.live()[0]).Map()
				return done(m) && c.converged()
			})
			settled(what, from)
		}
		settled("three services defined", defined)
		time.Sleep(time.Second)
		// 192 clones over 6 nodes: the newcomer takes about a sixth.
		step("node 6 joined and took its share", func() { c.start(6) },
			func(m *partitionmap.Map) bool { return clonesOn(m, 6) >= 28 })
		step("node 2 drained", func() {
			if err := c.node(1).Drain(ctx, 2); err != nil {
				t.Fatal(err)
			}
		}, func(m *partitionmap.Map) bool { return clonesOn(m, 2) == 0 })
		step("node 5's clones re-replicated", func() { c.kill(5) },
			func(m *partitionmap.Map) bool { return clonesOn(m, 5) == 0 })
		stopLoad()
		c.waitFor("clones converged after the load", time.Minute, c.converged)
		settled("the whole run", defined)

		amu.Lock()
		defer amu.Unlock()
		if len(acked) < 100 {
			t.Fatalf("only %d updates acknowledged under load", len(acked))
		}
		for sk, want := range acked {
			svc, k, _ := strings.Cut(sk, "/")
			got, err := get(ctx, c.node(1), svc, k, racs.Strict)
			if err != nil || got != want {
				t.Fatalf("acknowledged %s: read %q, %v", sk, got, err)
			}
		}
		t.Logf("%d updates acknowledged and found; final epoch %d", len(acked), c.node(1).Map().Epoch)
	})
}

func clonesOn(m *partitionmap.Map, node partitionmap.NodeID) int {
	n := 0
	for i := range m.Partitions {
		for _, cl := range m.Partitions[i].Clones {
			if cl.Node == node {
				n++
			}
		}
	}
	return n
}

// A node that was never bootstrapped and reaches no seed holds no map and
// creates nothing: it waits, and a Router call says there is no map yet.
func TestUnbootstrappedNodeWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 4, partitionmap.Memory)
		c := newPCluster(t, 1, []groupcomm.NodeID{9}, svc) // seed 9 never answers
		time.Sleep(5 * time.Second)
		if m := c.node(1).Map(); m != nil {
			t.Fatalf("a node without bootstrap or seeds has a map at epoch %d", m.Epoch)
		}
		if _, err := c.host(1).Group(raps.MgmtGroup); err == nil {
			t.Fatal("a node without bootstrap hosts a management clone")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := c.node(1).Client().Update(ctx, "kv", []byte("k"), nil, raps.UpdateOptions{}); !errors.Is(err, raps.ErrNoMap) {
			t.Fatalf("update without a map: %v, want ErrNoMap", err)
		}
	})
}

// The management group survives the loss of a minority of its members
// and the restart of every node: the map comes back from the disks, and
// so does every acknowledged update of a Disk service.
func TestMapAndDiskServicesSurviveRestartOfEveryNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := kvService("kv", partitionmap.Hash, 6, partitionmap.Disk)
		c := newPCluster(t, 3, []groupcomm.NodeID{1, 2, 3}, svc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c.waitFor("three nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 3
		})
		if err := c.node(1).DefineService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", time.Minute, c.converged)
		for i := range 30 {
			if err := put(ctx, c.node(2), "kv", fmt.Sprint("k", i), "v"); err != nil {
				t.Fatal(err)
			}
		}
		// A minority of the management group down: admin changes go on.
		c.kill(3)
		if err := c.node(1).SetClones(ctx, "kv", 2); err != nil {
			t.Fatalf("admin change with one management member down: %v", err)
		}
		epoch := c.node(1).Map().Epoch
		c.kill(1)
		c.kill(2)
		for _, id := range []groupcomm.NodeID{1, 2, 3} {
			c.restart(id)
		}
		c.waitFor("the map back", time.Minute, func() bool {
			for _, id := range []groupcomm.NodeID{1, 2, 3} {
				if os.Getenv("RAPS_DEBUG") != "" {
					g, err := c.host(id).Group(raps.MgmtGroup)
					var in groupcomm.Info
					if err == nil {
						in = g.Info()
					}
					var e uint64
					if m := c.node(id).Map(); m != nil {
						e = m.Epoch
					}
					t.Logf("node %d epoch %d (want %d) mgmt %+v %v", id, e, epoch, in, err)
				}
				if m := c.node(id).Map(); m == nil || m.Epoch < epoch {
					return false
				}
			}
			return true
		})
		for i := range 30 {
			k := fmt.Sprint("k", i)
			cctx, ccancel := context.WithTimeout(ctx, time.Minute)
			var v string
			var err error
			for {
				if v, err = get(cctx, c.node(3), "kv", k, racs.Strict); err == nil || cctx.Err() != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			ccancel()
			if err != nil || v != "v" {
				t.Fatalf("after restarting every node, %s = %q, %v", k, v, err)
			}
		}
	})
}

// Bad input to the admin changes gets a clear error and changes nothing:
// the map's epoch stays, and the history records nothing.
func TestAdminRefusesBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		good := kvService("kv", partitionmap.Hash, 4, partitionmap.Memory)
		c := newPCluster(t, 3, []groupcomm.NodeID{1, 2, 3}, good)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.waitFor("three nodes in the map", 20*time.Second, func() bool {
			m := c.node(1).Map()
			return m != nil && len(m.Nodes) == 3
		})
		if err := c.node(1).DefineService(ctx, good); err != nil {
			t.Fatal(err)
		}
		c.waitFor("clones converged", 20*time.Second, c.converged)
		nd := c.node(1)
		m := nd.Map()
		hist, err := nd.History(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		gapped := kvService("gapped", partitionmap.Range, 0, partitionmap.Memory)
		gapped.Ranges = []partitionmap.KeyRange{{End: partitionmap.Key("m")}, {Start: partitionmap.Key("n")}}
		tooMany := kvService("big", partitionmap.Hash, 4, partitionmap.Memory)
		tooMany.Clones = 5
		noNew := kvService("nonew", partitionmap.Hash, 4, partitionmap.Memory)
		noNew.New = nil
		cases := []struct {
			name string
			do   func() error
			want error
		}{
			{"redefine kv differently", func() error {
				s := good
				s.Partitions = 8
				return nd.DefineService(ctx, s)
			}, partitionmap.ErrExists},
			{"gapped ranges", func() error { return nd.DefineService(ctx, gapped) }, nil},
			{"a service no node offers", func() error { return nd.DefineService(ctx, tooMany) }, nil},
			{"clones > nodes", func() error { return nd.SetClones(ctx, "kv", 5) }, partitionmap.ErrTooFewNodes},
			{"no state machine", func() error { return nd.DefineService(ctx, noNew) }, raps.ErrInvalidService},
			{"clones of an unknown service", func() error { return nd.SetClones(ctx, "nope", 2) }, partitionmap.ErrUnknownService},
			{"drain an unknown node", func() error { return nd.Drain(ctx, 99) }, nil},
			{"move to a node that lacks the service", func() error {
				return nd.MoveClone(ctx, partitionmap.PartRef{Service: "kv", ID: 0}, partitionmap.NodeID(m.Partitions[0].Clones[0].Node), 99)
			}, nil},
		}
		for _, tc := range cases {
			err := tc.do()
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
				continue
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
			if len(err.Error()) < 20 {
				t.Errorf("%s: error %q says too little", tc.name, err)
			}
			t.Logf("%s: %v", tc.name, err)
		}
		if got := nd.Map(); got.Epoch != m.Epoch {
			t.Fatalf("refused changes moved the map from epoch %d to %d", m.Epoch, got.Epoch)
		}
		if h2, _ := nd.History(0, 0); len(h2) != len(hist) {
			t.Fatalf("refused changes wrote history: %d entries, then %d", len(hist), len(h2))
		}
	})
}
