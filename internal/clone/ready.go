package clone

import (
	"fmt"
	"hash/crc64"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Write returns what a durable clone persists for rd, before rd's messages
// leave (except the sequencer's ORDER frames): its truncation, entries,
// HardState, the view record it installed (kept so that it can answer a
// member behind it after a restart) and the stable hint. ok is false when
// there is nothing to write (or the clone is not durable). The caller may
// batch the writes of many clones into one Store.Write (one fsync).
func (c *Clone) Write(rd *groupcomm.Ready) (w replica.GroupWrite, ok bool) {
	if !c.cfg.Durable || (rd.HardState == nil && rd.TruncateAbove == nil && len(rd.Entries) == 0 && rd.NewView == nil) {
		return replica.GroupWrite{}, false
	}
	return replica.GroupWrite{Group: c.cfg.Group, HardState: rd.HardState, TruncateAbove: rd.TruncateAbove,
		Entries: rd.Entries, View: rd.NewView, StableHint: rd.StableHint}, true
}

// Applied describes one delivery after Apply handled it.
type Applied struct {
	*groupcomm.Delivery
	// Result is the state machine's answer (the first answer, for a retry
	// with an idempotency key already applied); nil for a duplicate.
	Result []byte
	// Replayed is set when the update's idempotency key was applied
	// before: Result is that first answer and the state did not change.
	Replayed bool
	// Err is set when the update was refused identically at every clone:
	// ErrKeyReused (its idempotency key was used before with a different
	// update; nothing was applied) or ErrBadEnvelope.
	Err error
}

// Apply applies rd's deliveries in order, once rd was persisted (Write)
// and its messages sent: each through the idempotency table and the state
// machine, skipping duplicates and malformed envelopes identically at
// every clone. fn, if not nil, sees each delivery after it was applied (the
// Delivery is rd's: copy what must outlive Advance).
//
// A durable clone snapshots its state every SnapshotEvery updates (and,
// with AmortizeSnapshots, once those carry as many bytes as the last
// snapshot), between two Applies; Apply then returns the write that persists the snapshot and
// compacts the log below it. The caller persists it (alone or with other
// writes) before the next Apply; losing it loses nothing, since the log
// still holds what it covers.
func (c *Clone) Apply(rd *groupcomm.Ready, fn func(Applied)) *replica.GroupWrite {
	if len(rd.Deliveries) == 0 {
		return nil
	}
	for i := range rd.Deliveries {
		d := &rd.Deliveries[i]
		a := Applied{Delivery: d}
		if !d.Duplicate {
			a.Result, a.Replayed, a.Err = c.applyEntry(d)
		}
		c.applied = d.VS
		c.sinceSnap++
		c.sinceSnapBytes += uint64(len(d.Payload))
		if fn != nil {
			fn(a)
		}
	}
	if c.cfg.Durable && c.cfg.SnapshotEvery > 0 && c.sinceSnap >= c.cfg.SnapshotEvery &&
		(!c.cfg.AmortizeSnapshots || c.sinceSnapBytes >= c.lastSnapBytes) {
		return c.snapshotWrite()
	}
	return nil
}

// applyEntry applies one delivered update, honouring its idempotency key:
// a retry with the key returns the first result; the key with a different
// update is refused (and changes nothing). replayed: the key's first
// result was returned and nothing applied.
func (c *Clone) applyEntry(d *groupcomm.Delivery) (res []byte, replayed bool, err error) {
	key, update, err := DecodeEnvelope(d.Payload)
	if err != nil {
		return nil, false, err // every clone skips the same malformed entry
	}
	var digest uint64
	if key != "" {
		digest = updateDigest(update)
		if res, found, reused := c.idem.lookup(key, digest); reused {
			return nil, false, fmt.Errorf("%w: key %q", ErrKeyReused, key)
		} else if found {
			return res, true, nil
		}
	}
	res = c.cfg.StateMachine.Apply(update)
	if key != "" {
		c.idem.record(key, res, d.VS.Seq, digest)
	}
	return res, false, nil
}

var digestTable = crc64.MakeTable(crc64.ECMA)

// updateDigest names an update under an idempotency key; never zero (zero
// means "unknown" in the table).
func updateDigest(u []byte) uint64 { return crc64.Checksum(u, digestTable) | 1 }

// snapshotWrite encodes the state at the applied position and returns the
// write that persists it and compacts the log below it, keeping LogTail
// entries.
func (c *Clone) snapshotWrite() *replica.GroupWrite {
	data, err := c.SnapshotData()
	if err != nil {
		return nil // the log still holds everything; try again later
	}
	c.sinceSnap, c.sinceSnapBytes, c.lastSnapBytes = 0, 0, uint64(len(data))
	pos := c.applied
	return &replica.GroupWrite{Group: c.cfg.Group, CompactTo: c.compactTo(pos),
		Snapshot: &replica.Snapshot{Pos: pos, Dedup: c.core.Dedup(), Data: data}}
}

// compactTo is how far the log may go below a snapshot at pos: keep
// LogTail entries, and what some member still lacks, up to MaxLogLag.
func (c *Clone) compactTo(pos groupcomm.Viewstamp) uint64 {
	sub := func(a, b uint64) uint64 {
		if a > b {
			return a - b
		}
		return 0
	}
	compact := sub(pos.Seq, c.cfg.LogTail)
	keepFor := max(c.core.Retained().Seq, sub(pos.Seq, c.cfg.MaxLogLag))
	return min(compact, keepFor)
}

// Advance tells the core rd was handled (groupcomm.Node.Advance).
func (c *Clone) Advance(rd groupcomm.Ready) { c.core.Advance(rd) }
