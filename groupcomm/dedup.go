package groupcomm

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// dedupTable records which EntryIDs were delivered, per origin: every
// counter ≤ low, plus a few above it. It is a deterministic function of the
// delivered sequence, so every member holds the same table at the same
// position; it travels in snapshots (SnapshotRequest.Dedup) so a joiner
// holds it too (S8).
type dedupTable struct {
	origins map[MemberID]*originDedup
}

// originEpochShift places a durable member's restart count in the high
// bits of its submission counters (HardState.OriginEpoch).
const originEpochShift = 40

type originDedup struct {
	low   uint64
	above []uint64 // sorted, all > low
}

func newDedupTable() dedupTable { return dedupTable{origins: map[MemberID]*originDedup{}} }

func (t *dedupTable) seen(id EntryID) bool {
	o := t.origins[id.Origin]
	if o == nil {
		return false
	}
	if id.Counter <= o.low {
		return true
	}
	_, ok := slices.BinarySearch(o.above, id.Counter)
	return ok
}

// add records id as delivered.
func (t *dedupTable) add(id EntryID) {
	o := t.origins[id.Origin]
	if o == nil {
		o = &originDedup{}
		t.origins[id.Origin] = o
	}
	if id.Counter <= o.low {
		return
	}
	if e := id.Counter >> originEpochShift; e > o.low>>originEpochShift {
		// The origin restarted: its older submissions were all delivered or
		// truncated before it could submit again (it re-entered through a
		// view change), so the table restarts at the new epoch.
		o.low = e << originEpochShift
		o.above = slices.DeleteFunc(o.above, func(c uint64) bool { return c <= o.low })
	}
	if id.Counter == o.low+1 {
		o.low++
		for len(o.above) > 0 && o.above[0] == o.low+1 {
			o.low++
			o.above = o.above[1:]
		}
		return
	}
	i, ok := slices.BinarySearch(o.above, id.Counter)
	if !ok {
		o.above = slices.Insert(o.above, i, id.Counter)
	}
}

// retain forgets origins that are not members of v: they can have nothing
// left to deliver once v is installed (their entries were ≤ the cut).
func (t *dedupTable) retain(v *View) {
	for id := range t.origins {
		if _, ok := v.Lookup(id); !ok {
			delete(t.origins, id)
		}
	}
}

// encode serialises the table deterministically (origins sorted).
func (t *dedupTable) encode() []byte {
	ids := make([]MemberID, 0, len(t.origins))
	for id := range t.origins {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b MemberID) int {
		if a.Node != b.Node {
			if a.Node < b.Node {
				return -1
			}
			return 1
		}
		switch {
		case a.Incarnation < b.Incarnation:
			return -1
		case a.Incarnation > b.Incarnation:
			return 1
		}
		return 0
	})
	b := binary.AppendUvarint(nil, uint64(len(ids)))
	for _, id := range ids {
		o := t.origins[id]
		b = binary.AppendUvarint(b, uint64(id.Node))
		b = binary.AppendUvarint(b, id.Incarnation)
		b = binary.AppendUvarint(b, o.low)
		b = binary.AppendUvarint(b, uint64(len(o.above)))
		for _, c := range o.above {
			b = binary.AppendUvarint(b, c)
		}
	}
	return b
}

// decodeDedup parses what encode produced.
func decodeDedup(b []byte) (dedupTable, error) {
	t := newDedupTable()
	if len(b) == 0 {
		return t, nil // no table yet: nothing delivered
	}
	r := reader{b: b}
	n := r.uvarint()
	if n > uint64(len(b)) {
		return t, fmt.Errorf("%w: dedup table origin count %d", ErrDecode, n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		id := MemberID{Node: NodeID(r.uvarint()), Incarnation: r.uvarint()}
		o := &originDedup{low: r.uvarint()}
		k := r.uvarint()
		if k > uint64(len(b)) {
			return t, fmt.Errorf("%w: dedup table counter count %d", ErrDecode, k)
		}
		for j := uint64(0); j < k && r.err == nil; j++ {
			o.above = append(o.above, r.uvarint())
		}
		t.origins[id] = o
	}
	if r.err != nil {
		return newDedupTable(), r.err
	}
	return t, nil
}

// reader reads uvarints and records the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint", ErrDecode)
		return 0
	}
	r.b = r.b[n:]
	return v
}
