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
}

type idemKey struct {
	key string
	seq uint64
}

func newIdemTable(window uint64) *idemTable {
	return &idemTable{window: window, results: map[string]idemRecord{}}
}

func (t *idemTable) lookup(key string) ([]byte, bool) {
	r, ok := t.results[key]
	return r.result, ok
}

// record remembers key's result at seq and forgets keys older than the
// window (deterministically: by sequence, identically at every clone).
func (t *idemTable) record(key string, result []byte, seq uint64) {
	t.results[key] = idemRecord{result: result, seq: seq}
	t.order = append(t.order, idemKey{key, seq})
	for len(t.order) > 0 && t.order[0].seq+t.window < seq {
		old := t.order[0]
		t.order = t.order[1:]
		if r, ok := t.results[old.key]; ok && r.seq == old.seq {
			delete(t.results, old.key)
		}
	}
}

func (t *idemTable) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(len(t.order)))
	for _, k := range t.order {
		r, ok := t.results[k.key]
		if !ok || r.seq != k.seq {
			b = binary.AppendUvarint(b, 0) // superseded slot
			continue
		}
		b = binary.AppendUvarint(b, 1)
		b = binary.AppendUvarint(b, uint64(len(k.key)))
		b = append(b, k.key...)
		b = binary.AppendUvarint(b, k.seq)
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
		present, ok := next()
		if !ok {
			return nil, nil, bad
		}
		if present == 0 {
			continue
		}
		key, ok1 := bytes()
		seq, ok2 := next()
		res, ok3 := bytes()
		if !ok1 || !ok2 || !ok3 {
			return nil, nil, bad
		}
		k := string(key)
		t.results[k] = idemRecord{result: append([]byte(nil), res...), seq: seq}
		t.order = append(t.order, idemKey{k, seq})
	}
	return t, b, nil
}
