package clone

import (
	"encoding/binary"
	"fmt"
)

// idemTable is the replicated idempotency table (G6): the result of every
// update that carried a client key, remembered for window later updates.
// It is part of the replicated state: every clone updates it in the same
// order, and it travels in snapshots, so a retry with the same key returns
// the first result at every clone, exactly once.
type idemTable struct {
	window  uint64
	results map[string]idemRecord
	order   []idemKey // insertion order, for expiry by sequence
}

type idemRecord struct {
	result []byte
	seq    uint64
	// digest names the update applied under the key (0: unknown, a record
	// decoded from an older snapshot): a retry with the key must carry the
	// same update, as payment APIs require.
	digest uint64
}

type idemKey struct {
	key string
	seq uint64
}

func newIdemTable(window uint64) *idemTable {
	return &idemTable{window: window, results: map[string]idemRecord{}}
}

// lookup returns the first result under key; reused reports that the key
// came with a different update (digest) than the one applied under it.
func (t *idemTable) lookup(key string, digest uint64) (result []byte, found, reused bool) {
	r, ok := t.results[key]
	if !ok {
		return nil, false, false
	}
	return r.result, true, r.digest != 0 && r.digest != digest
}

// record remembers key's result (and the update's digest) at seq and
// forgets keys older than the window (deterministically: by sequence,
// identically at every clone).
func (t *idemTable) record(key string, result []byte, seq, digest uint64) {
	t.results[key] = idemRecord{result: result, seq: seq, digest: digest}
	t.order = append(t.order, idemKey{key, seq})
	for len(t.order) > 0 && t.order[0].seq+t.window < seq {
		old := t.order[0]
		t.order = t.order[1:]
		if r, ok := t.results[old.key]; ok && r.seq == old.seq {
			delete(t.results, old.key)
		}
	}
}

// Slot kinds of the encoding: a superseded slot, a record without the
// update's digest (written before digests were kept), a record with it.
const (
	idemSlotEmpty    = 0
	idemSlotNoDigest = 1
	idemSlotDigest   = 2
)

func (t *idemTable) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(len(t.order)))
	for _, k := range t.order {
		r, ok := t.results[k.key]
		if !ok || r.seq != k.seq {
			b = binary.AppendUvarint(b, idemSlotEmpty)
			continue
		}
		b = binary.AppendUvarint(b, idemSlotDigest)
		b = binary.AppendUvarint(b, uint64(len(k.key)))
		b = append(b, k.key...)
		b = binary.AppendUvarint(b, k.seq)
		b = binary.AppendUvarint(b, r.digest)
		b = binary.AppendUvarint(b, uint64(len(r.result)))
		b = append(b, r.result...)
	}
	return b
}

func decodeIdem(b []byte, window uint64) (*idemTable, []byte, error) {
	t := newIdemTable(window)
	bad := fmt.Errorf("%w: idempotency table", ErrBadSnapshot)
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytes := func() ([]byte, bool) {
		l, ok := next()
		if !ok || l > uint64(len(b)) {
			return nil, false
		}
		v := b[:l:l]
		b = b[l:]
		return v, true
	}
	count, ok := next()
	if !ok || count > uint64(len(b)) {
		return nil, nil, bad
	}
	for i := uint64(0); i < count; i++ {
		slot, ok := next()
		if !ok || slot > idemSlotDigest {
			return nil, nil, bad
		}
		if slot == idemSlotEmpty {
			continue
		}
		key, ok1 := bytes()
		seq, ok2 := next()
		var digest uint64
		okd := true
		if slot == idemSlotDigest {
			digest, okd = next()
		}
		res, ok3 := bytes()
		if !ok1 || !ok2 || !ok3 || !okd {
			return nil, nil, bad
		}
		k := string(key)
		t.results[k] = idemRecord{result: append([]byte(nil), res...), seq: seq, digest: digest}
		t.order = append(t.order, idemKey{k, seq})
	}
	return t, b, nil
}
