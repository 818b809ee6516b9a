package groupcomm

// HardState is what a durable member must persist before it replies to a
// Prepare or an Accept (S4) and before it acknowledges entries.
type HardState struct {
	// Incarnation of this member (its MemberID.Incarnation).
	Incarnation uint64
	// Promised is the highest ballot this member promised.
	Promised Ballot
	// Accepted and AcceptedView are the last proposal this member accepted,
	// in instance Accepted.Instance; AcceptedView is nil when none.
	Accepted     Ballot
	AcceptedView *View
	// Installed is the installed view record.
	Installed View
	// OriginEpoch counts the restarts of this (durable) member. Its
	// submissions are numbered from OriginEpoch<<40, so a restarted member
	// never reuses an EntryID it gave out before the crash.
	OriginEpoch uint64
}

// Delivery is one entry the caller must apply, in order.
type Delivery struct {
	Entry
	// InView is the view in which the entry is delivered: always the view
	// in which it was ordered (G4), Entry.VS.View, also when a restarted
	// member replays its log (its installed view may be later).
	InView uint64
	// Duplicate is set when the entry's ID was delivered before (a
	// resubmission): the caller must not apply it again, but an origin
	// may complete its future with the first result.
	Duplicate bool
}

// SnapshotRequest asks the caller, as donor, to take a snapshot of its
// state machine at position Pos — after applying this Ready's Deliveries
// and before applying any later one (or copy-on-write) — and to send it to
// the learner To, together with Dedup.
type SnapshotRequest struct {
	To    MemberID
	Pos   Viewstamp
	Dedup []byte
	View  uint64
}

// ReadState answers a ReadIndex call: the caller may serve the strict read
// ReadID once its applied position has reached Index. Err is set when the
// read cannot be confirmed (no quorum, view change, not a member): the
// caller answers 503.
type ReadState struct {
	ReadID uint64
	Index  Viewstamp
	Err    error
}

// Outcome tells an origin that one of its pending submissions ended without
// being delivered: Err is ErrNotOrdered (safe to retry: it can never be
// delivered) when this member was removed from the group.
type Outcome struct {
	ID  EntryID
	Err error
}

// Ready is a batch of work for the caller. Handle it in this order (A9):
//
//  1. Persist, in one transaction (one fsync per node per batch, across all
//     groups of the node): if TruncateAbove is set, delete every persisted
//     entry whose Seq is above TruncateAbove.Seq; then append Entries (keyed
//     by Seq: an entry may replace a truncated one with the same Seq); then
//     HardState if not nil; StableHint may be written lazily. A memory
//     member skips this step.
//  2. Send Messages. Only the sequencer's MsgOrder frames may be sent before
//     step 1 completes; every other message must wait for it.
//  3. Apply Deliveries in order (skipping those marked Duplicate); then take
//     the Snapshots asked for; hand ReadStates and Outcomes to their waiters.
//  4. Call Advance(rd).
//
// Ready is not called again before Advance. Entries and Deliveries belong
// to the node again after Advance (their arrays are reused): copy what
// must outlive it. Messages, and the entries and payloads they carry, are
// never reused, so a transport may hold them.
type Ready struct {
	HardState     *HardState
	TruncateAbove *Viewstamp
	Entries       []Entry
	StableHint    Viewstamp

	Messages []Message

	Deliveries []Delivery
	// NewView is set when this member installed a view in this Ready; it
	// comes after the Deliveries of the old view (A6).
	NewView *View
	// Removed is set when this member was excluded from the group or left
	// it: the caller stops the member after handling this Ready.
	Removed    bool
	Snapshots  []SnapshotRequest
	ReadStates []ReadState
	Outcomes   []Outcome
}

// Empty reports whether rd holds no work.
func (rd *Ready) Empty() bool {
	return rd.HardState == nil && rd.TruncateAbove == nil && len(rd.Entries) == 0 &&
		len(rd.Messages) == 0 && len(rd.Deliveries) == 0 && rd.NewView == nil &&
		!rd.Removed && len(rd.Snapshots) == 0 && len(rd.ReadStates) == 0 && len(rd.Outcomes) == 0
}
