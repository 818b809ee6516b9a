package memnet

import (
	"bytes"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// got records what one node received, and fails the test if its deliver
// func is ever called concurrently.
type got struct {
	t        testing.TB
	inflight atomic.Int32
	mu       sync.Mutex
	pkts     []racs.Packet
	at       []time.Time
}

func (g *got) deliver(p racs.Packet) {
	if g.inflight.Add(1) != 1 {
		g.t.Errorf("deliver called concurrently for node %d", p.To)
	}
	g.mu.Lock()
	g.pkts = append(g.pkts, p)
	g.at = append(g.at, time.Now())
	g.mu.Unlock()
	g.inflight.Add(-1)
}

func (g *got) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pkts)
}

func (g *got) snapshot() ([]racs.Packet, []time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.pkts), slices.Clone(g.at)
}

// pkt is a packet numbered seq (carried in Group).
func pkt(from, to groupcomm.NodeID, seq uint64) racs.Packet {
	return racs.Packet{From: from, To: to, Group: replica.GroupID(seq), Msg: &groupcomm.Message{}}
}

// balanced checks Sent + Duplicated == Delivered + Dropped + Pending on a
// quiescent network.
func balanced(t *testing.T, s Stats) {
	t.Helper()
	if s.Sent+s.Duplicated != s.Delivered+s.Dropped()+s.Pending {
		t.Errorf("stats do not add up: %+v", s)
	}
}

func TestInOrderPerSender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := New(DefaultConfig())
		defer w.Close()
		const senders, per = 4, 3000
		const dst = groupcomm.NodeID(senders + 1)
		rx := &got{t: t}
		w.Endpoint(dst, Each(rx.deliver))
		var wg sync.WaitGroup
		for s := range senders {
			from := groupcomm.NodeID(s + 1)
			ep := w.Endpoint(from, Each(func(racs.Packet) {}))
			wg.Go(func() {
				var batch []racs.Packet
				for i := range per {
					batch = append(batch, pkt(from, dst, uint64(i)))
					if len(batch) == 1+i%7 { // batches of varying size
						ep.Send(batch)
						batch = batch[:0]
					}
				}
				ep.Send(batch)
			})
		}
		wg.Wait()
		synctest.Wait()

		pkts, _ := rx.snapshot()
		if len(pkts) != senders*per {
			t.Fatalf("delivered %d packets, want %d", len(pkts), senders*per)
		}
		next := map[groupcomm.NodeID]uint64{}
		for _, p := range pkts {
			if uint64(p.Group) != next[p.From] {
				t.Fatalf("from %d: got packet %d, want %d", p.From, p.Group, next[p.From])
			}
			next[p.From]++
		}
		s := w.Stats()
		if s.Sent != senders*per || s.Delivered != senders*per || s.Dropped() != 0 || s.Pending != 0 {
			t.Errorf("stats %+v", s)
		}
	})
}

// mesh registers nodes 1..n, each recording what it receives.
func mesh(t *testing.T, w *Network, n int) ([]racs.Transport, []*got) {
	eps := make([]racs.Transport, n+1)
	rx := make([]*got, n+1)
	for i := 1; i <= n; i++ {
		rx[i] = &got{t: t}
		eps[i] = w.Endpoint(groupcomm.NodeID(i), Each(rx[i].deliver))
	}
	return eps, rx
}

// reach has every node send one packet to every node (itself included)
// and returns who reached whom as strings "from>to".
func reach(t *testing.T, eps []racs.Transport, rx []*got) []string {
	t.Helper()
	for _, g := range rx[1:] {
		g.mu.Lock()
		g.pkts = nil
		g.mu.Unlock()
	}
	n := len(eps) - 1
	for i := 1; i <= n; i++ {
		var ps []racs.Packet
		for j := 1; j <= n; j++ {
			ps = append(ps, pkt(groupcomm.NodeID(i), groupcomm.NodeID(j), 0))
		}
		eps[i].Send(ps)
	}
	synctest.Wait()
	var out []string
	for _, g := range rx[1:] {
		pkts, _ := g.snapshot()
		for _, p := range pkts {
			out = append(out, linkName(p.From, p.To))
		}
	}
	slices.Sort(out)
	return out
}

