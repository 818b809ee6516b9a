package tcp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Wire format (see the package doc for the stream as a whole).
//
// A frame is a 4-byte big-endian body length n (1 ≤ n ≤ MaxFrameBytes)
// followed by n bytes of body. The first frame in each direction is a
// hello (its layout is in conn.go); every later frame carries one
// racs.Packet, laid out as:
//
//	byte     kind: 1 Msg, 2 Chunk, 3 ChunkAck, 4 Probe, 5 Call
//	uvarint  Group, From, To
//	kind 1:  the groupcomm encoding of *Msg (Message.MarshalAppend) to the
//	         end of the frame
//	kind 2:  uvarint ID.Pos.View, ID.Pos.Seq, ID.Size, ID.Digest,
//	         To.Node, To.Incarnation, Offset;
//	         uvarint len(Data), Data; uvarint len(Dedup), Dedup
//	kind 3:  uvarint ID.Pos.View, ID.Pos.Seq, ID.Size, ID.Digest,
//	         From.Node, From.Incarnation, Next; byte Done (0 or 1)
//	kind 4:  uvarint GroupIncarnation; byte flags: bit 0 Answer, bit 1
//	         Exists, bit 2 Fresh, other bits zero
//	kind 5:  Group is 0; uvarint ID; byte flags: bit 0 Reply, other bits
//	         zero; uvarint len(Body), Body (at most the frame, and at most
//	         DecodeLimits.MaxPayloadBytes)
//
// Integers are unsigned LEB128 varints. The encoding is canonical: the
// decoder rejects unknown kinds, non-minimal varints, a Done byte other
// than 0 or 1, unknown probe or call flags, a call with a group, and
// trailing bytes, so whatever decodes re-encodes to the same bytes.
// Canonical form of a decoded packet: empty Chunk.Data, Chunk.Dedup and
// Call.Body decode as nil (and groupcomm's own canonical form applies to
// Msg).

// Packet kinds: the first byte of a packet frame's body.
const (
	kindMsg      byte = 1
	kindChunk    byte = 2
	kindChunkAck byte = 3
	kindProbe    byte = 4
	kindCall     byte = 5
	maxKind           = kindCall

	probeAnswer   byte = 1 << 0
	probeExists   byte = 1 << 1
	probeFresh    byte = 1 << 2
	probeFlagsAll      = probeAnswer | probeExists | probeFresh

	callReply    byte = 1 << 0
	callFlagsAll      = callReply
)

// frameHeaderLen is the length of a frame's length prefix.
const frameHeaderLen = 4

// maxFrameLimit is the largest MaxFrameBytes a Config may set: a frame
// length must fit the 4-byte prefix, and int on every platform.
const maxFrameLimit = 1<<31 - 1

var (
	// ErrMalformed: a frame could not be decoded. Decoding errors wrap it
	// (a malformed groupcomm message wraps groupcomm.ErrDecode as well).
	ErrMalformed = errors.New("tcp: malformed frame")
	// ErrFrameTooLarge: a frame's length prefix, or an encoded packet,
	// exceeds the maximum frame size.
	ErrFrameTooLarge = errors.New("tcp: frame too large")
	// ErrInvalidPacket: a packet to encode does not carry exactly one of
	// Msg, Chunk, ChunkAck, Probe and Call, or is a Call with a Group.
	ErrInvalidPacket = errors.New("tcp: packet must carry exactly one of Msg, Chunk, ChunkAck, Probe, Call (a Call with Group 0)")
)

// packetKind returns the kind of p, or ErrInvalidPacket.
func packetKind(p *racs.Packet) (byte, error) {
	var kind byte
	n := 0
	if p.Msg != nil {
		kind, n = kindMsg, n+1
	}
	if p.Chunk != nil {
		kind, n = kindChunk, n+1
	}
	if p.ChunkAck != nil {
		kind, n = kindChunkAck, n+1
	}
	if p.Probe != nil {
		kind, n = kindProbe, n+1
	}
	if p.Call != nil {
		kind, n = kindCall, n+1
	}
	if n != 1 || kind == kindCall && p.Group != 0 {
		return 0, ErrInvalidPacket
	}
	return kind, nil
}

