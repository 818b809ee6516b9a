package membership

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

func TestJoinSeesAllAliveAndResolves(t *testing.T) {
	ns := cluster(t, testConfig(t, 1), testConfig(t, 2), testConfig(t, 3))
	for _, n := range ns {
		ms := n.Members()
		if got := ids(ms); !slices.Equal(got, []groupcomm.NodeID{1, 2, 3}) {
			t.Fatalf("node %d sees %v", n.cfg.NodeID, got)
		}
		for _, m := range ms {
			want := testConfig(t, m.ID)
			if m.State != StateAlive || m.Addr != want.Meta.Addr || m.Zone != want.Meta.Zone ||
				m.Name != want.withDefaults().NodeName || m.GossipAddr == "" {
				t.Errorf("node %d sees %+v", n.cfg.NodeID, m)
			}
			addr, ok := n.Resolve(m.ID)
			if !ok || addr != want.Meta.Addr {
				t.Errorf("node %d: Resolve(%d) = %q, %v", n.cfg.NodeID, m.ID, addr, ok)
			}
		}
		if _, ok := n.Resolve(99); ok {
			t.Errorf("Resolve(99) found an unknown node")
		}
		for _, o := range ns {
			if o != n && !n.rec.eventually(5*time.Second, EventJoin, o.cfg.NodeID, time.Time{}) {
				t.Errorf("node %d: no join event for %d", n.cfg.NodeID, o.cfg.NodeID)
			}
		}
	}
	// The Events channel got the same joins (and this node's own, at New).
	seen := map[groupcomm.NodeID]bool{}
	for len(seen) < 3 {
		select {
		case ev := <-ns[0].Events():
			if ev.Type == EventJoin {
				seen[ev.Member.ID] = true
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Events channel: joins seen %v", seen)
		}
	}
	if d := ns[0].Stats().EventsDropped; d != 0 {
		t.Errorf("dropped %d events", d)
	}
}

func TestLoadAndEpochAreGossiped(t *testing.T) {
	c3 := testConfig(t, 3)
	c3.LoadUpdates = true
	ns := cluster(t, testConfig(t, 1), testConfig(t, 2), c3)

	start := time.Now()
	ns[0].SetLoad(0.75)
	for _, n := range ns[1:] {
		waitFor(t, 2*time.Second, "load of node 1", func() bool {
			m, _ := n.Lookup(1)
			return m.Load == 0.75
		})
	}
	t.Logf("load seen by all after %v (LoadInterval %v, GossipInterval %v)",
		time.Since(start), c3.LoadInterval, c3.GossipInterval)
	ev, _ := ns[2].rec.await(t, time.Second, EventUpdate, 1)
	if ev.Changed != ChangedLoad || ev.Member.Load != 0.75 {
		t.Errorf("load update event %+v", ev)
	}
	if ns[1].rec.has(EventUpdate, 1) {
		t.Errorf("load change emitted an update without LoadUpdates")
	}

	start = time.Now()
	ns[1].SetEpoch(7)
	for _, n := range []*node{ns[0], ns[2]} {
		ev, _ := n.rec.await(t, 2*time.Second, EventUpdate, 2)
		if ev.Changed != ChangedEpoch || ev.Member.Epoch != 7 {
			t.Errorf("node %d: epoch update event %+v", n.cfg.NodeID, ev)
		}
		if e, who := n.HighestEpoch(); e != 7 || who != 2 {
			t.Errorf("node %d: HighestEpoch = %d from %d", n.cfg.NodeID, e, who)
		}
	}
	t.Logf("epoch seen by all after %v", time.Since(start))
	if ns[1].Epoch() != 7 {
		t.Errorf("Epoch() = %d", ns[1].Epoch())
	}

	// Later changes supersede earlier ones, also after several in a row.
	for i := 1; i <= 5; i++ {
		ns[2].SetLoad(float64(i))
		time.Sleep(c3.LoadInterval / 2)
	}
	waitFor(t, 2*time.Second, "last load of node 3", func() bool {
		a, _ := ns[0].Lookup(3)
		b, _ := ns[1].Lookup(3)
		return a.Load == 5 && b.Load == 5
	})
}

func TestLoadReachesLateJoinerByPushPull(t *testing.T) {
	ns := cluster(t, testConfig(t, 1), testConfig(t, 2))
	ns[0].SetLoad(3.5)
	waitFor(t, 2*time.Second, "load at node 2", func() bool {
		m, _ := ns[1].Lookup(1)
		return m.Load == 3.5
	})
	// Wait until node 1's load broadcast is no longer queued anywhere,
	// so only the join's push/pull can carry it.
	waitFor(t, 2*time.Second, "broadcast queues drained", func() bool {
		return ns[0].Stats().QueuedLoads == 0 && ns[1].Stats().QueuedLoads == 0
	})
	late := start(t, testConfig(t, 3))
	if _, err := late.Join(ns[1].LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if m, _ := late.Lookup(1); m.Load != 3.5 {
		t.Errorf("late joiner sees load %v right after Join, want 3.5", m.Load)
	}
}

func TestShutdownIsFailedAndRestartRejoins(t *testing.T) {
	ns := cluster(t, testConfig(t, 1), testConfig(t, 2), testConfig(t, 3))
	stopped := time.Now()
	if err := ns[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns[:2] {
		ev, at := n.rec.await(t, 5*time.Second, EventFailed, 3)
		if ev.Member.State != StateDead {
			t.Errorf("failed event with state %v", ev.Member.State)
		}
		_, sat, suspected := n.rec.find(EventSuspect, 3)
		if suspected {
			t.Logf("node %d: suspect after %v, failed after %v", n.cfg.NodeID, sat.Sub(stopped), at.Sub(stopped))
		} else {
			t.Logf("node %d: failed after %v (no own suspicion)", n.cfg.NodeID, at.Sub(stopped))
		}
		if n.rec.has(EventLeft, 3) {
			t.Errorf("shutdown without Leave reported as left")
		}
		// Resolve still answers: the protocol, not memberlist, drops nodes.
		if addr, ok := n.Resolve(3); !ok || addr == "" {
			t.Errorf("Resolve(3) after failure = %q, %v", addr, ok)
		}
	}
	for range ns[2].Events() { // closed by Shutdown: the loop ends
	}

	// The same node (name) comes back on a new port.
	cfg := testConfig(t, 3)
	cfg.Meta.Addr = "127.0.0.1:29003"
	back := start(t, cfg)
	if _, err := back.Join(ns[0].LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns[:2] {
		waitFor(t, 5*time.Second, "restarted node alive", func() bool {
			m, _ := n.Lookup(3)
			return m.State == StateAlive && m.Addr == "127.0.0.1:29003" && m.GossipAddr == back.LocalAddr()
		})
		// Events arrive asynchronously: wait for the one that says so.
		waitFor(t, 5*time.Second, "a join or update event for the restarted node", func() bool {
			tys := n.rec.types(3)
			return len(tys) > 0 && (tys[len(tys)-1] == EventJoin || tys[len(tys)-1] == EventUpdate)
		})
	}
}

func TestLeaveIsLeft(t *testing.T) {
	ns := cluster(t, testConfig(t, 1), testConfig(t, 2), testConfig(t, 3))
	start := time.Now()
	if err := ns[2].Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("Leave returned after %v", time.Since(start))
	for _, n := range ns[:2] {
		ev, _ := n.rec.await(t, 3*time.Second, EventLeft, 3)
		if ev.Member.State != StateLeft {
			t.Errorf("left event with state %v", ev.Member.State)
		}
		if n.rec.has(EventFailed, 3) {
			t.Errorf("node %d reported a leave as a failure: %v", n.cfg.NodeID, n.rec.types(3))
		}
	}
	if _, err := ns[2].Join(ns[0].LocalAddr()); !errors.Is(err, ErrLeft) {
		t.Errorf("Join after Leave: %v", err)
	}
	if err := ns[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := ns[2].Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown: %v", err)
	}
	// The survivors keep their view of each other.
	for _, n := range ns[:2] {
		if n.rec.has(EventFailed, 1) || n.rec.has(EventFailed, 2) {
			t.Errorf("spurious failure: %v %v", n.rec.types(1), n.rec.types(2))
		}
	}
}

func TestFullEventBufferDropsAndNeverBlocks(t *testing.T) {
	var cfgs []Config
	for id := groupcomm.NodeID(1); id <= 3; id++ {
		c := testConfig(t, id)
		c.EventBuffer = 1 // nobody reads Events: it fills at once
		cfgs = append(cfgs, c)
	}
	ns := cluster(t, cfgs...) // converges although every event channel is full
	ns[1].SetEpoch(3)
	waitFor(t, 2*time.Second, "epoch at node 1", func() bool {
		m, _ := ns[0].Lookup(2)
		return m.Epoch == 3
	})
	if ns[0].Stats().EventsDropped == 0 {
		t.Errorf("no drops counted with a full buffer")
	}
}

func TestWrongKeyNeverMerges(t *testing.T) {
	k1 := []byte("0123456789abcdef")
	k2 := []byte("fedcba9876543210")
	with := func(id groupcomm.NodeID, keys ...[]byte) Config {
		c := testConfig(t, id)
		c.SecretKeys = keys
		return c
	}
	ns := cluster(t, with(1, k1), with(2, k1))
	// A node with the cluster key as primary and a second key (rotation)
	// joins; one holding the cluster key only as a secondary cannot: it
	// sends with its primary, which the cluster lacks.
	if _, err := start(t, with(3, k1, k2)).Join(ns[0].LocalAddr()); err != nil {
		t.Fatalf("rotation key set: %v", err)
	}
	for _, c := range []Config{with(4, k2), with(5), with(6, k2, k1)} {
		n := start(t, c)
		if _, err := n.Join(ns[0].LocalAddr()); err == nil {
			t.Errorf("node %d with keys %q joined", c.NodeID, c.SecretKeys)
		}
	}
	assertNeverSeen(t, ns, 4, 5, 6)
}

func TestDifferentLabelsNeverMerge(t *testing.T) {
	with := func(id groupcomm.NodeID, label string) Config {
		c := testConfig(t, id)
		c.Label = label
		return c
	}
	ns := cluster(t, with(1, "blue"), with(2, "blue"))
	for _, c := range []Config{with(3, "green"), with(4, "")} {
		n := start(t, c)
		if _, err := n.Join(ns[0].LocalAddr()); err == nil {
			t.Errorf("node %d with label %q joined", c.NodeID, c.Label)
		}
		if got := ids(n.Members()); !slices.Equal(got, []groupcomm.NodeID{c.NodeID}) {
			t.Errorf("node %d sees %v", c.NodeID, got)
		}
	}
	assertNeverSeen(t, ns, 3, 4)
}

// assertNeverSeen checks, for a few gossip rounds, that no node of ns
// learns of the given nodes.
func assertNeverSeen(t *testing.T, ns []*node, foreign ...groupcomm.NodeID) {
	t.Helper()
	until := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(until) {
		for _, n := range ns {
			for _, id := range foreign {
				if _, ok := n.Lookup(id); ok {
					t.Fatalf("node %d learned of foreign node %d", n.cfg.NodeID, id)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSubscribeCancel(t *testing.T) {
	ns := cluster(t, testConfig(t, 1))
	got := make(chan Event, 16)
	cancel := ns[0].Subscribe(func(ev Event) { got <- ev })
	cancel()
	cancel() // idempotent
	n2 := start(t, testConfig(t, 2))
	if _, err := n2.Join(ns[0].LocalAddr()); err != nil {
		t.Fatal(err)
	}
	ns[0].rec.await(t, 2*time.Second, EventJoin, 2)
	select {
	case ev := <-got:
		t.Errorf("cancelled subscriber got %v", ev)
	default:
	}
}
