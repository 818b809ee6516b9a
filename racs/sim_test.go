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
	"github.com/quicksilver-go/quicksilver/racs"
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
		defer s.net.Close()
		s.tracef("seed %d params %+v", seed, p)
		for i := 0; i < 500 && !s.allSettled(); i++ {
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

// chaos applies one step's faults and load.
func (s *racsSim) chaos() {
	p, rng := &s.p, s.rng
	for k := 0; k < 3; k++ {
		if rng.Float64() < p.submitP {
			s.submit()
		}
	}
	ups := s.upHosts()
	if len(ups) > 0 && rng.Float64() < p.crashP {
		if sh := ups[rng.IntN(len(ups))]; s.safeToLose(sh) {
			s.kill(sh, "crash")
		}
	}
	if len(ups) > 0 && rng.Float64() < p.storageCrashP {
		if sh := ups[rng.IntN(len(ups))]; s.safeToLose(sh) && !s.runsMemory(sh) && sh.arm == crashNone {
			sh.arm = crashAt(1 + rng.IntN(int(numCrashAt)-1))
			s.tracef("arm host %d: crash at storage boundary %d", sh.id, sh.arm)
		}
	}
	if rng.Float64() < p.transferCrashP {
		for _, sh := range ups {
			if sh.up && s.inTransfer(sh) && s.safeToLose(sh) {
				s.kill(sh, "crash during a state transfer")
				break
			}
		}
	}
	if downs := s.downHosts(); len(downs) > 0 && rng.Float64() < p.restartP {
		sh := downs[rng.IntN(len(downs))]
		if rng.Float64() < p.wipeP && s.safeToWipe(sh) {
			sh.disk = replica.NewMemStore()
			s.tracef("wipe the disk of host %d", sh.id)
		}
		s.start(sh)
	}
	if rng.Float64() < p.partP {
		var a, b []groupcomm.NodeID
		for _, id := range s.order {
			if rng.IntN(2) == 0 {
				a = append(a, id)
			} else {
				b = append(b, id)
			}
		}
		s.partition(a, b)
	}
	if len(s.partitioned) > 0 && rng.Float64() < p.healP {
		s.partition()
	}
	if rng.Float64() < p.lagP {
		s.lagOne()
	}
	keep := s.lags[:0]
	for _, l := range s.lags {
		if l.until <= s.step {
			s.net.Mend(l.from, l.to)
			s.tracef("mend %d->%d", l.from, l.to)
			continue
		}
		keep = append(keep, l)
	}
	s.lags = keep
	if rng.Float64() < p.joinP {
		s.joinOne()
	}
}

func (s *racsSim) upHosts() []*simHost {
	var out []*simHost
	for _, id := range s.order {
		if sh := s.hosts[id]; sh.up {
			out = append(out, sh)
		}
	}
	return out
}

func (s *racsSim) downHosts() []*simHost {
	var out []*simHost
	for _, id := range s.order {
		if sh := s.hosts[id]; !sh.up {
			out = append(out, sh)
		}
	}
	return out
}

func (s *racsSim) group(sh *simHost, gid replica.GroupID) *racs.Group {
	if !sh.up {
		return nil
	}
	g, err := sh.h.Group(gid)
	if err != nil {
		return nil
	}
	return g
}

// safeToLose reports whether killing sh leaves every Memory group it runs
// able to go on: memory groups keep acknowledged updates only while a
// majority of a view lives, so the nemesis never takes more. It kills only
// while such a group is quiet (every live clone NORMAL in one view, no
// transfer: a view change in flight may need this clone) and the other
// live voters of that view form a quorum.
func (s *racsSim) safeToLose(sh *simHost) bool {
	for _, gid := range sh.groups {
		if s.groups[gid].durability == racs.Memory && !s.othersHoldQuorum(sh, gid) {
			return false
		}
	}
	return true
}

// othersHoldQuorum reports whether the clones of gid on hosts other than
// sh are quiet and hold a quorum of their view.
func (s *racsSim) othersHoldQuorum(sh *simHost, gid replica.GroupID) bool {
	var v *groupcomm.View
	up := map[groupcomm.MemberID]bool{}
	for _, id := range s.order {
		o := s.hosts[id]
		if !slices.Contains(o.groups, gid) {
			continue
		}
		g := s.group(o, gid)
		if g == nil {
			continue
		}
		in := g.Info()
		gv := g.View()
		if in.Status != groupcomm.StatusNormal || g.Transfers() || v != nil && gv.ID != v.ID {
			return false
		}
		v = &gv
		if o != sh && !in.Restoring && in.Role == groupcomm.Voter {
			up[in.Self] = true
		}
	}
	if v == nil {
		return false
	}
	n := 0
	for _, id := range v.Voters() {
		if up[id] {
			n++
		}
	}
	return n >= v.Quorum()
}

// safeToWipe reports whether a down host's disk may be wiped: it loses
// the state of every group it runs, so only if each of them is quiet and
// holds a quorum without it (a wiped majority loses acknowledged updates,
// as it would anywhere).
func (s *racsSim) safeToWipe(sh *simHost) bool {
	for _, gid := range sh.groups {
		if !s.othersHoldQuorum(sh, gid) {
			return false
		}
	}
	return true
}

// runsMemory reports whether a host runs a Memory group (an armed storage
// crash may fire when losing its clones is no longer safe).
func (s *racsSim) runsMemory(sh *simHost) bool {
	for _, gid := range sh.groups {
		if s.groups[gid].durability == racs.Memory {
			return true
		}
	}
	return false
}

func (s *racsSim) inTransfer(sh *simHost) bool {
	for _, gid := range sh.groups {
		if g := s.group(sh, gid); g != nil && g.Transfers() {
			return true
		}
	}
	return false
}

// partition splits the hosts (no sides: heal the partition).
func (s *racsSim) partition(sides ...[]groupcomm.NodeID) {
	s.partitioned = map[[2]groupcomm.NodeID]bool{}
	side := map[groupcomm.NodeID]int{}
	for i, g := range sides {
		for _, id := range g {
			side[id] = i + 1
		}
	}
	for _, a := range s.order {
		for _, b := range s.order {
			if len(sides) > 0 && side[a] != side[b] {
				s.partitioned[[2]groupcomm.NodeID{a, b}] = true
			}
		}
	}
	s.net.Partition(sides...)
	s.tracef("partition %v", sides)
}

// lagOne cuts one directed link for a while, preferring the link from a
// group's sequencer to one of its learners (a learner whose log falls
// behind while its snapshot comes from elsewhere).
func (s *racsSim) lagOne() {
	from := s.order[s.rng.IntN(len(s.order))]
	to := s.order[s.rng.IntN(len(s.order))]
	gid := s.gorder[s.rng.IntN(len(s.gorder))]
	for _, sh := range s.upHosts() {
		if g := s.group(sh, gid); g != nil {
			v := g.View()
			for _, m := range v.Members {
				if m.Role == groupcomm.Learner {
					from, to = v.Sequencer().Node, m.ID.Node
				}
			}
			break
		}
	}
	if from == to {
		return
	}
	s.net.Cut(from, to)
	s.lags = append(s.lags, lag{from: from, to: to, until: s.step + 5 + s.rng.IntN(60)})
	s.tracef("cut %d->%d", from, to)
}

// joinOne makes a live host start running a group it does not run (a new
// clone that joins as a learner and gets a snapshot).
func (s *racsSim) joinOne() {
	ups := s.upHosts()
	if len(ups) == 0 {
		return
	}
	sh := ups[s.rng.IntN(len(ups))]
	gid := s.gorder[s.rng.IntN(len(s.gorder))]
	g := s.groups[gid]
	n := 0
	for _, id := range s.order {
		if slices.Contains(s.hosts[id].groups, gid) {
			n++
		}
	}
	if slices.Contains(sh.groups, gid) || n >= 7 {
		return
	}
	sh.groups = append(sh.groups, gid)
	sh.joined[gid] = true
	sm := &simcheck.DigestMachine{}
	s.sms[hostGroup{sh.id, gid}] = sm
	if _, err := sh.h.AddGroup(racs.GroupConfig{Group: gid, Incarnation: 1, Durability: g.durability, StateMachine: sm,
		Bootstrap: &g.boot, Contacts: s.contactsFor(g, sh.id)}); err != nil {
		panic(err)
	}
	s.tracef("host %d joins group %d", sh.id, gid)
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