// uvarintSize returns the length of the uvarint encoding of x.
func uvarintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func snapshotIDSize(id *racs.SnapshotID) int {
	return uvarintSize(id.Pos.View) + uvarintSize(id.Pos.Seq) + uvarintSize(id.Size) + uvarintSize(id.Digest)
}

func memberIDSize(m groupcomm.MemberID) int {
	return uvarintSize(uint64(m.Node)) + uvarintSize(m.Incarnation)
}

// PacketSize returns the length of p's encoding (the frame body, without
// the length prefix), or ErrInvalidPacket.
func PacketSize(p *racs.Packet) (int, error) {
	kind, err := packetKind(p)
	if err != nil {
		return 0, err
	}
	n := 1 + uvarintSize(uint64(p.Group)) + uvarintSize(uint64(p.From)) + uvarintSize(uint64(p.To))
	switch kind {
	case kindMsg:
		n += p.Msg.Size()
	case kindChunk:
		c := p.Chunk
		n += snapshotIDSize(&c.ID) + memberIDSize(c.To) + uvarintSize(c.Offset) +
			uvarintSize(uint64(len(c.Data))) + len(c.Data) +
			uvarintSize(uint64(len(c.Dedup))) + len(c.Dedup)
	case kindChunkAck:
		a := p.ChunkAck
		n += snapshotIDSize(&a.ID) + memberIDSize(a.From) + uvarintSize(a.Next) + 1
	case kindProbe:
		n += uvarintSize(p.Probe.GroupIncarnation) + 1
	case kindCall:
		c := p.Call
		n += uvarintSize(c.ID) + 1 + uvarintSize(uint64(len(c.Body))) + len(c.Body)
	}
	return n, nil
}

// AppendPacket appends the encoding of p (a frame body, without the length
// prefix) to b. It returns ErrInvalidPacket, and b unchanged, unless p
// carries exactly one of Msg, Chunk, ChunkAck, Probe and Call (and a Call
// has Group 0). It does not validate the Msg (see groupcomm's
// MarshalAppend).
func AppendPacket(b []byte, p *racs.Packet) ([]byte, error) {
	kind, err := packetKind(p)
	if err != nil {
		return b, err
	}
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(p.Group))
	b = binary.AppendUvarint(b, uint64(p.From))
	b = binary.AppendUvarint(b, uint64(p.To))
	switch kind {
	case kindMsg:
		b = p.Msg.MarshalAppend(b)
	case kindChunk:
		c := p.Chunk
		b = appendSnapshotID(b, &c.ID)
		b = appendMemberID(b, c.To)
		b = binary.AppendUvarint(b, c.Offset)
		b = binary.AppendUvarint(b, uint64(len(c.Data)))
		b = append(b, c.Data...)
		b = binary.AppendUvarint(b, uint64(len(c.Dedup)))
		b = append(b, c.Dedup...)
	case kindChunkAck:
		a := p.ChunkAck
		b = appendSnapshotID(b, &a.ID)
		b = appendMemberID(b, a.From)
		b = binary.AppendUvarint(b, a.Next)
		done := byte(0)
		if a.Done {
			done = 1
		}
		b = append(b, done)
	case kindProbe:
		b = binary.AppendUvarint(b, p.Probe.GroupIncarnation)
		var flags byte
		if p.Probe.Answer {
			flags |= probeAnswer
		}
		if p.Probe.Exists {
			flags |= probeExists
		}
		if p.Probe.Fresh {
			flags |= probeFresh
		}
		b = append(b, flags)
	case kindCall:
		c := p.Call
		b = binary.AppendUvarint(b, c.ID)
		var flags byte
		if c.Reply {
			flags |= callReply
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(c.Body)))
		b = append(b, c.Body...)
	}
	return b, nil
}

