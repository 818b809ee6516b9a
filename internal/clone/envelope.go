package racs

import (
	"encoding/binary"
	"fmt"
)

// An update travels through groupcomm as an envelope: a version byte, the
// client's idempotency key (possibly empty) and the service's update.
const envelopeVersion = 1

func encodeEnvelope(key string, update []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(key)+len(update))
	b = append(b, envelopeVersion)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, update...)
}

func decodeEnvelope(b []byte) (key string, update []byte, err error) {
	if len(b) < 2 || b[0] != envelopeVersion {
		return "", nil, fmt.Errorf("racs: bad update envelope")
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return "", nil, fmt.Errorf("racs: bad update envelope key length")
	}
	off := 1 + k
	return string(b[off : off+int(n)]), b[off+int(n):], nil
}
