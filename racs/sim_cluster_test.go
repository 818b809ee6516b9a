package racs_test

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
	"github.com/quicksilver-go/quicksilver/replica/wal"
)

// The racs simulation runs many groups on a few hosts: real racs Hosts
// (driven without goroutines, so that a seed replays exactly), each with
// the production replica.DiskStore — its WAL on a strict wal.MemFS that a
// power failure leaves with only what was synced (tearing the rest), its
// bbolt checkpoint in a real file — behind a FaultyStore that crashes the
// host at a storage boundary (before or after a write, or inside the
// WAL's sync), over memnet with drops, duplicates, reordering,
// partitions and cut links, inside a testing/synctest bubble (memnet's
// delivery goroutines run on the bubble's clock). Every clone journals
// what it does through the host's observer; after the run simcheck checks
// P1–P14 for every group, that every acknowledged update is in the healed
// sequence, and that all clones' digests agree.

var errCrashHere = errors.New("simulated crash at a storage boundary")

// crashAt names a storage boundary the next write of a host crashes at.
type crashAt int

const (
	crashNone           crashAt = iota
	crashBeforeWrite            // nothing of the batch lands
	crashAfterWrite             // the batch is durable, nothing after it happens
	crashBeforeSnapshot         // the next batch holding a snapshot does not land
	crashAfterSnapshot          // it lands, then the host dies
	crashInSync                 // the WAL frame is written, its fdatasync fails, the power goes: the frame is torn or lost
	crashTornWrite              // the WAL write is cut short, the power goes
	numCrashAt
)

// simDisk is a host's disk: the WAL's MemFS and the bbolt file. A wipe
// replaces it.
type simDisk struct {
	mem      *wal.MemFS
	efs      *wal.ErrorFS
	boltPath string
	store    *replica.DiskStore
}

func (s *racsSim) newDisk(id groupcomm.NodeID) *simDisk {
	s.disks++
	return &simDisk{mem: wal.NewMemFS(), boltPath: filepath.Join(s.dir, fmt.Sprintf("host%d-%d.db", id, s.disks))}
}

// open opens the production store on the disk, checkpointing inline (no
// goroutine of its own, so that a seed replays exactly).
func (d *simDisk) open(segSize int64) (*replica.DiskStore, error) {
	d.efs = wal.NewErrorFS(d.mem)
	st, err := replica.OpenDisk(replica.DiskOptions{BoltPath: d.boltPath, WALDir: "/wal", WALFS: d.efs,
		SegmentSize: segSize, InlineCheckpoint: true, BoltNoSync: true})
	d.store = st
	return st, err
}

// crash closes the store as a crash leaves it; power also loses (or
// tears) the WAL writes not synced.
func (d *simDisk) crash(power bool, rng *rand.Rand) {
	if d.store != nil {
		d.store.Close()
		d.store = nil
	}
	if power {
		d.mem.Crash(rng)
	}
}

// close ends the run: closes every store and removes the bbolt files.
func (s *racsSim) close() {
	for _, sh := range s.hosts {
		if sh.up {
			sh.h.Close()
			sh.up = false
		}
		sh.disk.crash(false, nil)
	}
	s.net.Close()
	os.RemoveAll(s.dir)
}

type simHost struct {
	id     groupcomm.NodeID
	h      *racs.Host
	disk   *simDisk // survives crashes; replaced by a wipe
	up     bool
	dead   bool // a write crashed the host: the sim kills it after this step
	power  bool // and the crash is a power failure
	paused bool // not run (SIGSTOP): packets queue for it
	arm    crashAt
	groups []replica.GroupID // the groups this host runs (bootstrap or joined)
	joined map[replica.GroupID]bool
}

type simGroup struct {
	id         replica.GroupID
	boot       groupcomm.View
	durability racs.Durability
	journals   map[groupcomm.NodeID][]simcheck.Event
	payloads   map[string]bool
	acked      map[string]groupcomm.Viewstamp
	nextUpdate int
}

type pendingSubmit struct {
	g   replica.GroupID
	env string
	p   *racs.Pending
}

