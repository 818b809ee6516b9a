package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/chaos/bank"
	"github.com/quicksilver-go/quicksilver/chaos/nemesis"
	"github.com/quicksilver-go/quicksilver/chaos/workload"
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Options configure RunSeed; the zero value is the suite's default.
type Options struct {
	// Nodes in the cluster; default 5.
	Nodes int
	// Workload is the clients' configuration (its Seed is set to the
	// seed); zero fields take the suite's defaults.
	Workload workload.Config
	// Schedule, if set, replaces nemesis.Plan(seed, Nodes) (a narrowed
	// reproducer).
	Schedule *nemesis.Schedule
	// Converge bounds each wait for convergence; default one minute.
	Converge time.Duration
	// LinTimeout bounds porcupine; default 30s.
	LinTimeout time.Duration
	// Logf receives the progress; default t.Logf.
	Logf func(format string, args ...any)
}

// Result is what one seed's run found.
type Result struct {
	Seed     uint64
	Schedule nemesis.Schedule
	Steps    []nemesis.Step
	Report   *workload.Report
	Ops      []workload.Op
	Digests  []string // per partition: its clones' digests and positions
	Streams  []string // per kv partition: its subscriber's sequence against a clone's
	// Problems are the violations, as text: the checkers', divergent
	// digests, and faults after which the cluster did not converge.
	Problems []string
	Elapsed  time.Duration // on the cluster's clock
	// MapHistory is the partition map's last changes at the end.
	MapHistory []string
	// Throughput is, per step, the updates acknowledged while the fault
	// lasted and until the cluster converged, and their rate.
	Throughput []string

	final      *workload.Final // what Check checks
	cfg        workload.Config
	linTimeout time.Duration
}

// Failed reports whether the run found any problem.
func (r *Result) Failed() bool { return len(r.Problems) > 0 }

// Defaults of the suite's workload.
func defaultWorkload(seed uint64, w workload.Config) workload.Config {
	w.Seed = seed
	if w.AppendClients+w.RegisterClients+w.BankClients+w.IdemClients == 0 {
		w.AppendClients, w.RegisterClients, w.BankClients, w.IdemClients = 4, 4, 2, 2
	}
	if w.Pace == 0 {
		w.Pace = 20 * time.Millisecond
	}
	if w.OpTimeout == 0 {
		w.OpTimeout = 4 * time.Second
	}
	return w
}

// Services are the suite's services: kv (4 partitions × 3 clones) and the
// bank, both Disk.
func Services() []raps.Service {
	kv := rapstest.KVService(4, 3, partitionmap.Disk)
	kv.Retain = streamRetain // the stream check (streams.go) follows kv's whole run
	return []raps.Service{kv, bank.Service(5, 100, 3, partitionmap.Disk)}
}