func linkName(from, to groupcomm.NodeID) string {
	return string(rune('0'+from)) + ">" + string(rune('0'+to))
}

// want lists the links from>to of n nodes for which ok holds.
func want(n int, ok func(from, to groupcomm.NodeID) bool) []string {
	var out []string
	for i := 1; i <= n; i++ {
		for j := 1; j <= n; j++ {
			if ok(groupcomm.NodeID(i), groupcomm.NodeID(j)) {
				out = append(out, linkName(groupcomm.NodeID(i), groupcomm.NodeID(j)))
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestPartitionCutIsolateHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		cfg := DefaultConfig()
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		w := New(cfg)
		defer w.Close()
		const n = 5
		eps, rx := mesh(t, w, n)
		all := want(n, func(_, _ groupcomm.NodeID) bool { return true })
		check := func(what string, wantLinks []string) {
			t.Helper()
			if g := reach(t, eps, rx); !slices.Equal(g, wantLinks) {
				t.Errorf("%s: reached %v\nwant %v", what, g, wantLinks)
			}
		}

		check("no faults", all)

		// {1,2} | {3,4} | {5}: 5 is named nowhere, so it is alone.
		w.Partition([]groupcomm.NodeID{1, 2}, []groupcomm.NodeID{3, 4})
		side := map[groupcomm.NodeID]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 0}
		check("partition", want(n, func(a, b groupcomm.NodeID) bool { return side[a] == side[b] }))
		if s := w.Stats(); s.DroppedPartition != 25-9 {
			t.Errorf("DroppedPartition = %d, want 16", s.DroppedPartition)
		}
		// Nodes not named are together.
		w.Partition([]groupcomm.NodeID{1})
		check("partition {1} | rest", want(n, func(a, b groupcomm.NodeID) bool { return (a == 1) == (b == 1) }))
		w.Heal()
		check("healed partition", all)

		w.Cut(1, 2)
		check("cut 1>2", want(n, func(a, b groupcomm.NodeID) bool { return !(a == 1 && b == 2) }))
		w.Mend(1, 2)
		check("mended 1>2", all)

		w.Isolate(3)
		check("isolate 3", want(n, func(a, b groupcomm.NodeID) bool { return a == b || (a != 3 && b != 3) }))
		w.Cut(4, 5)
		w.Partition([]groupcomm.NodeID{1, 2})
		w.Heal()
		check("healed everything", all)

		balanced(t, w.Stats())
		if !strings.Contains(logs.String(), "reason=partition") {
			t.Errorf("no drop logged at debug level:\n%s", logs.String())
		}
	})
}

// sendSeq sends n numbered packets from 1 to 2, one Send each.
func sendSeq(ep racs.Transport, n int) {
	for i := range n {
		ep.Send([]racs.Packet{pkt(1, 2, uint64(i))})
	}
}

func seqs(pkts []racs.Packet) []uint64 {
	out := make([]uint64, len(pkts))
	for i, p := range pkts {
		out[i] = uint64(p.Group)
	}
	return out
}

func TestDropRate(t *testing.T) {
	const n = 10000
	run := func(seed uint64) []uint64 {
		var out []uint64
		synctest.Test(t, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Seed = seed
			cfg.DropRate = 0.3
			w := New(cfg)
			defer w.Close()
			eps, rx := mesh(t, w, 2)
			sendSeq(eps[1], n)
			synctest.Wait()
			pkts, _ := rx[2].snapshot()
			out = seqs(pkts)
			s := w.Stats()
			if s.Delivered < 6500 || s.Delivered > 7500 {
				t.Errorf("delivered %d of %d at drop rate 0.3", s.Delivered, n)
			}
			if s.DroppedFault+s.Delivered != n || s.Dropped() != s.DroppedFault {
				t.Errorf("stats %+v", s)
			}
			balanced(t, s)
			if !slices.IsSorted(out) {
				t.Errorf("drops reordered the packets")
			}
		})
		return out
	}
	a, b, c := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different drops")
	}
	if slices.Equal(a, c) {
		t.Errorf("different seeds, same drops")
	}
}

func TestDupRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.DupRate = 0.25
		w := New(cfg)
		defer w.Close()
		eps, rx := mesh(t, w, 2)
		const n = 10000
		sendSeq(eps[1], n)
		synctest.Wait()
		pkts, _ := rx[2].snapshot()
		count := map[uint64]int{}
		twice := 0
		for _, p := range pkts {
			count[uint64(p.Group)]++
			if count[uint64(p.Group)] == 2 {
				twice++
			}
		}
		if len(count) != n {
			t.Errorf("%d distinct packets delivered, want %d", len(count), n)
		}
		for seq, c := range count {
			if c > 2 {
				t.Errorf("packet %d delivered %d times", seq, c)
			}
		}
		s := w.Stats()
		if s.Duplicated < 2000 || s.Duplicated > 3000 {
			t.Errorf("%d duplicates of %d at dup rate 0.25", s.Duplicated, n)
		}
		if uint64(twice) != s.Duplicated || s.Delivered != n+s.Duplicated {
			t.Errorf("%d delivered twice; stats %+v", twice, s)
		}
		// Without delay a duplicate follows its original at once.
		if !slices.IsSorted(seqs(pkts)) {
			t.Errorf("duplicates reordered the packets without delay")
		}
		balanced(t, s)
	})
}

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lo, hi = 10 * time.Millisecond, 50 * time.Millisecond
		cfg := DefaultConfig()
		cfg.MinDelay, cfg.MaxDelay = lo, hi
		w := New(cfg)
		defer w.Close()
		eps, rx := mesh(t, w, 2)

		// Nothing arrives before MinDelay, everything by MaxDelay.
		eps[1].Send([]racs.Packet{pkt(1, 2, 0), pkt(1, 2, 1), pkt(1, 2, 2)})
		time.Sleep(lo - time.Nanosecond)
		synctest.Wait()
		if got := rx[2].len(); got != 0 {
			t.Fatalf("%d packets delivered before MinDelay", got)
		}
		time.Sleep(hi - lo + time.Nanosecond)
		synctest.Wait()
		if got := rx[2].len(); got != 3 {
			t.Fatalf("%d packets delivered by MaxDelay, want 3", got)
		}

		// Every latency within bounds; deliveries in time order; the
		// random delays reorder packets.
		rx[2].mu.Lock()
		rx[2].pkts, rx[2].at = nil, nil
		rx[2].mu.Unlock()
		const n = 2000
		sentAt := make([]time.Time, n)
		for i := range n {
			sentAt[i] = time.Now()
			eps[1].Send([]racs.Packet{pkt(1, 2, uint64(i))})
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(hi)
		synctest.Wait()
		pkts, at := rx[2].snapshot()
		if len(pkts) != n {
			t.Fatalf("delivered %d, want %d", len(pkts), n)
		}
		minLat, maxLat := time.Duration(1<<62), time.Duration(0)
		for i, p := range pkts {
			lat := at[i].Sub(sentAt[p.Group])
			minLat, maxLat = min(minLat, lat), max(maxLat, lat)
			if lat < lo || lat > hi {
				t.Errorf("packet %d took %v, outside [%v, %v]", p.Group, lat, lo, hi)
			}
		}
		if !slices.IsSortedFunc(at, time.Time.Compare) {
			t.Errorf("deliveries out of time order")
		}
		if minLat > lo+2*time.Millisecond || maxLat < hi-2*time.Millisecond {
			t.Errorf("latencies span [%v, %v], want about [%v, %v]", minLat, maxLat, lo, hi)
		}
		if slices.IsSorted(seqs(pkts)) {
			t.Errorf("random delays never reordered packets")
		}

		// A fixed delay keeps the order.
		rx[2].mu.Lock()
		rx[2].pkts, rx[2].at = nil, nil
		rx[2].mu.Unlock()
		w.SetDelay(20*time.Millisecond, 20*time.Millisecond)
		start := time.Now()
		for i := range 100 {
			eps[1].Send([]racs.Packet{pkt(1, 2, uint64(i))})
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(30 * time.Millisecond)
		synctest.Wait()
		pkts, at = rx[2].snapshot()
		if len(pkts) != 100 || !slices.IsSorted(seqs(pkts)) {
			t.Errorf("fixed delay: delivered %v", seqs(pkts))
		}
		for i, p := range pkts {
			if want := start.Add(20*time.Millisecond + time.Duration(p.Group/10)*time.Millisecond); !at[i].Equal(want) {
				t.Errorf("fixed delay: packet %d at %v, want %v", p.Group, at[i].Sub(start), want.Sub(start))
			}
		}

		// Zero delay delivers without the clock moving.
		w.SetDelay(0, 0)
		before := time.Now()
		eps[1].Send([]racs.Packet{pkt(1, 2, 7)})
		synctest.Wait()
		pkts, at = rx[2].snapshot()
		if len(pkts) != 101 || !at[100].Equal(before) {
			t.Errorf("zero delay: %d delivered, last at +%v", len(pkts), at[len(at)-1].Sub(before))
		}
		balanced(t, w.Stats())
	})
}

func TestCrashRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MinDelay, cfg.MaxDelay = 10*time.Millisecond, 10*time.Millisecond
		w := New(cfg)
		defer w.Close()
		eps, rx := mesh(t, w, 2)

		// Packets queued for a crashing node are lost.
		sendSeq(eps[1], 10)
		synctest.Wait()
		if s := w.Stats(); s.Pending != 10 {
			t.Fatalf("pending %d, want 10", s.Pending)
		}
		w.Crash(2)
		w.Crash(2) // no-op
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		if s := w.Stats(); rx[2].len() != 0 || s.DroppedDown != 10 || s.Pending != 0 {
			t.Fatalf("crashed node got %d packets; stats %+v", rx[2].len(), s)
		}

		// Nothing reaches a crashed node or leaves it.
		sendSeq(eps[1], 5)
		eps[2].Send([]racs.Packet{pkt(2, 1, 0)})
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		if rx[1].len() != 0 || rx[2].len() != 0 {
			t.Fatalf("crashed node talks: 1 got %d, 2 got %d", rx[1].len(), rx[2].len())
		}
		if s := w.Stats(); s.DroppedDown != 16 {
			t.Fatalf("DroppedDown %d, want 16", s.DroppedDown)
		}

		// The restarted node talks through its new endpoint; the old one
		// stays dead.
		rx2 := &got{t: t}
		ep2 := w.Restart(2, Each(rx2.deliver))
		sendSeq(eps[1], 3)
		ep2.Send([]racs.Packet{pkt(2, 1, 0)})
		eps[2].Send([]racs.Packet{pkt(2, 1, 1)})
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		if rx[2].len() != 0 || rx2.len() != 3 {
			t.Errorf("after restart: old deliver got %d, new got %d (want 0, 3)", rx[2].len(), rx2.len())
		}
		if pkts, _ := rx[1].snapshot(); !slices.Equal(seqs(pkts), []uint64{0}) {
			t.Errorf("node 1 got %v from 2, want only the new endpoint's [0]", seqs(pkts))
		}

		// Restarting a live node crashes it first: its queue is lost.
		sendSeq(eps[1], 4)
		rx3 := &got{t: t}
		w.Restart(2, Each(rx3.deliver))
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		if rx2.len() != 3 || rx3.len() != 0 {
			t.Errorf("restart of a live node: old got %d, new got %d", rx2.len(), rx3.len())
		}
		balanced(t, w.Stats())
	})
}

