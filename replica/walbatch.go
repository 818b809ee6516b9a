package replica

import (
	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// The payload of a DiskStore WAL frame: one Batch, whole (tag 0x61):
//
//	uvarint  len(Writes)
//	per GroupWrite:
//	  uvarint  Group
//	  byte     flags: bit 0 HardState, 1 TruncateAbove, 2 View,
//	           3 StableHint non-zero, 4 Snapshot, 5 Delete
//	  uvarint  CompactTo
//	  bytes    HardState (appendHardState), if bit 0
//	  uvarint  TruncateAbove.View, TruncateAbove.Seq, if bit 1
//	  uvarint  len(Entries); per entry: bytes (appendEntry)
//	  bytes    View (appendViewRecord), if bit 2
//	  uvarint  StableHint.View, StableHint.Seq, if bit 3
//	  bytes    Snapshot (appendSnapshot), if bit 4
//
// where bytes is a uvarint length and the bytes. Nested records keep their
// own tags, so each is checked by its own decoder.
const (
	tagBatchV1 = 0x61

	bwHardState = 1 << iota
	bwTruncate
	bwView
	bwStable
	bwSnapshot
	bwDelete
	bwKnown = bwHardState | bwTruncate | bwView | bwStable | bwSnapshot | bwDelete
)

// appendBatch appends the encoding of b to buf. scratch is reused for the
// nested records.
func appendBatch(buf []byte, b *Batch) []byte {
	buf = append(buf, tagBatchV1)
	buf = appendUvarint(buf, uint64(len(b.Writes)))
	var scratch []byte
	nested := func(rec []byte) { buf = appendBytes(buf, rec) }
	for i := range b.Writes {
		w := &b.Writes[i]
		var flags byte
		if w.HardState != nil {
			flags |= bwHardState
		}
		if w.TruncateAbove != nil {
			flags |= bwTruncate
		}
		if w.View != nil {
			flags |= bwView
		}
		if w.StableHint != (groupcomm.Viewstamp{}) {
			flags |= bwStable
		}
		if w.Snapshot != nil {
			flags |= bwSnapshot
		}
		if w.Delete {
			flags |= bwDelete
		}
		buf = appendUvarint(buf, uint64(w.Group))
		buf = append(buf, flags)
		buf = appendUvarint(buf, w.CompactTo)
		if w.HardState != nil {
			scratch = appendHardState(scratch[:0], w.HardState)
			nested(scratch)
		}
		if w.TruncateAbove != nil {
			buf = appendUvarint(buf, w.TruncateAbove.View)
			buf = appendUvarint(buf, w.TruncateAbove.Seq)
		}
		buf = appendUvarint(buf, uint64(len(w.Entries)))
		for j := range w.Entries {
			scratch = appendEntry(scratch[:0], &w.Entries[j])
			nested(scratch)
		}
		if w.View != nil {
			scratch = appendViewRecord(scratch[:0], w.View)
			nested(scratch)
		}
		if w.StableHint != (groupcomm.Viewstamp{}) {
			buf = appendUvarint(buf, w.StableHint.View)
			buf = appendUvarint(buf, w.StableHint.Seq)
		}
		if w.Snapshot != nil {
			buf = appendBytes(buf, appendSnapshot(nil, w.Snapshot))
		}
	}
	return buf
}

// decodeBatch decodes a WAL frame's payload. It never panics and never
// aliases p.
func decodeBatch(p []byte) (*Batch, error) {
	d := &decoder{what: "batch", b: p}
	d.tag(tagBatchV1)
	n := d.uvarint("count")
	// A GroupWrite takes at least 4 bytes: group, flags, compact, entries.
	if d.err == nil && n > uint64(d.remaining()/4) {
		d.fail("count %d exceeds the %d bytes left", n, d.remaining())
	}
	b := &Batch{}
	if d.err == nil && n > 0 {
		b.Writes = make([]GroupWrite, 0, n)
	}
	sub := func(field string, dec func([]byte) error) {
		rec := d.bytes(field)
		if d.err == nil {
			if err := dec(rec); err != nil {
				d.fail("%s: %v", field, err)
			}
		}
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		w := GroupWrite{Group: GroupID(d.uvarint("group"))}
		flags := d.byte("flags")
		if flags&^bwKnown != 0 {
			d.fail("unknown flags %#x", flags)
		}
		w.CompactTo = d.uvarint("compact")
		if flags&bwHardState != 0 {
			sub("hard state", func(rec []byte) error {
				hs, err := decodeHardState(rec)
				w.HardState = &hs
				return err
			})
		}
		if flags&bwTruncate != 0 {
			w.TruncateAbove = &groupcomm.Viewstamp{View: d.uvarint("truncate view"), Seq: d.uvarint("truncate seq")}
		}
		ne := d.uvarint("entries")
		if d.err == nil && ne > uint64(d.remaining()) {
			d.fail("entry count %d exceeds the %d bytes left", ne, d.remaining())
		}
		for j := uint64(0); j < ne && d.err == nil; j++ {
			sub("entry", func(rec []byte) error {
				e, err := decodeEntry(rec)
				w.Entries = append(w.Entries, e)
				return err
			})
		}
		if flags&bwView != 0 {
			sub("view", func(rec []byte) error {
				v, err := decodeViewRecord(rec)
				w.View = &v
				return err
			})
		}
		if flags&bwStable != 0 {
			w.StableHint = groupcomm.Viewstamp{View: d.uvarint("stable view"), Seq: d.uvarint("stable seq")}
			if d.err == nil && w.StableHint == (groupcomm.Viewstamp{}) {
				d.fail("a zero stable hint under its flag") // the encoding is canonical
			}
		}
		if flags&bwSnapshot != 0 {
			sub("snapshot", func(rec []byte) error {
				s, err := decodeSnapshot(rec)
				w.Snapshot = &s
				return err
			})
		}
		w.Delete = flags&bwDelete != 0
		b.Writes = append(b.Writes, w)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return b, nil
}
