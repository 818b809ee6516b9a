package replica

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

const max64 = math.MaxUint64

func mid(node, inc uint64) groupcomm.MemberID {
	return groupcomm.MemberID{Node: groupcomm.NodeID(node), Incarnation: inc}
}

func testView(id uint64) groupcomm.View {
	return groupcomm.View{
		Cluster: 7, Group: 3, GroupIncarnation: 2, ID: id,
		Members: []groupcomm.Member{
			{ID: mid(1, 1), Role: groupcomm.Voter},
			{ID: mid(2, 5), Role: groupcomm.Voter},
			{ID: mid(3, 9), Role: groupcomm.Learner, Donor: mid(2, 5)},
		},
		Cut:   groupcomm.Viewstamp{View: id - 1, Seq: 41},
		Epoch: 12,
	}
}

// hardStateTable is a set of hard states covering the corners of the
// encoding.
func hardStateTable() []groupcomm.HardState {
	av := testView(5)
	emptyAV := groupcomm.View{ID: 9}
	maxView := groupcomm.View{
		Cluster: max64, Group: max64, GroupIncarnation: max64, ID: max64,
		Members: []groupcomm.Member{{ID: mid(max64, max64), Role: 255, Donor: mid(max64, max64)}, {Role: 0}},
		Cut:     groupcomm.Viewstamp{View: max64, Seq: max64}, Epoch: max64,
	}
	return []groupcomm.HardState{
		{},
		{Incarnation: 1, Installed: testView(4)},
		{
			Incarnation: 3, OriginEpoch: 2,
			Promised:     groupcomm.Ballot{Instance: 4, Round: 2, Node: 3},
			Accepted:     groupcomm.Ballot{Instance: 4, Round: 1, Node: 2},
			AcceptedView: &av,
			Installed:    testView(4),
		},
		{Accepted: groupcomm.Ballot{Instance: 8}, AcceptedView: &emptyAV},
		{
			Incarnation: max64, OriginEpoch: max64,
			Promised:     groupcomm.Ballot{Instance: max64, Round: max64, Node: max64},
			Accepted:     groupcomm.Ballot{Instance: max64, Round: max64, Node: max64},
			AcceptedView: &maxView,
			Installed:    maxView,
		},
	}
}

func entryTable() []groupcomm.Entry {
	return []groupcomm.Entry{
		{},
		{VS: groupcomm.Viewstamp{View: 1, Seq: 1}, ID: groupcomm.EntryID{Origin: mid(1, 1), Counter: 1}, Payload: []byte("x")},
		{VS: groupcomm.Viewstamp{View: 3, Seq: 200}, ID: groupcomm.EntryID{Origin: mid(2, 4), Counter: 1 << 40}, Payload: bytes.Repeat([]byte{0xab}, 300)},
		{VS: groupcomm.Viewstamp{View: max64, Seq: max64}, ID: groupcomm.EntryID{Origin: mid(max64, max64), Counter: max64}},
	}
}

func snapshotTable() []Snapshot {
	return []Snapshot{
		{},
		{Pos: groupcomm.Viewstamp{View: 2, Seq: 9}, Dedup: []byte("dedup"), Data: []byte("state")},
		{Pos: groupcomm.Viewstamp{View: 2, Seq: 9}, Data: bytes.Repeat([]byte{1, 2, 3}, 1000)},
		{Pos: groupcomm.Viewstamp{View: max64, Seq: max64}, Dedup: []byte{0}},
	}
}

// viewTable is a set of view records covering the corners of the
// encoding.
func viewTable() []groupcomm.View {
	return []groupcomm.View{
		{},
		{ID: 1, Members: []groupcomm.Member{}}, // empty Members decode as nil
		testView(4),
		hardStateTable()[4].Installed, // every field at its maximum
		{ID: 1 << 35, Members: []groupcomm.Member{{Role: 0}, {ID: mid(1<<20, 3), Role: 7, Donor: mid(128, 127)}}},
	}
}

