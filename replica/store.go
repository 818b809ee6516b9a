package replica

import (
	"errors"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// GroupID names a clone group on a node.
type GroupID uint64

// Snapshot is a group's state at a delivered position.
type Snapshot struct {
	// Pos is the position the snapshot covers: every entry up to Pos.
	Pos groupcomm.Viewstamp
	// Dedup is the groupcomm dedup table at Pos.
	Dedup []byte
	// Data is the service state (with the idempotency table) at Pos, as
	// racs encodes it.
	Data []byte
}

// MaxViews is how many view records a store keeps per group (the most
// recent ones): a member can answer a member behind it by up to this many
// views with the records it missed.
const MaxViews = 256

// GroupWrite is what one group persists in a batch. Apply order:
// TruncateAbove, then Entries, then HardState, View, StableHint, Snapshot,
// then CompactTo.
type GroupWrite struct {
	Group         GroupID
	HardState     *groupcomm.HardState
	TruncateAbove *groupcomm.Viewstamp
	Entries       []groupcomm.Entry
	// View is a view record the member installed (Ready.NewView): the
	// store keeps the MaxViews records with the highest ids, one per id (a
	// record with the id of a kept one replaces it).
	View       *groupcomm.View
	StableHint groupcomm.Viewstamp
	Snapshot   *Snapshot
	// CompactTo deletes log entries with Seq ≤ CompactTo (they are covered
	// by a persisted snapshot). Zero keeps the log.
	CompactTo uint64
	// Delete removes the group and everything it stored.
	Delete bool
}

// Batch is one node-wide durable write.
type Batch struct {
	Writes []GroupWrite
}

// GroupState is what Load returns for one group.
type GroupState struct {
	HardState  *groupcomm.HardState
	Log        []groupcomm.Entry // ascending by Seq
	StableHint groupcomm.Viewstamp
	Snapshot   *Snapshot
	Views      []groupcomm.View // ascending by ID, at most MaxViews
}

// Store persists the protocol state of every group of a node.
type Store interface {
	// Write makes the whole batch durable in one transaction (one fsync),
	// or fails; after a failure the node must stop.
	Write(b *Batch) error
	// Load returns what was persisted for a group (zero state if none).
	Load(g GroupID) (GroupState, error)
	// Groups lists the groups that have persisted state.
	Groups() ([]GroupID, error)
	// Close releases the store.
	Close() error
}

// Sentinel errors.
var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("replica: store closed")
	// ErrInjected: a FaultyStore failed a write on purpose.
	ErrInjected = errors.New("replica: injected write failure")
	// ErrCorrupt: persisted data could not be decoded.
	ErrCorrupt = errors.New("replica: corrupt persisted data")
)
