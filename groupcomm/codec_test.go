package groupcomm

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// codecNormalise returns m in the canonical form UnmarshalMessage produces:
// empty Entries, Changes and Proposal.Members become nil, and empty payloads
// become nil. The proposal is copied, so m is not modified.
func codecNormalise(m Message) Message {
	if len(m.Entries) == 0 {
		m.Entries = nil
	} else {
		es := make([]Entry, len(m.Entries))
		copy(es, m.Entries)
		for i := range es {
			if len(es[i].Payload) == 0 {
				es[i].Payload = nil
			}
		}
		m.Entries = es
	}
	if len(m.Changes) == 0 {
		m.Changes = nil
	}
	if m.Proposal != nil {
		v := *m.Proposal
		if len(v.Members) == 0 {
			v.Members = nil
		}
		m.Proposal = &v
	}
	return m
}

// codecRoundTrip encodes m, checks Size, decodes and compares with the
// normalised m. It returns the encoding.
func codecRoundTrip(t *testing.T, m Message) []byte {
	t.Helper()
	enc := m.MarshalAppend(nil)
	if got := m.Size(); got != len(enc) {
		t.Fatalf("%v: Size() = %d, encoding has %d bytes", m, got, len(enc))
	}
	// Appending to a non-empty buffer keeps the prefix.
	prefix := []byte("prefix")
	enc2 := m.MarshalAppend(append([]byte(nil), prefix...))
	if !bytes.Equal(enc2[:len(prefix)], prefix) || !bytes.Equal(enc2[len(prefix):], enc) {
		t.Fatalf("%v: MarshalAppend to a non-empty buffer differs", m)
	}
	got, err := UnmarshalMessage(enc, DefaultDecodeLimits())
	if err != nil {
		t.Fatalf("%v: decode: %v", m, err)
	}
	if want := codecNormalise(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, want)
	}
	if re := got.MarshalAppend(nil); !bytes.Equal(re, enc) {
		t.Fatalf("%v: re-encoding of the decoded message differs", m)
	}
	return enc
}

var (
	codecA = MemberID{Node: 1, Incarnation: 7}
	codecB = MemberID{Node: 2, Incarnation: 1 << 40}
	codecC = MemberID{Node: 300, Incarnation: math.MaxUint64}
)

func codecHeader(t MsgType) Message {
	return Message{
		Type: t, Cluster: 0xC1, Group: 42, GroupIncarnation: 3, View: 17,
		From: codecA, To: codecB,
	}
}

func codecView() *View {
	return &View{
		Cluster: 0xC1, Group: 42, GroupIncarnation: 3, ID: 18,
		Members: []Member{
			{ID: codecA, Role: Voter},
			{ID: codecB, Role: Voter},
			{ID: codecC, Role: Learner, Donor: codecA},
		},
		Cut:   Viewstamp{View: 17, Seq: 12345},
		Epoch: 9,
	}
}

// codecOrder returns an ORDER frame of n entries of size bytes each.
func codecOrder(n, size int) Message {
	m := codecHeader(MsgOrder)
	m.Stable = Viewstamp{View: 17, Seq: 1000}
	m.Retain = Viewstamp{View: 17, Seq: 900}
	m.Frame = 77
	for i := range n {
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(i + j)
		}
		m.Entries = append(m.Entries, Entry{
			VS:      Viewstamp{View: 17, Seq: 1001 + uint64(i)},
			ID:      EntryID{Origin: []MemberID{codecA, codecB, codecC}[i%3], Counter: 5000 + uint64(i)},
			Payload: p,
		})
	}
	return m
}

