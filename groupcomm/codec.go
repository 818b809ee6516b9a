package groupcomm

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
)

// Binary encoding of Message.
//
// The encoding is compact, has no reflection and decodes with at most four
// allocations (the Entries, Members and Changes slices and the *View); entry
// payloads alias the input. Integers are unsigned LEB128 varints
// (encoding/binary uvarints); the enums Type, Role and ChangeKind are single
// bytes. Layout of version 1, in order:
//
//	byte     version (codecVersion = 1)
//	byte     Type (1..maxMsgType)
//	byte     flags: bit 0 Reject, bit 1 Proposal != nil; other bits zero
//	uvarint  Cluster, Group, GroupIncarnation, View
//	uvarint  From.Node, From.Incarnation, To.Node, To.Incarnation
//	uvarint  Stable.View, Stable.Seq, Retain.View, Retain.Seq
//	uvarint  VS.View, VS.Seq, Hi.View, Hi.Seq
//	uvarint  Frame
//	uvarint  Ballot.Instance, Ballot.Round, Ballot.Node
//	uvarint  Accepted.Instance, Accepted.Round, Accepted.Node
//	uvarint  Installed, ReadID
//	if flags bit 1 (Proposal):
//	  uvarint  Cluster, Group, GroupIncarnation, ID, Cut.View, Cut.Seq, Epoch
//	  uvarint  len(Members)
//	  per member: uvarint ID.Node, ID.Incarnation; byte Role (1 or 2);
//	              uvarint Donor.Node, Donor.Incarnation
//	uvarint  len(Entries)
//	per entry: uvarint VS.View, VS.Seq, ID.Origin.Node, ID.Origin.Incarnation,
//	           ID.Counter, len(Payload); then the payload bytes
//	uvarint  len(Changes)
//	per change: byte Kind (1..Lead); uvarint Member.Node,
//	            Member.Incarnation, Epoch
//
// The encoding is canonical: the decoder rejects overlong varints, unknown
// flag bits and trailing bytes, so every input that decodes re-encodes to
// exactly the same bytes. Canonical form of the decoded message: empty
// Entries, Changes and Proposal.Members decode as nil slices, and an empty
// or nil Payload decodes as a nil Payload.
//
// Version history: 1 is the first version. A new version gets a new version
// byte; UnmarshalMessage rejects versions it does not know.

// codecVersion is the first byte of every encoded message.
const codecVersion = 1

const (
	codecFlagReject   = 1 << 0
	codecFlagProposal = 1 << 1
	codecFlagsKnown   = codecFlagReject | codecFlagProposal
)

// codecMaxChangeKind is the highest ChangeKind the decoder accepts. Raise it
// when a ChangeKind is added.
const codecMaxChangeKind = Lead

// Minimum encoded sizes of the repeated elements, used to bound a count by
// the bytes that remain before allocating anything.
const (
	codecMinMemberSize = 5 // 4 uvarints + role byte
	codecMinEntrySize  = 6 // 6 uvarints (payload empty)
	codecMinChangeSize = 4 // kind byte + 3 uvarints
)

// DecodeLimits bounds what UnmarshalMessage accepts and therefore allocates.
// A zero or negative field means the default of DefaultDecodeLimits.
// Independently of the limits, no count is accepted that the remaining input
// could not hold, so allocation is also bounded by a small multiple of the
// input size.
type DecodeLimits struct {
	// MaxEntries bounds len(Message.Entries).
	MaxEntries int
	// MaxPayloadBytes bounds the sum of the entries' payload lengths.
	MaxPayloadBytes int
	// MaxMembers bounds len(Message.Proposal.Members).
	MaxMembers int
	// MaxChanges bounds len(Message.Changes).
	MaxChanges int
}

// DefaultDecodeLimits returns 1<<16 entries, 64 MiB of payload in total,
// 1024 members and 1024 changes.
func DefaultDecodeLimits() DecodeLimits {
	return DecodeLimits{
		MaxEntries:      1 << 16,
		MaxPayloadBytes: 64 << 20,
		MaxMembers:      1024,
		MaxChanges:      1024,
	}
}