// RunSeed runs the suite's cluster, clients and the schedule of seed, and
// checks the result. It fails t only if the cluster cannot be built; the
// caller judges the Result.
func RunSeed(t testing.TB, seed uint64, o Options) *Result {
	if o.Nodes == 0 {
		o.Nodes = 5
	}
	if o.Converge == 0 {
		o.Converge = time.Minute
	}
	if o.LinTimeout == 0 {
		o.LinTimeout = 30 * time.Second
	}
	logf := o.Logf
	if logf == nil {
		logf = t.Logf
	}
	wc := defaultWorkload(seed, o.Workload)
	sched := nemesis.Plan(seed, o.Nodes)
	if o.Schedule != nil {
		sched = *o.Schedule
	}
	res := &Result{Seed: seed, Schedule: sched}
	logf("chaos: %s", sched)

	start := time.Now()
	c := rapstest.New(t, o.Nodes, rapstest.WithPowerLoss(), rapstest.WithServices(Services()...))
	feIDs := []groupcomm.NodeID{100, 101}
	var fes []*raps.Client
	for _, id := range feIDs {
		fe := c.FrontEnd(id)
		c.WaitFrontEnd(fe, time.Minute)
		fes = append(fes, fe)
	}
	streams, err := startStreams(anyMap(c), fes)
	if err != nil {
		t.Fatalf("chaos: subscribing: %v", err)
	}
	run := workload.Start(fes, wc)
	// Admin changes go through a live management member's own client: a
	// front end's waits for the new map contend for a mutex its map poller
	// holds across a timed wait, which a synctest bubble cannot see past
	// (the bubble never idles, its clock never advances).
	admin := func() *raps.Client {
		for _, id := range c.Live() {
			if id <= 3 {
				return c.Node(id).Client()
			}
		}
		return fes[1]
	}
	res.Steps = nemesis.Run(c, sched, nemesis.Config{Admin: admin, FrontEnds: feIDs, Converge: o.Converge, Logf: logf})
	for _, st := range res.Steps {
		if st.Err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("nemesis: %s", st))
		}
	}
	res.Ops = run.Stop()
	res.Throughput = throughput(res.Steps, res.Ops, run.History().Start())
	if err := nemesis.WaitConverged(c, o.Converge); err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("after the run: %v", err))
	}
	var sp []string
	res.Streams, sp = streams.finish(c, o.Converge)
	res.Problems = append(res.Problems, sp...)
	res.Elapsed = time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var dp []string
	res.Digests, dp = digests(c)
	res.Problems = append(res.Problems, dp...)
	if hist, err := admin().History(ctx, 0, 1000); err == nil {
		for _, h := range hist[max(0, len(hist)-40):] {
			res.MapHistory = append(res.MapHistory, fmt.Sprintf("epoch %d %v: %s (%s)", h.Epoch, h.Op, h.Summary, h.Reason))
		}
	}
	final, err := workload.ReadFinal(ctx, cloneReader(c), run.Config())
	if err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("reading the final state: %v", err))
		return res
	}
	res.final, res.cfg, res.linTimeout = &final, run.Config(), o.LinTimeout
	return res
}

// Check runs the workload's checkers over the run (RunSeed leaves them to
// the caller). Call it outside the synctest bubble the run used: the
// linearizability check is CPU work bounded by a timer, and inside a
// bubble a timer cannot fire while goroutines compute, so a hard history
// would hang instead of timing out.
func (r *Result) Check() {
	if r.final == nil {
		return // the final state could not be read: a problem already
	}
	r.Report = workload.Check(r.Ops, *r.final, r.cfg, r.linTimeout)
	for _, v := range r.Report.Violations {
		r.Problems = append(r.Problems, v.String())
	}
}

