package groupcomm_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	. "github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
)

var (
	simSeeds = flag.Int("sim.seeds", 2000, "number of seeds TestSim runs")
	simSeed  = flag.Uint64("sim.seed", 0, "run only this seed (replay), with a trace")
	simRange = flag.String("sim.range", "", "run every seed of the range A-B and list all failures")
	simBug   = flag.String("sim.bug", "", "plant this bug in TestSim (one of groupcomm.PlantedBugs)")
	simSteps = flag.Int("sim.steps", 300, "chaos steps per run")
	simStock = flag.Bool("sim.stock", false, "only the original nemeses (replays the seeds reported before the harness ran the clone)")
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
	// midReadyCrashP crashes a member in the middle of a Ready, at a
	// storage boundary (before the write, after it, after the sends, after
	// the applies).
	midReadyCrashP float64
	// snapEvery and logTail: the clones' snapshot policy; frequent
	// snapshots make restarts replay the log from a snapshot.
	snapEvery, logTail uint64
	// memoryNode, if not zero, is a memory member (nothing survives its
	// crash); one at most, so that a crash never takes the state of a
	// whole quorum (memory groups survive only while a majority lives).
	memoryNode NodeID
	// lazyTicks skips the ticks of quiescent members, as racs does.
	lazyTicks bool
	steps     int
}

// drawParams draws a run's knobs from its seed. The knobs of the original
// simulation come first, in their original order, from the run's main
// generator; the newer nemeses (crashes in the middle of a Ready, the
// snapshot policy, a memory member) from a second one, so that a seed
// replays the chaos it always did and stock=true replays it exactly (the
// seeds of the issue tracker).
func drawParams(rng *rand.Rand, seed uint64, steps int, stock bool) simParams {
	p := simParams{
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
		snapEvery:      1,
		logTail:        1 << 20,
	}
	if stock {
		return p
	}
	x := rand.New(rand.NewPCG(seed, 100))
	p.midReadyCrashP = []float64{0, 0, 0.002, 0.01}[x.IntN(4)]
	p.snapEvery = []uint64{1, 3, 10, 40}[x.IntN(4)]
	p.logTail = []uint64{0, 2, 16, 1 << 20}[x.IntN(4)]
	if x.IntN(3) == 0 && p.nodes >= 5 {
		// One memory member, in groups of 5 or more: a memory member that
		// crashes loses its state, which a group survives only while a
		// majority of every view lives (and of every proposal accepted:
		// Paxos makes later proposers adopt one even if its new voters
		// are gone), so the nemesis takes it only when that holds (mayLose)
		// and the group has no leaves to shrink a view around it.
		p.memoryNode = NodeID(1 + x.IntN(p.nodes))
		p.leaveP = 0
	}
	return p
}

// simResult is the outcome of one run.
type simResult struct {
	simcheck.Result
	trace string
}

// runSim runs one seeded simulation and checks P1–P14.
func runSim(seed uint64, bug string, steps int, trace bool) simResult {
	return runSimMode(seed, bug, steps, trace, *simStock)
}

func runSimMode(seed uint64, bug string, steps int, trace, stock bool) simResult {
	rng := rand.New(rand.NewPCG(seed, 99))
	p := drawParams(rng, seed, steps, stock)
	var knobs TestingKnobs
	if !knobs.PlantBug(bug) {
		panic("unknown planted bug " + bug)
	}
	// One seed in five runs the "all voters" ack policy (Config.AckAll),
	// chosen from the seed alone so the other draws stay as they were.
	c := newCluster(seed, p.nodes, knobs, func(c *cluster) { c.ackAll = bug == "" && seed%5 == 4 })
	c.snapEvery, c.logTail = p.snapEvery, p.logTail
	if m := c.members[p.memoryNode]; m != nil {
		m.memory = true
		c.bootstrapMember(m, c.boot)
	}
	if trace {
		c.enableTrace()
	}
	c.dropRate, c.dupRate, c.maxDelay = p.dropRate, p.dupRate, p.maxDelay
	c.midReadyCrashP = p.midReadyCrashP
	c.lazyTicks = p.lazyTicks
	// Planned sequencer hand-offs (Lead changes) draw from a generator of
	// their own, so every older seed replays the chaos it always did.
	lr := rand.New(rand.NewPCG(seed, 201))
	leadP := []float64{0, 0.003, 0.02}[lr.IntN(3)]
	if stock {
		leadP = 0
	}
	c.tracef("seed %d params %+v leadP %v", seed, p, leadP)
	left := map[NodeID]bool{} // removed after leaving: gone for good
	leaving := c.leaving      // asked to leave, not yet removed
	payloadN := 0
	mcast := func(id NodeID) {
		m := c.members[id]
		if !m.up || m.n == nil || left[id] {
			return
		}
		payloadN++
		c.multicast(id, fmt.Sprintf("p%d", payloadN))
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
	goneLeavers := func() {
		for _, id := range c.order {
			m := c.members[id]
			if leaving[id] && m.removed && m.up && (m.n == nil || m.n.Retired()) {
				left[id] = true
				m.up = false // a member that left stays gone, once retired
				m.setClone(nil)
			}
			if leaving[id] && !m.up && !left[id] {
				delete(leaving, id) // crashed while leaving: it restarts as a member
			}
		}
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
				if id := ups[rng.IntN(len(ups))]; c.mayLose(c.members[id]) {
					c.crash(id)
				}
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
					m.wake()
					m.n.Leave()
					leaving[id] = true
					c.tracef("leave %d", id)
				}
			}
		}
		if lr.Float64() < leadP {
			if ups := upNodes(); len(ups) > 0 {
				id := ups[lr.IntN(len(ups))]
				if m := c.members[id]; m.n != nil && m.n.Status() == StatusNormal {
					v := m.n.View()
					var voters []MemberID
					for _, vm := range v.Members {
						if vm.Role == Voter {
							voters = append(voters, vm.ID)
						}
					}
					if len(voters) > 0 {
						lead := voters[lr.IntN(len(voters))]
						m.wake()
						err := m.n.Propose(Change{Kind: Lead, Member: lead, Epoch: v.Epoch})
						c.tracef("lead %v proposed at %d: %v", lead, id, err)
					}
				}
			}
		}
		c.runStep(true)
		goneLeavers()
		for _, id := range c.order {
			m := c.members[id]
			if m.up && p.crashAcceptorP > 0 && len(m.journal) > 0 {
				if ev := m.journal[len(m.journal)-1]; ev.Kind == simcheck.Accept && ev.Step == c.step && rng.Float64() < p.crashAcceptorP && c.mayLose(m) {
					c.crash(id)
				}
			}
		}
	}
	// Failures stop: heal, restart everyone, no more loss.
	c.heal()
	c.dropRate, c.dupRate, c.midReadyCrashP = 0, 0, 0
	for _, id := range downNodes() {
		c.restart(id)
	}
	c.tracef("healed; all restarted")
	settled := false
	for i := 0; i < 4000; i++ {
		if i < 20 {
			if ups := upNodes(); len(ups) > 0 {
				mcast(ups[rng.IntN(len(ups))])
			}
		}
		c.runStep(true)
		goneLeavers()
		if i >= 20 && c.settled() && c.allPendingDone() {
			settled = true
			break
		}
	}
	res := simResult{Result: simcheck.Check(c.simRun(settled, left))}
	if trace {
		res.trace = c.trace.String()
	}
	return res
}