// A node that crashes itself from its deliver func gets nothing more: the
// batch in hand is the last it sees.
func TestCrashFromDeliver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := New(DefaultConfig())
		defer w.Close()
		var calls, got atomic.Int32
		w.Endpoint(2, func(ps []racs.Packet) {
			calls.Add(1)
			got.Add(int32(len(ps)))
			w.Crash(2)
		})
		ep1 := w.Endpoint(1, Each(func(racs.Packet) {}))
		ep1.Send([]racs.Packet{pkt(1, 2, 0), pkt(1, 2, 1), pkt(1, 2, 2), pkt(1, 2, 3), pkt(1, 2, 4)})
		synctest.Wait()
		ep1.Send([]racs.Packet{pkt(1, 2, 5), pkt(1, 2, 6)})
		synctest.Wait()
		s := w.Stats()
		if calls.Load() != 1 || got.Load() != 5 || s.Delivered != 5 || s.DroppedDown != 2 {
			t.Errorf("deliver called %d times with %d packets; stats %+v", calls.Load(), got.Load(), s)
		}
		balanced(t, s)
	})
}

func TestQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.QueueLen = 10
		cfg.MinDelay, cfg.MaxDelay = time.Second, time.Second
		w := New(cfg)
		defer w.Close()
		eps, rx := mesh(t, w, 2)
		sendSeq(eps[1], 15)
		if s := w.Stats(); s.Pending != 10 || s.DroppedFull != 5 {
			t.Errorf("stats %+v, want 10 pending, 5 dropped", s)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if pkts, _ := rx[2].snapshot(); !slices.Equal(seqs(pkts), []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("delivered %v", seqs(pkts))
		}

		// A stuck receiver fills its queue; Send does not block.
		w.SetDelay(0, 0)
		unblock := make(chan struct{})
		var n3 atomic.Int32
		w.Endpoint(3, func(ps []racs.Packet) {
			n3.Add(int32(len(ps)))
			<-unblock
		})
		ep := eps[1]
		ep.Send([]racs.Packet{pkt(1, 3, 0)})
		synctest.Wait() // node 3 is now stuck in deliver
		for i := 1; i <= 20; i++ {
			ep.Send([]racs.Packet{pkt(1, 3, uint64(i))})
		}
		if s := w.Stats(); s.DroppedFull != 15 || s.Pending != 10 {
			t.Errorf("stuck receiver: stats %+v", s)
		}
		close(unblock)
		synctest.Wait()
		if n3.Load() != 11 {
			t.Errorf("stuck receiver got %d packets, want 11", n3.Load())
		}
		balanced(t, w.Stats())
	})
}

// Deliver funcs may send, also to themselves, without deadlock.
func TestSendFromDeliver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := New(DefaultConfig())
		defer w.Close()
		const rounds = 1000
		var eps [3]racs.Transport
		var hops [3]atomic.Int32
		for id := 1; id <= 2; id++ {
			eps[id] = w.Endpoint(groupcomm.NodeID(id), Each(func(p racs.Packet) {
				hops[id].Add(1)
				if p.Group < rounds {
					// Bounce to the other node and to ourselves.
					eps[id].Send([]racs.Packet{pkt(p.To, p.From, uint64(p.Group)+1)})
					if p.From != p.To {
						eps[id].Send([]racs.Packet{pkt(p.To, p.To, rounds)})
					}
				}
			}))
		}
		eps[1].Send([]racs.Packet{pkt(1, 2, 0)})
		synctest.Wait()
		if s := w.Stats(); s.Delivered != 2*rounds+1 || s.Dropped() != 0 {
			t.Errorf("stats %+v", s)
		}
	})
}

func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := DefaultConfig()
	cfg.MinDelay, cfg.MaxDelay = time.Millisecond, 5*time.Millisecond
	w := New(cfg)
	const n = 20
	eps := make([]racs.Transport, n+1)
	for i := 1; i <= n; i++ {
		eps[i] = w.Endpoint(groupcomm.NodeID(i), Each(func(racs.Packet) {}))
	}
	for i := 1; i <= n; i++ {
		for j := 1; j <= n; j++ {
			eps[i].Send([]racs.Packet{pkt(groupcomm.NodeID(i), groupcomm.NodeID(j), 0)})
		}
	}
	w.Close()
	w.Close() // idempotent

	// Everything is accounted for, and nothing moves after Close.
	s := w.Stats()
	if s.Pending != 0 || s.Sent != n*n || s.Delivered+s.DroppedDown != n*n {
		t.Errorf("after Close: %+v", s)
	}
	eps[1].Send([]racs.Packet{pkt(1, 2, 0)})
	w.Endpoint(n+1, Each(func(racs.Packet) {})).Send([]racs.Packet{pkt(n+1, 1, 0)})
	w.Restart(1, Each(func(racs.Packet) {})).Send([]racs.Packet{pkt(1, 2, 0)})
	s2 := w.Stats()
	if s2.Delivered != s.Delivered || s2.DroppedDown != s.DroppedDown+3 {
		t.Errorf("after Close, Send: %+v", s2)
	}

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s",
				before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

