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
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// tcluster runs n hosts in one process over the in-memory network, each
// with its own bbolt file (Disk) or none (Memory), hosting one group.
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
	// wrap, if set, wraps a node's store when it starts (fault injection).
	wrap func(groupcomm.NodeID, replica.Store) replica.Store
}

func coreConfig() groupcomm.Config {
	c := groupcomm.DefaultConfig()
	c.TickRTO, c.TickIdle, c.TickVC, c.TickFD, c.TickCQ, c.TickStale, c.TickJoin = 4, 2, 10, 20, 40, 30, 2000
	return c
}

func newTCluster(t testing.TB, n int, dur racs.Durability) *tcluster {
	c := &tcluster{t: t, net: memnet.New(memnet.Config{Seed: 1}), dir: t.TempDir(), dur: dur,
		hosts: map[groupcomm.NodeID]*racs.Host{}, stores: map[groupcomm.NodeID]*replica.BoltStore{},
		killed: map[groupcomm.NodeID]bool{}}
	c.view = groupcomm.View{Cluster: 1, Group: 1, GroupIncarnation: 1, ID: 1}
	for i := 1; i <= n; i++ {
		c.view.Members = append(c.view.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: groupcomm.NodeID(i), Incarnation: 1}, Role: groupcomm.Voter})
	}
	for i := 1; i <= n; i++ {
		c.start(groupcomm.NodeID(i), nil)
	}
	t.Cleanup(c.close)
	return c
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
	}
	var h *racs.Host
	var hmu sync.Mutex
	deliver := func(p racs.Packet) {
		hmu.Lock()
		hh := h
		hmu.Unlock()
		if hh != nil {
			hh.Deliver(p)
		}
	}
	var tr racs.Transport
	if _, ok := c.hosts[id]; ok || c.restarted(id) {
		tr = c.net.Restart(id, deliver)
	} else {
		tr = c.net.Endpoint(id, deliver)
	}
	cfg := racs.DefaultConfig()
	cfg.Node, cfg.Cluster, cfg.Store, cfg.Transport = id, 1, store, tr
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
	g, err := nh.AddGroup(racs.GroupConfig{Group: 1, Incarnation: 1, Durability: c.dur, StateMachine: &listSM{},
		Bootstrap: &c.view, Create: !c.killed[id], Contacts: contacts})
	if err != nil {
		c.t.Fatal(err)
	}
	return g
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
}