// codecTable returns realistic messages, at least one of every type.
func codecTable() map[string]Message {
	ms := map[string]Message{}
	add := func(name string, f func(m *Message), t MsgType) {
		m := codecHeader(t)
		if f != nil {
			f(&m)
		}
		ms[name] = m
	}
	add("submit", func(m *Message) {
		m.Entries = []Entry{
			{ID: EntryID{Origin: codecA, Counter: 1}, Payload: []byte("hello")},
			{ID: EntryID{Origin: codecA, Counter: 2}, Payload: []byte{}},
			{ID: EntryID{Origin: codecA, Counter: 3}},
		}
	}, MsgSubmit)
	ms["order"] = codecOrder(5, 20)
	add("order-empty-probe", func(m *Message) {
		m.Stable = Viewstamp{View: 17, Seq: 1000}
		m.Frame = 78
	}, MsgOrder)
	add("ack", func(m *Message) { m.VS = Viewstamp{View: 17, Seq: 999}; m.Frame = 78 }, MsgAck)
	add("nack", func(m *Message) { m.VS = Viewstamp{View: 17, Seq: 3} }, MsgNack)
	add("prepare", func(m *Message) { m.Ballot = Ballot{Instance: 17, Round: 2, Node: 300} }, MsgPrepare)
	add("promise-empty", func(m *Message) {
		m.Ballot = Ballot{Instance: 17, Round: 2, Node: 300}
		m.VS = Viewstamp{View: 17, Seq: 1002}
		m.Installed = 17
	}, MsgPromise)
	add("promise-accepted", func(m *Message) {
		m.Ballot = Ballot{Instance: 17, Round: 2, Node: 300}
		m.Accepted = Ballot{Instance: 17, Round: 1, Node: 1}
		m.Proposal = codecView()
		m.VS = Viewstamp{View: 17, Seq: 1002}
		m.Installed = 17
	}, MsgPromise)
	add("accept", func(m *Message) {
		m.Ballot = Ballot{Instance: 17, Round: 0, Node: 1}
		m.Proposal = codecView()
		m.Entries = codecOrder(3, 8).Entries
	}, MsgAccept)
	add("accepted", func(m *Message) {
		m.Ballot = Ballot{Instance: 17, Round: 0, Node: 1}
		m.Proposal = &View{ID: 18}
	}, MsgAccepted)
	add("reject", func(m *Message) { m.Ballot = Ballot{Instance: 17, Round: 5, Node: 2}; m.Reject = true }, MsgReject)
	add("commit", func(m *Message) { m.Proposal = codecView() }, MsgCommit)
	add("commit-empty-members", func(m *Message) { m.Proposal = &View{ID: 1, Members: []Member{}} }, MsgCommit)
	add("commitack", func(m *Message) { m.Proposal = &View{ID: 18}; m.View = 18 }, MsgCommitAck)
	add("fetch", func(m *Message) {
		m.VS = Viewstamp{View: 16, Seq: 10}
		m.Hi = Viewstamp{View: 17, Seq: 40}
	}, MsgFetch)
	add("entries", func(m *Message) {
		m.Entries = codecOrder(4, 1000).Entries
		m.Hi = Viewstamp{View: 17, Seq: 1004}
	}, MsgEntries)
	add("needview", nil, MsgNeedView)
	add("propose", func(m *Message) {
		m.Changes = []Change{
			{Kind: AddLearner, Member: codecC, Epoch: 4},
			{Kind: Promote, Member: codecB, Epoch: 4},
			{Kind: Remove, Member: codecA, Epoch: 5},
			{Kind: Readmit, Member: codecA, Epoch: math.MaxUint64},
			{Kind: Lead, Member: codecB, Epoch: 6},
		}
	}, MsgPropose)
	add("propose-empty", func(m *Message) { m.Changes = []Change{} }, MsgPropose)
	add("join", func(m *Message) { m.To = MemberID{} }, MsgJoin)
	add("rejoin", func(m *Message) { m.View = 12 }, MsgRejoin)
	add("learnerready", func(m *Message) { m.VS = Viewstamp{View: 17, Seq: 5} }, MsgLearnerReady)
	add("snapshotask", nil, MsgSnapshotAsk)
	add("readindex", func(m *Message) { m.ReadID = 1 << 33 }, MsgReadIndex)
	add("readindexresp", func(m *Message) { m.ReadID = 1 << 33; m.VS = Viewstamp{View: 17, Seq: 2000} }, MsgReadIndexResp)
	add("readindexresp-reject", func(m *Message) { m.ReadID = 9; m.Reject = true }, MsgReadIndexResp)
	add("everything", func(m *Message) {
		*m = codecOrder(2, 3)
		m.Type = MsgAccept
		m.VS = Viewstamp{View: math.MaxUint64, Seq: math.MaxUint64}
		m.Hi = Viewstamp{View: 1, Seq: 2}
		m.Ballot = Ballot{Instance: 1, Round: 2, Node: 3}
		m.Accepted = Ballot{Instance: math.MaxUint64, Round: math.MaxUint64, Node: math.MaxUint64}
		m.Proposal = codecView()
		m.Installed = 99
		m.Changes = []Change{{Kind: Remove, Member: codecB, Epoch: 1}}
		m.ReadID = 123
		m.Reject = true
	}, MsgAccept)
	ms["zero"] = Message{Type: MsgNeedView}
	return ms
}

