package simcheck

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
)

// DigestMachine is the simulations' replicated service (a
// replica.StateMachine): a running hash of every applied update and their
// count. Two clones that applied the same updates in the same order hold
// the same digest.
type DigestMachine struct {
	digest uint64
	count  uint64
}

// Apply folds the update into the digest and returns the new digest.
func (m *DigestMachine) Apply(update []byte) []byte {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], m.digest)
	h.Write(b[:])
	h.Write(update)
	m.digest = h.Sum64()
	m.count++
	return binary.LittleEndian.AppendUint64(nil, m.digest)
}

// Query returns the digest and the count.
func (m *DigestMachine) Query([]byte) ([]byte, error) {
	b := binary.LittleEndian.AppendUint64(nil, m.digest)
	return binary.LittleEndian.AppendUint64(b, m.count), nil
}

// Snapshot writes the digest and the count.
func (m *DigestMachine) Snapshot(w io.Writer) error {
	b, _ := m.Query(nil)
	_, err := w.Write(b)
	return err
}

// Restore reads what Snapshot wrote.
func (m *DigestMachine) Restore(r io.Reader) error {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return errors.New("simcheck: bad digest snapshot")
	}
	m.digest = binary.LittleEndian.Uint64(b[:8])
	m.count = binary.LittleEndian.Uint64(b[8:])
	return nil
}

// Digest returns the running digest.
func (m *DigestMachine) Digest() uint64 { return m.digest }

// Count returns the number of updates applied.
func (m *DigestMachine) Count() uint64 { return m.count }
