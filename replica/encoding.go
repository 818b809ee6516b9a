package replica

import (
	"encoding/binary"
	"fmt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// Binary encoding of what BoltStore persists.
//
// Every record starts with a tag byte that names both its kind and the
// version of its layout, so a record read with the wrong decoder, or
// written by a version this code does not know, fails cleanly. Integers are
// unsigned LEB128 varints (encoding/binary uvarints); Role is one byte.
// Layouts of version 1:
//
//	HardState (tag 0x11):
//	  byte     flags: bit 0 AcceptedView != nil; other bits zero
//	  uvarint  Incarnation, OriginEpoch
//	  uvarint  Promised.Instance, Promised.Round, Promised.Node
//	  uvarint  Accepted.Instance, Accepted.Round, Accepted.Node
//	  view     Installed
//	  view     AcceptedView, if flags bit 0
//	view:
//	  uvarint  Cluster, Group, GroupIncarnation, ID, Cut.View, Cut.Seq, Epoch
//	  uvarint  len(Members)
//	  per member: uvarint ID.Node, ID.Incarnation; byte Role;
//	              uvarint Donor.Node, Donor.Incarnation
//	Entry (tag 0x21):
//	  uvarint  VS.View, VS.Seq, ID.Origin.Node, ID.Origin.Incarnation,
//	           ID.Counter, len(Payload); the payload bytes
//	Snapshot (tag 0x31):
//	  uvarint  Pos.View, Pos.Seq, len(Dedup); the Dedup bytes;
//	           len(Data); the Data bytes
//	Viewstamp (tag 0x41):
//	  uvarint  View, Seq
//	View record (tag 0x51), a view a member installed:
//	  view     the view
//
// The encoding is canonical: the decoders reject overlong varints, unknown
// flag bits and trailing bytes, so whatever decodes re-encodes to the same
// bytes. Empty slices (Members, Payload, Dedup, Data) decode as nil.
//
// Decoding never panics and never aliases its input (bbolt values are only
// valid inside their transaction): a count or length is checked against
// the bytes that remain before anything is allocated, and every error
// wraps ErrCorrupt.
//
// A new layout gets a new tag; the decoders keep reading the old tags.
const (
	tagHardStateV1 = 0x11
	tagEntryV1     = 0x21
	tagSnapshotV1  = 0x31
	tagViewstampV1 = 0x41
	tagViewV1      = 0x51

	hsFlagAcceptedView = 1 << 0
	hsFlagsKnown       = hsFlagAcceptedView

	// encMinMemberSize is the smallest encoding of a member: 4 uvarints
	// and the role byte.
	encMinMemberSize = 5
)

// --- encoding ---

func appendUvarint(b []byte, x uint64) []byte { return binary.AppendUvarint(b, x) }

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendBallot(b []byte, bl groupcomm.Ballot) []byte {
	b = appendUvarint(b, bl.Instance)
	b = appendUvarint(b, bl.Round)
	return appendUvarint(b, uint64(bl.Node))
}

func appendView(b []byte, v *groupcomm.View) []byte {
	b = appendUvarint(b, v.Cluster)
	b = appendUvarint(b, v.Group)
	b = appendUvarint(b, v.GroupIncarnation)
	b = appendUvarint(b, v.ID)
	b = appendUvarint(b, v.Cut.View)
	b = appendUvarint(b, v.Cut.Seq)
	b = appendUvarint(b, v.Epoch)
	b = appendUvarint(b, uint64(len(v.Members)))
	for _, m := range v.Members {
		b = appendUvarint(b, uint64(m.ID.Node))
		b = appendUvarint(b, m.ID.Incarnation)
		b = append(b, byte(m.Role))
		b = appendUvarint(b, uint64(m.Donor.Node))
		b = appendUvarint(b, m.Donor.Incarnation)
	}
	return b
}

// appendHardState appends the encoding of hs to b.
func appendHardState(b []byte, hs *groupcomm.HardState) []byte {
	var flags byte
	if hs.AcceptedView != nil {
		flags |= hsFlagAcceptedView
	}
	b = append(b, tagHardStateV1, flags)
	b = appendUvarint(b, hs.Incarnation)
	b = appendUvarint(b, hs.OriginEpoch)
	b = appendBallot(b, hs.Promised)
	b = appendBallot(b, hs.Accepted)
	b = appendView(b, &hs.Installed)
	if hs.AcceptedView != nil {
		b = appendView(b, hs.AcceptedView)
	}
	return b
}

// appendEntry appends the encoding of e to b.
func appendEntry(b []byte, e *groupcomm.Entry) []byte {
	b = append(b, tagEntryV1)
	b = appendUvarint(b, e.VS.View)
	b = appendUvarint(b, e.VS.Seq)
	b = appendUvarint(b, uint64(e.ID.Origin.Node))
	b = appendUvarint(b, e.ID.Origin.Incarnation)
	b = appendUvarint(b, e.ID.Counter)
	return appendBytes(b, e.Payload)
}

// appendSnapshot appends the encoding of s to b.
func appendSnapshot(b []byte, s *Snapshot) []byte {
	b = append(b, tagSnapshotV1)
	b = appendUvarint(b, s.Pos.View)
	b = appendUvarint(b, s.Pos.Seq)
	b = appendBytes(b, s.Dedup)
	return appendBytes(b, s.Data)
}

// appendViewstamp appends the encoding of vs to b.
func appendViewstamp(b []byte, vs groupcomm.Viewstamp) []byte {
	b = append(b, tagViewstampV1)
	b = appendUvarint(b, vs.View)
	return appendUvarint(b, vs.Seq)
}

// appendViewRecord appends the encoding of the view record v to b.
func appendViewRecord(b []byte, v *groupcomm.View) []byte {
	b = append(b, tagViewV1)
	return appendView(b, v)
}

// --- decoding ---

// decoder reads one record. The first error sticks: later reads return
// zero values, so callers check err once at the end.
type decoder struct {
	what string // record kind, for errors
	sub  string // the part being decoded, for errors
	b    []byte
	i    int
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		what := d.what
		if d.sub != "" {
			what += " " + d.sub
		}
		d.err = fmt.Errorf("%w: %s at byte %d: %s", ErrCorrupt, what, d.i, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.i }

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.i >= len(d.b) {
		d.fail("%s: truncated", field)
		return 0
	}
	c := d.b[d.i]
	d.i++
	return c
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b[d.i:])
	switch {
	case n == 0:
		d.fail("%s: truncated", field)
		return 0
	case n < 0:
		d.fail("%s: varint overflows 64 bits", field)
		return 0
	case n > 1 && d.b[d.i+n-1] == 0:
		d.fail("%s: overlong varint", field)
		return 0
	}
	d.i += n
	return x
}