func (l DecodeLimits) withDefaults() DecodeLimits {
	d := DefaultDecodeLimits()
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxPayloadBytes <= 0 {
		l.MaxPayloadBytes = d.MaxPayloadBytes
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = d.MaxMembers
	}
	if l.MaxChanges <= 0 {
		l.MaxChanges = d.MaxChanges
	}
	return l
}

// uvarintSize returns the length of the uvarint encoding of x.
func uvarintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// Size returns the length of m's encoding, len(m.MarshalAppend(nil)).
func (m *Message) Size() int {
	n := 3 + // version, type, flags
		uvarintSize(m.Cluster) + uvarintSize(m.Group) + uvarintSize(m.GroupIncarnation) + uvarintSize(m.View) +
		uvarintSize(uint64(m.From.Node)) + uvarintSize(m.From.Incarnation) +
		uvarintSize(uint64(m.To.Node)) + uvarintSize(m.To.Incarnation) +
		uvarintSize(m.Stable.View) + uvarintSize(m.Stable.Seq) +
		uvarintSize(m.Retain.View) + uvarintSize(m.Retain.Seq) +
		uvarintSize(m.VS.View) + uvarintSize(m.VS.Seq) +
		uvarintSize(m.Hi.View) + uvarintSize(m.Hi.Seq) +
		uvarintSize(m.Frame) +
		uvarintSize(m.Ballot.Instance) + uvarintSize(m.Ballot.Round) + uvarintSize(uint64(m.Ballot.Node)) +
		uvarintSize(m.Accepted.Instance) + uvarintSize(m.Accepted.Round) + uvarintSize(uint64(m.Accepted.Node)) +
		uvarintSize(m.Installed) + uvarintSize(m.ReadID)
	if v := m.Proposal; v != nil {
		n += uvarintSize(v.Cluster) + uvarintSize(v.Group) + uvarintSize(v.GroupIncarnation) + uvarintSize(v.ID) +
			uvarintSize(v.Cut.View) + uvarintSize(v.Cut.Seq) + uvarintSize(v.Epoch) +
			uvarintSize(uint64(len(v.Members)))
		for i := range v.Members {
			mb := &v.Members[i]
			n += 1 + uvarintSize(uint64(mb.ID.Node)) + uvarintSize(mb.ID.Incarnation) +
				uvarintSize(uint64(mb.Donor.Node)) + uvarintSize(mb.Donor.Incarnation)
		}
	}
	n += uvarintSize(uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		n += uvarintSize(e.VS.View) + uvarintSize(e.VS.Seq) +
			uvarintSize(uint64(e.ID.Origin.Node)) + uvarintSize(e.ID.Origin.Incarnation) + uvarintSize(e.ID.Counter) +
			uvarintSize(uint64(len(e.Payload))) + len(e.Payload)
	}
	n += uvarintSize(uint64(len(m.Changes)))
	for i := range m.Changes {
		c := &m.Changes[i]
		n += 1 + uvarintSize(uint64(c.Member.Node)) + uvarintSize(c.Member.Incarnation) + uvarintSize(c.Epoch)
	}
	return n
}