func viewstampTable() []groupcomm.Viewstamp {
	return []groupcomm.Viewstamp{{}, {View: 1, Seq: 2}, {View: 300, Seq: 1 << 33}, {View: max64, Seq: max64}}
}

// codec bundles the encoder and decoder of one record kind with a way to
// re-encode whatever the decoder returned.
type codec struct {
	name   string
	tag    byte
	values [][]byte // encodings of the table
	// decode decodes b and returns its re-encoding.
	decode func(b []byte) ([]byte, error)
}

func codecs() []codec {
	var cs []codec
	c := codec{name: "HardState", tag: tagHardStateV1, decode: func(b []byte) ([]byte, error) {
		hs, err := decodeHardState(b)
		return appendHardState(nil, &hs), err
	}}
	for _, hs := range hardStateTable() {
		c.values = append(c.values, appendHardState(nil, &hs))
	}
	cs = append(cs, c)
	c = codec{name: "Entry", tag: tagEntryV1, decode: func(b []byte) ([]byte, error) {
		e, err := decodeEntry(b)
		return appendEntry(nil, &e), err
	}}
	for _, e := range entryTable() {
		c.values = append(c.values, appendEntry(nil, &e))
	}
	cs = append(cs, c)
	c = codec{name: "Snapshot", tag: tagSnapshotV1, decode: func(b []byte) ([]byte, error) {
		s, err := decodeSnapshot(b)
		return appendSnapshot(nil, &s), err
	}}
	for _, s := range snapshotTable() {
		c.values = append(c.values, appendSnapshot(nil, &s))
	}
	cs = append(cs, c)
	c = codec{name: "Viewstamp", tag: tagViewstampV1, decode: func(b []byte) ([]byte, error) {
		vs, err := decodeViewstamp(b)
		return appendViewstamp(nil, vs), err
	}}
	for _, vs := range viewstampTable() {
		c.values = append(c.values, appendViewstamp(nil, vs))
	}
	cs = append(cs, c)
	c = codec{name: "View", tag: tagViewV1, decode: func(b []byte) ([]byte, error) {
		v, err := decodeViewRecord(b)
		return appendViewRecord(nil, &v), err
	}}
	for _, v := range viewTable() {
		c.values = append(c.values, appendViewRecord(nil, &v))
	}
	return append(cs, c)
}