func TestCodecRoundTripTable(t *testing.T) {
	seen := map[MsgType]bool{}
	for name, m := range codecTable() {
		t.Run(name, func(t *testing.T) { codecRoundTrip(t, m) })
		seen[m.Type] = true
	}
	for typ := MsgType(1); typ <= maxMsgType; typ++ {
		if !seen[typ] {
			t.Errorf("no table case for %v", typ)
		}
	}
}

// codecRandom returns a random message with valid enums. Integers are drawn
// from several magnitudes so that every varint length occurs.
func codecRandom(r *rand.Rand) Message {
	u := func() uint64 {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return r.Uint64N(128)
		case 2:
			return r.Uint64N(1 << 14)
		case 3:
			return r.Uint64N(1 << 35)
		case 4:
			return math.MaxUint64 - r.Uint64N(3)
		}
		return r.Uint64() >> r.IntN(64)
	}
	id := func() MemberID { return MemberID{Node: NodeID(u()), Incarnation: u()} }
	vs := func() Viewstamp { return Viewstamp{View: u(), Seq: u()} }
	bal := func() Ballot { return Ballot{Instance: u(), Round: u(), Node: NodeID(u())} }
	m := Message{
		Type:    MsgType(1 + r.IntN(int(maxMsgType))),
		Cluster: u(), Group: u(), GroupIncarnation: u(), View: u(),
		From: id(), To: id(),
		Stable: vs(), Retain: vs(), VS: vs(), Hi: vs(), Frame: u(),
		Ballot: bal(), Accepted: bal(), Installed: u(), ReadID: u(),
		Reject: r.IntN(2) == 0,
	}
	if r.IntN(2) == 0 {
		v := &View{Cluster: u(), Group: u(), GroupIncarnation: u(), ID: u(), Cut: vs(), Epoch: u()}
		switch n := r.IntN(8); n {
		case 0:
		case 1:
			v.Members = []Member{}
		default:
			for range n - 1 {
				mb := Member{ID: id(), Role: Voter}
				if r.IntN(3) == 0 {
					mb.Role, mb.Donor = Learner, id()
				}
				v.Members = append(v.Members, mb)
			}
		}
		m.Proposal = v
	}
	switch n := r.IntN(10); n {
	case 0:
	case 1:
		m.Entries = []Entry{}
	default:
		for range n - 1 {
			e := Entry{VS: vs(), ID: EntryID{Origin: id(), Counter: u()}}
			switch r.IntN(4) {
			case 0:
			case 1:
				e.Payload = []byte{}
			default:
				e.Payload = make([]byte, r.IntN(200))
				for i := range e.Payload {
					e.Payload[i] = byte(r.Uint32())
				}
			}
			m.Entries = append(m.Entries, e)
		}
	}
	switch n := r.IntN(5); n {
	case 0:
	case 1:
		m.Changes = []Change{}
	default:
		for range n - 1 {
			m.Changes = append(m.Changes, Change{Kind: ChangeKind(1 + r.IntN(int(codecMaxChangeKind))), Member: id(), Epoch: u()})
		}
	}
	return m
}

func TestCodecRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(0x5eed, 2026))
	for i := range 1000 {
		m := codecRandom(r)
		enc := codecRoundTrip(t, m)
		if i%50 == 0 {
			// A few truncations of random messages too.
			for n := range len(enc) {
				if _, err := UnmarshalMessage(enc[:n], DefaultDecodeLimits()); !errors.Is(err, ErrDecode) {
					t.Fatalf("message %d prefix %d/%d: err = %v, want ErrDecode", i, n, len(enc), err)
				}
			}
		}
	}
}

func TestCodecTruncation(t *testing.T) {
	for name, m := range codecTable() {
		enc := m.MarshalAppend(nil)
		for n := range len(enc) {
			got, err := UnmarshalMessage(enc[:n], DefaultDecodeLimits())
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("%s: prefix %d/%d: err = %v, want ErrDecode", name, n, len(enc), err)
			}
			if !reflect.DeepEqual(got, Message{}) {
				t.Fatalf("%s: prefix %d/%d: non-zero message returned with error", name, n, len(enc))
			}
		}
		// Trailing garbage is rejected too.
		if _, err := UnmarshalMessage(append(enc, 0), DefaultDecodeLimits()); !errors.Is(err, ErrDecode) ||
			!strings.Contains(err.Error(), "trailing") {
			t.Fatalf("%s: trailing byte: err = %v", name, err)
		}
	}
}

