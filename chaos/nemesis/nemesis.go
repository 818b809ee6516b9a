package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// Kind names a fault.
type Kind string

// The faults (see the package doc).
const (
	Kill      Kind = "kill"
	Kill2     Kind = "kill2"
	PowerLoss Kind = "powerloss"
	Isolate   Kind = "isolate"
	Partition Kind = "partition"
	Flaky     Kind = "flaky"
	Move      Kind = "move"
	Drain     Kind = "drain"
	SlowDisk  Kind = "slowdisk"
	CrashAll  Kind = "crashall"
)

// Kinds are the faults Plan draws from, crashall aside (always last).
var Kinds = []Kind{Kill, Kill2, PowerLoss, Isolate, Partition, Flaky, Move, Drain, SlowDisk}

// Fault is one step of a schedule.
type Fault struct {
	Kind  Kind
	Nodes []groupcomm.NodeID // the nodes it hits (partition: the minority side)
	Other []groupcomm.NodeID // partition: the majority side
	Hold  time.Duration      // how long the fault lasts before it is healed
	// Flaky: the drop and duplicate rates and the maximum delay.
	Drop, Dup float64
	Delay     time.Duration
	// Pick seeds the choices made when the fault runs (the move's
	// partition and target, the power loss's torn sectors).
	Pick uint64
	// AnyZone lets a move pick a target in any zone (Plan draws it).
	// Otherwise a move keeps the partition's spread over zones when it
	// can (a target in the source's zone), as an operator would; a move
	// that puts two voters in one zone is undone by the placer at once
	// (the trigger of the bug TestKnownBugReAddWhileLeaving reproduces).
	AnyZone bool
}

func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", f.Kind)
	if len(f.Nodes) > 0 {
		fmt.Fprintf(&b, " nodes %v", f.Nodes)
	}
	if len(f.Other) > 0 {
		fmt.Fprintf(&b, " | %v", f.Other)
	}
	if f.Kind == Move && f.AnyZone {
		fmt.Fprintf(&b, " to any zone")
	}
	if f.Kind == Flaky {
		fmt.Fprintf(&b, " drop %.2f dup %.2f delay ≤%v", f.Drop, f.Dup, f.Delay)
	}
	if f.Kind == SlowDisk {
		fmt.Fprintf(&b, " %v per write", f.Delay)
	}
	fmt.Fprintf(&b, " hold %v", f.Hold)
	return b.String()
}

// Schedule is a seeded sequence of faults.
type Schedule struct {
	Seed   uint64
	Nodes  int
	Faults []Fault
}

func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, %d nodes:", s.Seed, s.Nodes)
	for i, f := range s.Faults {
		fmt.Fprintf(&b, "\n  %d. %s", i+1, f)
	}
	return b.String()
}

// Plan draws the schedule of seed over nodes 1..n (n ≥ 3): every kind of
// Kinds once (kill2 only when n ≥ 5), in a seeded order, then crashall.
func Plan(seed uint64, n int) Schedule {
	r := rand.New(rand.NewPCG(seed, 0x6e656d65736973))
	s := Schedule{Seed: seed, Nodes: n}
	kinds := slices.Clone(Kinds)
	r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	all := make([]groupcomm.NodeID, n)
	for i := range all {
		all[i] = groupcomm.NodeID(i + 1)
	}
	pick := func(k int) []groupcomm.NodeID {
		p := slices.Clone(all)
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		p = p[:k]
		slices.Sort(p)
		return p
	}
	hold := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(r.Int64N(int64(hi-lo)))/time.Millisecond*time.Millisecond
	}
	for _, k := range kinds {
		f := Fault{Kind: k, Pick: r.Uint64()}
		switch k {
		case Kill, PowerLoss:
			f.Nodes, f.Hold = pick(1), hold(500*time.Millisecond, 3*time.Second)
		case Kill2:
			if n < 5 {
				continue
			}
			f.Nodes, f.Hold = pick(2), hold(500*time.Millisecond, 3*time.Second)
		case Isolate:
			f.Nodes, f.Hold = pick(1), hold(2*time.Second, 5*time.Second) // past DeadAfter (1s)
		case Partition:
			f.Nodes, f.Hold = pick((n-1)/2), hold(time.Second, 4*time.Second)
			for _, id := range all {
				if !slices.Contains(f.Nodes, id) {
					f.Other = append(f.Other, id)
				}
			}
		case Flaky:
			f.Drop, f.Dup = 0.02+0.08*r.Float64(), 0.1*r.Float64()
			f.Delay = time.Duration(1+r.IntN(10)) * time.Millisecond
			f.Hold = hold(time.Second, 4*time.Second)
		case Move:
			f.Hold = hold(200*time.Millisecond, time.Second)
			f.AnyZone = r.IntN(2) == 0
		case Drain:
			f.Nodes, f.Hold = pick(1), hold(200*time.Millisecond, time.Second)
		case SlowDisk:
			f.Nodes, f.Hold = pick(1+r.IntN(2)), hold(time.Second, 4*time.Second)
			f.Delay = time.Duration(2+r.IntN(50)) * time.Millisecond
		}
		s.Faults = append(s.Faults, f)
	}
	s.Faults = append(s.Faults, Fault{Kind: CrashAll, Nodes: all, Hold: hold(200*time.Millisecond, time.Second), Pick: r.Uint64()})
	return s
}

