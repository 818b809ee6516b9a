package racs_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// tcluster runs n hosts in one process over the in-memory network, each
// with its own bbolt file (Disk) or none (Memory), hosting one group.
//
// A tcluster lives in a testing/synctest bubble (newTCluster must be
// called inside synctest.Test): the hosts' tickers, the network's delivery
// goroutines and every deadline run on the bubble's fake clock, which
// moves only when every goroutine of the bubble is blocked: a loaded
// machine slows a test down but cannot make a tick, a timeout or a
// deadline come early relative to the work (no spurious suspicion, view
// change or expired submit). Tests never sleep: they wait for a condition
// with waitUntil, which re-checks it once the hosts are idle
// (synctest.Wait) and again at every event that can make it true (see
// notify).
type tcluster struct {
	t      testing.TB
	net    *memnet.Network
	dir    string
	dur    racs.Durability
	view   groupcomm.View
	hosts  map[groupcomm.NodeID]*racs.Host
	stores map[groupcomm.NodeID]*replica.BoltStore
	killed map[groupcomm.NodeID]bool
	hmu    sync.Mutex // guards hosts against the submitting goroutines
	// fsync makes the bbolt stores sync every write (benchmarks).
	fsync bool
	// tune, if set, adjusts each host's config.
	tune func(*racs.Config)
	// retain is the group's GroupConfig.Retain (the update stream).
	retain int
	// wrap, if set, wraps a node's store when it starts (fault injection).
	wrap func(groupcomm.NodeID, replica.Store) replica.Store

	emu     sync.Mutex
	changed chan struct{} // closed and replaced by notify
}

// netDelay is the network's latency. Work takes no time on the fake
// clock, so without it a stream of updates would run between two ticks
// and starve what the ticks drive (failure detection, view changes); with
// it every hop takes a little time and ticks come in between, as on a
// real network.
const netDelay = 100 * time.Microsecond

// hangAfter bounds every wait on the bubble's fake clock. The protocol
// needs a few hundred ticks (2ms each) at most for any step of these
// tests; the bound is far above that and only turns a hang into a failure.
const hangAfter = 10 * time.Minute

func coreConfig() groupcomm.Config {
	c := groupcomm.DefaultConfig()
	c.TickRTO, c.TickIdle, c.TickVC, c.TickFD, c.TickCQ, c.TickStale, c.TickJoin = 4, 2, 10, 20, 40, 30, 2000
	return c
}

// newTCluster starts n hosts (inside a synctest bubble) and returns once
// the group has been created on every one of them, durably for Disk.
func newTCluster(t testing.TB, n int, dur racs.Durability, opts ...func(*tcluster)) *tcluster {
	c := &tcluster{t: t, net: memnet.New(memnet.Config{Seed: 1, MinDelay: netDelay, MaxDelay: netDelay}), dir: t.TempDir(), dur: dur,
		hosts: map[groupcomm.NodeID]*racs.Host{}, stores: map[groupcomm.NodeID]*replica.BoltStore{},
		killed: map[groupcomm.NodeID]bool{}, changed: make(chan struct{})}
	c.view = groupcomm.View{Cluster: 1, Group: 1, GroupIncarnation: 1, ID: 1}
	for i := 1; i <= n; i++ {
		c.view.Members = append(c.view.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: groupcomm.NodeID(i), Incarnation: 1}, Role: groupcomm.Voter})
	}
	for _, o := range opts {
		o(c)
	}
	t.Cleanup(c.close)
	for i := 1; i <= n; i++ {
		c.start(groupcomm.NodeID(i), nil)
	}
	c.waitCreated()
	return c
}

// notify wakes every waiter (waitUntil, submit) to look again. A clone
// changes only in a batch of its host's worker, which a packet, a request
// or a tick starts; a batch that moves a clone on (starts it at the end of
// a creation round, installs a view, delivers, restores a snapshot, stops
// at a failed write) is started by a packet it received, or sends packets
// (acks, the new view, requests to a donor) or writes its store. So
// notify is called at every packet a host receives or sends, after every
// write to a store, and when the test kills a node or changes a host's
// suspicions.
func (c *tcluster) notify() {
	c.emu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.emu.Unlock()
}