func (c *cluster) allPendingDone() bool {
	for _, id := range c.order {
		m := c.members[id]
		if m.up && m.n != nil && !m.removed && m.n.Info().Pending > 0 {
			return false
		}
	}
	return true
}

// runSeeds runs the seeds lo..hi on every core and returns the failing
// seeds (with their first violation), in order, and the totals. With
// stopAtFirst it stops handing out seeds after a failure.
func runSeeds(lo, hi uint64, bug string, steps int, stopAtFirst bool) (fails []seedFailure, views, delivered int) {
	var mu sync.Mutex
	next := lo
	stop := false
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next > hi || stop {
					mu.Unlock()
					return
				}
				seed := next
				next++
				mu.Unlock()
				res := runSim(seed, bug, steps, false)
				mu.Lock()
				views += res.Views
				delivered += res.Delivered
				if len(res.Violations) > 0 {
					fails = append(fails, seedFailure{seed: seed, violations: res.Violations})
					stop = stop || stopAtFirst
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sortFailures(fails)
	return fails, views, delivered
}

type seedFailure struct {
	seed       uint64
	violations []string
}

func sortFailures(f []seedFailure) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].seed < f[j-1].seed; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

func replayCmd(seed uint64, bug string) string {
	return fmt.Sprintf("go test ./groupcomm -run 'TestSim$' -sim.seed=%d -sim.bug=%q -v", seed, bug)
}

// TestSim runs the seeded randomized simulation and checks P1–P14 after
// every run. Replay one seed with -sim.seed=N (prints a trace); run a
// range and list every failure with -sim.range=A-B.
func TestSim(t *testing.T) {
	var k TestingKnobs
	if !k.PlantBug(*simBug) {
		t.Fatalf("unknown -sim.bug %q; known: %v", *simBug, PlantedBugs)
	}
	if *simSeed != 0 {
		res := runSim(*simSeed, *simBug, *simSteps, true)
		t.Log(res.trace)
		for _, v := range res.Violations {
			t.Error(v)
		}
		return
	}
	lo, hi := uint64(1), uint64(*simSeeds)
	if testing.Short() {
		hi = min(hi, 200)
	}
	rangeMode := *simRange != ""
	if rangeMode {
		var err error
		if lo, hi, err = simcheck.ParseRange(*simRange); err != nil {
			t.Fatal(err)
		}
	}
	fails, views, delivered := runSeeds(lo, hi, *simBug, *simSteps, !rangeMode)
	for i, f := range fails {
		if !rangeMode && i > 0 {
			break
		}
		for j, v := range f.violations {
			if j == 3 {
				break
			}
			t.Errorf("seed %d: %s", f.seed, v)
		}
		t.Errorf("seed %d violated the properties; replay: %s", f.seed, replayCmd(f.seed, *simBug))
	}
	if rangeMode && len(fails) > 0 {
		var seeds []string
		for _, f := range fails {
			seeds = append(seeds, strconv.FormatUint(f.seed, 10))
		}
		t.Errorf("%d of %d seeds failed: %s", len(fails), hi-lo+1, strings.Join(seeds, " "))
	}
	t.Logf("seeds %d-%d: %d views installed, %d deliveries checked", lo, hi, views, delivered)
}

// TestSimCatchesPlantedBugs shows the checker can fail: each planted bug
// must produce a reported violation within the CI seed budget.
func TestSimCatchesPlantedBugs(t *testing.T) {
	budget := uint64(*simSeeds)
	for _, name := range PlantedBugs {
		t.Run(name, func(t *testing.T) {
			fails, _, _ := runSeeds(1, budget, name, *simSteps, true)
			if len(fails) == 0 {
				t.Fatalf("planted bug %s not caught in %d seeds", name, budget)
			}
			t.Logf("caught at seed %d: %s", fails[0].seed, fails[0].violations[0])
		})
	}
}
