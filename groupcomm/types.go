package groupcomm

import (
	"fmt"
	"slices"
)

// NodeID names a node (a process with its own disk) in the cluster. It is
// the routing address of a message: the caller's transport maps it to a
// connection.
type NodeID uint64

// MemberID names one member of a group: a node together with the
// incarnation of its copy of the group. A durable member keeps its
// incarnation while its disk lives; a memory member gets a new incarnation
// at every start. A new incarnation is a new member (S4).
type MemberID struct {
	Node        NodeID
	Incarnation uint64
}

func (m MemberID) String() string { return fmt.Sprintf("%d.%d", m.Node, m.Incarnation) }

// IsZero reports whether m names no member.
func (m MemberID) IsZero() bool { return m == MemberID{} }

// Role says whether a member of a view counts in quorums.
type Role uint8

const (
	// Voter members count in Q(w), acknowledge for stability, accept
	// proposals and may be sequencer or donor.
	Voter Role = 1
	// Learner members receive every ORDER frame and acknowledge it only to
	// bound log retention. They count in no quorum (S3) until a view
	// change promotes them.
	Learner Role = 2
)

func (r Role) String() string {
	switch r {
	case Voter:
		return "voter"
	case Learner:
		return "learner"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Member is one ranked entry of a view record.
type Member struct {
	ID   MemberID
	Role Role
	// Donor names the member that sends a learner its state snapshot. It
	// is zero for voters.
	Donor MemberID
}

// Viewstamp names an entry: the view in which it was ordered and its
// sequence number. Viewstamps compare lexicographically; sequence numbers
// alone are reused above a cut and must never be compared without the view
// (S2).
type Viewstamp struct {
	View uint64
	Seq  uint64
}

// Less reports whether a orders before b.
func (a Viewstamp) Less(b Viewstamp) bool {
	if a.View != b.View {
		return a.View < b.View
	}
	return a.Seq < b.Seq
}

// Compare returns -1, 0 or +1.
func (a Viewstamp) Compare(b Viewstamp) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

func maxVS(a, b Viewstamp) Viewstamp {
	if a.Less(b) {
		return b
	}
	return a
}

func minVS(a, b Viewstamp) Viewstamp {
	if b.Less(a) {
		return b
	}
	return a
}

func (a Viewstamp) String() string { return fmt.Sprintf("(%d,%d)", a.View, a.Seq) }

// Ballot numbers a proposal in the Paxos instance that decides view
// Instance+1. Round 0 belongs to the sequencer of view Instance (the fast
// path). Ballots are totally ordered and unique because they carry the
// proposer's node (S12).
type Ballot struct {
	Instance uint64
	Round    uint64
	Node     NodeID
}

// Less reports whether a orders before b.
func (a Ballot) Less(b Ballot) bool {
	if a.Instance != b.Instance {
		return a.Instance < b.Instance
	}
	if a.Round != b.Round {
		return a.Round < b.Round
	}
	return a.Node < b.Node
}

// IsZero reports whether b is the zero ballot (nothing promised).
func (a Ballot) IsZero() bool { return a == Ballot{} }

func (a Ballot) String() string { return fmt.Sprintf("b(%d,%d,%d)", a.Instance, a.Round, a.Node) }

// View is a view record V_w: the members of the group from the
// installation of view ID until the next view is installed.
type View struct {
	Cluster          uint64
	Group            uint64
	GroupIncarnation uint64
	ID               uint64
	// Members in rank order. Rank 0 is a voter: coordinator and sequencer.
	// Voters keep their relative order across views; learners come last.
	Members []Member
	// Cut is the last entry delivered in earlier views; the sequencer of
	// this view numbers from Cut.Seq+1.
	Cut Viewstamp
	// Epoch is the partition-map epoch that caused this view.
	Epoch uint64
}

// Clone returns a deep copy of v.
func (v View) Clone() View {
	v.Members = slices.Clone(v.Members)
	return v
}

// Sequencer returns the rank-0 member, or the zero MemberID for an empty view.
func (v *View) Sequencer() MemberID {
	if len(v.Members) == 0 {
		return MemberID{}
	}
	return v.Members[0].ID
}

// Lookup returns the member record of id and whether id is a member.
func (v *View) Lookup(id MemberID) (Member, bool) {
	for _, m := range v.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// LookupNode returns the member of v that runs on node n.
func (v *View) LookupNode(n NodeID) (Member, bool) {
	for _, m := range v.Members {
		if m.ID.Node == n {
			return m, true
		}
	}
	return Member{}, false
}

// IsVoter reports whether id is a voter of v.
func (v *View) IsVoter(id MemberID) bool {
	m, ok := v.Lookup(id)
	return ok && m.Role == Voter
}

// Voters returns the voters of v in rank order.
func (v *View) Voters() []MemberID {
	out := make([]MemberID, 0, len(v.Members))
	for _, m := range v.Members {
		if m.Role == Voter {
			out = append(out, m.ID)
		}
	}
	return out
}

// VoterRank returns the rank of id among the voters of v, or -1.
func (v *View) VoterRank(id MemberID) int {
	r := 0
	for _, m := range v.Members {
		if m.Role != Voter {
			continue
		}
		if m.ID == id {
			return r
		}
		r++
	}
	return -1
}

// Quorum returns Q(w) = ⌊voters/2⌋+1.
func (v *View) Quorum() int { return v.NumVoters()/2 + 1 }

// NumVoters is the number of voters in the view.
func (v *View) NumVoters() int {
	n := 0
	for _, m := range v.Members {
		if m.Role == Voter {
			n++
		}
	}
	return n
}

// Equal reports whether two view records are identical.
func (v *View) Equal(o *View) bool {
	return v.Cluster == o.Cluster && v.Group == o.Group && v.GroupIncarnation == o.GroupIncarnation &&
		v.ID == o.ID && v.Cut == o.Cut && v.Epoch == o.Epoch && slices.Equal(v.Members, o.Members)
}

func (v View) String() string {
	s := fmt.Sprintf("v%d{", v.ID)
	for i, m := range v.Members {
		if i > 0 {
			s += " "
		}
		s += m.ID.String()
		if m.Role == Learner {
			s += "L"
			if !m.Donor.IsZero() {
				s += "<" + m.Donor.String()
			}
		}
	}
	return s + fmt.Sprintf("} cut=%v e=%d", v.Cut, v.Epoch)
}

// EntryID names a submission: its origin member and the origin's counter.
// The group delivers each EntryID at most once (S8).
type EntryID struct {
	Origin  MemberID
	Counter uint64
}

func (e EntryID) String() string { return fmt.Sprintf("%v#%d", e.Origin, e.Counter) }

// Entry is one ordered update.
type Entry struct {
	VS      Viewstamp
	ID      EntryID
	Payload []byte
}

// ChangeKind names a membership delta (A12: the Propose API takes deltas,
// merged by the coordinator, never whole member lists).
type ChangeKind uint8

const (
	// AddLearner adds a member as a learner with a donor.
	AddLearner ChangeKind = 1
	// Promote turns a learner that sent Ready into a voter.
	Promote ChangeKind = 2
	// Remove excludes a member.
	Remove ChangeKind = 3
	// Readmit runs a view change that keeps a recovering member, so that it
	// re-synchronises through the view change (S7).
	Readmit ChangeKind = 4
	// Lead makes a voter the next view's first member, so its sequencer:
	// a planned hand-off (the placer rebalancing sequencers after failures
	// left them on one node). The view change is an ordinary one — the
	// same Paxos instance, the same cut — that only reorders the voters.
	Lead ChangeKind = 5
)

func (k ChangeKind) String() string {
	switch k {
	case AddLearner:
		return "add"
	case Promote:
		return "promote"
	case Remove:
		return "remove"
	case Readmit:
		return "readmit"
	case Lead:
		return "lead"
	}
	return fmt.Sprintf("change(%d)", uint8(k))
}

// Change is one membership delta.
type Change struct {
	Kind   ChangeKind
	Member MemberID
	// Epoch is the partition-map epoch that asked for the change; a group
	// ignores changes from an epoch older than its view's (S11).
	Epoch uint64
}

func (c Change) String() string { return fmt.Sprintf("%v:%v", c.Kind, c.Member) }