// changes returns a channel closed at the next notify.
func (c *tcluster) changes() <-chan struct{} {
	c.emu.Lock()
	defer c.emu.Unlock()
	return c.changed
}

// waitUntil returns once cond holds, checked while every goroutine of the
// bubble is blocked (the hosts published what they did) and again after
// every notify. It fails the test if cond does not hold within hangAfter
// of fake time.
func (c *tcluster) waitUntil(what string, cond func() bool) {
	c.t.Helper()
	hang := time.After(hangAfter)
	for {
		changed := c.changes() // before the check: no event is missed
		synctest.Wait()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-hang:
			c.dump()
			c.t.Fatalf("%s: not reached after %v (fake clock)", what, hangAfter)
		}
	}
}

func (c *tcluster) dump() {
	for id := range c.hosts {
		g := c.group(id)
		if g == nil {
			c.t.Logf("node %d: no group", id)
			continue
		}
		c.t.Logf("node %d: %+v applied=%d", id, g.Info(), g.Applied().Seq)
	}
}

// waitCreated waits until every host's group is NORMAL in a view (the
// group was created there: it is not waiting for the other members of
// its first view any more). Once the hosts are idle the clone's first
// write has landed too, so a Disk node killed after this restarts from
// its store.
func (c *tcluster) waitCreated() {
	c.t.Helper()
	c.waitUntil("group created on every host", func() bool {
		for id := range c.hosts {
			if in := c.group(id).Info(); in.Status != groupcomm.StatusNormal || in.View < 1 {
				return false
			}
		}
		return true
	})
}

// start (re)starts node id's host and its group.
func (c *tcluster) start(id groupcomm.NodeID, contacts []groupcomm.NodeID) *racs.Group {
	c.t.Helper()
	var store replica.Store
	if c.dur == racs.Disk {
		s, err := replica.OpenBolt(filepath.Join(c.dir, fmt.Sprintf("node-%d.db", id)), replica.BoltOptions{NoSync: !c.fsync})
		if err != nil {
			c.t.Fatal(err)
		}
		c.stores[id] = s
		store = s
		if c.wrap != nil {
			store = c.wrap(id, s)
		}
		store = notifyingStore{store, c.notify}
	}
	var h *racs.Host
	var hmu sync.Mutex
	deliver := func(ps []racs.Packet) {
		hmu.Lock()
		hh := h
		hmu.Unlock()
		if hh != nil {
			c.notify()
			hh.DeliverBatch(ps)
		}
	}
	var tr racs.Transport
	if _, ok := c.hosts[id]; ok || c.restarted(id) {
		tr = c.net.Restart(id, deliver)
	} else {
		tr = c.net.Endpoint(id, deliver)
	}
	cfg := racs.DefaultConfig()
	cfg.Node, cfg.Cluster, cfg.Store, cfg.Transport = id, 1, store, notifyingTransport{tr, c.notify}
	cfg.TickInterval = 2 * time.Millisecond
	cfg.Workers = 2
	cfg.Core = coreConfig()
	cfg.ChunkSize = 64
	if c.tune != nil {
		c.tune(&cfg)
	}
	nh, err := racs.NewHost(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	hmu.Lock()
	h = nh
	hmu.Unlock()
	c.hmu.Lock()
	c.hosts[id] = nh
	c.hmu.Unlock()
	// Create is always safe: a node with state restarts from it, one
	// without (a memory node, a fresh disk) joins the existing group.
	g, err := nh.AddGroup(racs.GroupConfig{Group: 1, Incarnation: 1, Durability: c.dur, StateMachine: &listSM{},
		Bootstrap: &c.view, Create: true, Contacts: contacts, Retain: c.retain})
	if err != nil {
		c.t.Fatal(err)
	}
	return g
}

// notifyingTransport notifies the cluster after every Send.
type notifyingTransport struct {
	racs.Transport
	notify func()
}

func (t notifyingTransport) Send(ps []racs.Packet) {
	t.Transport.Send(ps)
	t.notify()
}

// notifyingStore notifies the cluster after every Write, failed or not.
type notifyingStore struct {
	replica.Store
	notify func()
}

func (s notifyingStore) Write(b *replica.Batch) error {
	err := s.Store.Write(b)
	s.notify()
	return err
}

func (c *tcluster) restarted(id groupcomm.NodeID) bool { return c.killed[id] }

// kill stops a node abruptly: its host stops, its bbolt file stays.
func (c *tcluster) kill(id groupcomm.NodeID) {
	c.net.Crash(id)
	c.hosts[id].Close()
	if s := c.stores[id]; s != nil {
		s.Close()
	}
	c.killed[id] = true
	c.hmu.Lock()
	delete(c.hosts, id)
	c.hmu.Unlock()
	c.notify() // a submit retrying at the node gives up
}

// suspect sets host at's failure-detector opinion of node.
func (c *tcluster) suspect(at, node groupcomm.NodeID, on bool) {
	c.hosts[at].SetSuspected(node, on)
	c.notify()
}

func (c *tcluster) close() {
	for id := range c.hosts {
		c.hosts[id].Close()
		if s := c.stores[id]; s != nil {
			s.Close()
		}
	}
	c.net.Close()
	c.notify() // a submit still retrying finds its group stopped
}

func (c *tcluster) host(id groupcomm.NodeID) *racs.Host {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.hosts[id]
}

func (c *tcluster) group(id groupcomm.NodeID) *racs.Group {
	h := c.host(id)
	if h == nil {
		return nil
	}
	g, err := h.Group(1)
	if err != nil {
		c.t.Error(err)
		return nil
	}
	return g
}

// submit retries on "not applied" and busy (safe), each time after
// something changed in the cluster, until it succeeds or hangAfter.
func (c *tcluster) submit(id groupcomm.NodeID, update, key string) (racs.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hangAfter)
	defer cancel()
	for {
		g := c.group(id)
		if g == nil {
			return racs.Result{}, racs.ErrStopped
		}
		changed := c.changes() // before the attempt: no change is missed
		r, err := g.Submit(ctx, []byte(update), key)
		if err == nil || !(errors.Is(err, racs.ErrNotApplied) || errors.Is(err, racs.ErrBusy)) || ctx.Err() != nil {
			return r, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return r, err
		}
	}
}