func TestEncodingRoundTrip(t *testing.T) {
	for _, hs := range hardStateTable() {
		enc := appendHardState([]byte("prefix"), &hs)
		got, err := decodeHardState(enc[len("prefix"):])
		if err != nil {
			t.Fatalf("decode %+v: %v", hs, err)
		}
		if want := cloneHardState(&hs); !reflect.DeepEqual(got, want) {
			t.Fatalf("hard state round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	for _, e := range entryTable() {
		got, err := decodeEntry(appendEntry(nil, &e))
		if err != nil {
			t.Fatal(err)
		}
		if want := cloneEntry(e); !reflect.DeepEqual(got, want) {
			t.Fatalf("entry round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	for _, s := range snapshotTable() {
		got, err := decodeSnapshot(appendSnapshot(nil, &s))
		if err != nil {
			t.Fatal(err)
		}
		if want := cloneSnapshot(&s); !reflect.DeepEqual(got, want) {
			t.Fatalf("snapshot round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	for _, vs := range viewstampTable() {
		got, err := decodeViewstamp(appendViewstamp(nil, vs))
		if err != nil || got != vs {
			t.Fatalf("viewstamp round trip: got %v, %v; want %v", got, err, vs)
		}
	}
	for _, v := range viewTable() {
		enc := appendViewRecord([]byte("prefix"), &v)
		got, err := decodeViewRecord(enc[len("prefix"):])
		if err != nil {
			t.Fatalf("decode %+v: %v", v, err)
		}
		if want := cloneView(v); !reflect.DeepEqual(got, want) {
			t.Fatalf("view record round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	// A view record is the view of a hard state under its own tag.
	hs := hardStateTable()[2]
	hsEnc := appendHardState(nil, &hs)
	vEnc := appendViewRecord(nil, &hs.Installed)
	if !bytes.Contains(hsEnc, vEnc[1:]) || vEnc[0] != tagViewV1 {
		t.Fatalf("view record %x is not the tagged view layout of %x", vEnc, hsEnc)
	}
}

func TestEncodingRandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 2000 {
		hs := randHardState(r)
		got, err := decodeHardState(appendHardState(nil, &hs))
		if err != nil {
			t.Fatal(err)
		}
		if want := cloneHardState(&hs); !reflect.DeepEqual(got, want) {
			t.Fatalf("hard state round trip:\n got %+v\nwant %+v", got, want)
		}
		e := randEntry(r, r.Uint64N(5), r.Uint64())
		ge, err := decodeEntry(appendEntry(nil, &e))
		if err != nil || !reflect.DeepEqual(ge, cloneEntry(e)) {
			t.Fatalf("entry round trip: got %+v, %v; want %+v", ge, err, e)
		}
		v := randView(r)
		gv, err := decodeViewRecord(appendViewRecord(nil, &v))
		if err != nil || !reflect.DeepEqual(gv, cloneView(v)) {
			t.Fatalf("view record round trip: got %+v, %v; want %+v", gv, err, v)
		}
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	e := entryTable()[1]
	enc := appendEntry(nil, &e)
	got, err := decodeEntry(enc)
	if err != nil {
		t.Fatal(err)
	}
	clear(enc)
	if string(got.Payload) != "x" {
		t.Fatalf("decoded payload aliases its input: %q", got.Payload)
	}
	s := snapshotTable()[1]
	enc = appendSnapshot(nil, &s)
	gs, err := decodeSnapshot(enc)
	if err != nil {
		t.Fatal(err)
	}
	clear(enc)
	if string(gs.Dedup) != "dedup" || string(gs.Data) != "state" {
		t.Fatalf("decoded snapshot aliases its input: %+v", gs)
	}
	v := testView(4)
	enc = appendViewRecord(nil, &v)
	gv, err := decodeViewRecord(enc)
	if err != nil {
		t.Fatal(err)
	}
	clear(enc)
	if !reflect.DeepEqual(gv, testView(4)) {
		t.Fatalf("decoded view record aliases its input: %+v", gv)
	}
}

// TestDecodeCorrupt checks that every strict prefix, every extension and
// every retagging of a valid encoding fails cleanly with ErrCorrupt.
func TestDecodeCorrupt(t *testing.T) {
	for _, c := range codecs() {
		t.Run(c.name, func(t *testing.T) {
			for _, enc := range c.values {
				for n := range len(enc) {
					if _, err := c.decode(enc[:n]); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("prefix %x of %x: err = %v, want ErrCorrupt", enc[:n], enc, err)
					}
				}
				if _, err := c.decode(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("trailing byte after %x: err = %v, want ErrCorrupt", enc, err)
				}
				for _, tag := range []byte{0, 0x01, 0x12, 0x52, tagHardStateV1, tagEntryV1, tagSnapshotV1, tagViewstampV1, tagViewV1, 0xff} {
					if tag == c.tag {
						continue
					}
					b := bytes.Clone(enc)
					b[0] = tag
					if _, err := c.decode(b); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("tag 0x%02x: err = %v, want ErrCorrupt", tag, err)
					}
				}
			}
		})
	}
}

func TestDecodeCorruptCases(t *testing.T) {
	uv := func(xs ...uint64) []byte {
		var b []byte
		for _, x := range xs {
			b = appendUvarint(b, x)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hsHead := []byte{tagHardStateV1, 0}
	zeroBallots := uv(0, 0, 0, 0, 0, 0)
	zeroViewHead := uv(0, 0, 0, 0, 0, 0, 0)
	cases := []struct {
		name   string
		decode func([]byte) error
		b      []byte
	}{
		{"empty", errOnly(decodeHardState), nil},
		{"unknown flag", errOnly(decodeHardState), cat([]byte{tagHardStateV1, 2}, uv(0, 0), zeroBallots, zeroViewHead, uv(0))},
		{"overlong varint", errOnly(decodeViewstamp), []byte{tagViewstampV1, 0x80, 0x00, 0x00}},
		{"overlong zero", errOnly(decodeViewstamp), []byte{tagViewstampV1, 0x00, 0x80, 0x80, 0x00}},
		{"varint overflow", errOnly(decodeViewstamp), cat([]byte{tagViewstampV1}, bytes.Repeat([]byte{0xff}, 10), []byte{0x01, 0})},
		{"huge member count", errOnly(decodeHardState), cat(hsHead, uv(0, 0), zeroBallots, zeroViewHead, uv(1<<60))},
		{"member count beyond input", errOnly(decodeHardState), cat(hsHead, uv(0, 0), zeroBallots, zeroViewHead, uv(2), uv(1, 1), []byte{1}, uv(0, 0))},
		{"missing accepted view", errOnly(decodeHardState), cat([]byte{tagHardStateV1, hsFlagAcceptedView}, uv(0, 0), zeroBallots, zeroViewHead, uv(0))},
		{"huge payload", errOnly(decodeEntry), cat([]byte{tagEntryV1}, uv(1, 1, 1, 1, 1, max64))},
		{"payload beyond input", errOnly(decodeEntry), cat([]byte{tagEntryV1}, uv(1, 1, 1, 1, 1, 3), []byte("ab"))},
		{"huge snapshot data", errOnly(decodeSnapshot), cat([]byte{tagSnapshotV1}, uv(1, 1, 0, 1<<62))},
		{"empty view record", errOnly(decodeViewRecord), nil},
		{"view record without members count", errOnly(decodeViewRecord), cat([]byte{tagViewV1}, zeroViewHead)},
		{"view record huge member count", errOnly(decodeViewRecord), cat([]byte{tagViewV1}, zeroViewHead, uv(1<<60))},
		{"view record member count beyond input", errOnly(decodeViewRecord), cat([]byte{tagViewV1}, zeroViewHead, uv(2), uv(1, 1), []byte{1}, uv(0, 0))},
		{"view record truncated member", errOnly(decodeViewRecord), cat([]byte{tagViewV1}, zeroViewHead, uv(1), uv(1, 1), []byte{1}, uv(0))},
		{"view record overlong varint", errOnly(decodeViewRecord), cat([]byte{tagViewV1, 0x81, 0x00}, uv(0, 0, 0, 0, 0, 0, 0))},
		{"view record trailing byte", errOnly(decodeViewRecord), cat([]byte{tagViewV1}, zeroViewHead, uv(0), []byte{0})},
		{"hard state as view record", errOnly(decodeViewRecord), cat(hsHead, uv(0, 0), zeroBallots, zeroViewHead, uv(0))},
		{"view record as hard state", errOnly(decodeHardState), cat([]byte{tagViewV1}, zeroViewHead, uv(0))},
	}
	for _, c := range cases {
		err := c.decode(c.b)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", c.name, err)
		}
	}
	// The overlong checks must not reject the canonical encodings of
	// values whose last byte is small.
	for _, x := range []uint64{0, 1, 127, 128, 255, 256, 1 << 14, 1<<63 + 1, max64} {
		vs := groupcomm.Viewstamp{View: x, Seq: x}
		if got, err := decodeViewstamp(appendViewstamp(nil, vs)); err != nil || got != vs {
			t.Fatalf("viewstamp %v: got %v, %v", vs, got, err)
		}
	}
}

func errOnly[T any](f func([]byte) (T, error)) func([]byte) error {
	return func(b []byte) error { _, err := f(b); return err }
}

// TestDecodeMutations flips random bytes of valid encodings: decoding must
// not panic, must fail with ErrCorrupt or, when it succeeds, re-encode to
// exactly the mutated bytes (the encoding is canonical).
func TestDecodeMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range codecs() {
		for _, enc := range c.values {
			for range 500 {
				b := bytes.Clone(enc)
				for range 1 + r.IntN(3) {
					b[r.IntN(len(b))] = byte(r.Uint32())
				}
				re, err := c.decode(b)
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("%s: error %v does not wrap ErrCorrupt", c.name, err)
					}
					continue
				}
				if !bytes.Equal(re, b) {
					t.Fatalf("%s: %x decodes but re-encodes to %x", c.name, b, re)
				}
			}
		}
	}
}

func TestDecodeAllocationBounded(t *testing.T) {
	// Counts and lengths that claim far more than the input holds are
	// refused before anything is allocated for them.
	hs := []byte{tagHardStateV1, 0}
	for range 2 + 6 + 7 {
		hs = append(hs, 0)
	}
	hs = appendUvarint(hs, 1<<22) // 4M members: 160 MiB if trusted
	hs = append(hs, make([]byte, 64)...)
	e := appendUvarint([]byte{tagEntryV1, 1, 1, 1, 1, 1}, 1<<28)
	e = append(e, make([]byte, 64)...)
	vr := appendUvarint(append([]byte{tagViewV1}, make([]byte, 7)...), 1<<22)
	vr = append(vr, make([]byte, 64)...)
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"members", func() { _, _ = decodeHardState(hs) }},
		{"payload", func() { _, _ = decodeEntry(e) }},
		{"view record members", func() { _, _ = decodeViewRecord(vr) }},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			c.f()
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("%s: decoding a corrupt count allocated %d bytes", c.name, n)
		}
	}
	// A valid hard state decodes with few allocations: the members and
	// the accepted view.
	full := hardStateTable()[2]
	enc := appendHardState(nil, &full)
	if n := testing.AllocsPerRun(100, func() { _, _ = decodeHardState(enc) }); n > 3 {
		t.Errorf("decoding a hard state allocates %v times", n)
	}
	// A view record: the members only.
	v := testView(4)
	venc := appendViewRecord(nil, &v)
	if n := testing.AllocsPerRun(100, func() { _, _ = decodeViewRecord(venc) }); n > 1 {
		t.Errorf("decoding a view record allocates %v times", n)
	}
}

func fuzzDecode(f *testing.F, c codec) {
	for _, v := range c.values {
		f.Add(v)
	}
	f.Add([]byte{})
	f.Add([]byte{c.tag})
	f.Add([]byte{c.tag, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		re, err := c.decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(re, data) {
			t.Fatalf("%x decodes but re-encodes to %x", data, re)
		}
	})
}

func FuzzDecodeHardState(f *testing.F) {
	c := codecs()[0]
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		hs := randHardState(r)
		c.values = append(c.values, appendHardState(nil, &hs))
	}
	fuzzDecode(f, c)
}

func FuzzDecodeEntry(f *testing.F) { fuzzDecode(f, codecs()[1]) }

func FuzzDecodeSnapshot(f *testing.F) { fuzzDecode(f, codecs()[2]) }

func FuzzDecodeViewRecord(f *testing.F) {
	c := codecs()[4]
	r := rand.New(rand.NewPCG(7, 8))
	for range 8 {
		v := randView(r)
		c.values = append(c.values, appendViewRecord(nil, &v))
	}
	// The views of hard states, retagged: the same layout a view record
	// shares.
	for _, hs := range hardStateTable() {
		if hs.AcceptedView != nil {
			c.values = append(c.values, appendViewRecord(nil, hs.AcceptedView))
		}
	}
	fuzzDecode(f, c)
}

// FuzzDecodeBatch: a WAL frame's payload decodes without panicking, fails
// with ErrCorrupt, or re-encodes to the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	m := model{}
	for range 12 {
		b := randBatch(r, m, 3)
		f.Add(appendBatch(nil, b))
		m.apply(b)
	}
	f.Add([]byte{})
	f.Add([]byte{tagBatchV1})
	f.Add([]byte{tagBatchV1, 1, 1, bwStable, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		if re := appendBatch(nil, b); !bytes.Equal(re, data) {
			t.Fatalf("%x decodes but re-encodes to %x", data, re)
		}
	})
}