// MarshalAppend appends the encoding of m to b and returns the extended
// slice. It grows b at most once. It does not validate m: a message with an
// unknown Type, Role or ChangeKind encodes, but UnmarshalMessage rejects it.
func (m *Message) MarshalAppend(b []byte) []byte {
	b = slices.Grow(b, m.Size())
	var flags byte
	if m.Reject {
		flags |= codecFlagReject
	}
	if m.Proposal != nil {
		flags |= codecFlagProposal
	}
	b = append(b, codecVersion, byte(m.Type), flags)
	b = binary.AppendUvarint(b, m.Cluster)
	b = binary.AppendUvarint(b, m.Group)
	b = binary.AppendUvarint(b, m.GroupIncarnation)
	b = binary.AppendUvarint(b, m.View)
	b = appendMemberID(b, m.From)
	b = appendMemberID(b, m.To)
	b = appendVS(b, m.Stable)
	b = appendVS(b, m.Retain)
	b = appendVS(b, m.VS)
	b = appendVS(b, m.Hi)
	b = binary.AppendUvarint(b, m.Frame)
	b = appendBallot(b, m.Ballot)
	b = appendBallot(b, m.Accepted)
	b = binary.AppendUvarint(b, m.Installed)
	b = binary.AppendUvarint(b, m.ReadID)
	if v := m.Proposal; v != nil {
		b = binary.AppendUvarint(b, v.Cluster)
		b = binary.AppendUvarint(b, v.Group)
		b = binary.AppendUvarint(b, v.GroupIncarnation)
		b = binary.AppendUvarint(b, v.ID)
		b = appendVS(b, v.Cut)
		b = binary.AppendUvarint(b, v.Epoch)
		b = binary.AppendUvarint(b, uint64(len(v.Members)))
		for i := range v.Members {
			mb := &v.Members[i]
			b = appendMemberID(b, mb.ID)
			b = append(b, byte(mb.Role))
			b = appendMemberID(b, mb.Donor)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		b = appendVS(b, e.VS)
		b = appendMemberID(b, e.ID.Origin)
		b = binary.AppendUvarint(b, e.ID.Counter)
		b = binary.AppendUvarint(b, uint64(len(e.Payload)))
		b = append(b, e.Payload...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Changes)))
	for i := range m.Changes {
		c := &m.Changes[i]
		b = append(b, byte(c.Kind))
		b = appendMemberID(b, c.Member)
		b = binary.AppendUvarint(b, c.Epoch)
	}
	return b
}

func appendMemberID(b []byte, id MemberID) []byte {
	b = binary.AppendUvarint(b, uint64(id.Node))
	return binary.AppendUvarint(b, id.Incarnation)
}

func appendVS(b []byte, vs Viewstamp) []byte {
	b = binary.AppendUvarint(b, vs.View)
	return binary.AppendUvarint(b, vs.Seq)
}

func appendBallot(b []byte, bl Ballot) []byte {
	b = binary.AppendUvarint(b, bl.Instance)
	b = binary.AppendUvarint(b, bl.Round)
	return binary.AppendUvarint(b, uint64(bl.Node))
}

// UnmarshalMessage decodes a message encoded by MarshalAppend. Every error
// wraps ErrDecode and names the offending field; on error the returned
// Message is zero. It never panics, checks every count and length against
// both lim and the remaining input before allocating, and rejects unknown
// versions, message types, flags, roles and change kinds, non-minimal
// varints and trailing bytes.
//
// The Payload of each decoded entry aliases b (no copy is made): the caller
// must not modify or reuse b while the message or its payloads are in use.
// Each payload's capacity equals its length, so appending to one copies it
// rather than overwriting b. Empty payloads, and empty Entries, Changes and
// Proposal.Members, decode as nil.
func UnmarshalMessage(b []byte, lim DecodeLimits) (Message, error) {
	lim = lim.withDefaults()
	d := codecDecoder{b: b}
	var m Message
	if v := d.byte("version"); d.err == nil && v != codecVersion {
		d.fail("unknown version %d", v)
	}
	if t := MsgType(d.byte("type")); d.err == nil {
		if t == 0 || t > maxMsgType {
			d.fail("unknown message type %d", uint8(t))
		}
		m.Type = t
	}
	flags := d.byte("flags")
	if d.err == nil && flags&^codecFlagsKnown != 0 {
		d.fail("unknown flags %#x", flags)
	}
	m.Reject = flags&codecFlagReject != 0
	m.Cluster = d.uvarint("cluster")
	m.Group = d.uvarint("group")
	m.GroupIncarnation = d.uvarint("group incarnation")
	m.View = d.uvarint("view")
	m.From = d.memberID("from")
	m.To = d.memberID("to")
	m.Stable = d.viewstamp("stable")
	m.Retain = d.viewstamp("retain")
	m.VS = d.viewstamp("vs")
	m.Hi = d.viewstamp("hi")
	m.Frame = d.uvarint("frame")
	m.Ballot = d.ballot("ballot")
	m.Accepted = d.ballot("accepted")
	m.Installed = d.uvarint("installed")
	m.ReadID = d.uvarint("read id")
	if d.err == nil && flags&codecFlagProposal != 0 {
		m.Proposal = d.view(lim)
	}
	if n := d.count("entry count", lim.MaxEntries, codecMinEntrySize); n > 0 {
		m.Entries = make([]Entry, n)
		budget := lim.MaxPayloadBytes
		for i := range m.Entries {
			if !d.entry(&m.Entries[i], &budget, lim.MaxPayloadBytes) {
				break
			}
		}
	}
	if n := d.count("change count", lim.MaxChanges, codecMinChangeSize); n > 0 {
		m.Changes = make([]Change, n)
		for i := range m.Changes {
			c := &m.Changes[i]
			c.Kind = ChangeKind(d.byte("change kind"))
			if d.err == nil && (c.Kind == 0 || c.Kind > codecMaxChangeKind) {
				d.fail("unknown change kind %d", uint8(c.Kind))
			}
			c.Member = d.memberID("change member")
			c.Epoch = d.uvarint("change epoch")
			if d.err != nil {
				break
			}
		}
	}
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d trailing bytes", d.remaining())
	}
	if d.err != nil {
		return Message{}, d.err
	}
	return m, nil
}