// waitConverged waits until every live clone is a NORMAL voter with its
// state, all applied the same position and have the same digest; it
// returns the list.
func (c *tcluster) waitConverged() string {
	c.t.Helper()
	var pos uint64
	c.waitUntil("clones converged", func() bool {
		var dig uint64
		first := true
		for id := range c.hosts {
			g := c.group(id)
			in := g.Info()
			if in.Status != groupcomm.StatusNormal || in.Restoring || in.Role != groupcomm.Voter {
				return false
			}
			d, err := g.Digest()
			if err != nil {
				c.t.Fatal(err)
			}
			if first {
				pos, dig, first = g.Applied().Seq, d, false
			} else if g.Applied().Seq != pos || d != dig {
				return false
			}
		}
		return !first
	})
	for id := range c.hosts {
		out, _, err := c.group(id).Query(context.Background(), nil, racs.Session, racs.Token{Seq: pos})
		if err != nil {
			c.t.Fatal(err)
		}
		return string(out)
	}
	panic("unreachable")
}

func TestUpdatesFromEveryMemberAppliedInOneOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Disk)
		var wg sync.WaitGroup
		for id := groupcomm.NodeID(1); id <= 3; id++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					if _, err := c.submit(id, fmt.Sprintf("n%d-%d", id, i), ""); err != nil {
						t.Errorf("submit: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		list := c.waitConverged()
		if n := len(strings.Split(list, ",")); n != 60 {
			t.Fatalf("applied %d updates, want 60: %s", n, list)
		}
	})
}

func TestIdempotencyKeyAppliesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Memory)
		r1, err := c.submit(2, "pay", "order-17")
		if err != nil {
			t.Fatal(err)
		}
		r2, err := c.submit(3, "pay", "order-17")
		if err != nil {
			t.Fatal(err)
		}
		if string(r1.Data) != string(r2.Data) {
			t.Fatalf("retry got %q, first %q", r2.Data, r1.Data)
		}
		if _, err := c.submit(1, "other", ""); err != nil {
			t.Fatal(err)
		}
		if list := c.waitConverged(); list != "pay,other" {
			t.Fatalf("list %q, want pay applied once", list)
		}
	})
}

func TestSessionReadSeesOwnWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Memory)
		for i := range 20 {
			r, err := c.submit(1, fmt.Sprint(i), "")
			if err != nil {
				t.Fatal(err)
			}
			for id := groupcomm.NodeID(1); id <= 3; id++ {
				out, tok, err := c.group(id).Query(context.Background(), []byte("len"), racs.Session, r.Token)
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := strconv.Atoi(string(out)); tok.Seq < r.Token.Seq || n < i+1 {
					t.Fatalf("node %d read %s at %v after write %d at %v", id, out, tok, i+1, r.Token)
				}
			}
		}
	})
}

func TestStrictReadAfterWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Memory)
		if _, err := c.submit(1, "x", ""); err != nil {
			t.Fatal(err)
		}
		out, _, err := c.group(3).Query(context.Background(), nil, racs.Strict, racs.Token{})
		if err != nil || string(out) != "x" {
			t.Fatalf("strict read = %q, %v", out, err)
		}
	})
}

func TestMinorityRefusesUpdates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Memory)
		if _, err := c.submit(1, "a", ""); err != nil {
			t.Fatal(err)
		}
		c.net.Partition([]groupcomm.NodeID{1}, []groupcomm.NodeID{2, 3})
		c.suspect(1, 2, true)
		c.suspect(1, 3, true)
		// The refusal comes at once (G3): no time passes in the bubble.
		before := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), hangAfter)
		defer cancel()
		_, err := c.group(1).Submit(ctx, []byte("b"), "")
		if !errors.Is(err, racs.ErrNotApplied) {
			t.Fatalf("minority submit: %v, want ErrNotApplied", err)
		}
		if d := time.Since(before); d != 0 {
			t.Fatalf("minority submit refused after %v, want at once", d)
		}
		c.suspect(2, 1, true)
		c.suspect(3, 1, true)
		if _, err := c.submit(2, "c", ""); err != nil {
			t.Fatalf("majority submit: %v", err)
		}
	})
}

func TestMemberKilledRestartsAndCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Disk)
		for i := range 10 {
			if _, err := c.submit(1, fmt.Sprint("a", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		c.kill(3)
		c.suspect(1, 3, true)
		c.suspect(2, 3, true)
		for i := range 10 {
			if _, err := c.submit(2, fmt.Sprint("b", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		g := c.start(3, nil)
		if st := g.Info().Status; st != groupcomm.StatusRecovering {
			t.Fatalf("killed member came back %v, want RECOVERING from its store", st)
		}
		c.suspect(1, 3, false)
		c.suspect(2, 3, false)
		list := c.waitConverged()
		if n := len(strings.Split(list, ",")); n != 20 {
			t.Fatalf("applied %d, want 20", n)
		}
	})
}

func TestAllKilledKeepAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Disk)
		for i := range 15 {
			if _, err := c.submit(groupcomm.NodeID(1+i%3), fmt.Sprint("u", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		for id := groupcomm.NodeID(1); id <= 3; id++ {
			c.kill(id)
		}
		for id := groupcomm.NodeID(1); id <= 3; id++ {
			if st := c.start(id, nil).Info().Status; st != groupcomm.StatusRecovering {
				t.Fatalf("node %d came back %v, want RECOVERING from its store", id, st)
			}
		}
		list := c.waitConverged()
		if n := len(strings.Split(list, ",")); n != 15 {
			t.Fatalf("after total restart applied %d, want 15: %s", n, list)
		}
		if _, err := c.submit(1, "after", ""); err != nil {
			t.Fatal(err)
		}
		c.waitConverged()
	})
}

func TestJoinerGetsStateThenUpdates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Disk)
		for i := range 30 {
			if _, err := c.submit(1, fmt.Sprint("s", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		c.start(4, []groupcomm.NodeID{1, 2, 3})
		for i := range 10 {
			if _, err := c.submit(2, fmt.Sprint("t", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		list := c.waitConverged()
		if n := len(strings.Split(list, ",")); n != 40 {
			t.Fatalf("applied %d, want 40", n)
		}
	})
}

func TestSnapshotTruncatesLogAndRestartRestores(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Disk)
		c.tune = func(cfg *racs.Config) { cfg.SnapshotEvery, cfg.LogTail = 7, 3 }
		// The group's creation is durable everywhere (newTCluster waited
		// for it); restart everyone with the small snapshot interval.
		if _, err := c.submit(1, "first", ""); err != nil {
			t.Fatal(err)
		}
		c.waitConverged()
		for id := groupcomm.NodeID(1); id <= 3; id++ {
			c.kill(id)
		}
		for id := groupcomm.NodeID(1); id <= 3; id++ {
			c.start(id, nil)
		}
		for i := range 50 {
			if _, err := c.submit(1, fmt.Sprint("a", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		c.kill(2)
		for i := range 20 {
			if _, err := c.submit(1, fmt.Sprint("b", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		c.start(2, nil)
		list := c.waitConverged()
		if n := len(strings.Split(list, ",")); n != 71 {
			t.Fatalf("applied %d, want 71", n)
		}
		st, err := c.stores[1].Load(1)
		if err != nil {
			t.Fatal(err)
		}
		if st.Snapshot == nil || len(st.Log) >= 70 {
			t.Fatalf("log not truncated: snapshot=%v, %d entries", st.Snapshot != nil, len(st.Log))
		}
		t.Logf("node 1 keeps a snapshot at %v and %d log entries", st.Snapshot.Pos, len(st.Log))
	})
}

func TestMemoryMemberRestartsAsNewIncarnation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Memory)
		for i := range 10 {
			if _, err := c.submit(1, fmt.Sprint("m", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		c.kill(3)
		c.suspect(1, 3, true)
		c.suspect(2, 3, true)
		g := c.start(3, nil)
		c.suspect(1, 3, false)
		c.suspect(2, 3, false)
		// Without state it first asks the others, who say the group
		// exists: it joins as a new incarnation.
		c.waitUntil("restarted member started its clone", func() bool { return g.Info().Self.Incarnation != 0 })
		if inc := g.Info().Self.Incarnation; inc == 1 {
			t.Fatalf("restarted memory member kept incarnation 1")
		}
		for i := range 5 {
			if _, err := c.submit(2, fmt.Sprint("n", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(strings.Split(c.waitConverged(), ",")); n != 15 {
			t.Fatalf("applied %d, want 15", n)
		}
		if inc := g.Info().Self.Incarnation; inc == 1 {
			t.Fatalf("restarted memory member is a voter with incarnation 1")
		}
	})
}

// A donor that dies in the middle of a state transfer: the learner gets a
// new snapshot (a new id, from offset 0) from another voter and ends with
// the same state (S9, L6).
func TestDonorDiesMidTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Disk)
		payload := strings.Repeat("x", 100)
		for i := range 200 {
			if _, err := c.submit(1, fmt.Sprint(i, payload), ""); err != nil {
				t.Fatal(err)
			}
		}
		// A longer latency spreads the transfer over many ticks: the test
		// sees it half done (nothing moves on the fake clock while the
		// test looks and kills).
		c.net.SetDelay(time.Millisecond, time.Millisecond)
		g4 := c.start(4, []groupcomm.NodeID{1, 2, 3})
		c.waitUntil("transfer in progress", func() bool {
			p, ok := g4.Transfer()
			return ok && p.Received > 0 && p.Received < p.Size
		})
		v := g4.View()
		m, _ := v.LookupNode(4)
		donor := m.Donor.Node
		if donor == 0 || donor == 4 {
			t.Fatalf("no donor for node 4 in %v", v)
		}
		t.Logf("killing donor %d mid-transfer", donor)
		c.kill(donor)
		for id := range c.hosts {
			c.suspect(id, donor, true)
		}
		c.net.SetDelay(netDelay, netDelay)
		at := groupcomm.NodeID(1)
		if donor == 1 {
			at = 2
		}
		for i := range 10 {
			if _, err := c.submit(at, fmt.Sprint("after", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(strings.Split(c.waitConverged(), ",")); n != 210 {
			t.Fatalf("applied %d, want 210", n)
		}
	})
}
