package clone

import (
	"encoding/binary"
	"fmt"
)

const envelopeVersion = 1

// Envelope is an update as it travels through the group: a version byte,
// the client's idempotency key (possibly empty) and the service's update.
// Make one with NewEnvelope; a caller may build it on its own goroutine.
type Envelope []byte

// NewEnvelope wraps update and the client's idempotency key.
func NewEnvelope(key string, update []byte) Envelope {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(key)+len(update))
	b = append(b, envelopeVersion)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, update...)
}

// DecodeEnvelope splits an envelope into the key and the update.
func DecodeEnvelope(b []byte) (key string, update []byte, err error) {
	if len(b) < 2 || b[0] != envelopeVersion {
		return "", nil, fmt.Errorf("%w: version", ErrBadEnvelope)
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return "", nil, fmt.Errorf("%w: key length", ErrBadEnvelope)
	}
	off := 1 + k
	return string(b[off : off+int(n)]), b[off+int(n):], nil
}
