package tcp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// orderMsg is an ORDER-like message with n entries of size bytes each.
func orderMsg(group uint64, frame uint64, n, size int) *groupcomm.Message {
	m := &groupcomm.Message{
		Type: groupcomm.MsgOrder, Cluster: 7, Group: group, GroupIncarnation: 1, View: 3,
		From:   groupcomm.MemberID{Node: 1, Incarnation: 1},
		To:     groupcomm.MemberID{Node: 2, Incarnation: 1},
		Stable: groupcomm.Viewstamp{View: 3, Seq: frame * 64},
		Frame:  frame,
	}
	if n > 0 {
		m.Entries = make([]groupcomm.Entry, n)
		for i := range m.Entries {
			p := bytes.Repeat([]byte{byte(i + 1)}, size)
			m.Entries[i] = groupcomm.Entry{
				VS:      groupcomm.Viewstamp{View: 3, Seq: frame*64 + uint64(i)},
				ID:      groupcomm.EntryID{Origin: groupcomm.MemberID{Node: 1, Incarnation: 1}, Counter: uint64(i)},
				Payload: p,
			}
		}
	}
	return m
}

// samplePackets covers every kind and the edge values of each field.
func samplePackets() []racs.Packet {
	big := groupcomm.NodeID(math.MaxUint64)
	return []racs.Packet{
		{From: 1, To: 2, Group: 0, Msg: &groupcomm.Message{Type: groupcomm.MsgAck, VS: groupcomm.Viewstamp{View: 1, Seq: 2}}},
		{From: 1, To: 2, Group: 42, Msg: orderMsg(42, 9, 3, 10)},
		{From: big, To: 300, Group: replica.GroupID(math.MaxUint64), Msg: &groupcomm.Message{
			Type: groupcomm.MsgCommit, Cluster: 1, Group: 5, View: 2,
			Proposal: &groupcomm.View{Cluster: 1, Group: 5, ID: 3, Epoch: 2, Members: []groupcomm.Member{
				{ID: groupcomm.MemberID{Node: 1, Incarnation: 1}, Role: groupcomm.Voter},
				{ID: groupcomm.MemberID{Node: 2, Incarnation: 9}, Role: groupcomm.Learner, Donor: groupcomm.MemberID{Node: 1, Incarnation: 1}},
			}},
		}},
		{From: 2, To: 1, Group: 7, Chunk: &racs.Chunk{
			ID:     racs.SnapshotID{Pos: groupcomm.Viewstamp{View: 4, Seq: 1000}, Size: 1 << 20, Digest: math.MaxUint64},
			To:     groupcomm.MemberID{Node: 1, Incarnation: 77},
			Offset: 256 << 10, Data: []byte("some snapshot bytes"), Dedup: []byte{1, 2, 3},
		}},
		{From: 2, To: 1, Group: 7, Chunk: &racs.Chunk{ID: racs.SnapshotID{Size: 0}}}, // empty data and dedup
		{From: 1, To: 2, Group: 7, ChunkAck: &racs.ChunkAck{
			ID:   racs.SnapshotID{Pos: groupcomm.Viewstamp{View: 4, Seq: 1000}, Size: 1 << 20, Digest: 12345},
			From: groupcomm.MemberID{Node: 1, Incarnation: 77}, Next: 512 << 10,
		}},
		{From: 1, To: 2, Group: 7, ChunkAck: &racs.ChunkAck{Done: true, Next: math.MaxUint64}},
		{From: 3, To: 1, Group: 9, Probe: &racs.Probe{GroupIncarnation: 1}},
		{From: 1, To: 3, Group: 9, Probe: &racs.Probe{GroupIncarnation: math.MaxUint64, Answer: true, Exists: true, Fresh: true}},
		{From: 1, To: 3, Group: 9, Probe: &racs.Probe{Answer: true}},
		{From: 1, To: 2, Call: &racs.Call{ID: 1, Body: []byte("request")}},
		{From: 2, To: 1, Call: &racs.Call{ID: math.MaxUint64, Reply: true, Body: bytes.Repeat([]byte{0xab}, 300)}},
		{From: big, To: 1, Call: &racs.Call{}},                   // empty body
		{From: 1, To: big, Call: &racs.Call{ID: 7, Reply: true}}, // empty reply
	}
}

