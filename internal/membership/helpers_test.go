package membership

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// testConfig is a loopback node with fast failure detection: probes every
// 100ms, suspect→dead after 3 probe intervals, gossip every 20ms.
func testConfig(t *testing.T, id groupcomm.NodeID) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.Meta = Static{Addr: fmt.Sprintf("127.0.0.1:%d", 19000+id), Zone: fmt.Sprintf("z%d", id%2)}
	cfg.LoadInterval = 20 * time.Millisecond
	cfg.ProbeInterval = 100 * time.Millisecond
	cfg.ProbeTimeout = 50 * time.Millisecond
	cfg.SuspicionMult = 3
	cfg.GossipInterval = 20 * time.Millisecond
	cfg.DeadNodeReclaimTime = 50 * time.Millisecond
	cfg.RejoinInterval = -1
	cfg.Logger = testLogger(t)
	return cfg
}

// testLogger discards unless QS_TEST_LOG is set, then logs to the test.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("QS_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// node is a started Membership with an event recorder.
type node struct {
	*Membership
	rec *recorder
}

func start(t *testing.T, cfg Config) *node {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%d): %v", cfg.NodeID, err)
	}
	n := &node{Membership: m, rec: &recorder{}}
	m.Subscribe(n.rec.add)
	t.Cleanup(func() { _ = m.Shutdown() })
	return n
}

// cluster starts one node per config and joins all to the first.
func cluster(t *testing.T, cfgs ...Config) []*node {
	t.Helper()
	var ns []*node
	for i, cfg := range cfgs {
		n := start(t, cfg)
		if i > 0 {
			if _, err := n.Join(ns[0].LocalAddr()); err != nil {
				t.Fatalf("join %d: %v", cfg.NodeID, err)
			}
		}
		ns = append(ns, n)
	}
	waitConverged(t, ns...)
	return ns
}

// waitConverged waits until every node sees every other alive.
func waitConverged(t *testing.T, ns ...*node) {
	t.Helper()
	waitFor(t, 5*time.Second, "cluster converged", func() bool {
		for _, a := range ns {
			for _, b := range ns {
				if st, ok := stateOf(a, b.cfg.NodeID); !ok || st != StateAlive {
					return false
				}
			}
		}
		return true
	})
}

func stateOf(n *node, id groupcomm.NodeID) (State, bool) {
	m, ok := n.Lookup(id)
	return m.State, ok
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder keeps every event a subscriber saw, with its arrival time.
type recorder struct {
	mu  sync.Mutex
	evs []Event
	at  []time.Time
}

func (r *recorder) add(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	r.at = append(r.at, time.Now())
}

// find returns the first event of type typ about id, and when it came.
func (r *recorder) find(typ EventType, id groupcomm.NodeID) (Event, time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ev := range r.evs {
		if ev.Type == typ && ev.Member.ID == id {
			return ev, r.at[i], true
		}
	}
	return Event{}, time.Time{}, false
}

func (r *recorder) types(id groupcomm.NodeID) []EventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventType
	for _, ev := range r.evs {
		if ev.Member.ID == id {
			out = append(out, ev.Type)
		}
	}
	return out
}

// await waits for an event of type typ about id and returns it.
func (r *recorder) await(t *testing.T, d time.Duration, typ EventType, id groupcomm.NodeID) (Event, time.Time) {
	t.Helper()
	var ev Event
	var at time.Time
	waitFor(t, d, fmt.Sprintf("%s event for node %d", typ, id), func() bool {
		var ok bool
		ev, at, ok = r.find(typ, id)
		return ok
	})
	return ev, at
}

// hasAfter reports an event of type typ about id that came after t0.
func (r *recorder) hasAfter(typ EventType, id groupcomm.NodeID, t0 time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ev := range r.evs {
		if ev.Type == typ && ev.Member.ID == id && r.at[i].After(t0) {
			return true
		}
	}
	return false
}

// eventually waits (up to d) for an event of type typ about id after t0:
// events reach the recorder asynchronously, after the state they report.
func (r *recorder) eventually(d time.Duration, typ EventType, id groupcomm.NodeID, t0 time.Time) bool {
	deadline := time.Now().Add(d)
	for {
		if r.hasAfter(typ, id, t0) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *recorder) has(typ EventType, id groupcomm.NodeID) bool {
	_, _, ok := r.find(typ, id)
	return ok
}

func ids(ms []Member) []groupcomm.NodeID {
	var out []groupcomm.NodeID
	for _, m := range ms {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out
}