// bytes reads a length-prefixed byte string and returns a copy of it (nil
// when empty).
func (d *decoder) bytes(field string) []byte {
	n := d.uvarint(field)
	if d.err != nil {
		return nil
	}
	if n > uint64(d.remaining()) {
		d.fail("%s: length %d exceeds the %d bytes left", field, n, d.remaining())
		return nil
	}
	if n == 0 {
		return nil
	}
	p := make([]byte, n)
	copy(p, d.b[d.i:])
	d.i += int(n)
	return p
}

func (d *decoder) ballot(sub string) groupcomm.Ballot {
	d.sub = sub
	b := groupcomm.Ballot{
		Instance: d.uvarint("Instance"),
		Round:    d.uvarint("Round"),
		Node:     groupcomm.NodeID(d.uvarint("Node")),
	}
	d.sub = ""
	return b
}

func (d *decoder) view(sub string) groupcomm.View {
	d.sub = sub
	defer func() { d.sub = "" }()
	var v groupcomm.View
	v.Cluster = d.uvarint("Cluster")
	v.Group = d.uvarint("Group")
	v.GroupIncarnation = d.uvarint("GroupIncarnation")
	v.ID = d.uvarint("ID")
	v.Cut.View = d.uvarint("Cut.View")
	v.Cut.Seq = d.uvarint("Cut.Seq")
	v.Epoch = d.uvarint("Epoch")
	n := d.uvarint("member count")
	if d.err != nil {
		return groupcomm.View{}
	}
	if n > uint64(d.remaining()/encMinMemberSize) {
		d.fail("%d members cannot fit in the %d bytes left", n, d.remaining())
		return groupcomm.View{}
	}
	if n > 0 {
		v.Members = make([]groupcomm.Member, n)
		for i := range v.Members {
			m := &v.Members[i]
			m.ID.Node = groupcomm.NodeID(d.uvarint("member node"))
			m.ID.Incarnation = d.uvarint("member incarnation")
			m.Role = groupcomm.Role(d.byte("member role"))
			m.Donor.Node = groupcomm.NodeID(d.uvarint("member donor node"))
			m.Donor.Incarnation = d.uvarint("member donor incarnation")
		}
	}
	if d.err != nil {
		return groupcomm.View{}
	}
	return v
}