func TestPacketRoundTrip(t *testing.T) {
	for i, p := range samplePackets() {
		enc, err := AppendPacket(nil, &p)
		if err != nil {
			t.Fatalf("%d: encode: %v", i, err)
		}
		if n, _ := PacketSize(&p); n != len(enc) {
			t.Fatalf("%d: PacketSize %d, encoding has %d bytes", i, n, len(enc))
		}
		got, err := DecodePacket(enc, groupcomm.DecodeLimits{})
		if err != nil {
			t.Fatalf("%d: decode: %v", i, err)
		}
		if !reflect.DeepEqual(got, canonical(p)) {
			t.Fatalf("%d: round trip differs:\n got %+v\nwant %+v", i, got, p)
		}
		// Every proper prefix fails, and so does any trailing byte.
		for k := range len(enc) {
			if _, err := DecodePacket(enc[:k], groupcomm.DecodeLimits{}); err == nil {
				t.Fatalf("%d: prefix of %d/%d bytes decoded", i, k, len(enc))
			}
		}
		if _, err := DecodePacket(append(enc, 0), groupcomm.DecodeLimits{}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d: trailing byte: err %v", i, err)
		}
		// A frame is the body behind its length.
		fr, err := AppendFrame(nil, &p, DefaultMaxFrameBytes)
		if err != nil || binary.BigEndian.Uint32(fr) != uint32(len(enc)) || !bytes.Equal(fr[4:], enc) {
			t.Fatalf("%d: AppendFrame: %v", i, err)
		}
	}
}

// canonical returns p as the decoder produces it (empty byte strings nil).
func canonical(p racs.Packet) racs.Packet {
	if p.Chunk != nil {
		c := *p.Chunk
		if len(c.Data) == 0 {
			c.Data = nil
		}
		if len(c.Dedup) == 0 {
			c.Dedup = nil
		}
		p.Chunk = &c
	}
	if p.Call != nil && len(p.Call.Body) == 0 {
		c := *p.Call
		c.Body = nil
		p.Call = &c
	}
	return p
}

func TestEncodeInvalidPacket(t *testing.T) {
	m := &groupcomm.Message{Type: groupcomm.MsgAck}
	for _, p := range []racs.Packet{
		{From: 1, To: 2},
		{From: 1, To: 2, Msg: m, Chunk: &racs.Chunk{}},
		{From: 1, To: 2, Chunk: &racs.Chunk{}, ChunkAck: &racs.ChunkAck{}},
		{From: 1, To: 2, Msg: m, Call: &racs.Call{}},
		{From: 1, To: 2, Probe: &racs.Probe{}, Call: &racs.Call{}},
		{From: 1, To: 2, Group: 3, Call: &racs.Call{ID: 1}}, // calls have no group
	} {
		if _, err := AppendPacket(nil, &p); !errors.Is(err, ErrInvalidPacket) {
			t.Fatalf("AppendPacket(%+v): err %v", p, err)
		}
		if _, err := PacketSize(&p); !errors.Is(err, ErrInvalidPacket) {
			t.Fatalf("PacketSize(%+v): err %v", p, err)
		}
	}
	p := racs.Packet{From: 1, To: 2, Chunk: &racs.Chunk{Data: make([]byte, 2000)}}
	if _, err := AppendFrame(nil, &p, 1024); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("AppendFrame of an oversized packet: err %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	ack := func(done byte) []byte {
		b, _ := AppendPacket(nil, &racs.Packet{From: 1, To: 2, ChunkAck: &racs.ChunkAck{}})
		b[len(b)-1] = done
		return b
	}
	cases := map[string][]byte{
		"empty":               {},
		"kind 0":              {0, 0, 1, 2},
		"kind 6":              {6, 0, 1, 2},
		"call truncated":      {kindCall, 0, 1, 2},
		"call no body length": {kindCall, 0, 1, 2, 9, 0},
		"call flags 2":        {kindCall, 0, 1, 2, 9, 2, 0},
		"call with group":     {kindCall, 5, 1, 2, 9, 0, 0},
		"call body too long":  {kindCall, 0, 1, 2, 9, 1, 3, 'a', 'b'},
		"call trailing":       {kindCall, 0, 1, 2, 9, 1, 1, 'a', 'b'},
		"call non-minimal id": {kindCall, 0, 1, 2, 0x89, 0x00, 0, 0},
		"probe flags 8":       {kindProbe, 0, 1, 2, 1, 8},
		"probe trailing":      {kindProbe, 0, 1, 2, 1, 0, 0},
		"non-minimal group":   {kindChunkAck, 0x80, 0x00, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0},
		"overflowing group":   append([]byte{kindMsg}, bytes.Repeat([]byte{0xff}, 11)...),
		"ack done 2":          ack(2),
		"chunk data too long": {kindChunk, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 100, 1, 2},
		"bad msg":             {kindMsg, 0, 1, 2, 9, 9, 9},
	}
	for name, b := range cases {
		p, err := DecodePacket(b, groupcomm.DecodeLimits{})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v", name, err)
		}
		if !reflect.DeepEqual(p, racs.Packet{}) {
			t.Errorf("%s: non-zero packet on error", name)
		}
	}
	if _, err := DecodePacket(ack(1), groupcomm.DecodeLimits{}); err != nil {
		t.Fatalf("done 1: %v", err)
	}
}

