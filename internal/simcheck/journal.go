package simcheck

import "github.com/quicksilver-go/quicksilver/groupcomm"

// Kind names what a journal event records.
type Kind uint8

const (
	// Install: the member installed View (Restoring: it has no state yet).
	Install Kind = iota + 1
	// Deliver: the member delivered Entry in view InView (Delivery.InView);
	// Dup marks a duplicate it skipped; Digest is its state's digest after.
	Deliver
	// Accept: the member accepted proposal View with Ballot (as it
	// accepted it, before any persistence).
	Accept
	// Read: a strict read at the member got index Pos; ReadMin is the
	// highest seq acknowledged anywhere when the read was issued.
	Read
	// Restore: the member restored a donor's snapshot at Pos with Digest.
	Restore
	// Restart: the member restarted from its store, installed View,
	// applied up to Pos with Digest, holding its log up to Held;
	// Restoring: it came back without state.
	Restart
	// NewIncarnation: the node started a new incarnation, Member, that
	// joins.
	NewIncarnation
	// Removed: the member learned it is no longer in the group.
	Removed
	// Ack: the member acknowledged holding (persisted) every entry up to
	// Pos to its sequencer.
	Ack
)

func (k Kind) String() string {
	switch k {
	case Install:
		return "install"
	case Deliver:
		return "deliver"
	case Accept:
		return "accept"
	case Read:
		return "read"
	case Restore:
		return "restore"
	case Restart:
		return "restart"
	case NewIncarnation:
		return "newinc"
	case Removed:
		return "removed"
	case Ack:
		return "ack"
	}
	return "?"
}

// Event is one line of a node's journal.
type Event struct {
	Kind      Kind
	Member    groupcomm.MemberID // the member's identity when it happened
	Step      int
	View      groupcomm.View
	Entry     groupcomm.Entry
	InView    uint64
	Dup       bool
	Ballot    groupcomm.Ballot
	Pos       groupcomm.Viewstamp
	Held      groupcomm.Viewstamp
	Digest    uint64
	ReadMin   uint64
	Restoring bool
}

// Final is a live member's state after healing.
type Final struct {
	Member    groupcomm.MemberID
	View      uint64
	Delivered groupcomm.Viewstamp
	Digest    uint64
}

// Run is what a simulation hands the checker about one group.
type Run struct {
	// Bootstrap is the group's first view.
	Bootstrap groupcomm.View
	// Order lists the nodes; Journals holds each node's events in order
	// (all its incarnations, one after the other).
	Order    []groupcomm.NodeID
	Journals map[groupcomm.NodeID][]Event
	// Submitted holds the payload of every submission (by its id);
	// Acked, the position of every update whose client was told success.
	Submitted map[groupcomm.EntryID][]byte
	Acked     map[groupcomm.EntryID]groupcomm.Viewstamp
	// A simulation that does not learn the ids of its submissions (racs
	// hides them) names them by payload instead: Payloads holds every
	// payload submitted (unique per submission), AckedPayloads the
	// position each acknowledged one was applied at.
	Payloads      map[string]bool
	AckedPayloads map[string]groupcomm.Viewstamp
	// Settled: after the failures stopped, every live member reached the
	// same view and position. Final lists the live members then.
	Settled bool
	Final   []Final
	// Describe is printed with a P11 violation (the members' states).
	Describe string
}

// Result is the checker's verdict on one run.
type Result struct {
	Violations []string
	Views      int
	Delivered  int
	Acked      int
}