func (d *decoder) tag(want byte) {
	t := d.byte("tag")
	if d.err == nil && t != want {
		d.i--
		d.fail("tag 0x%02x, want 0x%02x (wrong record kind or unknown version)", t, want)
	}
}

func (d *decoder) finish() error {
	if d.err == nil && d.i != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.i)
	}
	return d.err
}

// decodeHardState decodes a HardState written by appendHardState. The
// result does not alias b.
func decodeHardState(b []byte) (groupcomm.HardState, error) {
	d := decoder{what: "hard state", b: b}
	d.tag(tagHardStateV1)
	flags := d.byte("flags")
	if d.err == nil && flags&^hsFlagsKnown != 0 {
		d.i--
		d.fail("unknown flags 0x%02x", flags)
	}
	var hs groupcomm.HardState
	hs.Incarnation = d.uvarint("Incarnation")
	hs.OriginEpoch = d.uvarint("OriginEpoch")
	hs.Promised = d.ballot("Promised")
	hs.Accepted = d.ballot("Accepted")
	hs.Installed = d.view("Installed")
	if flags&hsFlagAcceptedView != 0 {
		v := d.view("AcceptedView")
		hs.AcceptedView = &v
	}
	if err := d.finish(); err != nil {
		return groupcomm.HardState{}, err
	}
	return hs, nil
}

// decodeEntry decodes an Entry written by appendEntry. The result does not
// alias b.
func decodeEntry(b []byte) (groupcomm.Entry, error) {
	d := decoder{what: "entry", b: b}
	d.tag(tagEntryV1)
	var e groupcomm.Entry
	e.VS.View = d.uvarint("VS.View")
	e.VS.Seq = d.uvarint("VS.Seq")
	e.ID.Origin.Node = groupcomm.NodeID(d.uvarint("ID.Origin.Node"))
	e.ID.Origin.Incarnation = d.uvarint("ID.Origin.Incarnation")
	e.ID.Counter = d.uvarint("ID.Counter")
	e.Payload = d.bytes("Payload")
	if err := d.finish(); err != nil {
		return groupcomm.Entry{}, err
	}
	return e, nil
}

// decodeSnapshot decodes a Snapshot written by appendSnapshot. The result
// does not alias b.
func decodeSnapshot(b []byte) (Snapshot, error) {
	d := decoder{what: "snapshot", b: b}
	d.tag(tagSnapshotV1)
	var s Snapshot
	s.Pos.View = d.uvarint("Pos.View")
	s.Pos.Seq = d.uvarint("Pos.Seq")
	s.Dedup = d.bytes("Dedup")
	s.Data = d.bytes("Data")
	if err := d.finish(); err != nil {
		return Snapshot{}, err
	}
	return s, nil
}

// decodeViewstamp decodes a Viewstamp written by appendViewstamp.
func decodeViewstamp(b []byte) (groupcomm.Viewstamp, error) {
	d := decoder{what: "viewstamp", b: b}
	d.tag(tagViewstampV1)
	vs := groupcomm.Viewstamp{View: d.uvarint("View"), Seq: d.uvarint("Seq")}
	if err := d.finish(); err != nil {
		return groupcomm.Viewstamp{}, err
	}
	return vs, nil
}

// decodeViewRecord decodes a view record written by appendViewRecord. The
// result does not alias b.
func decodeViewRecord(b []byte) (groupcomm.View, error) {
	d := decoder{what: "view record", b: b}
	d.tag(tagViewV1)
	v := d.view("")
	if err := d.finish(); err != nil {
		return groupcomm.View{}, err
	}
	return v, nil
}