// codecDecoder reads the fields of an encoded message and records the first
// error. After an error every read returns zero and consumes nothing. The
// what arguments name the field for error messages.
type codecDecoder struct {
	b   []byte
	i   int // next byte to read
	err error
}

// remaining returns the number of unread bytes.
func (d *codecDecoder) remaining() int { return len(d.b) - d.i }

func (d *codecDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrDecode}, args...)...)
	}
	d.i = len(d.b)
}

func (d *codecDecoder) byte(what string) byte {
	if d.i < len(d.b) {
		v := d.b[d.i]
		d.i++
		return v
	}
	if d.err == nil {
		d.fail("truncated at %s", what)
	}
	return 0
}

// uvarint reads a minimally encoded uvarint. The one-byte case is inlined.
func (d *codecDecoder) uvarint(what string) uint64 {
	if i := d.i; i < len(d.b) && d.b[i] < 0x80 {
		d.i = i + 1
		return uint64(d.b[i])
	}
	return d.uvarintSlow(what)
}

func (d *codecDecoder) uvarintSlow(what string) uint64 {
	if d.err != nil {
		return 0
	}
	b := d.b[d.i:]
	var v uint64
	for k := 0; k < len(b) && k < binary.MaxVarintLen64; k++ {
		c := b[k]
		if c < 0x80 {
			switch {
			case k == binary.MaxVarintLen64-1 && c > 1:
				d.fail("%s overflows 64 bits", what)
			case c == 0 && k > 0:
				d.fail("%s is a non-minimal varint", what)
			default:
				d.i += k + 1
				return v | uint64(c)<<(7*k)
			}
			return 0
		}
		v |= uint64(c&0x7f) << (7 * k)
	}
	if len(b) >= binary.MaxVarintLen64 {
		d.fail("%s overflows 64 bits", what)
	} else {
		d.fail("truncated at %s", what)
	}
	return 0
}

// codecUvarintAt decodes the uvarint at b[i:] and returns it and the index
// after it, or next < 0 if b ends first. It does not check minimality or
// overflow: the caller does, see codecVarintOK. It is small enough to be
// inlined into the entry loop.
func codecUvarintAt(b []byte, i int) (v uint64, next int) {
	for s := uint(0); i < len(b); s += 7 {
		c := b[i]
		i++
		v |= uint64(c&0x7f) << s
		if c < 0x80 {
			return v, i
		}
	}
	return 0, -1
}

// codecEntryFields names the uvarints of an entry, for errors.
var codecEntryFields = [...]string{"entry vs", "entry vs", "entry origin", "entry origin", "entry counter", "payload length"}

