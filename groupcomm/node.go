package groupcomm

import (
	"cmp"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
)

// Status is a member's protocol status.
type Status uint8

const (
	// StatusNormal: the member acks and delivers in its installed view.
	StatusNormal Status = iota + 1
	// StatusFrozen: the member promised or accepted in the instance of its
	// view: it acks no ORDER, appends no entry of its view, and the
	// sequencer orders nothing, until it installs the next view (S1).
	StatusFrozen
	// StatusRecovering: the member restarted from persisted state. It
	// answers Prepare and Accept from its HardState, never orders or acks
	// in the view it had, and waits to be re-admitted (S7).
	StatusRecovering
	// StatusJoining: a new member that has not yet installed a view.
	StatusJoining
	// StatusRemoved: the member was excluded or left; it does nothing.
	StatusRemoved
)

func (s Status) String() string {
	switch s {
	case StatusNormal:
		return "NORMAL"
	case StatusFrozen:
		return "FROZEN"
	case StatusRecovering:
		return "RECOVERING"
	case StatusJoining:
		return "JOINING"
	case StatusRemoved:
		return "REMOVED"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Node is one member of one group: a pure state machine. It runs no
// goroutine and reads no clock, network or global randomness; the caller
// drives it (see the package doc). A Node is not safe for concurrent use.
type Node struct {
	cfg  Config
	bugs TestingKnobs // a copy of *cfg.Knobs, zero when nil
	self MemberID
	rng  *rand.Rand
	log  *slog.Logger
	now  uint64 // ticks since start

	status    Status
	restoring bool // a learner that has not restored a snapshot yet
	view      View
	selfRec   Member // this member's record in view (zero if absent)
	history   []View // installed view records, oldest first (bounded)
	hs        HardState
	hsDirty   bool

	elog      entryLog
	persisted Viewstamp // highest entry known persisted (after Advance)
	stable    Viewstamp // highest entry known stable in this view
	delivered Viewstamp
	dedup     dedupTable

	origin   originState
	seq      *seqState // set while this member is the sequencer of view
	follower followerState
	vc       vcState
	reads    readState

	leaving   bool
	removedAt uint64 // the view that excluded this member
	// replaced are members of the installed view whose node runs a newer
	// incarnation (it asked to join): gone for good.
	replaced  map[MemberID]bool
	suspected map[NodeID]bool
	changes   []pendingChange
	// readyLearners are the learners that said they restored (LearnerReady);
	// only they may be promoted.
	readyLearners map[MemberID]bool

	// diskHS is the last HardState handed to the caller to persist.
	diskHS HardState

	out outbox
}

// outbox accumulates the pieces of the next Ready.
type outbox struct {
	entries    []Entry
	truncAbove *Viewstamp
	msgs       []Message
	deliveries []Delivery
	newView    *View
	removed    bool
	snapshots  []SnapshotRequest
	readStates []ReadState
	outcomes   []Outcome
	ackDue     bool // send one cumulative ack with this Ready
	stableDue  bool // stable advanced: announce it

	readyHeld   Viewstamp // held when Ready was built: persisted at Advance
	readyStable Viewstamp
	readyView   uint64 // the installed view the Ready's HardState carries (0: none)
}

func newNode(cfg Config) (*Node, error) {
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seed := cfg.Seed ^ uint64(cfg.Self.Node)*0x9E3779B97F4A7C15
	n := &Node{
		cfg:       cfg,
		self:      cfg.Self,
		rng:       rand.New(rand.NewPCG(seed, cfg.Group)),
		log:       cfg.Logger,
		dedup:     newDedupTable(),
		suspected: map[NodeID]bool{},

		readyLearners: map[MemberID]bool{},
		replaced:      map[MemberID]bool{},
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Knobs != nil {
		n.bugs = *cfg.Knobs
	}
	n.hs.Incarnation = cfg.Self.Incarnation
	n.origin.init()
	return n, nil
}

// Bootstrap creates a member of a group's first view v (A16: a data group's
// view 1 is its map entry). Every member of v calls Bootstrap with the same
// record; v.Cut is usually zero. The first Ready carries the HardState to
// persist.
func Bootstrap(cfg Config, v View) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	if _, ok := v.Lookup(n.self); !ok {
		return nil, fmt.Errorf("%w: %v is not a member of the bootstrap view", ErrInvalidConfig, n.self)
	}
	if len(v.Members) == 0 || v.Members[0].Role != Voter {
		return nil, fmt.Errorf("%w: rank 0 of the bootstrap view must be a voter", ErrInvalidConfig)
	}
	if v.Cluster != cfg.Cluster || v.Group != cfg.Group || v.GroupIncarnation != cfg.GroupIncarnation {
		return nil, fmt.Errorf("%w: bootstrap view names another cluster, group or incarnation", ErrInvalidConfig)
	}
	n.elog.reset(v.Cut)
	n.stable, n.delivered, n.persisted = v.Cut, v.Cut, v.Cut
	n.installRecord(v.Clone())
	m, _ := v.Lookup(n.self)
	n.status = StatusNormal
	n.restoring = m.Role == Learner
	n.becomeRoleInView()
	return n, nil
}

// Join creates a new member that asks the given nodes to add it as a
// learner. It installs the first view that lists it, then waits for a
// snapshot (Restore) before it delivers anything (G7).
func Join(cfg Config, contacts []NodeID) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	n.status = StatusJoining
	n.restoring = true
	n.follower.contacts = append([]NodeID(nil), contacts...)
	n.sendJoin()
	return n, nil
}

// Status reports the member's status.
func (n *Node) Status() Status { return n.status }

// View returns a copy of the installed view record.
func (n *Node) View() View { return n.view.Clone() }

// Info is a snapshot of a member's positions for reads and monitoring.
type Info struct {
	Self      MemberID
	Status    Status
	View      uint64
	Role      Role
	Restoring bool
	Sequencer MemberID
	Held      Viewstamp
	Stable    Viewstamp
	Delivered Viewstamp
	// TicksSinceSequencer is how long ago this member last heard from its
	// sequencer (0 for the sequencer itself). "any" reads are served only
	// while it is below Config.TickStale (A13).
	TicksSinceSequencer uint64
	Pending             int
	// WaitingFor lists, while this member runs a view change (after a
	// total outage, say), the voters whose answer it still needs (L8's
	// restart-readiness report).
	WaitingFor []MemberID
}

// Info returns the member's current positions.
func (n *Node) Info() Info {
	m := n.selfRec
	i := Info{
		Self: n.self, Status: n.status, View: n.view.ID, Role: m.Role, Restoring: n.restoring,
		Sequencer: n.view.Sequencer(), Held: n.elog.last(), Stable: n.stable, Delivered: n.delivered,
		Pending: n.origin.count(),
	}
	if n.seq == nil {
		i.TicksSinceSequencer = n.now - n.follower.lastHeard
	}
	if n.vc.active {
		i.WaitingFor = n.waitingFor()
	} else if n.status == StatusRecovering || n.status == StatusFrozen {
		i.WaitingFor = n.vc.lastWaiting // from the last attempt
	}
	return i
}

// waitingFor lists the voters the running view-change attempt still needs.
func (n *Node) waitingFor() []MemberID {
	vc := &n.vc
	var out []MemberID
	for _, id := range n.view.Voters() {
		switch {
		case vc.phase == phasePrepare && !vc.promisedBy(id),
			vc.phase == phaseAccept && !vc.acceptedByHas(id):
			out = append(out, id)
		}
	}
	return out
}

// CanServeAny reports whether an "any" read may be served here now (A13):
// a NORMAL member that heard its sequencer within TickStale (for the
// sequencer: acks from a quorum within TickStale). An idle group sends
// nothing, so its clones go stale; the caller then confirms freshness with
// ReadIndex and serves the read once applied reaches the index.
//
// Ticks measure time only as well as the caller delivers them: a process
// that was paused (SIGSTOP, a long GC, starved) has not ticked, and would
// count a contact from before the pause as recent. A caller that serves
// reads from other goroutines therefore judges freshness at read time by
// its own monotonic clock from the moment LastContact last changed (racs
// does), and uses CanServeAny only as the core's half of the answer.
func (n *Node) CanServeAny() bool {
	if n.status != StatusNormal || n.restoring {
		return false
	}
	return n.now-n.LastContact() < uint64(n.cfg.TickStale)
}

// LastContact returns the tick of the latest contact that keeps "any"
// reads fresh: the last frame from the sequencer, at a follower; at the
// sequencer, the tick by which acks had come from a quorum of voters (the
// quorum's oldest latest ack; now, for a group of one voter).
func (n *Node) LastContact() uint64 {
	s := n.seq
	if s == nil {
		return n.follower.lastHeard
	}
	var buf [16]uint64
	acks := buf[:0]
	for i := range s.peers {
		if s.peers[i].voter {
			acks = append(acks, s.peers[i].lastAck)
		}
	}
	need := n.view.Quorum() - 1 // this member counts itself
	if need <= 0 {
		return n.now
	}
	if len(acks) < need {
		return 0
	}
	slices.SortFunc(acks, func(a, b uint64) int { return cmp.Compare(b, a) })
	return acks[need-1]
}

// Dedup returns the encoded dedup table at the delivered position.
func (n *Node) Dedup() []byte { return n.dedup.encode() }

// SetSuspected records the caller's failure detector's opinion of a node.
// Suspicion is only an input: it makes this member willing to promise to a
// proposer other than a suspected sequencer, and lets it propose a view
// change; the protocol decides (docs/design.md §3).
func (n *Node) SetSuspected(node NodeID, suspected bool) {
	if node == n.self.Node {
		return
	}
	if suspected {
		n.suspected[node] = true
	} else {
		delete(n.suspected, node)
	}
}

func (n *Node) jitter() uint64 {
	return uint64(n.rng.IntN(n.cfg.TickVC/2 + 1))
}

func (n *Node) send(m Message) {
	m.Cluster, m.Group, m.GroupIncarnation = n.cfg.Cluster, n.cfg.Group, n.cfg.GroupIncarnation
	m.View = n.view.ID
	m.From = n.self
	n.out.msgs = append(n.out.msgs, m)
}

// sendNode sends to the member on node to in the installed view (or with
// incarnation zero, accepted by any incarnation, when unknown).
func (n *Node) sendNode(to NodeID, m Message) {
	if mm, ok := n.view.LookupNode(to); ok {
		m.To = mm.ID
	} else {
		m.To = MemberID{Node: to}
	}
	n.send(m)
}

func (n *Node) logf(msg string, args ...any) {
	n.log.Debug(msg, append([]any{"node", n.self.Node, "group", n.cfg.Group, "view", n.view.ID}, args...)...)
}