// A Call's body is bounded by DecodeLimits.MaxPayloadBytes (and, always,
// by the frame): the limit is checked before the body is sliced.
func TestDecodeCallBodyLimit(t *testing.T) {
	p := racs.Packet{From: 1, To: 2, Call: &racs.Call{ID: 3, Reply: true, Body: make([]byte, 100)}}
	enc, err := AppendPacket(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodePacket(enc, groupcomm.DecodeLimits{MaxPayloadBytes: 100}); err != nil {
		t.Fatalf("body at the limit: %v", err)
	}
	got, err := DecodePacket(enc, groupcomm.DecodeLimits{MaxPayloadBytes: 99})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("body over the limit: err %v", err)
	}
	if !reflect.DeepEqual(got, racs.Packet{}) {
		t.Fatalf("non-zero packet on error: %+v", got)
	}
	// A length prefix announcing more than the frame holds is refused
	// without looking at the rest (zero limits: groupcomm's default).
	huge := []byte{kindCall, 0, 1, 2, 3, 0}
	huge = binary.AppendUvarint(huge, 1<<40)
	if _, err := DecodePacket(huge, groupcomm.DecodeLimits{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge body length: err %v", err)
	}
	huge = binary.AppendUvarint([]byte{kindCall, 0, 1, 2, 3, 0}, 10)
	if _, err := DecodePacket(huge, groupcomm.DecodeLimits{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("body longer than the frame: err %v", err)
	}
}

func TestReadFrame(t *testing.T) {
	read := func(b []byte, max int) ([]byte, error) {
		return readFrame(bufio.NewReader(bytes.NewReader(b)), max)
	}
	if _, err := read([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, 1024); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized prefix: %v", err)
	}
	if _, err := read([]byte{0, 0, 4, 1}, 1024); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("1025-byte frame with max 1024: %v", err)
	}
	if _, err := read([]byte{0, 0, 0, 0}, 1024); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty frame: %v", err)
	}
	if _, err := read([]byte{0, 0, 0, 5, 1, 2}, 1024); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated body: %v", err)
	}
	if _, err := read([]byte{0, 0}, 1024); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated prefix: %v", err)
	}
	if _, err := read(nil, 1024); err != io.EOF {
		t.Fatalf("clean end: %v", err)
	}
	b, err := read([]byte{0, 0, 0, 2, 7, 8, 0, 0}, 1024)
	if err != nil || !bytes.Equal(b, []byte{7, 8}) {
		t.Fatalf("good frame: %v %v", b, err)
	}
}