type racsSim struct {
	rng     *rand.Rand
	p       rsimParams
	net     *memnet.Network
	hosts   map[groupcomm.NodeID]*simHost
	order   []groupcomm.NodeID
	groups  map[replica.GroupID]*simGroup
	gorder  []replica.GroupID
	sms     map[hostGroup]*simcheck.DigestMachine
	pending []pendingSubmit
	step    int
	nextInc uint64
	lags    []lag
	knobs   groupcomm.TestingKnobs
	trace   *strings.Builder
	// partitioned mirrors the memnet partition (the failure detector's
	// truth); suspects, what each host was last told.
	partitioned map[[2]groupcomm.NodeID]bool
	suspects    map[[2]groupcomm.NodeID]bool
	failures    []string // found outside the journals
	logger      *slog.Logger
	dir         string // the hosts' bbolt files
	disks       int
}

// simTraceWriter prefixes the hosts' protocol logs with the step.
type simTraceWriter struct{ s *racsSim }

func (w simTraceWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(w.s.trace, "%5d ", w.s.step)
	return w.s.trace.Write(p)
}

type hostGroup struct {
	node groupcomm.NodeID
	g    replica.GroupID
}

// lag is a directed link cut for a while (a learner that falls behind its
// sequencer, a donor that cannot reach its learner).
type lag struct {
	from, to groupcomm.NodeID
	until    int
}

func (s *racsSim) tracef(format string, args ...any) {
	if s.trace != nil {
		fmt.Fprintf(s.trace, "%5d ", s.step)
		fmt.Fprintf(s.trace, format+"\n", args...)
	}
}

func simCoreConfig() groupcomm.Config {
	c := groupcomm.DefaultConfig()
	c.TickRTO, c.TickIdle, c.TickVC, c.TickFD, c.TickCQ, c.TickJoin, c.TickStale = 3, 1, 6, 10, 20, 400, 10
	c.MaxFrameEntries, c.MaxInflight, c.Window = 16, 64, 256
	return c
}

// newRacsSim sets up the hosts and the groups of one seed.
func newRacsSim(seed uint64, p rsimParams, bug string, trace bool) *racsSim {
	s := &racsSim{rng: rand.New(rand.NewPCG(seed, 0x7ac5)), p: p, hosts: map[groupcomm.NodeID]*simHost{},
		groups: map[replica.GroupID]*simGroup{}, sms: map[hostGroup]*simcheck.DigestMachine{}, nextInc: 2,
		partitioned: map[[2]groupcomm.NodeID]bool{}, suspects: map[[2]groupcomm.NodeID]bool{}}
	dir, err := os.MkdirTemp("", "racs-sim-")
	if err != nil {
		panic(err)
	}
	s.dir = dir
	if s.p.segSize == 0 {
		s.p.segSize = 4096
	}
	if !s.knobs.PlantBug(bug) {
		panic("unknown planted bug " + bug)
	}
	if trace {
		s.trace = &strings.Builder{}
		s.logger = simcheck.TraceLogger(simTraceWriter{s})
	}
	// The network starts perfect: the groups are created first (creating a
	// group is an admin act on a healthy cluster); the faults begin after.
	s.net = memnet.New(memnet.Config{Seed: seed})
	for i := 1; i <= p.hosts; i++ {
		id := groupcomm.NodeID(i)
		s.hosts[id] = &simHost{id: id, disk: s.newDisk(id), joined: map[replica.GroupID]bool{}}
		s.order = append(s.order, id)
	}
	for gi := 1; gi <= p.groups; gi++ {
		g := &simGroup{id: replica.GroupID(gi), journals: map[groupcomm.NodeID][]simcheck.Event{},
			payloads: map[string]bool{}, acked: map[string]groupcomm.Viewstamp{}}
		if s.rng.Float64() < p.memoryP {
			g.durability = racs.Memory
		}
		n := min(p.hosts, []int{3, 3, 5}[s.rng.IntN(3)])
		members := slices.Clone(s.order)
		s.rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		g.boot = groupcomm.View{Cluster: 1, Group: uint64(gi), GroupIncarnation: 1, ID: 1}
		for _, id := range members[:n] {
			g.boot.Members = append(g.boot.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: id, Incarnation: 1}, Role: groupcomm.Voter})
			s.hosts[id].groups = append(s.hosts[id].groups, g.id)
		}
		s.groups[g.id] = g
		s.gorder = append(s.gorder, g.id)
	}
	for _, id := range s.order {
		s.start(s.hosts[id])
	}
	return s
}