// Step is what running one fault did.
type Step struct {
	Fault    Fault
	Start    time.Duration // since Run began
	Detail   string        // what it chose when it ran, and what it met
	Err      error         // the fault could not run or the cluster did not converge after it
	Recovery time.Duration // from the heal (restart, network repair) to convergence
	// At and End are when the fault began and when the cluster had
	// converged after it (the clock's times, for the figures).
	At, End time.Time
}

func (s Step) String() string {
	st := fmt.Sprintf("at %v: %s", s.Start.Truncate(time.Millisecond), s.Fault)
	if s.Detail != "" {
		st += " (" + s.Detail + ")"
	}
	if s.Err != nil {
		return st + ": " + s.Err.Error()
	}
	return st + fmt.Sprintf(": converged %v after the heal", s.Recovery.Truncate(time.Millisecond))
}

// Config configures Run.
type Config struct {
	// Admin returns the client admin changes (move, drain) go through, at
	// the time of the change.
	Admin func() *raps.Client
	// FrontEnds are the memnet ids of the workload's front ends: a
	// partition puts the first with the minority, the others with the
	// majority (a front end named in no side would be cut off from all).
	FrontEnds []groupcomm.NodeID
	// Converge bounds each wait for convergence; default one minute.
	Converge time.Duration
	// Logf, if set, is told each step as it ends.
	Logf func(format string, args ...any)
}

// Run executes the schedule on c. It stops at the first step whose
// cluster does not converge (the remaining faults would test nothing
// reliable) and returns the steps run.
func Run(c *rapstest.Cluster, s Schedule, cfg Config) []Step {
	if cfg.Converge <= 0 {
		cfg.Converge = time.Minute
	}
	start := time.Now()
	var steps []Step
	for _, f := range s.Faults {
		st := Step{Fault: f, Start: time.Since(start), At: time.Now()}
		healed, detail, err := inject(c, f, cfg)
		st.Detail = detail
		if err == nil {
			err = waitConverged(c, cfg.Converge)
		}
		st.Recovery, st.Err, st.End = time.Since(healed), err, time.Now()
		steps = append(steps, st)
		if cfg.Logf != nil {
			cfg.Logf("nemesis: %s", st)
		}
		if err != nil {
			break
		}
	}
	return steps
}