func TestHelloCodec(t *testing.T) {
	h := hello{Version: 1, Cluster: math.MaxUint64, Node: 3, Target: 4, Label: "prod", Status: statusDuplicate}
	got, err := decodeHello(appendHello(nil, h))
	if err != nil || got != h {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// A later version may append fields.
	h2 := h
	h2.Version = 2
	if got, err := decodeHello(append(appendHello(nil, h2), 1, 2, 3)); err != nil || got != h2 {
		t.Fatalf("version 2 with extra fields: %+v %v", got, err)
	}
	bad := map[string][]byte{
		"magic":          append([]byte("QSX2"), appendHello(nil, h)[4:]...),
		"version 0":      appendHello(nil, hello{Version: 0, Node: 1}),
		"trailing v1":    append(appendHello(nil, h), 0),
		"long label":     appendHello(nil, hello{Version: 1, Node: 1, Label: strings.Repeat("x", MaxLabelBytes+1)}),
		"label too long": append([]byte(helloMagic), 1, 0, 1, 0, 50, 'a'),
		"short":          []byte("QS"),
		"no status":      appendHello(nil, h)[:len(appendHello(nil, h))-1],
	}
	for name, b := range bad {
		if _, err := decodeHello(b); !errors.Is(err, ErrHandshake) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// FuzzDecodePacket: the decoder never panics, and whatever decodes
// re-encodes to the same bytes and decodes again to the same packet.
func FuzzDecodePacket(f *testing.F) {
	for _, p := range samplePackets() {
		b, err := AppendPacket(nil, &p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{kindMsg})
	f.Add([]byte{kindChunk, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{kindChunkAck, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1})
	f.Add([]byte{kindCall, 0, 1, 2, 0x80, 0x01, 1, 2, 'o', 'k'})
	f.Add([]byte{kindCall, 1, 1, 2, 1, 0, 0})
	lim := groupcomm.DecodeLimits{MaxEntries: 1 << 10, MaxPayloadBytes: 1 << 20, MaxMembers: 64, MaxChanges: 64}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePacket(b, lim)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if _, err := packetKind(&p); err != nil {
			t.Fatalf("decoded packet is invalid: %+v", p)
		}
		enc, err := AppendPacket(nil, &p)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, enc)
		}
		if n, _ := PacketSize(&p); n != len(enc) {
			t.Fatalf("PacketSize %d, encoding %d", n, len(enc))
		}
		p2, err := DecodePacket(enc, lim)
		if err != nil {
			t.Fatalf("decode(encode(x)): %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("decode(encode(x)) != x:\n%+v\n%+v", p, p2)
		}
	})
}

// FuzzDecodeHello: the hello decoder never panics and round-trips.
func FuzzDecodeHello(f *testing.F) {
	f.Add(appendHello(nil, hello{Version: 1, Cluster: 9, Node: 3, Target: 2, Label: "x"}))
	f.Add([]byte("QSX1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHello(b)
		if err != nil {
			return
		}
		if h.Version == 1 && !bytes.Equal(appendHello(nil, h), b) {
			t.Fatalf("hello not canonical")
		}
	})
}

// wholeFrameBuffered is true exactly when the next frame can be read
// without blocking: readLoop batches such frames, and must never wait for
// one still arriving while it holds packets.
func TestWholeFrameBuffered(t *testing.T) {
	frame := func(n int) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(n))
		return append(b, make([]byte, n)...)
	}
	two := append(frame(10), frame(20)...)
	for cut := 0; cut <= len(two); cut++ {
		r := bufio.NewReaderSize(bytes.NewReader(two[:cut]), 64)
		if cut > 0 {
			if _, err := r.Peek(1); err != nil { // fill the buffer
				t.Fatal(err)
			}
		}
		want := cut >= 14
		if got := wholeFrameBuffered(r); got != want {
			t.Errorf("cut %d: first frame buffered = %v, want %v", cut, got, want)
		}
		if cut < 14 {
			continue
		}
		if _, err := readFrame(r, 1<<20); err != nil {
			t.Fatal(err)
		}
		if got, want := wholeFrameBuffered(r), cut == len(two); got != want {
			t.Errorf("cut %d: second frame buffered = %v, want %v", cut, got, want)
		}
	}
}
