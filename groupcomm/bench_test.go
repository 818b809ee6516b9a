package groupcomm

import (
	"errors"
	"fmt"
	"testing"
)

// BenchmarkCore measures the pure protocol core: one group of 3 or 5
// members, each a Node, over a minimal in-memory network, with memory
// durability (persisting is a no-op) and no journals, digests or fault
// injection (harness_test.go is for correctness, not speed).
//
// One b.N iteration is one update delivered at every member, so ns/op,
// B/op and allocs/op are per delivered update, summed over all members;
// "updates/s" is the number of updates delivered per second at each
// member. The whole group runs on one goroutine: with -cpu 1 the figure
// is per core (goal P5: ≥ 500k updates/s for 3 members, 100 B).
//
// The load is closed-loop: before every round the driver multicasts until
// Multicast returns ErrBusy or Config.Window updates are outstanding
// (submitted and not yet delivered at their origin), so the sequencer's
// window stays full. origin=seq multicasts at the sequencer only (the
// common case: racs forwards updates to the sequencer's node);
// origin=all submits round-robin at every member, so followers' Submit
// messages are part of the cost. A round hands every queued message to its
// recipient, then runs Ready → (persist: nothing) → send → apply → Advance
// at every node that has work. Every benchCoreTickEvery rounds each node
// gets a Tick, so timers run but do not dominate.
//
// The benchmark checks, cheaply, that every member delivered the same
// entries in the same order: gap-free seqs, no duplicates, and equal
// order-sensitive checksums of (seq, origin, counter) at the end.
func BenchmarkCore(b *testing.B) {
	for _, members := range []int{3, 5} {
		for _, payload := range []int{100, 1024} {
			for _, origin := range []string{"seq", "all"} {
				name := fmt.Sprintf("members=%d/payload=%d/origin=%s", members, payload, origin)
				b.Run(name, func(b *testing.B) {
					benchCore(b, members, payload, origin == "all")
				})
			}
		}
	}
}

// benchCoreTickEvery is the number of rounds between two Ticks. A round
// moves every message one hop; with the default TickRTO of 4 an ack has
// 4·benchCoreTickEvery rounds to come back before the sequencer resends.
const benchCoreTickEvery = 16

// benchCoreMaxIdleRounds bounds the rounds without a delivery before the
// benchmark declares the group stuck.
const benchCoreMaxIdleRounds = 10000

// benchMember is what the driver keeps per member: the applied count and
// an order-sensitive checksum of the deliveries.
type benchMember struct {
	n         *Node
	delivered int
	lastSeq   uint64
	sum       uint64
}

// benchGroup is the minimal in-memory network: a queue of messages in
// flight, handed over whole at the next round.
type benchGroup struct {
	members  []benchMember // index = NodeID-1; members[0] is the sequencer
	inflight []Message
	next     []Message
	// outstanding counts updates submitted and not yet delivered at their
	// origin: the closed loop keeps it at Config.Window.
	outstanding int
	rounds      int
}

func newBenchGroup(b *testing.B, size int) *benchGroup {
	v := View{Cluster: 1, Group: 7, GroupIncarnation: 1, ID: 1}
	for i := 1; i <= size; i++ {
		v.Members = append(v.Members, Member{ID: MemberID{Node: NodeID(i), Incarnation: 1}, Role: Voter})
	}
	g := &benchGroup{members: make([]benchMember, size)}
	for i := range g.members {
		cfg := DefaultConfig()
		cfg.Cluster, cfg.Group, cfg.GroupIncarnation = v.Cluster, v.Group, v.GroupIncarnation
		cfg.Self = v.Members[i].ID
		cfg.Seed = uint64(i + 1)
		n, err := Bootstrap(cfg, v)
		if err != nil {
			b.Fatalf("bootstrap member %d: %v", i+1, err)
		}
		g.members[i].n = n
	}
	return g
}