// waitConverged polls c.Converged until limit.
func waitConverged(c *rapstest.Cluster, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !c.Converged() {
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster did not converge within %v (live %v)", limit, c.Live())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// WaitConverged is the wait Run does after each fault.
func WaitConverged(c *rapstest.Cluster, limit time.Duration) error { return waitConverged(c, limit) }

// inject runs fault f, holds it and heals it; it returns when it healed.
func inject(c *rapstest.Cluster, f Fault, cfg Config) (healed time.Time, detail string, err error) {
	r := rand.New(rand.NewPCG(f.Pick, 1))
	switch f.Kind {
	case Kill, Kill2:
		for _, id := range f.Nodes {
			c.Kill(id)
		}
		time.Sleep(f.Hold)
		for _, id := range f.Nodes {
			c.Restart(id)
		}
	case PowerLoss, CrashAll:
		for _, id := range f.Nodes {
			c.PowerFail(id, r)
		}
		time.Sleep(f.Hold)
		for _, id := range f.Nodes {
			c.Restart(id)
		}
	case Isolate:
		c.Net().Isolate(f.Nodes[0])
		time.Sleep(f.Hold)
		c.Heal()
	case Partition:
		minority, majority := slices.Clone(f.Nodes), slices.Clone(f.Other)
		for i, fe := range cfg.FrontEnds {
			if i == 0 {
				minority = append(minority, fe)
			} else {
				majority = append(majority, fe)
			}
		}
		c.Partition(minority, majority)
		time.Sleep(f.Hold)
		c.Heal()
	case Flaky:
		c.Net().SetDropRate(f.Drop)
		c.Net().SetDupRate(f.Dup)
		c.Net().SetDelay(100*time.Microsecond, f.Delay)
		time.Sleep(f.Hold)
		st := c.Net().Stats()
		c.Net().SetDropRate(0)
		c.Net().SetDupRate(0)
		c.Net().SetDelay(100*time.Microsecond, 100*time.Microsecond)
		detail = fmt.Sprintf("memnet so far: %+v", st)
	case Move:
		detail, err = move(c, r, f.AnyZone, cfg)
		if err == nil {
			time.Sleep(f.Hold)
		}
	case Drain:
		detail, err = drain(c, f.Nodes[0], f.Hold, cfg)
	case SlowDisk:
		for _, id := range f.Nodes {
			if fs := c.Faulty(id); fs != nil {
				fs.DelayWrites(f.Delay)
			}
		}
		time.Sleep(f.Hold)
		for _, id := range f.Nodes {
			if fs := c.Faulty(id); fs != nil {
				fs.DelayWrites(0)
			}
		}
	default:
		err = fmt.Errorf("unknown fault %q", f.Kind)
	}
	return time.Now(), detail, err
}

func liveMap(c *rapstest.Cluster) (*partitionmap.Map, error) {
	for _, id := range c.Live() {
		if m := c.Node(id).Map(); m != nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("no live node holds a map")
}

// move moves a random clone of a random partition to a node holding none
// of that partition (in the source's zone if there is one, unless
// anyZone).
func move(c *rapstest.Cluster, r *rand.Rand, anyZone bool, cfg Config) (string, error) {
	m, err := liveMap(c)
	if err != nil {
		return "", err
	}
	// A partition with no move under way (the placer's own moves run too).
	var free []partitionmap.Partition
	for _, q := range m.Partitions {
		if _, busy := q.Learner(); !busy {
			free = append(free, q)
		}
	}
	if len(free) == 0 {
		return "every partition has a move under way: skipped", nil
	}
	p := free[r.IntN(len(free))]
	zone := map[partitionmap.NodeID]string{}
	for _, n := range m.Nodes {
		zone[n.ID] = n.Zone
	}
	type pair struct{ from, to partitionmap.NodeID }
	var pairs, sameZone []pair
	for _, cl := range p.Clones {
		for _, n := range m.Nodes {
			if !slices.ContainsFunc(p.Clones, func(o partitionmap.Clone) bool { return o.Node == n.ID }) {
				pairs = append(pairs, pair{cl.Node, n.ID})
				if n.Zone == zone[cl.Node] {
					sameZone = append(sameZone, pair{cl.Node, n.ID})
				}
			}
		}
	}
	if len(sameZone) > 0 && !anyZone {
		pairs = sameZone
	}
	if len(pairs) == 0 {
		return fmt.Sprintf("%v: no node to move to", p.Ref()), nil
	}
	pk := pairs[r.IntN(len(pairs))]
	from, dst := pk.from, pk.to
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	detail := fmt.Sprintf("%v from node %d (zone %s) to node %d (zone %s)", p.Ref(), from, zone[from], dst, zone[dst])
	if err := cfg.Admin().MoveClone(ctx, p.Ref(), from, dst); err != nil {
		if errors.Is(err, partitionmap.ErrMoveInProgress) || errors.Is(err, partitionmap.ErrInvalidMove) {
			// The placer started a move of it meanwhile, or the target
			// became unfit (draining): the map refused, nothing changed.
			return detail + fmt.Sprintf(": refused, skipped (%v)", err), nil
		}
		return detail, fmt.Errorf("move: %w", err)
	}
	// Wait until the map shows the move done: the target a voter, the
	// source gone.
	t0 := time.Now()
	deadline := t0.Add(cfg.Converge)
	for {
		if m, err := liveMap(c); err == nil {
			if q, err := m.Partition(p.Ref()); err == nil {
				src := slices.ContainsFunc(q.Clones, func(o partitionmap.Clone) bool { return o.Node == from })
				voter := slices.ContainsFunc(q.Clones, func(o partitionmap.Clone) bool { return o.Node == dst && o.Role == partitionmap.Voter })
				if voter && !src {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			return detail, fmt.Errorf("the move did not complete within %v", cfg.Converge)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return detail + fmt.Sprintf(", done in the map after %v", time.Since(t0).Truncate(time.Millisecond)), nil
}

// drain drains node id, waits until it holds no clone (or the hold is
// over and the cluster converged), then makes it active again.
func drain(c *rapstest.Cluster, id groupcomm.NodeID, hold time.Duration, cfg Config) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cfg.Admin().Drain(ctx, partitionmap.NodeID(id)); err != nil {
		return "", fmt.Errorf("drain node %d: %w", id, err)
	}
	time.Sleep(hold)
	if err := waitConverged(c, cfg.Converge); err != nil {
		return "", fmt.Errorf("while node %d drains: %w", id, err)
	}
	held := 0
	if m, err := liveMap(c); err == nil {
		for _, p := range m.Partitions {
			for _, cl := range p.Clones {
				if cl.Node == partitionmap.NodeID(id) {
					held++
				}
			}
		}
	}
	if err := setActive(ctx, cfg.Admin, partitionmap.NodeID(id)); err != nil {
		return "", fmt.Errorf("make node %d active again: %w", id, err)
	}
	return fmt.Sprintf("node %d held %d clones once drained", id, held), nil
}

// setActive makes node id active again: a compare-and-set on the epoch,
// retried on a newer map while the epoch moved under it.
func setActive(ctx context.Context, admin func() *raps.Client, id partitionmap.NodeID) error {
	for {
		cl := admin()
		m := cl.Map()
		if m != nil {
			res, err := cl.Admin(ctx, mgmt.Command{Op: mgmt.OpSetNodeState, Epoch: m.Epoch, NodeID: id, State: partitionmap.NodeActive,
				Reason: fmt.Sprintf("undrain node %d", id)})
			if err == nil {
				err = res.Err()
			}
			if err == nil {
				return nil
			}
			if !errors.Is(err, partitionmap.ErrStaleEpoch) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