// start (re)starts a host: a new racs Host over its disk (behind a new
// FaultyStore), a new memnet endpoint, and every group it runs, exactly as
// the node binary does (Create for the members of a group's first view).
func (s *racsSim) start(sh *simHost) {
	sh.dead, sh.power, sh.arm = false, false, crashNone
	ds, err := sh.disk.open(s.p.segSize)
	if err != nil {
		// A store that cannot recover what it wrote is a finding.
		s.failures = append(s.failures, fmt.Sprintf("host %d cannot open its store: %v", sh.id, err))
		s.tracef("host %d: store open failed: %v", sh.id, err)
		return
	}
	sh.up = true
	fs := replica.NewFaulty(ds)
	fs.BeforeWrite = func(_ int, b *replica.Batch) error {
		switch {
		case sh.arm == crashBeforeWrite || sh.arm == crashBeforeSnapshot && hasSnapshot(b):
			sh.dead = true
			return errCrashHere
		case sh.arm == crashInSync:
			sh.disk.efs.Inject(wal.OpSync, 1, wal.FaultEIO, true)
			sh.dead, sh.power = true, true
		case sh.arm == crashTornWrite:
			sh.disk.efs.Inject(wal.OpWrite, 1, wal.FaultShortWrite, true)
			sh.dead, sh.power = true, true
		}
		return nil
	}
	fs.AfterWrite = func(_ int, b *replica.Batch) error {
		if sh.arm == crashAfterWrite || sh.arm == crashAfterSnapshot && hasSnapshot(b) {
			sh.dead = true
			return errCrashHere
		}
		return nil
	}
	var h *racs.Host
	deliver := func(ps []racs.Packet) {
		if h != nil {
			h.DeliverBatch(ps)
		}
	}
	var tr racs.Transport
	if s.step == 0 {
		tr = s.net.Endpoint(sh.id, deliver)
	} else {
		tr = s.net.Restart(sh.id, deliver)
	}
	cfg := racs.DefaultConfig()
	cfg.Node, cfg.Cluster, cfg.Store, cfg.Transport = sh.id, 1, fs, tr
	cfg.Workers = 1 + int(sh.id)%2
	cfg.Core = simCoreConfig()
	cfg.Core.Knobs = &s.knobs
	cfg.ChunkSize = 64
	cfg.SnapshotEvery, cfg.LogTail = s.p.snapEvery, s.p.logTail
	// Snapshot by count alone: the simulation wants many snapshots of its
	// small states (when to snapshot is a policy; any moment must be safe).
	cfg.DisableSnapshotAmortization = true
	cfg.MaxLogLag = 1 << 20 // the log keeps what a lagging member lacks
	if s.trace != nil {
		cfg.Logger = s.logger
	}
	nh, err := racs.NewManualHost(cfg, racs.ManualOptions{
		Incarnations: func() uint64 { s.nextInc++; return s.nextInc },
		Seeds:        func() uint64 { return s.rng.Uint64() },
		Observer:     &simObserver{s: s, node: sh.id},
	})
	if err != nil {
		panic(err)
	}
	h = nh
	sh.h = nh
	for _, gid := range sh.groups {
		g := s.groups[gid]
		sm := &simcheck.DigestMachine{}
		s.sms[hostGroup{sh.id, gid}] = sm
		// As the node binary does: Create for the first view's members
		// (always: creating must be safe to ask again), and the nodes that
		// run the group now as contacts (the partition map's clone set).
		gc := racs.GroupConfig{Group: gid, Incarnation: 1, Durability: g.durability, StateMachine: sm,
			Bootstrap: &g.boot, Create: !sh.joined[gid], Contacts: s.contactsFor(g, sh.id)}
		if _, err := nh.AddGroup(gc); err != nil {
			// A clone that cannot start from its own disk is a finding (a
			// voter whose log lost entries, a corrupt store).
			s.failures = append(s.failures, fmt.Sprintf("group %d: host %d cannot start its clone: %v", gid, sh.id, err))
			s.tracef("host %d group %d: start failed: %v", sh.id, gid, err)
		}
	}
	for _, o := range s.order {
		want := o != sh.id && s.unreachable(sh.id, o)
		if want {
			nh.SetSuspected(o, true)
		}
		s.suspects[[2]groupcomm.NodeID{sh.id, o}] = want
	}
	s.tracef("start host %d", sh.id)
}