// round delivers every message in flight, then handles every node's Ready.
func (g *benchGroup) round(b *testing.B) {
	g.rounds++
	if g.rounds%benchCoreTickEvery == 0 {
		for i := range g.members {
			g.members[i].n.Tick()
		}
	}
	for i := range g.inflight {
		m := &g.inflight[i]
		to := int(m.To.Node) - 1
		if to < 0 || to >= len(g.members) {
			b.Fatalf("message to unknown node: %v", m)
		}
		if err := g.members[to].n.Step(*m); err != nil {
			b.Fatalf("step %v: %v", m, err)
		}
		*m = Message{} // drop references for the GC
	}
	g.inflight = g.inflight[:0]
	for i := range g.members {
		bm := &g.members[i]
		if !bm.n.HasReady() {
			continue
		}
		rd := bm.n.Ready()
		// Persist: memory durability, nothing to write. Send: queue for
		// the next round.
		g.next = append(g.next, rd.Messages...)
		// Apply.
		for k := range rd.Deliveries {
			d := &rd.Deliveries[k]
			if d.Duplicate {
				b.Fatalf("member %d: duplicate delivery %v", i+1, d.ID)
			}
			if d.VS.Seq != bm.lastSeq+1 {
				b.Fatalf("member %d: delivered seq %d after %d", i+1, d.VS.Seq, bm.lastSeq)
			}
			bm.lastSeq = d.VS.Seq
			bm.delivered++
			bm.sum = (bm.sum^d.VS.Seq^uint64(d.ID.Origin.Node)<<56^d.ID.Counter)*0x100000001b3 + 1
			if d.ID.Origin == bm.n.self {
				g.outstanding-- // the origin's client gets its answer
			}
		}
		bm.n.Advance(rd)
	}
	g.inflight, g.next = g.next, g.inflight
}

func benchCore(b *testing.B, size, payloadSize int, allOrigins bool) {
	g := newBenchGroup(b, size)
	payload := make([]byte, payloadSize)
	for i := range payload {
		payload[i] = byte(i)
	}
	window := g.members[0].n.cfg.Window
	// Settle the bootstrap: first HardState, the sequencer's announcement.
	for i := 0; i < 4; i++ {
		g.round(b)
	}

	b.ReportAllocs()
	b.ResetTimer()
	startRounds := g.rounds
	total, rr, idle := 0, 0, 0
	for {
		// Fill the window.
		if allOrigins {
			for busy := 0; total < b.N && busy < size && g.outstanding < window; {
				i := rr % size
				rr++
				if _, err := g.members[i].n.Multicast(payload); err != nil {
					if !errors.Is(err, ErrBusy) {
						b.Fatalf("multicast at %d: %v", i+1, err)
					}
					busy++
					continue
				}
				busy = 0
				g.outstanding++
				total++
			}
		} else {
			for total < b.N && g.outstanding < window {
				if _, err := g.members[0].n.Multicast(payload); err != nil {
					if !errors.Is(err, ErrBusy) {
						b.Fatalf("multicast: %v", err)
					}
					break
				}
				g.outstanding++
				total++
			}
		}
		before := g.members[size-1].delivered + g.members[0].delivered
		g.round(b)
		if g.allDelivered(b.N) {
			break
		}
		if g.members[size-1].delivered+g.members[0].delivered == before {
			idle++
			if idle > benchCoreMaxIdleRounds {
				b.Fatalf("no progress for %d rounds: submitted %d, %s", idle, total, g.positions())
			}
		} else {
			idle = 0
		}
	}
	b.StopTimer()

	for i := range g.members {
		bm := &g.members[i]
		if bm.delivered != b.N || bm.sum != g.members[0].sum {
			b.Fatalf("member %d delivered %d updates (checksum %x); member 1 delivered %d (checksum %x); want %d each",
				i+1, bm.delivered, bm.sum, g.members[0].delivered, g.members[0].sum, b.N)
		}
	}
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "updates/s")
	}
	// Batching: how many updates one round (one network hop) carries.
	b.ReportMetric(float64(b.N)/float64(g.rounds-startRounds), "updates/round")
}

// allDelivered reports whether every member delivered n updates.
func (g *benchGroup) allDelivered(n int) bool {
	for i := range g.members {
		if g.members[i].delivered < n {
			return false
		}
	}
	return true
}

func (g *benchGroup) positions() string {
	s := ""
	for i := range g.members {
		s += fmt.Sprintf(" [%v delivered=%d]", g.members[i].n.Info(), g.members[i].delivered)
	}
	return s
}