func (c *tcluster) close() {
	for id := range c.hosts {
		c.hosts[id].Close()
		if s := c.stores[id]; s != nil {
			s.Close()
		}
	}
	c.net.Close()
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

// submit retries on "not applied" and busy (safe) until the deadline.
func (c *tcluster) submit(id groupcomm.NodeID, update, key string) (racs.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		g := c.group(id)
		if g == nil {
			return racs.Result{}, racs.ErrStopped
		}
		r, err := g.Submit(ctx, []byte(update), key)
		if err == nil || !(errors.Is(err, racs.ErrNotApplied) || errors.Is(err, racs.ErrBusy)) || ctx.Err() != nil {
			return r, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitConverged waits until every live clone applied the same position
// and has the same digest; it returns the list.
func (c *tcluster) waitConverged() string {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var pos uint64
		var dig uint64
		same := true
		first := true
		for id := range c.hosts {
			g := c.group(id)
			in := g.Info()
			if in.Status != groupcomm.StatusNormal || in.Restoring || in.Role != groupcomm.Voter {
				same = false
				break
			}
			d, err := g.Digest()
			if err != nil {
				c.t.Fatal(err)
			}
			if first {
				pos, dig, first = g.Applied().Seq, d, false
			} else if g.Applied().Seq != pos || d != dig {
				same = false
			}
		}
		if same && !first {
			for id := range c.hosts {
				out, _, err := c.group(id).Query(context.Background(), nil, racs.Session, racs.Token{Seq: pos})
				if err != nil {
					c.t.Fatal(err)
				}
				return string(out)
			}
		}
		if time.Now().After(deadline) {
			for id := range c.hosts {
				g := c.group(id)
				c.t.Logf("node %d: %+v applied=%d", id, g.Info(), g.Applied().Seq)
			}
			c.t.Fatal("clones did not converge")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUpdatesFromEveryMemberAppliedInOneOrder(t *testing.T) {
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
}

func TestIdempotencyKeyAppliesOnce(t *testing.T) {
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
}

func TestSessionReadSeesOwnWrite(t *testing.T) {
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
}

func TestStrictReadAfterWrite(t *testing.T) {
	c := newTCluster(t, 3, racs.Memory)
	if _, err := c.submit(1, "x", ""); err != nil {
		t.Fatal(err)
	}
	out, _, err := c.group(3).Query(context.Background(), nil, racs.Strict, racs.Token{})
	if err != nil || string(out) != "x" {
		t.Fatalf("strict read = %q, %v", out, err)
	}
}

func TestMinorityRefusesUpdates(t *testing.T) {
	c := newTCluster(t, 3, racs.Memory)
	if _, err := c.submit(1, "a", ""); err != nil {
		t.Fatal(err)
	}
	c.net.Partition([]groupcomm.NodeID{1}, []groupcomm.NodeID{2, 3})
	c.hosts[1].SetSuspected(2, true)
	c.hosts[1].SetSuspected(3, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := c.group(1).Submit(ctx, []byte("b"), "")
	if !errors.Is(err, racs.ErrNotApplied) {
		t.Fatalf("minority submit: %v, want ErrNotApplied", err)
	}
	c.hosts[2].SetSuspected(1, true)
	c.hosts[3].SetSuspected(1, true)
	if _, err := c.submit(2, "c", ""); err != nil {
		t.Fatalf("majority submit: %v", err)
	}
}

func TestMemberKilledRestartsAndCatchesUp(t *testing.T) {
	c := newTCluster(t, 3, racs.Disk)
	for i := range 10 {
		if _, err := c.submit(1, fmt.Sprint("a", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	c.kill(3)
	c.hosts[1].SetSuspected(3, true)
	c.hosts[2].SetSuspected(3, true)
	for i := range 10 {
		if _, err := c.submit(2, fmt.Sprint("b", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	c.start(3, nil)
	c.hosts[1].SetSuspected(3, false)
	c.hosts[2].SetSuspected(3, false)
	list := c.waitConverged()
	if n := len(strings.Split(list, ",")); n != 20 {
		t.Fatalf("applied %d, want 20", n)
	}
}

func TestAllKilledKeepAcknowledged(t *testing.T) {
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
		c.start(id, nil)
	}
	list := c.waitConverged()
	if n := len(strings.Split(list, ",")); n != 15 {
		t.Fatalf("after total restart applied %d, want 15: %s", n, list)
	}
	if _, err := c.submit(1, "after", ""); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
}

func TestJoinerGetsStateThenUpdates(t *testing.T) {
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
}

func TestSnapshotTruncatesLogAndRestartRestores(t *testing.T) {
	c := newTCluster(t, 3, racs.Disk)
	c.tune = func(cfg *racs.Config) { cfg.SnapshotEvery, cfg.LogTail = 7, 3 }
	// Let the group's creation become durable (a node killed before it
	// persisted its first view has no state and can only join), then
	// restart everyone with the small snapshot interval.
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
}

func TestMemoryMemberRestartsAsNewIncarnation(t *testing.T) {
	c := newTCluster(t, 3, racs.Memory)
	for i := range 10 {
		if _, err := c.submit(1, fmt.Sprint("m", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	c.kill(3)
	c.hosts[1].SetSuspected(3, true)
	c.hosts[2].SetSuspected(3, true)
	g := c.start(3, nil)
	c.hosts[1].SetSuspected(3, false)
	c.hosts[2].SetSuspected(3, false)
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
}

// A donor that dies in the middle of a state transfer: the learner gets a
// new snapshot (a new id, from offset 0) from another voter and ends with
// the same state (S9, L6).
func TestDonorDiesMidTransfer(t *testing.T) {
	c := newTCluster(t, 3, racs.Disk)
	payload := strings.Repeat("x", 100)
	for i := range 200 {
		if _, err := c.submit(1, fmt.Sprint(i, payload), ""); err != nil {
			t.Fatal(err)
		}
	}
	c.net.SetDelay(time.Millisecond, time.Millisecond)
	g4 := c.start(4, []groupcomm.NodeID{1, 2, 3})
	// Wait until the transfer is under way, then kill its donor.
	deadline := time.Now().Add(10 * time.Second)
	var donor groupcomm.NodeID
	for {
		if p, ok := g4.Transfer(); ok && p.Received > 0 && p.Received < p.Size {
			v := g4.View()
			m, _ := v.LookupNode(4)
			donor = m.Donor.Node
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no transfer in progress seen")
		}
		time.Sleep(200 * time.Microsecond)
	}
	t.Logf("killing donor %d mid-transfer", donor)
	c.kill(donor)
	for id := range c.hosts {
		c.hosts[id].SetSuspected(donor, true)
	}
	c.net.SetDelay(0, 0)
	for i := range 10 {
		if _, err := c.submit(1, fmt.Sprint("after", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(strings.Split(c.waitConverged(), ",")); n != 210 {
		t.Fatalf("applied %d, want 210", n)
	}
}
