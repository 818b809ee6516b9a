package groupcomm

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
)

var (
	simSeeds = flag.Int("sim.seeds", 2000, "number of seeds TestSim runs")
	simSeed  = flag.Uint64("sim.seed", 0, "run only this seed (replay), with a trace")
	simBug   = flag.String("sim.bug", "", "plant this bug in TestSim (see plantedBugNames)")
	simSteps = flag.Int("sim.steps", 300, "chaos steps per run")
)

// simParams are the knobs of one randomized run, drawn from its seed.
type simParams struct {
	nodes    int
	dropRate float64
	dupRate  float64
	maxDelay int
	crashP   float64
	restartP float64
	partP    float64
	healP    float64
	joinP    float64
	leaveP   float64
	mcastP   float64
	readP    float64
	// crashAcceptorP crashes a member right after it accepted a proposal
	// (a nemesis aimed at view changes: amnesia, lost Commits).
	crashAcceptorP float64
	// lazyTicks skips the ticks of quiescent members, as racs does.
	lazyTicks bool
	steps     int
}

func drawParams(rng *rand.Rand, steps int) simParams {
	return simParams{
		nodes:          3 + rng.IntN(5),
		dropRate:       []float64{0, 0.01, 0.05, 0.1}[rng.IntN(4)],
		dupRate:        []float64{0, 0.02, 0.1}[rng.IntN(3)],
		maxDelay:       1 + rng.IntN(4),
		crashP:         []float64{0, 0.005, 0.02}[rng.IntN(3)],
		restartP:       0.05,
		partP:          []float64{0, 0.005, 0.02}[rng.IntN(3)],
		healP:          0.05,
		joinP:          []float64{0, 0.003, 0.01}[rng.IntN(3)],
		leaveP:         []float64{0, 0.002}[rng.IntN(2)],
		mcastP:         0.6,
		readP:          0.1,
		crashAcceptorP: []float64{0, 0, 0.1, 0.3}[rng.IntN(4)],
		lazyTicks:      rng.IntN(2) == 0,
		steps:          steps,
	}
}

// simResult is the outcome of one run.
type simResult struct {
	violations []string
	views      int
	delivered  int
	acked      int
	trace      string
}

// runSim runs one seeded simulation and checks P1–P14.
func runSim(seed uint64, bugs plantedBugs, steps int, trace bool) simResult {
	rng := rand.New(rand.NewPCG(seed, 99))
	p := drawParams(rng, steps)
	c := newCluster(seed, p.nodes, bugs)
	if trace {
		c.enableTrace()
	}
	c.dropRate, c.dupRate, c.maxDelay = p.dropRate, p.dupRate, p.maxDelay
	c.lazyTicks = p.lazyTicks
	c.tracef("seed %d params %+v", seed, p)
	submitted := map[EntryID]string{}
	left := map[NodeID]bool{} // removed after leaving: gone for good
	leaving := c.leaving      // asked to leave, not yet removed
	payloadN := 0
	mcast := func(id NodeID) {
		m := c.members[id]
		if !m.up || m.n == nil || left[id] {
			return
		}
		payloadN++
		pl := fmt.Sprintf("p%d", payloadN)
		if eid, err := m.n.Multicast([]byte(pl)); err == nil {
			submitted[eid] = pl
		}
	}
	upNodes := func() []NodeID {
		var out []NodeID
		for _, id := range c.order {
			if c.members[id].up && !left[id] {
				out = append(out, id)
			}
		}
		return out
	}
	downNodes := func() []NodeID {
		var out []NodeID
		for _, id := range c.order {
			if !c.members[id].up && !left[id] {
				out = append(out, id)
			}
		}
		return out
	}
	for i := 0; i < p.steps; i++ {
		if rng.Float64() < p.mcastP {
			if ups := upNodes(); len(ups) > 0 {
				for k := rng.IntN(4); k >= 0; k-- {
					mcast(ups[rng.IntN(len(ups))])
				}
			}
		}
		if rng.Float64() < p.readP {
			if ups := upNodes(); len(ups) > 0 {
				c.strictRead(ups[rng.IntN(len(ups))])
			}
		}
		if rng.Float64() < p.crashP {
			if ups := upNodes(); len(ups) > 0 {
				c.crash(ups[rng.IntN(len(ups))])
			}
		}
		if rng.Float64() < p.restartP {
			if downs := downNodes(); len(downs) > 0 {
				c.restart(downs[rng.IntN(len(downs))])
			}
		}
		if rng.Float64() < p.partP {
			var a, b []NodeID
			for _, id := range c.order {
				if rng.IntN(2) == 0 {
					a = append(a, id)
				} else {
					b = append(b, id)
				}
			}
			c.partition(a, b)
			c.tracef("partition %v | %v", a, b)
		}
		if len(c.cutoff) > 0 && rng.Float64() < p.healP {
			c.heal()
			c.tracef("heal")
		}
		if rng.Float64() < p.joinP && len(c.order) < 7 {
			id := c.addNode()
			c.tracef("add node %d", id)
		}
		if rng.Float64() < p.leaveP {
			if ups := upNodes(); len(ups) > 2 {
				id := ups[rng.IntN(len(ups))]
				if m := c.members[id]; m.n != nil && m.n.Status() == StatusNormal {
					m.n.Leave()
					leaving[id] = true
					c.tracef("leave %d", id)
				}
			}
		}
		c.runStep(true)
		for _, id := range c.order {
			m := c.members[id]
			if leaving[id] && m.removed && m.up {
				left[id] = true
				m.up, m.n = false, nil // a member that left stays gone
			}
			if leaving[id] && !m.up {
				delete(leaving, id) // crashed while leaving: it restarts as a member
			}
			if m.up && p.crashAcceptorP > 0 && len(m.journal) > 0 {
				if ev := m.journal[len(m.journal)-1]; ev.kind == "accept" && ev.step == c.step && rng.Float64() < p.crashAcceptorP {
					c.crash(id)
				}
			}
		}
	}
	// Failures stop: heal, restart everyone, no more loss.
	c.heal()
	c.dropRate, c.dupRate = 0, 0
	for _, id := range downNodes() {
		c.restart(id)
	}
	c.tracef("healed; all restarted")
	settledAt := -1
	for i := 0; i < 4000; i++ {
		if i < 20 {
			if ups := upNodes(); len(ups) > 0 {
				mcast(ups[rng.IntN(len(ups))])
			}
		}
		c.runStep(true)
		for _, id := range c.order {
			if m := c.members[id]; leaving[id] && m.removed && m.up {
				left[id] = true
				m.up, m.n = false, nil
			}
		}
		if i >= 20 && c.settled() && c.allPendingDone() {
			settledAt = i
			break
		}
	}
	res := check(c, submitted, left, settledAt >= 0)
	if trace {
		res.trace = c.trace.String()
	}
	return res
}

