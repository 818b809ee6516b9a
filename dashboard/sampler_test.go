package dashboard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
)

func TestValidateNamesTheField(t *testing.T) {
	f := &fakes{}
	for field, adjust := range map[string]func(*Config){
		"Members":      func(c *Config) { c.Members = nil },
		"Map":          func(c *Config) { c.Map = nil },
		"Interval":     func(c *Config) { c.Interval = 0 },
		"Samples":      func(c *Config) { c.Samples = 1 },
		"ViewChanges":  func(c *Config) { c.ViewChanges = 0 },
		"ClientBuffer": func(c *Config) { c.ClientBuffer = 0 },
		"MaxClients":   func(c *Config) { c.MaxClients = 0 },
		"KeepAlive":    func(c *Config) { c.KeepAlive = -1 },
		"Demo":         func(c *Config) { c.Demo = &Demo{} },
	} {
		c := f.config()
		adjust(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v", field, err)
		}
	}
	c := f.config()
	if err := c.Validate(); err != nil {
		t.Fatalf("the default config with sources: %v", err)
	}
}

// A crash of group 10's sequencer: its report goes silent at t=1, the
// survivors install view 6 without it at t=2 (not yet NORMAL on node 3)
// and serve at t=3. The change is recorded once, at t=3, caused by node 2
// down and the sequencer's move, taking 2 s (t=1 to t=3). Group 11 keeps
// its sequencer; its change is seen within one sample.
func TestViewChangeFromSamples(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &fakes{now: t0, members: nodes3(), m: kvMap(5, nil)}
	cfg := f.config()
	cfg.Groups = func(context.Context) []GroupView { f.mu.Lock(); defer f.mu.Unlock(); return f.groups }
	s := newSampler(cfg)
	all := []uint64{1, 2, 3}
	steps := []struct {
		crashed bool
		groups  []GroupView
	}{
		{false, append(report(10, 5, "2.1", "NORMAL", all, 1, 2, 3), report(11, 3, "1.1", "NORMAL", all, 1, 2, 3)...)},
		{true, append(report(10, 5, "2.1", "NORMAL", all, 1, 3), report(11, 3, "1.1", "NORMAL", all, 1, 3)...)},
		{true, append(append(report(10, 6, "1.1", "NORMAL", []uint64{1, 3}, 1), report(10, 5, "2.1", "FROZEN", all, 3)...),
			report(11, 4, "1.1", "NORMAL", []uint64{1, 3}, 1, 3)...)},
		{true, append(report(10, 6, "1.1", "NORMAL", []uint64{1, 3}, 1, 3), report(11, 4, "1.1", "NORMAL", []uint64{1, 3}, 1, 3)...)},
	}
	var snap Snapshot
	for i, st := range steps {
		f.set(func(f *fakes) {
			f.now, f.groups = t0.Add(time.Duration(i)*time.Second), st.groups
			if st.crashed {
				f.members[0].State = "dead" // node 2
			}
		})
		snap = s.sample(context.Background())
		if i == 2 && snap.Grid[0].State != "changing" {
			t.Errorf("t=2: group 10 is %q, want changing", snap.Grid[0].State)
		}
	}
	if len(snap.ViewChanges) != 2 {
		t.Fatalf("view changes %+v, want 2", snap.ViewChanges)
	}
	byGroup := map[uint64]ViewChange{}
	for _, vc := range snap.ViewChanges {
		byGroup[vc.Group] = vc
	}
	g10 := byGroup[10]
	if g10.FromView != 5 || g10.ToView != 6 || g10.Seconds != 2 || g10.Cause != "node 2 down; sequencer change node 2 → node 1" {
		t.Errorf("group 10: %+v", g10)
	}
	g11 := byGroup[11]
	if g11.FromView != 3 || g11.ToView != 4 || g11.Seconds != 1 || g11.Cause != "node 2 down" {
		t.Errorf("group 11: %+v", g11)
	}
	if snap.ViewChanges[0].Group != 10 {
		t.Errorf("newest first: %+v", snap.ViewChanges)
	}
	row := snap.Grid[0]
	if row.View != 6 || row.Sequencer != "1.1" || row.State != "serving" || row.Cells[0].Reported || !row.Cells[1].Sequencer {
		t.Errorf("group 10's row: %+v", row)
	}
}

// A view that changes between two samples (seen serving both times) took
// at most one interval: Seconds 0.
func TestViewChangeWithinOneSample(t *testing.T) {
	var g groupTrack
	t0 := time.Unix(0, 0)
	notDown := func(uint64) bool { return false }
	if _, ok := g.step(observe(report(10, 1, "1.1", "NORMAL", []uint64{1, 2}, 1, 2)), t0, notDown); ok {
		t.Fatal("the first sample is no change")
	}
	vc, ok := g.step(observe(report(10, 2, "1.1", "NORMAL", []uint64{1, 2, 3}, 1, 2, 3)), t0.Add(time.Second), notDown)
	if !ok || vc.Seconds != 0 || vc.Cause != "node 3 joined" {
		t.Fatalf("%+v %v", vc, ok)
	}
}