func hasSnapshot(b *replica.Batch) bool {
	for _, w := range b.Writes {
		if w.Snapshot != nil {
			return true
		}
	}
	return false
}

// contactsFor lists the hosts a joiner asks: the group's other hosts.
func (s *racsSim) contactsFor(g *simGroup, self groupcomm.NodeID) []groupcomm.NodeID {
	var out []groupcomm.NodeID
	for _, id := range s.order {
		if id != self && slices.Contains(s.hosts[id].groups, g.id) {
			out = append(out, id)
		}
	}
	return out
}

// kill stops a host abruptly: nothing more leaves it; its disk stays.
func (s *racsSim) kill(sh *simHost, why string) {
	if !sh.up {
		return
	}
	s.net.Crash(sh.id)
	sh.h.Close()
	sh.disk.crash(sh.power, s.rng)
	sh.up, sh.h = false, nil
	s.tracef("kill host %d (%s)", sh.id, why)
}

// unreachable is the failure detector's truth: a host is down, or the
// links between the two are cut.
func (s *racsSim) unreachable(a, b groupcomm.NodeID) bool {
	if !s.hosts[b].up {
		return true
	}
	for _, l := range s.lags {
		if (l.from == a && l.to == b) || (l.from == b && l.to == a) {
			return true
		}
	}
	return s.partitioned[[2]groupcomm.NodeID{a, b}]
}

// runHosts runs one protocol tick on every live host and lets the
// network settle in between (synctest.Wait), killing hosts whose write
// crashed.
func (s *racsSim) runHosts(tick bool) {
	for round := 0; round < 3; round++ {
		for _, id := range s.order {
			sh := s.hosts[id]
			if !sh.up || sh.paused {
				continue
			}
			if tick && round == 0 {
				sh.h.TickOnce()
			} else {
				sh.h.Step()
			}
			if sh.dead {
				s.kill(sh, "crashed at a storage boundary")
			}
			synctest.Wait()
		}
	}
	time.Sleep(time.Millisecond) // memnet's delays run on the bubble's clock
	synctest.Wait()
}

// updateSuspicions feeds each host the failure detector's opinions.
func (s *racsSim) updateSuspicions() {
	for _, a := range s.order {
		sa := s.hosts[a]
		if !sa.up {
			continue
		}
		for _, b := range s.order {
			if a == b {
				continue
			}
			want := s.unreachable(a, b)
			if want != s.suspects[[2]groupcomm.NodeID{a, b}] {
				sa.h.SetSuspected(b, want)
				s.suspects[[2]groupcomm.NodeID{a, b}] = want
			}
		}
	}
}

// submit hands one update to a random live clone of a random group.
func (s *racsSim) submit() {
	gid := s.gorder[s.rng.IntN(len(s.gorder))]
	g := s.groups[gid]
	var at []*simHost
	for _, id := range s.order {
		if sh := s.hosts[id]; sh.up && slices.Contains(sh.groups, gid) {
			at = append(at, sh)
		}
	}
	if len(at) == 0 {
		return
	}
	sh := at[s.rng.IntN(len(at))]
	grp, err := sh.h.Group(gid)
	if err != nil {
		return
	}
	g.nextUpdate++
	u := fmt.Sprintf("g%d-n%d-%d", gid, sh.id, g.nextUpdate)
	env := string(clone.NewEnvelope("", []byte(u)))
	p, err := grp.SubmitNoWait([]byte(u), "")
	if err != nil {
		return
	}
	g.payloads[env] = true
	s.pending = append(s.pending, pendingSubmit{g: gid, env: env, p: p})
}

// collect records the submissions that completed with success.
func (s *racsSim) collect() {
	keep := s.pending[:0]
	for _, ps := range s.pending {
		res, err, done := ps.p.Result()
		if !done {
			keep = append(keep, ps)
			continue
		}
		if err == nil {
			s.groups[ps.g].acked[ps.env] = groupcomm.Viewstamp{View: res.View, Seq: res.Token.Seq}
		}
	}
	s.pending = keep
}
