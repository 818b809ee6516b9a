package racs_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
	"github.com/quicksilver-go/quicksilver/replica"
)

var (
	simSeeds = flag.Int("sim.seeds", 300, "number of seeds TestSim runs")
	simSeed  = flag.Uint64("sim.seed", 0, "run only this seed (replay), with a trace")
	simRange = flag.String("sim.range", "", "run every seed of the range A-B and list all failures")
	simBug   = flag.String("sim.bug", "", "plant this bug (one of groupcomm.PlantedBugs)")
	simSteps = flag.Int("sim.steps", 300, "chaos steps per run")
)

// rsimParams are the knobs of one racs simulation run, drawn from its seed.
type rsimParams struct {
	hosts, groups      int
	dropRate, dupRate  float64
	maxDelay           time.Duration
	memoryP            float64 // a group is a Memory group
	snapEvery, logTail uint64
	submitP            float64
	crashP             float64 // kill a random host
	storageCrashP      float64 // arm a crash at a storage boundary
	transferCrashP     float64 // kill a host that sends or receives a snapshot
	restartP           float64
	wipeP              float64 // a killed host comes back with an empty disk
	partP, healP       float64
	lagP               float64 // cut one directed link for a while
	joinP              float64 // a host starts running a group it did not
	steps              int
	segSize            int64   // the WAL segment size of the hosts' DiskStores
	createDropRate     float64 // message loss while the groups are created
}

func drawRsimParams(rng *rand.Rand, steps int) rsimParams {
	return rsimParams{
		hosts:          3 + rng.IntN(5),
		groups:         2 + rng.IntN(5),
		dropRate:       []float64{0, 0.01, 0.05}[rng.IntN(3)],
		dupRate:        []float64{0, 0.02, 0.1}[rng.IntN(3)],
		maxDelay:       []time.Duration{0, 0, 2 * time.Millisecond}[rng.IntN(3)],
		memoryP:        []float64{0, 0, 0.3}[rng.IntN(3)],
		snapEvery:      []uint64{1, 3, 10}[rng.IntN(3)],
		logTail:        []uint64{0, 2, 16}[rng.IntN(3)],
		submitP:        0.8,
		crashP:         []float64{0.005, 0.01, 0.03}[rng.IntN(3)],
		storageCrashP:  []float64{0, 0.01, 0.03}[rng.IntN(3)],
		transferCrashP: []float64{0, 0.05, 0.2}[rng.IntN(3)],
		restartP:       0.1,
		wipeP:          []float64{0, 0, 0.2}[rng.IntN(3)],
		partP:          []float64{0, 0.005, 0.02}[rng.IntN(3)],
		healP:          0.05,
		lagP:           []float64{0, 0.01, 0.03}[rng.IntN(3)],
		joinP:          []float64{0, 0.005, 0.02}[rng.IntN(3)],
		steps:          steps,
		segSize:        []int64{512, 4096, 65536}[rng.IntN(3)],
		createDropRate: []float64{0, 0, 0.3}[rng.IntN(3)],
	}
}

// rsimResult is one run's verdict: every group's violations.
type rsimResult struct {
	violations []string
	acked      int
	delivered  int
	trace      string
}

// runRacsSim runs one seed inside a synctest bubble and checks it.
func runRacsSim(t *testing.T, seed uint64, bug string, steps int, trace bool) rsimResult {
	var res rsimResult
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed, 0x51e))
		p := drawRsimParams(rng, steps)
		s := newRacsSim(seed, p, bug, trace)
		defer s.close()
		s.tracef("seed %d params %+v", seed, p)
		// Creation probes may be lost (a peer not reachable yet), while
		// clients submit to whichever clone is up.
		s.net.SetDropRate(p.createDropRate)
		for i := 0; i < 500 && !s.allSettled(); i++ {
			if p.createDropRate > 0 && s.rng.IntN(4) == 0 {
				s.submit()
			}
			s.step++
			s.updateSuspicions()
			s.runHosts(true)
		}
		s.tracef("groups created; the faults begin")
		s.net.SetDropRate(p.dropRate)
		s.net.SetDupRate(p.dupRate)
		s.net.SetDelay(0, p.maxDelay)
		for i := 0; i < p.steps; i++ {
			s.step++
			s.chaos()
			s.updateSuspicions()
			s.runHosts(true)
			s.collect()
		}
		settled := s.heal()
		res = s.check(settled)
		for _, sh := range s.hosts {
			if sh.up {
				sh.h.Close()
			}
		}
	})
	return res
}