// Faults flip while nodes send to each other from many goroutines: no
// deliver func runs concurrently, nothing blocks, every packet is
// accounted for. Meant for -race.
func TestChaos(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Seed = 7
		cfg.QueueLen = 64
		w := New(cfg)
		defer w.Close()
		const n = 5
		var mu sync.Mutex // guards eps
		eps := make([]racs.Transport, n+1)
		rx := make([]*got, n+1)
		for i := 1; i <= n; i++ {
			rx[i] = &got{t: t}
			eps[i] = w.Endpoint(groupcomm.NodeID(i), Each(rx[i].deliver))
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for i := 1; i <= n; i++ {
			from := groupcomm.NodeID(i)
			wg.Go(func() {
				for k := 0; !stop.Load(); k++ {
					mu.Lock()
					ep := eps[from]
					mu.Unlock()
					to := groupcomm.NodeID(k%n + 1)
					ep.Send([]racs.Packet{pkt(from, to, uint64(k)), pkt(from, to%n+1, uint64(k))})
					if k%4 == 0 {
						time.Sleep(100 * time.Microsecond)
					}
				}
			})
		}
		for step := range 300 {
			node := groupcomm.NodeID(step%n + 1)
			switch step % 9 {
			case 0:
				w.Partition([]groupcomm.NodeID{node}, []groupcomm.NodeID{node%n + 1, (node+1)%n + 1})
			case 1:
				w.Cut(node, node%n+1)
			case 2:
				w.Isolate(node)
			case 3:
				w.SetDropRate(0.2)
				w.SetDupRate(0.2)
			case 4:
				w.SetDelay(0, time.Millisecond)
			case 5:
				w.Crash(node)
			case 6:
				mu.Lock()
				eps[node] = w.Restart(node, Each(rx[node].deliver))
				mu.Unlock()
			case 7:
				w.Heal()
				w.SetDropRate(0)
				w.SetDupRate(0)
			case 8:
				w.SetDelay(0, 0)
				w.Mend(node, node%n+1)
			}
			time.Sleep(time.Millisecond)
		}
		stop.Store(true)
		wg.Wait()
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		s := w.Stats()
		balanced(t, s)
		if s.Pending != 0 || s.Delivered == 0 || s.DroppedFault == 0 || s.DroppedPartition == 0 ||
			s.DroppedDown == 0 || s.Duplicated == 0 {
			t.Errorf("stats %+v", s)
		}
		t.Logf("%+v", s)
	})
}

func TestPanics(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	mustPanic("DropRate 2", func() { New(Config{DropRate: 2}) })
	mustPanic("MinDelay > MaxDelay", func() { New(Config{MinDelay: 2, MaxDelay: 1}) })
	w := New(DefaultConfig())
	defer w.Close()
	w.Endpoint(1, Each(func(racs.Packet) {}))
	mustPanic("Endpoint twice", func() { w.Endpoint(1, Each(func(racs.Packet) {})) })
	mustPanic("Endpoint nil deliver", func() { w.Endpoint(2, nil) })
	mustPanic("Crash unknown", func() { w.Crash(9) })
	mustPanic("Restart unknown", func() { w.Restart(9, Each(func(racs.Packet) {})) })
	mustPanic("Partition twice", func() { w.Partition([]groupcomm.NodeID{1}, []groupcomm.NodeID{1}) })
	mustPanic("SetDupRate -1", func() { w.SetDupRate(-1) })
	mustPanic("SetDelay -1", func() { w.SetDelay(-1, 0) })
}