// codecHdr returns the encoding of a message of type t up to (not including)
// the proposal or the entry count, with the given flags.
func codecHdr(t MsgType, flags byte) []byte {
	m := Message{Type: t}
	enc := m.MarshalAppend(nil)
	enc = enc[:len(enc)-2] // drop the entry and change counts
	enc[2] = flags
	return enc
}

func codecCat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestDecodeRejects(t *testing.T) {
	uv := func(x uint64) []byte { return codecUvarint(x) }
	hdr := codecHdr(MsgOrder, 0)
	propHdr := codecCat(codecHdr(MsgCommit, codecFlagProposal), make([]byte, 7)) // view fields, all zero
	small := DecodeLimits{MaxEntries: 2, MaxPayloadBytes: 10, MaxMembers: 2, MaxChanges: 2}
	entry := func(payload ...byte) []byte {
		return codecCat(make([]byte, 5), uv(uint64(len(payload))), payload)
	}
	member := func(role byte) []byte { return []byte{1, 1, role, 0, 0} }
	change := func(kind byte) []byte { return []byte{kind, 1, 1, 1} }
	cases := []struct {
		name string
		in   []byte
		lim  DecodeLimits
		want string
	}{
		{"empty", nil, DecodeLimits{}, "truncated at version"},
		{"version0", []byte{0, 1, 0}, DecodeLimits{}, "unknown version 0"},
		{"version2", []byte{2, 1, 0}, DecodeLimits{}, "unknown version 2"},
		{"type0", []byte{1, 0, 0}, DecodeLimits{}, "unknown message type 0"},
		{"typeTooBig", []byte{1, byte(maxMsgType) + 1, 0}, DecodeLimits{}, "unknown message type"},
		{"type255", []byte{1, 255, 0}, DecodeLimits{}, "unknown message type 255"},
		{"flags", []byte{1, 1, 4}, DecodeLimits{}, "unknown flags"},
		{"overlong", []byte{1, 1, 0, 0x80, 0x00}, DecodeLimits{}, "cluster is a non-minimal varint"},
		{"overflow", []byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, DecodeLimits{}, "cluster overflows"},
		{"unterminatedVarint", []byte{1, 1, 0, 0xff}, DecodeLimits{}, "truncated at cluster"},
		{"ok-baseline", codecCat(hdr, uv(1), entry(1, 2, 3), uv(0)), DecodeLimits{}, ""},
		{"trailing", codecCat(hdr, uv(0), uv(0), []byte{0}), DecodeLimits{}, "1 trailing bytes"},
		{"entriesOverLimit", codecCat(hdr, uv(3), entry(), entry(), entry(), uv(0)), small, "entry count 3 exceeds limit 2"},
		{"entriesAtLimit", codecCat(hdr, uv(2), entry(), entry(), uv(0)), small, ""},
		{"entriesOverRemaining", codecCat(hdr, uv(2), entry(), uv(0)), DecodeLimits{}, "entry count 2 exceeds the"},
		{"payloadOverRemaining", codecCat(hdr, uv(1), make([]byte, 5), uv(100), []byte{1, 2}, uv(0)), DecodeLimits{}, "payload length 100 exceeds"},
		{"payloadOverLimit", codecCat(hdr, uv(2), entry(1, 2, 3, 4, 5, 6), entry(1, 2, 3, 4, 5), uv(0)), small, "payloads exceed limit of 10"},
		{"payloadAtLimit", codecCat(hdr, uv(2), entry(1, 2, 3, 4, 5), entry(1, 2, 3, 4, 5), uv(0)), small, ""},
		{"membersOverLimit", codecCat(propHdr, uv(3), member(1), member(1), member(2), uv(0), uv(0)), small, "member count 3 exceeds limit 2"},
		{"membersOverRemaining", codecCat(propHdr, uv(3), member(1), uv(0), uv(0)), DecodeLimits{}, "member count 3 exceeds the"},
		{"role0", codecCat(propHdr, uv(1), member(0), uv(0), uv(0)), DecodeLimits{}, "unknown role 0"},
		{"role3", codecCat(propHdr, uv(2), member(1), member(3), uv(0), uv(0)), DecodeLimits{}, "member 1 has unknown role 3"},
		{"roleOK", codecCat(propHdr, uv(2), member(1), member(2), uv(0), uv(0)), DecodeLimits{}, ""},
		{"changesOverLimit", codecCat(hdr, uv(0), uv(3), change(1), change(1), change(1)), small, "change count 3 exceeds limit 2"},
		{"changesOverRemaining", codecCat(hdr, uv(0), uv(2), change(1)), DecodeLimits{}, "change count 2 exceeds the"},
		{"changeKind0", codecCat(hdr, uv(0), uv(1), change(0)), DecodeLimits{}, "unknown change kind 0"},
		{"changeKindTooBig", codecCat(hdr, uv(0), uv(1), change(byte(codecMaxChangeKind)+1)), DecodeLimits{}, "unknown change kind"},
		{"entryCounterOverlong", codecCat(hdr, uv(1), make([]byte, 4), []byte{0x81, 0x00}, uv(0), uv(0)), DecodeLimits{}, "entry counter is a non-minimal varint"},
		{"entryVSOverflow", codecCat(hdr, uv(1), bytes.Repeat([]byte{0xff}, 10), make([]byte, 6), uv(0)), DecodeLimits{}, "entry vs overflows"},
		{"entryOriginOverflowLong", codecCat(hdr, uv(1), []byte{0, 0}, bytes.Repeat([]byte{0x80}, 12), []byte{1}, make([]byte, 3), uv(0)), DecodeLimits{}, "entry origin overflows"},
		{"entryMaxUint64", codecCat(hdr, uv(1), uv(math.MaxUint64), make([]byte, 5), uv(0)), DecodeLimits{}, ""},
		{"entryTruncatedVarint", codecCat(hdr, uv(1), []byte{0, 0, 0, 0, 0}, []byte{0x80}), DecodeLimits{}, "truncated at payload length"},
		{"noProposalFlagButViewBytes", codecCat(codecHdr(MsgCommit, 0), make([]byte, 7), uv(0), uv(0), uv(0)), DecodeLimits{}, "trailing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := UnmarshalMessage(c.in, c.lim)
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("err = %v, want ErrDecode", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestCodecUvarintSize(t *testing.T) {
	for _, x := range []uint64{0, 1, 127, 128, 1<<14 - 1, 1 << 14, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		if got, want := uvarintSize(x), len(codecUvarint(x)); got != want {
			t.Errorf("uvarintSize(%d) = %d, want %d", x, got, want)
		}
	}
	for s := range 64 {
		for _, x := range []uint64{1 << s, 1<<s - 1, 1<<s + 1} {
			if got, want := uvarintSize(x), len(codecUvarint(x)); got != want {
				t.Errorf("uvarintSize(%d) = %d, want %d", x, got, want)
			}
		}
	}
}

func codecUvarint(x uint64) []byte {
	var b []byte
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

// TestDecodeHostileLengths feeds counts and lengths far larger than the input
// and checks that they are rejected without allocating in proportion to
// them.
func TestDecodeHostileLengths(t *testing.T) {
	uv := codecUvarint
	hdr := codecHdr(MsgOrder, 0)
	propHdr := codecCat(codecHdr(MsgCommit, codecFlagProposal), make([]byte, 7))
	big := DecodeLimits{MaxEntries: math.MaxInt, MaxPayloadBytes: math.MaxInt, MaxMembers: math.MaxInt, MaxChanges: math.MaxInt}
	cases := map[string][]byte{
		"entries1<<40":       codecCat(hdr, uv(1<<40)),
		"entriesMax":         codecCat(hdr, uv(math.MaxUint64)),
		"entries65536":       codecCat(hdr, uv(1<<16), make([]byte, 10)),
		"members1<<40":       codecCat(propHdr, uv(1<<40)),
		"changes1<<40":       codecCat(hdr, uv(0), uv(1<<40)),
		"payload1<<40":       codecCat(hdr, uv(1), make([]byte, 5), uv(1<<40)),
		"payloadMax":         codecCat(hdr, uv(1), make([]byte, 5), uv(math.MaxUint64)),
		"tenBytes":           {1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"payloadFitsNothing": codecCat(hdr, uv(1), make([]byte, 5), uv(1<<20)),
	}
	for name, in := range cases {
		for _, lim := range []DecodeLimits{{}, big} {
			start := time.Now()
			_, err := UnmarshalMessage(in, lim)
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("%s: err = %v, want ErrDecode", name, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("%s: took %v", name, d)
			}
			allocs := testing.AllocsPerRun(100, func() { _, _ = UnmarshalMessage(in, lim) })
			if allocs > 8 && !raceEnabled { // error formatting only
				t.Fatalf("%s: %v allocations per decode", name, allocs)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const runs = 100
			for range runs {
				_, _ = UnmarshalMessage(in, lim)
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4<<10 {
				t.Fatalf("%s: %d bytes allocated per decode of %d input bytes", name, per, len(in))
			}
		}
	}
}

// TestCodecBoundedAllocation checks that a valid but dense input allocates
// in proportion to its size: a count is only accepted if the remaining bytes
// can hold that many minimal elements.
func TestCodecBoundedAllocation(t *testing.T) {
	hdr := codecHdr(MsgOrder, 0)
	const n = 1000
	in := codecCat(hdr, codecUvarint(n), make([]byte, n*codecMinEntrySize), codecUvarint(0))
	m, err := UnmarshalMessage(in, DefaultDecodeLimits())
	if err != nil || len(m.Entries) != n {
		t.Fatalf("dense entries: %d entries, err %v", len(m.Entries), err)
	}
	allocs := testing.AllocsPerRun(20, func() { _, _ = UnmarshalMessage(in, DefaultDecodeLimits()) })
	if allocs != 1 {
		t.Fatalf("dense entries: %v allocations, want 1", allocs)
	}
}

func TestCodecPayloadAliases(t *testing.T) {
	m := codecOrder(3, 10)
	enc := m.MarshalAppend(nil)
	got, err := UnmarshalMessage(enc, DecodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got.Entries {
		if cap(e.Payload) != len(e.Payload) {
			t.Fatalf("entry %d: cap %d != len %d", i, cap(e.Payload), len(e.Payload))
		}
		found := false
		for j := range enc {
			if &enc[j] == &e.Payload[0] {
				found = true
			}
		}
		if !found {
			t.Fatalf("entry %d: payload does not alias the input", i)
		}
	}
	// Appending to a payload must not overwrite the bytes that follow it.
	_ = append(got.Entries[0].Payload, 0xEE)
	if !bytes.Equal(enc, m.MarshalAppend(nil)) {
		t.Fatal("append to a decoded payload modified the input buffer")
	}
}

func TestCodecDefaultLimits(t *testing.T) {
	d := DefaultDecodeLimits()
	if d.MaxEntries != 1<<16 || d.MaxPayloadBytes != 64<<20 || d.MaxMembers != 1024 || d.MaxChanges != 1024 {
		t.Fatalf("DefaultDecodeLimits() = %+v", d)
	}
	if got := (DecodeLimits{}).withDefaults(); got != d {
		t.Fatalf("zero limits = %+v, want defaults", got)
	}
	if got := (DecodeLimits{MaxEntries: 3, MaxPayloadBytes: -1}).withDefaults(); got.MaxEntries != 3 || got.MaxPayloadBytes != d.MaxPayloadBytes {
		t.Fatalf("partial limits = %+v", got)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range codecTable() {
		f.Add(m.MarshalAppend(nil))
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 8 {
		m := codecRandom(r)
		f.Add(m.MarshalAppend(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 1, 0, 0x80, 0x00})
	f.Add(codecCat(codecHdr(MsgOrder, 0), codecUvarint(1<<40)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := UnmarshalMessage(data, DefaultDecodeLimits())
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error does not wrap ErrDecode: %v", err)
			}
			return
		}
		enc := m.MarshalAppend(nil)
		if m.Size() != len(enc) {
			t.Fatalf("Size() = %d, encoding has %d bytes", m.Size(), len(enc))
		}
		// The encoding is canonical: what decodes re-encodes to the input.
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", data, enc)
		}
		m2, err := UnmarshalMessage(enc, DefaultDecodeLimits())
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("decode∘encode not idempotent:\n%#v\n%#v", m, m2)
		}
	})
}

func BenchmarkMarshalOrder(b *testing.B) {
	m := codecOrder(64, 100)
	buf := m.MarshalAppend(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = m.MarshalAppend(buf[:0])
	}
}

func BenchmarkUnmarshalOrder(b *testing.B) {
	m := codecOrder(64, 100)
	buf := m.MarshalAppend(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalMessage(buf, DecodeLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}