// heal stops the failures: links mended, no more loss, every host back;
// then it runs until every group settles (or gives up) and reports
// whether all did.
func (s *racsSim) heal() bool {
	s.partition()
	for _, l := range s.lags {
		s.net.Mend(l.from, l.to)
	}
	s.lags = nil
	s.net.SetDropRate(0)
	s.net.SetDupRate(0)
	s.net.SetDelay(0, 0)
	for _, sh := range s.downHosts() {
		s.start(sh)
	}
	for _, sh := range s.upHosts() {
		sh.arm = crashNone
	}
	s.tracef("healed; all restarted")
	for i := 0; i < 3000; i++ {
		s.step++
		if i < 20 {
			s.submit()
		}
		s.updateSuspicions()
		s.runHosts(true)
		s.collect()
		if i >= 20 && len(s.pending) == 0 && s.allSettled() {
			return true
		}
		if i >= 20 && s.allSettled() {
			s.pending = nil // the rest were lost with crashed hosts
			return true
		}
	}
	return false
}

// allSettled reports whether every group's clones are NORMAL voters in one
// view, at one position, with one digest, and nothing in flight.
func (s *racsSim) allSettled() bool {
	for _, gid := range s.gorder {
		if !s.settled(gid) {
			return false
		}
	}
	return true
}

func (s *racsSim) settled(gid replica.GroupID) bool {
	var ref *groupcomm.Info
	var digest uint64
	for _, id := range s.order {
		sh := s.hosts[id]
		if !slices.Contains(sh.groups, gid) {
			continue
		}
		g := s.group(sh, gid)
		if g == nil || g.Stopped() {
			return false
		}
		in := g.Info()
		if in.Status != groupcomm.StatusNormal || in.Restoring || in.Role != groupcomm.Voter ||
			in.Pending > 0 || in.Delivered != in.Held || g.Transfers() {
			return false
		}
		d := s.sms[hostGroup{id, gid}].Digest()
		if ref == nil {
			ref, digest = &in, d
			continue
		}
		if in.View != ref.View || in.Delivered != ref.Delivered || d != digest {
			return false
		}
	}
	return ref != nil
}

// check runs simcheck on every group.
func (s *racsSim) check(settled bool) rsimResult {
	var res rsimResult
	res.violations = append(res.violations, s.failures...)
	for _, gid := range s.gorder {
		g := s.groups[gid]
		r := &simcheck.Run{Bootstrap: g.boot, Order: s.order, Journals: g.journals, Payloads: g.payloads,
			AckedPayloads: g.acked, Settled: s.settled(gid), Describe: s.describe(gid)}
		for _, id := range s.order {
			sh := s.hosts[id]
			if grp := s.group(sh, gid); grp != nil && slices.Contains(sh.groups, gid) {
				in := grp.Info()
				r.Final = append(r.Final, simcheck.Final{Member: in.Self, View: in.View, Delivered: in.Delivered,
					Digest: s.sms[hostGroup{id, gid}].Digest()})
			}
		}
		out := simcheck.Check(r)
		res.acked += out.Acked
		res.delivered += out.Delivered
		for _, v := range out.Violations {
			res.violations = append(res.violations, fmt.Sprintf("group %d: %s", gid, v))
		}
	}
	if s.trace != nil {
		res.trace = s.trace.String()
	}
	return res
}

