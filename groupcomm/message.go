package groupcomm

import "fmt"

// MsgType names a protocol message.
type MsgType uint8

// Message types. The comment of each says who sends it to whom and which
// fields it uses besides the header (Cluster, Group, GroupIncarnation,
// View, From, To), which every message carries for fencing.
const (
	// MsgSubmit: origin → sequencer. Entries (ID and Payload; VS zero).
	// View is the view the origin submits in; a sequencer orders only
	// Submits of its own view.
	MsgSubmit MsgType = iota + 1
	// MsgOrder: sequencer → every member. Entries (consecutive, VS set),
	// Stable, Retain (every member acked up to Retain), Frame (the frame
	// number, for read-index rounds). A frame without entries announces
	// Stable and probes for acks.
	MsgOrder
	// MsgAck: member → sequencer. VS = highest gap-free entry held and
	// persisted in this view; Frame = highest frame received.
	MsgAck
	// MsgNack: member → sequencer. VS = highest gap-free entry held; the
	// sequencer resends from there.
	MsgNack
	// MsgPrepare: proposer → voters of view Ballot.Instance. Ballot.
	MsgPrepare
	// MsgPromise: voter → proposer. Ballot; Accepted and Proposal (the
	// accepted proposal of this instance, if any); VS = last view-w entry
	// held else the cut of w; Installed = installed view id.
	MsgPromise
	// MsgAccept: proposer → voters of w and of w+1. Ballot, Proposal, and
	// Entries the recipient is believed to lack up to Proposal.Cut.
	MsgAccept
	// MsgAccepted: acceptor → proposer. Ballot, Proposal.ID.
	MsgAccepted
	// MsgReject: acceptor → proposer. Ballot = the ballot the acceptor has
	// promised, so the proposer can pick a higher round; Reason says why.
	MsgReject
	// MsgCommit: anyone who knows the decision → members of w and w+1.
	// Proposal = the decided view record V_{w+1}. Also the answer to a
	// member that is behind (Decided, S5).
	MsgCommit
	// MsgCommitAck: member → sender of a Commit: I installed Proposal.ID
	// (or a later view, in View).
	MsgCommitAck
	// MsgFetch: member → member. Send me the entries in (VS, Hi].
	MsgFetch
	// MsgEntries: answer to MsgFetch. Entries, Hi (the range asked).
	MsgEntries
	// MsgNeedView: a member that got a message from a later view asks the
	// sender for the view records after View.
	MsgNeedView
	// MsgPropose: member → sequencer. Changes to batch into the next view.
	MsgPropose
	// MsgJoin: a new member → known members: add me as a learner.
	MsgJoin
	// MsgRejoin: a restarted (RECOVERING) member → members of its latest
	// view: re-admit me through a view change (S7).
	MsgRejoin
	// MsgLearnerReady: learner → sequencer. VS = the snapshot position p;
	// promote me.
	MsgLearnerReady
	// MsgSnapshotAsk: learner → donor. Send me a snapshot (again).
	MsgSnapshotAsk
	// MsgReadIndex: member → sequencer. ReadID.
	MsgReadIndex
	// MsgReadIndexResp: sequencer → member. ReadID, VS = the read index r
	// (zero with Reject set when the sequencer cannot confirm).
	MsgReadIndexResp
)

var msgNames = [...]string{
	MsgSubmit: "Submit", MsgOrder: "Order", MsgAck: "Ack", MsgNack: "Nack",
	MsgPrepare: "Prepare", MsgPromise: "Promise", MsgAccept: "Accept",
	MsgAccepted: "Accepted", MsgReject: "Reject", MsgCommit: "Commit",
	MsgCommitAck: "CommitAck", MsgFetch: "Fetch", MsgEntries: "Entries",
	MsgNeedView: "NeedView", MsgPropose: "Propose", MsgJoin: "Join",
	MsgRejoin: "Rejoin", MsgLearnerReady: "LearnerReady",
	MsgSnapshotAsk: "SnapshotAsk", MsgReadIndex: "ReadIndex",
	MsgReadIndexResp: "ReadIndexResp",
}

func (t MsgType) String() string {
	if int(t) < len(msgNames) && msgNames[t] != "" {
		return msgNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// maxMsgType is the highest defined message type.
const maxMsgType = MsgReadIndexResp

// Message is one protocol message. It is a flat struct (like raftpb's):
// each type uses the fields its constant's comment names.
type Message struct {
	Type MsgType

	// Fencing header, carried by every message.
	Cluster          uint64
	Group            uint64
	GroupIncarnation uint64
	// View is the id of the sender's installed view.
	View uint64
	From MemberID
	To   MemberID

	Entries []Entry
	Stable  Viewstamp
	Retain  Viewstamp
	VS      Viewstamp
	Hi      Viewstamp
	Frame   uint64

	Ballot    Ballot
	Accepted  Ballot
	Proposal  *View
	Installed uint64

	Changes []Change
	ReadID  uint64
	Reject  bool
}

func (m Message) String() string {
	s := fmt.Sprintf("%v %v->%v v%d", m.Type, m.From, m.To, m.View)
	switch m.Type {
	case MsgSubmit:
		s += fmt.Sprintf(" n=%d", len(m.Entries))
	case MsgOrder:
		if len(m.Entries) > 0 {
			s += fmt.Sprintf(" %v..%v", m.Entries[0].VS, m.Entries[len(m.Entries)-1].VS)
		}
		s += fmt.Sprintf(" stable=%v f=%d", m.Stable, m.Frame)
	case MsgAck:
		s += fmt.Sprintf(" %v f=%d", m.VS, m.Frame)
	case MsgNack:
		s += fmt.Sprintf(" from=%v", m.VS)
	case MsgPrepare, MsgAccepted, MsgReject:
		s += " " + m.Ballot.String()
	case MsgPromise:
		s += fmt.Sprintf(" %v last=%v inst=%d", m.Ballot, m.VS, m.Installed)
		if m.Proposal != nil {
			s += fmt.Sprintf(" acc=%v %v", m.Accepted, *m.Proposal)
		}
	case MsgAccept:
		s += fmt.Sprintf(" %v %v n=%d", m.Ballot, *m.Proposal, len(m.Entries))
	case MsgCommit:
		if m.Proposal != nil {
			s += " " + m.Proposal.String()
		}
	case MsgFetch:
		s += fmt.Sprintf(" (%v,%v]", m.VS, m.Hi)
	case MsgEntries:
		s += fmt.Sprintf(" n=%d hi=%v", len(m.Entries), m.Hi)
	case MsgPropose:
		s += fmt.Sprintf(" %v", m.Changes)
	case MsgLearnerReady:
		s += fmt.Sprintf(" p=%v", m.VS)
	case MsgReadIndex:
		s += fmt.Sprintf(" id=%d", m.ReadID)
	case MsgReadIndexResp:
		s += fmt.Sprintf(" id=%d r=%v reject=%v", m.ReadID, m.VS, m.Reject)
	}
	return s
}