func (c *cluster) allPendingDone() bool {
	for _, id := range c.order {
		m := c.members[id]
		if m.up && m.n != nil && !m.removed && m.n.origin.count() > 0 {
			return false
		}
	}
	return true
}

func simBugsByName(name string) (plantedBugs, bool) {
	var b plantedBugs
	switch name {
	case "":
	case "no-freeze":
		b.noFreeze = true
	case "seq-only":
		b.seqOnlyCompare = true
	case "learners-vote":
		b.learnersVote = true
	case "reply-before-persist":
		b.replyBeforePersist = true
	case "strict-no-quorum":
		b.strictNoQuorum = true
	case "deliver-unstable":
		b.deliverUnstable = true
	case "commit-no-majority":
		b.commitNoMajority = true
	default:
		return b, false
	}
	return b, true
}

var plantedBugNames = []string{"no-freeze", "seq-only", "learners-vote", "reply-before-persist",
	"strict-no-quorum", "deliver-unstable", "commit-no-majority"}

// TestSim runs the seeded randomized simulation and checks P1–P14 after
// every run. Replay one seed with -sim.seed=N (prints a trace).
func TestSim(t *testing.T) {
	bugs, ok := simBugsByName(*simBug)
	if !ok {
		t.Fatalf("unknown -sim.bug %q; known: %v", *simBug, plantedBugNames)
	}
	if *simSeed != 0 {
		res := runSim(*simSeed, bugs, *simSteps, true)
		t.Log(res.trace)
		for _, v := range res.violations {
			t.Error(v)
		}
		return
	}
	n := *simSeeds
	if testing.Short() {
		n = min(n, 200)
	}
	totalViews, totalDelivered := 0, 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		res := runSim(seed, bugs, *simSteps, false)
		totalViews += res.views
		totalDelivered += res.delivered
		if len(res.violations) > 0 {
			for i, v := range res.violations {
				if i == 5 {
					break
				}
				t.Error(v)
			}
			t.Fatalf("seed %d violated the properties; replay: go test ./groupcomm -run 'TestSim$' -sim.seed=%d -sim.bug=%q -v", seed, seed, *simBug)
		}
	}
	t.Logf("%d seeds: %d views installed, %d deliveries checked", n, totalViews, totalDelivered)
}

// TestSimCatchesPlantedBugs shows the checker can fail: each planted bug
// must produce a reported violation within the CI seed budget.
func TestSimCatchesPlantedBugs(t *testing.T) {
	budget := *simSeeds
	for _, name := range plantedBugNames {
		t.Run(name, func(t *testing.T) {
			bugs, _ := simBugsByName(name)
			for seed := uint64(1); seed <= uint64(budget); seed++ {
				res := runSim(seed, bugs, *simSteps, false)
				if len(res.violations) > 0 {
					t.Logf("caught at seed %d: %s", seed, res.violations[0])
					return
				}
			}
			t.Fatalf("planted bug %s not caught in %d seeds", name, budget)
		})
	}
}
