package racs

import (
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Packet is what one node sends another about one group: a protocol
// message, or a piece of a state transfer. A Call packet is about no
// group (Group is 0): it is one frame of a request/response exchange
// between nodes, handed to Config.OnCall rather than to a group's worker.
type Packet struct {
	From, To groupcomm.NodeID
	Group    replica.GroupID
	// Exactly one of the following is set.
	Msg      *groupcomm.Message
	Chunk    *Chunk
	ChunkAck *ChunkAck
	Probe    *Probe
	Call     *Call
}

// Call is one frame of a request/response exchange between two nodes
// (internal/rpc speaks it over the same Transport as the groups). ID names
// the exchange at the calling node; Reply is set on frames travelling
// back to the caller. Body is opaque to racs and to the transport (rpc's
// header and payload); a received Body may alias the transport's buffer,
// which is never reused.
type Call struct {
	ID    uint64
	Reply bool
	Body  []byte
}

// Probe asks whether a group exists on the receiving node, before the
// sender creates it (its first view, GroupConfig.Create; see create.go).
// Answer is set on the reply; Exists says the replying node holds state
// for the group (or is joining it); Fresh, that it started the first view
// in the creation round the asker took part in and nothing has happened in
// the group since, so the asker may still start as a member of it.
type Probe struct {
	GroupIncarnation uint64
	Answer           bool
	Exists           bool
	Fresh            bool
}

// SnapshotID names one snapshot: a transfer resumes only under the same id
// (S9).
type SnapshotID struct {
	Pos    groupcomm.Viewstamp
	Size   uint64
	Digest uint64
}

// Chunk is a piece of a snapshot sent by a donor to a learner.
type Chunk struct {
	ID     SnapshotID
	To     groupcomm.MemberID
	Offset uint64
	Data   []byte
	// Dedup is the groupcomm dedup table at ID.Pos (every chunk carries it;
	// it is small).
	Dedup []byte
}

// ChunkAck tells the donor how much of a snapshot the learner holds.
type ChunkAck struct {
	ID   SnapshotID
	From groupcomm.MemberID
	// Next is the offset the learner expects next; Done is set when it
	// restored the snapshot.
	Next uint64
	Done bool
}

// Transport carries packets between nodes. It is owned by the caller of
// racs (the node binary wires the TCP one; tests wire the in-memory one).
// Send must not block for long: a transport may drop packets under
// pressure, since the protocol resends what matters (rpc does not: a lost
// Call frame fails the call at its deadline). Packets for this node are
// handed to Host.Deliver.
type Transport interface {
	Send(p []Packet)
}
