package clone

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
)

// SnapshotData encodes the clone's state at its applied position: the
// idempotency table and the state machine. A donor calls it for a
// groupcomm.SnapshotRequest right after Apply of the Ready that carried
// the request (the request's position is the applied one).
func (c *Clone) SnapshotData() ([]byte, error) {
	var buf bytes.Buffer
	idem := c.idem.encode()
	buf.Write(binary.AppendUvarint(nil, uint64(len(idem))))
	buf.Write(idem)
	if err := c.cfg.StateMachine.Snapshot(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// restoreData restores what SnapshotData encoded.
func (c *Clone) restoreData(data []byte) error {
	l, n := binary.Uvarint(data)
	if n <= 0 || l > uint64(len(data)-n) {
		return fmt.Errorf("%w: header", ErrBadSnapshot)
	}
	idem, rest, err := decodeIdem(data[n:n+int(l)], c.cfg.IdempotencyWindow)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("%w: idempotency table", ErrBadSnapshot)
	}
	if err := c.cfg.StateMachine.Restore(bytes.NewReader(data[n+int(l):])); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	c.idem = idem
	return nil
}

// InstallSnapshot takes a donor's snapshot at pos with the core's dedup
// table at pos (a learner, G7): it checks that the core can take it
// (groupcomm.Node.CheckRestore: a restoring learner, a position at or
// after its cut), restores the state machine and the idempotency table
// from data, and returns the write that persists the snapshot and
// replaces the log at and below pos (ok false for a memory clone). The
// caller persists it, then calls Restored; nothing is delivered
// meanwhile. A snapshot the core cannot take changes nothing.
//
// The snapshot may be ahead of the entries the learner buffered (they
// stopped, the donor went on): the log pieces below it are stale, and the
// write deletes them, so that a restart finds the snapshot and then only
// entries after it.
func (c *Clone) InstallSnapshot(pos groupcomm.Viewstamp, dedup, data []byte) (w replica.GroupWrite, ok bool, err error) {
	if err := c.core.CheckRestore(pos); err != nil {
		return replica.GroupWrite{}, false, err
	}
	if err := c.restoreData(data); err != nil {
		return replica.GroupWrite{}, false, err
	}
	c.applied = pos
	c.sinceSnap, c.sinceSnapBytes, c.lastSnapBytes = 0, 0, uint64(len(data))
	if !c.cfg.Durable {
		return replica.GroupWrite{}, false, nil
	}
	w = replica.GroupWrite{Group: c.cfg.Group, Snapshot: &replica.Snapshot{Pos: pos, Dedup: dedup, Data: data}}
	if !c.knobs.RestartGapFreeStart {
		w.CompactTo = pos.Seq
	}
	return w, true, nil
}

// Restored tells the core the snapshot InstallSnapshot took is durable
// (groupcomm.Node.Restore): the core then delivers exactly the entries
// after pos.
func (c *Clone) Restored(pos groupcomm.Viewstamp, dedup []byte) error {
	return c.core.Restore(pos, dedup)
}