// cloneReader queries each clone of a partition on its own host.
func cloneReader(c *rapstest.Cluster) workload.CloneReader {
	return func(ctx context.Context, service, key string, q []byte) (map[groupcomm.NodeID][]byte, error) {
		m := anyMap(c)
		if m == nil {
			return nil, fmt.Errorf("no live node holds a map")
		}
		p, err := m.Locate(service, []byte(key))
		if err != nil {
			return nil, err
		}
		out := map[groupcomm.NodeID][]byte{}
		for _, cl := range p.Clones {
			id := groupcomm.NodeID(cl.Node)
			var b []byte
			for {
				h := c.Host(id)
				if h == nil {
					err = fmt.Errorf("node %d has no host", id)
				} else if g, gerr := h.Group(replica.GroupID(p.Group)); gerr != nil {
					err = gerr
				} else {
					b, _, err = g.Query(ctx, q, racs.Any, racs.Token{})
				}
				if err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err != nil {
				return nil, fmt.Errorf("%v at node %d: %w", p.Ref(), id, err)
			}
			out[id] = b
		}
		return out, nil
	}
}

// digests lists every partition's clones' digests and applied positions,
// and a problem for each partition whose clones differ.
func digests(c *rapstest.Cluster) (lines, problems []string) {
	m := anyMap(c)
	if m == nil {
		return nil, []string{"digests: no live node holds a map"}
	}
	for _, p := range m.Partitions {
		var parts []string
		var ds []string
		for _, cl := range p.Clones {
			id := groupcomm.NodeID(cl.Node)
			h := c.Host(id)
			if h == nil {
				parts = append(parts, fmt.Sprintf("node %d: no host", id))
				ds = append(ds, "?")
				continue
			}
			g, err := h.Group(replica.GroupID(p.Group))
			if err != nil {
				parts = append(parts, fmt.Sprintf("node %d: %v", id, err))
				ds = append(ds, "?")
				continue
			}
			d, err := g.Digest()
			ap := g.Applied()
			s := fmt.Sprintf("%016x@%d", d, ap.Seq)
			if err != nil {
				s = err.Error()
			}
			in := g.Info()
			wait := ""
			if len(in.WaitingFor) > 0 {
				wait = fmt.Sprintf(" waiting for %v; view %v", in.WaitingFor, g.View())
			}
			parts = append(parts, fmt.Sprintf("node %d (map role %d; group %v role %v view %d%s) %s", id, cl.Role, in.Status, in.Role, g.View().ID, wait, s))
			ds = append(ds, s)
		}
		for _, id := range c.Live() {
			if slices.ContainsFunc(p.Clones, func(cl partitionmap.Clone) bool { return groupcomm.NodeID(cl.Node) == id }) {
				continue
			}
			if g, err := c.Host(id).Group(replica.GroupID(p.Group)); err == nil {
				in := g.Info()
				parts = append(parts, fmt.Sprintf("also on node %d, not a clone in the map: group %v role %v view %d left %v", id, in.Status, in.Role, g.View().ID, g.Left()))
			}
		}
		line := fmt.Sprintf("%v: %s", p.Ref(), strings.Join(parts, ", "))
		lines = append(lines, line)
		if len(slices.Compact(slices.Clone(ds))) != 1 {
			problems = append(problems, "divergent clones: "+line)
		}
	}
	return lines, problems
}

// Artifacts writes the run's schedule, steps, digests and history to dir
// (history.txt) and porcupine's visualization (register.html).
func (r *Result) Artifacts(dir string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nsteps:\n", r.Schedule)
	for _, st := range r.Steps {
		fmt.Fprintf(&b, "  %s\n", st)
	}
	fmt.Fprintf(&b, "\ndigests:\n")
	for _, d := range r.Digests {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	fmt.Fprintf(&b, "\nthe map's last changes:\n")
	for _, h := range r.MapHistory {
		fmt.Fprintf(&b, "  %s\n", h)
	}
	fmt.Fprintf(&b, "\nproblems:\n")
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	fmt.Fprintf(&b, "\nhistory (%d operations):\n", len(r.Ops))
	for i := range r.Ops {
		fmt.Fprintf(&b, "%s\n", r.Ops[i].String())
	}
	if err := os.WriteFile(filepath.Join(dir, "history.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if r.Report != nil {
		return workload.RegisterHTML(r.Report.Register, filepath.Join(dir, "register.html"))
	}
	return nil
}

// throughput counts the updates acknowledged during each step.
func throughput(steps []nemesis.Step, ops []workload.Op, start time.Time) []string {
	var out []string
	for _, st := range steps {
		from, to := st.At.Sub(start), st.End.Sub(start)
		n := 0
		for _, o := range ops {
			if o.Outcome == workload.OK && o.Kind != "get" && o.Kind != "list" && o.Kind != "read" && o.Return >= from && o.Return <= to {
				n++
			}
		}
		rate := 0.0
		if d := (to - from).Seconds(); d > 0 {
			rate = float64(n) / d
		}
		out = append(out, fmt.Sprintf("%-9s %5d updates acknowledged in %v (%.0f/s on the cluster's clock), converged %v after the heal",
			st.Fault.Kind, n, (to-from).Truncate(time.Millisecond), rate, st.Recovery.Truncate(time.Millisecond)))
	}
	return out
}