// entry decodes one entry, reading its six uvarints with the inlined
// codecUvarintAt; on any problem it lets uvarintSlow re-read the offending
// varint to report it. It returns false on error.
func (d *codecDecoder) entry(e *Entry, budget *int, limit int) bool {
	b, i := d.b, d.i
	var x [len(codecEntryFields)]uint64
	for k := range x {
		v, j := codecUvarintAt(b, i)
		if n := j - i; n != 1 && (j < 0 || n > binary.MaxVarintLen64 || b[j-1] == 0 ||
			n == binary.MaxVarintLen64 && b[j-1] > 1) {
			d.i = i
			d.uvarintSlow(codecEntryFields[k])
			return false
		}
		x[k] = v
		i = j
	}
	e.VS = Viewstamp{View: x[0], Seq: x[1]}
	e.ID = EntryID{Origin: MemberID{Node: NodeID(x[2]), Incarnation: x[3]}, Counter: x[4]}
	d.i = i
	e.Payload = d.payloadBytes(x[5], budget, limit)
	return d.err == nil
}

func (d *codecDecoder) memberID(what string) MemberID {
	node := d.uvarint(what)
	return MemberID{Node: NodeID(node), Incarnation: d.uvarint(what)}
}

func (d *codecDecoder) viewstamp(what string) Viewstamp {
	v := d.uvarint(what)
	return Viewstamp{View: v, Seq: d.uvarint(what)}
}

func (d *codecDecoder) ballot(what string) Ballot {
	inst := d.uvarint(what)
	round := d.uvarint(what)
	return Ballot{Instance: inst, Round: round, Node: NodeID(d.uvarint(what))}
}

// count reads an element count and checks it against limit and against the
// bytes that remain, given that each element takes at least minSize bytes.
// It returns 0 on error.
func (d *codecDecoder) count(what string, limit, minSize int) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if n > uint64(limit) {
		d.fail("%s %d exceeds limit %d", what, n, limit)
		return 0
	}
	if n > uint64(d.remaining()/minSize) {
		d.fail("%s %d exceeds the %d remaining bytes", what, n, d.remaining())
		return 0
	}
	return int(n)
}

// payloadBytes takes the next n bytes as a payload that aliases the input,
// with capacity equal to its length; an empty one is nil. budget is the payload
// byte allowance left; limit is the total, for the error message.
func (d *codecDecoder) payloadBytes(n uint64, budget *int, limit int) []byte {
	if n > uint64(d.remaining()) {
		d.fail("payload length %d exceeds the %d remaining bytes", n, d.remaining())
		return nil
	}
	if n > uint64(*budget) {
		d.fail("payloads exceed limit of %d bytes", limit)
		return nil
	}
	if n == 0 {
		return nil
	}
	*budget -= int(n)
	end := d.i + int(n)
	p := d.b[d.i:end:end]
	d.i = end
	return p
}

// view reads the proposal view record.
func (d *codecDecoder) view(lim DecodeLimits) *View {
	var v View
	v.Cluster = d.uvarint("proposal cluster")
	v.Group = d.uvarint("proposal group")
	v.GroupIncarnation = d.uvarint("proposal group incarnation")
	v.ID = d.uvarint("proposal id")
	v.Cut = d.viewstamp("proposal cut")
	v.Epoch = d.uvarint("proposal epoch")
	if n := d.count("member count", lim.MaxMembers, codecMinMemberSize); n > 0 {
		v.Members = make([]Member, n)
		for i := range v.Members {
			mb := &v.Members[i]
			mb.ID = d.memberID("member id")
			mb.Role = Role(d.byte("member role"))
			if d.err == nil && mb.Role != Voter && mb.Role != Learner {
				d.fail("member %d has unknown role %d", i, uint8(mb.Role))
			}
			mb.Donor = d.memberID("member donor")
			if d.err != nil {
				break
			}
		}
	}
	if d.err != nil {
		return nil
	}
	return &v
}
