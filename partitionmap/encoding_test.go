package partitionmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

func TestBinaryRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMap(t, rapidSource{t}, smallMaps)
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Map
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !reflect.DeepEqual(&got, m) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", &got, m)
		}
		again, _ := got.MarshalBinary()
		if !bytes.Equal(again, b) {
			t.Fatal("re-encoding differs")
		}
		// Appending after existing bytes.
		pre, _ := m.AppendBinary([]byte("xy"))
		if !bytes.Equal(pre[2:], b) {
			t.Fatal("AppendBinary differs")
		}
	})
}

func TestBinaryRejectsDamage(t *testing.T) {
	m := fixture(t)
	m = ok(t)(m.SetNodeState(m.Epoch, 5, NodeDead, t0))
	b := enc(t, m)
	var into Map
	// Every truncation fails, and leaves the target unchanged.
	for n := 0; n < len(b); n++ {
		if err := into.UnmarshalBinary(b[:n]); !errors.Is(err, ErrDecode) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(b), err)
		}
		if into.Epoch != 0 || into.Nodes != nil {
			t.Fatal("a failed decode wrote the target")
		}
	}
	if err := into.UnmarshalBinary(append(bytes.Clone(b), 0)); !errors.Is(err, ErrDecode) {
		t.Fatalf("trailing byte: %v", err)
	}
	for _, v := range []byte{0, encodingVersion + 1} {
		bad := bytes.Clone(b)
		bad[0] = v
		if err := into.UnmarshalBinary(bad); !errors.Is(err, ErrDecode) {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	// Absurd counts fail before allocating.
	huge := []byte{encodingVersion, 1, 1}
	huge = binary.AppendUvarint(huge, 1<<62)
	if err := into.UnmarshalBinary(huge); !errors.Is(err, ErrDecode) {
		t.Fatalf("huge node count: %v", err)
	}
	// Flipping any single byte either fails cleanly or decodes to a
	// valid map.
	for i := range b {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			d := bytes.Clone(b)
			d[i] ^= x
			var got Map
			if err := got.UnmarshalBinary(d); err == nil {
				if err := got.Validate(); err != nil {
					t.Fatalf("byte %d ^ %#x decoded to an invalid map: %v", i, x, err)
				}
			} else if !errors.Is(err, ErrDecode) {
				t.Fatalf("byte %d ^ %#x: %v", i, x, err)
			}
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for seed := uint64(0); seed < 12; seed++ {
		f.Add(enc(f, genMap(f, seeded(seed), smallMaps)))
	}
	f.Add(enc(f, ok(f)(New(1))))
	f.Add([]byte{})
	f.Add([]byte{encodingVersion})
	f.Add([]byte{encodingVersion, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Map
		if err := m.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error without ErrDecode: %v", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded an invalid map: %v", err)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("cannot re-encode a decoded map: %v", err)
		}
		var again Map
		if err := again.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(&again, &m) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
		// What decodes is usable: planning and locating must not fail
		// or panic.
		if _, err := Plan(&m, allLive(&m), DefaultPolicy(t0)); err != nil {
			t.Fatalf("plan on a decoded map: %v", err)
		}
		for _, s := range m.Services {
			if _, err := m.Locate(s.Name, data); err != nil {
				t.Fatalf("locate in a decoded map: %v", err)
			}
		}
	})
}

// A map encoded by a build before service types (version 1,
// testdata/map-v1.bin: fixture with node 5 dead) still decodes, its
// services of the default type, and re-encodes as the current version.
func TestBinaryReadsVersion1(t *testing.T) {
	b, err := os.ReadFile("testdata/map-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	var got Map
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatalf("decoding version 1: %v", err)
	}
	m := fixture(t)
	m = ok(t)(m.SetNodeState(m.Epoch, 5, NodeDead, t0))
	if !reflect.DeepEqual(&got, m) {
		t.Fatalf("version 1 decodes to\n %+v\nwant\n %+v", &got, m)
	}
	for _, s := range got.Services {
		if s.Kind != KindService || s.Acks != AckMajority || s.Reads != 0 || s.Retain != 0 {
			t.Fatalf("service %q of a version 1 map has type %v %v %v %d", s.Name, s.Kind, s.Acks, s.Reads, s.Retain)
		}
	}
	if again := enc(t, &got); again[0] != encodingVersion {
		t.Fatalf("re-encoded as version %d", again[0])
	}
}