func appendSnapshotID(b []byte, id *racs.SnapshotID) []byte {
	b = binary.AppendUvarint(b, id.Pos.View)
	b = binary.AppendUvarint(b, id.Pos.Seq)
	b = binary.AppendUvarint(b, id.Size)
	return binary.AppendUvarint(b, id.Digest)
}

func appendMemberID(b []byte, m groupcomm.MemberID) []byte {
	b = binary.AppendUvarint(b, uint64(m.Node))
	return binary.AppendUvarint(b, m.Incarnation)
}

// AppendFrame appends p as one frame (length prefix and body) to b. It
// fails with ErrFrameTooLarge, and b unchanged, if the body would exceed
// maxFrame bytes.
func AppendFrame(b []byte, p *racs.Packet, maxFrame int) ([]byte, error) {
	n, err := PacketSize(p)
	if err != nil {
		return b, err
	}
	if n > maxFrame || n > maxFrameLimit {
		return b, fmt.Errorf("%w: packet of %d bytes exceeds %d", ErrFrameTooLarge, n, maxFrame)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return AppendPacket(b, p)
}

// DecodePacket decodes a frame body produced by AppendPacket. It never
// panics; every error wraps ErrMalformed and names the offending field, and
// on error the returned Packet is zero. Allocation is bounded by the input
// size (and lim, for the groupcomm message; a Call's Body is bounded by
// lim.MaxPayloadBytes as well). The Msg's entry payloads, the Chunk's Data
// and Dedup and the Call's Body alias b: the caller must not modify or
// reuse b while the packet is in use (the transport allocates a fresh
// buffer for every frame it reads).
func DecodePacket(b []byte, lim groupcomm.DecodeLimits) (racs.Packet, error) {
	d := wireDecoder{b: b}
	var p racs.Packet
	kind := d.byte("kind")
	if d.err == nil && (kind < kindMsg || kind > maxKind) {
		d.fail("unknown packet kind %d", kind)
	}
	p.Group = replica.GroupID(d.uvarint("group"))
	p.From = groupcomm.NodeID(d.uvarint("from"))
	p.To = groupcomm.NodeID(d.uvarint("to"))
	if d.err != nil {
		return racs.Packet{}, d.err
	}
	switch kind {
	case kindMsg:
		m, err := groupcomm.UnmarshalMessage(b[d.i:], lim)
		if err != nil {
			return racs.Packet{}, fmt.Errorf("%w: msg: %w", ErrMalformed, err)
		}
		p.Msg = &m
		return p, nil
	case kindChunk:
		var c racs.Chunk
		c.ID = d.snapshotID()
		c.To = d.memberID("chunk to")
		c.Offset = d.uvarint("chunk offset")
		c.Data = d.bytes("chunk data")
		c.Dedup = d.bytes("chunk dedup")
		p.Chunk = &c
	case kindChunkAck:
		var a racs.ChunkAck
		a.ID = d.snapshotID()
		a.From = d.memberID("ack from")
		a.Next = d.uvarint("ack next")
		switch done := d.byte("ack done"); {
		case d.err != nil:
		case done == 1:
			a.Done = true
		case done != 0:
			d.fail("ack done byte %d is not 0 or 1", done)
		}
		p.ChunkAck = &a
	case kindProbe:
		var pr racs.Probe
		pr.GroupIncarnation = d.uvarint("probe group incarnation")
		switch flags := d.byte("probe flags"); {
		case d.err != nil:
		case flags&^probeFlagsAll != 0:
			d.fail("unknown probe flags 0x%02x", flags)
		default:
			pr.Answer, pr.Exists, pr.Fresh = flags&probeAnswer != 0, flags&probeExists != 0, flags&probeFresh != 0
		}
		p.Probe = &pr
	case kindCall:
		if p.Group != 0 {
			d.fail("call with group %d", p.Group)
			break
		}
		var c racs.Call
		c.ID = d.uvarint("call id")
		switch flags := d.byte("call flags"); {
		case d.err != nil:
		case flags&^callFlagsAll != 0:
			d.fail("unknown call flags 0x%02x", flags)
		default:
			c.Reply = flags&callReply != 0
		}
		c.Body = d.boundedBytes("call body", callBodyLimit(lim))
		p.Call = &c
	}
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d trailing bytes", d.remaining())
	}
	if d.err != nil {
		return racs.Packet{}, d.err
	}
	return p, nil
}