func TestServiceRates(t *testing.T) {
	t0 := time.Unix(100, 0)
	f := &fakes{now: t0, members: nodes3(), m: kvMap(5, nil)}
	s := newSampler(f.config())
	var h raps.LatencyHistogram
	h[10] = 100 // < 1.024 ms
	f.set(func(f *fakes) { f.stats = map[string]raps.ServiceStats{"kv": {Updates: 100, Latency: h}} })
	if snap := s.sample(context.Background()); snap.Services[0].Rate != 0 || len(snap.Services[0].RateSeries) != 0 {
		t.Fatalf("the first sample has no interval: %+v", snap.Services)
	}
	h[3] += 197 // < 8 µs
	h[14] += 3  // < 16.384 ms: the 198th of 200
	f.set(func(f *fakes) {
		f.now = t0.Add(2 * time.Second)
		f.stats = map[string]raps.ServiceStats{"kv": {Updates: 200, Queries: 100, Errors: 4, Latency: h}}
	})
	row := s.sample(context.Background()).Services[0]
	if row.Rate != 100 || row.Errors != 2 || row.P50 != 0.008 || row.P99 != 16.384 {
		t.Errorf("%+v: want 100 calls/s, 2 errors/s, p50 0.008 ms, p99 16.384 ms", row)
	}
	if len(row.RateSeries) != 1 || row.RateSeries[0] != 100 {
		t.Errorf("series %v", row.RateSeries)
	}
	// The series is bounded by Samples.
	for i := range 200 {
		f.set(func(f *fakes) { f.now = t0.Add(time.Duration(3+i) * time.Second) })
		row = s.sample(context.Background()).Services[0]
	}
	if len(row.RateSeries) != s.cfg.Samples || row.RateSeries[len(row.RateSeries)-1] != 0 {
		t.Errorf("series of %d, last %v", len(row.RateSeries), row.RateSeries[len(row.RateSeries)-1])
	}
}

// A learner on node 4 replacing node 2 in partition 0: the move is
// listed with its state transfer's progress, from the reports.
func TestMovesWithProgress(t *testing.T) {
	clones := []partitionmap.Clone{{Node: 2}, {Node: 1}, {Node: 3}, {Node: 4, Role: partitionmap.Learner, Replaces: 2}}
	f := &fakes{now: time.Unix(0, 0), members: nodes3(), m: kvMap(7, clones)}
	cfg := f.config()
	cfg.Groups = func(context.Context) []GroupView { f.mu.Lock(); defer f.mu.Unlock(); return f.groups }
	f.groups = append(report(10, 5, "2.1", "NORMAL", []uint64{2, 1, 3, 4}, 1, 2, 3),
		GroupView{Node: 4, Group: 10, View: 5, Sequencer: "2.1", Role: "learner", Status: "NORMAL", Applied: 25})
	snap := newSampler(cfg).sample(context.Background())
	if len(snap.Moves) != 1 {
		t.Fatalf("moves %+v", snap.Moves)
	}
	mv := snap.Moves[0]
	if mv.Kind != "move" || mv.Learner != 4 || mv.Replaces != 2 || mv.Percent != 25 || mv.Partition != "kv/0" {
		t.Errorf("%+v", mv)
	}
	if snap.Clones != 4 || snap.Grid[0].Cells[3].Role != "learner" {
		t.Errorf("the grid's columns: %d, %+v", snap.Clones, snap.Grid[0].Cells)
	}
}

func TestMembersSortedAndCrashed(t *testing.T) {
	f := &fakes{now: time.Unix(0, 0), members: nodes3(), m: kvMap(5, nil)}
	cfg := f.config()
	cfg.Demo = &Demo{Crash: func(uint64) error { return nil }, Restart: func(uint64) error { return nil },
		Down: func() []uint64 { return []uint64{3} }}
	snap := newSampler(cfg).sample(context.Background())
	var ids []uint64
	for _, m := range snap.Members {
		ids = append(ids, m.ID)
	}
	if len(ids) != 4 || ids[0] != 1 || ids[3] != 100 || !snap.Members[2].Crashed || snap.Members[0].Clones != 2 {
		t.Errorf("%+v", snap.Members)
	}
}

// A stream that does not read skips to the newest snapshots; broadcast
// never blocks.
func TestHubSkipsForASlowReader(t *testing.T) {
	h := newHub(2, 2)
	s, ok := h.join()
	if !ok {
		t.Fatal("join")
	}
	for i := range 10 {
		h.broadcast([]byte{byte(i)})
	}
	if a, b := <-s.ch, <-s.ch; a[0] != 8 || b[0] != 9 {
		t.Errorf("queued %v %v, want the newest two", a, b)
	}
	if s.skipped.Load() != 8 {
		t.Errorf("skipped %d", s.skipped.Load())
	}
	h.join()
	if _, ok := h.join(); ok {
		t.Error("a third stream past MaxClients 2")
	}
	h.close()
	select {
	case <-s.done:
	default:
		t.Error("close left a stream open")
	}
}

func TestCauseWording(t *testing.T) {
	down := func(id uint64) bool { return id == 2 }
	for _, c := range []struct {
		prev, cur groupObs
		want      string
	}{
		{groupObs{members: []uint64{1, 2, 3}, sequencer: "2.1"}, groupObs{members: []uint64{1, 3}, sequencer: "1.1"},
			"node 2 down; sequencer change node 2 → node 1"},
		{groupObs{members: []uint64{1, 3, 4}, sequencer: "1.1"}, groupObs{members: []uint64{1, 3}, sequencer: "1.1"}, "node 4 left"},
		{groupObs{members: []uint64{1, 3}, sequencer: "3.1"}, groupObs{members: []uint64{1, 3}, sequencer: "3.2"},
			"sequencer 3.1 → 3.2 (restarted)"},
		{groupObs{members: []uint64{1}, sequencer: "1.1"}, groupObs{members: []uint64{1}, sequencer: "1.1"}, "same members"},
	} {
		if got := cause(c.prev, c.cur, down); got != c.want {
			t.Errorf("cause(%v, %v) = %q, want %q", c.prev, c.cur, got, c.want)
		}
	}
}