func (s *racsSim) describe(gid replica.GroupID) string {
	var b strings.Builder
	for _, id := range s.order {
		sh := s.hosts[id]
		if !slices.Contains(sh.groups, gid) {
			continue
		}
		g := s.group(sh, gid)
		if g == nil {
			fmt.Fprintf(&b, "[host %d down] ", id)
			continue
		}
		in := g.Info()
		fmt.Fprintf(&b, "[%v %v v%d %v held=%v del=%v pend=%d rest=%v xfer=%v stopped=%v] ", in.Self, in.Status, in.View, in.Role,
			in.Held, in.Delivered, in.Pending, in.Restoring, g.Transfers(), g.Stopped())
	}
	return b.String()
}

func racsReplay(seed uint64, bug string) string {
	return fmt.Sprintf("go test ./racs -run 'TestSim$' -sim.seed=%d -sim.bug=%q -v", seed, bug)
}

// runRacsSeeds runs seeds lo..hi as parallel subtests of t and returns the
// failing seeds, sorted. Failing subtests report their violations.
func runRacsSeeds(t *testing.T, lo, hi uint64, bug string, steps int, quiet bool) []uint64 {
	var mu sync.Mutex
	var failed []uint64
	t.Run("seeds", func(t *testing.T) {
		for seed := lo; seed <= hi; seed++ {
			t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
				t.Parallel()
				res := runRacsSim(t, seed, bug, steps, false)
				if len(res.violations) == 0 {
					return
				}
				mu.Lock()
				failed = append(failed, seed)
				mu.Unlock()
				if quiet {
					return
				}
				for i, v := range res.violations {
					if i == 6 {
						break
					}
					t.Error(v)
				}
				t.Errorf("replay: %s", racsReplay(seed, bug))
			})
		}
	})
	slices.Sort(failed)
	return failed
}

// TestSim runs the racs simulation: many groups on 3–7 hosts with faults,
// crashes at storage boundaries and restarts, checked after every run.
// Replay a seed with -sim.seed=N; list every failure of a range with
// -sim.range=A-B.
func TestSim(t *testing.T) {
	var k groupcomm.TestingKnobs
	if !k.PlantBug(*simBug) {
		t.Fatalf("unknown -sim.bug %q; known: %v", *simBug, groupcomm.PlantedBugs)
	}
	if *simSeed != 0 {
		res := runRacsSim(t, *simSeed, *simBug, *simSteps, true)
		t.Log(res.trace)
		for _, v := range res.violations {
			t.Error(v)
		}
		t.Logf("%d updates acknowledged, %d deliveries checked", res.acked, res.delivered)
		return
	}
	lo, hi := uint64(1), uint64(*simSeeds)
	if testing.Short() {
		hi = min(hi, 50)
	}
	if *simRange != "" {
		var err error
		if lo, hi, err = simcheck.ParseRange(*simRange); err != nil {
			t.Fatal(err)
		}
	}
	if failed := runRacsSeeds(t, lo, hi, *simBug, *simSteps, false); len(failed) > 0 {
		var s []string
		for _, f := range failed {
			s = append(s, strconv.FormatUint(f, 10))
		}
		t.Errorf("%d of %d seeds failed: %s", len(failed), hi-lo+1, strings.Join(s, " "))
	}
}

// TestSimCatchesPlantedBugs shows the racs simulation can fail: the two
// planted bugs that bring back the restart path the review found unsafe
// (a restart that keeps the gap-free start of the log; a promotion on a
// stale LearnerReady) must each be caught within the seed budget.
func TestSimCatchesPlantedBugs(t *testing.T) {
	budget := uint64(max(*simSeeds, 1000))
	for _, bug := range []string{"restart-gap-free-start", "promote-stale-ready"} {
		t.Run(bug, func(t *testing.T) {
			for lo := uint64(1); lo <= budget; lo += 100 {
				if failed := runRacsSeeds(t, lo, min(lo+99, budget), bug, *simSteps, true); len(failed) > 0 {
					t.Logf("caught at seed %d", failed[0])
					return
				}
			}
			t.Fatalf("planted bug %s not caught in %d seeds", bug, budget)
		})
	}
}