// wireDecoder reads fields and records the first error; after an error
// every read returns zero.
type wireDecoder struct {
	b   []byte
	i   int
	err error
}

func (d *wireDecoder) remaining() int { return len(d.b) - d.i }

func (d *wireDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	d.i = len(d.b)
}

func (d *wireDecoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.i >= len(d.b) {
		d.fail("truncated at %s", what)
		return 0
	}
	v := d.b[d.i]
	d.i++
	return v
}

// uvarint reads a minimally encoded uvarint.
func (d *wireDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	switch {
	case n == 0:
		d.fail("truncated at %s", what)
		return 0
	case n < 0:
		d.fail("%s overflows 64 bits", what)
		return 0
	case n > 1 && d.b[d.i+n-1] == 0:
		d.fail("%s is a non-minimal varint", what)
		return 0
	}
	d.i += n
	return v
}

// bytes reads a length-prefixed byte string that aliases the input, with
// capacity equal to its length; an empty one is nil.
func (d *wireDecoder) bytes(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(d.remaining()) {
		d.fail("%s length %d exceeds the %d remaining bytes", what, n, d.remaining())
		return nil
	}
	if n == 0 {
		return nil
	}
	end := d.i + int(n)
	s := d.b[d.i:end:end]
	d.i = end
	return s
}

// boundedBytes is bytes with a bound on the length, checked before the
// length is compared with the input.
func (d *wireDecoder) boundedBytes(what string, limit int) []byte {
	if d.err != nil {
		return nil
	}
	save := d.i
	n := d.uvarint(what + " length")
	if d.err == nil && n > uint64(limit) {
		d.fail("%s of %d bytes exceeds the limit of %d", what, n, limit)
		return nil
	}
	d.i = save
	return d.bytes(what)
}

// callBodyLimit is the bound DecodePacket puts on a Call's Body:
// lim.MaxPayloadBytes, or groupcomm's default when it is not positive.
func callBodyLimit(lim groupcomm.DecodeLimits) int {
	if lim.MaxPayloadBytes > 0 {
		return lim.MaxPayloadBytes
	}
	return groupcomm.DefaultDecodeLimits().MaxPayloadBytes
}

func (d *wireDecoder) snapshotID() racs.SnapshotID {
	var id racs.SnapshotID
	id.Pos.View = d.uvarint("snapshot view")
	id.Pos.Seq = d.uvarint("snapshot seq")
	id.Size = d.uvarint("snapshot size")
	id.Digest = d.uvarint("snapshot digest")
	return id
}

func (d *wireDecoder) memberID(what string) groupcomm.MemberID {
	node := d.uvarint(what)
	return groupcomm.MemberID{Node: groupcomm.NodeID(node), Incarnation: d.uvarint(what)}
}

// readFrame reads one frame and returns its body in a freshly allocated
// buffer. It checks the length prefix against maxFrame before allocating:
// a zero length or one above maxFrame fails with ErrMalformed or
// ErrFrameTooLarge and reads nothing more. A stream that ends cleanly
// between frames returns io.EOF; one that ends inside a frame returns
// io.ErrUnexpectedEOF.
func readFrame(r *bufio.Reader, maxFrame int) ([]byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if uint64(n) > uint64(maxFrame) {
		return nil, fmt.Errorf("%w: length prefix %d exceeds %d", ErrFrameTooLarge, n, maxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}
