package kv

import (
	"bytes"
	"testing"
)

func TestOpsAndSnapshot(t *testing.T) {
	s := New()
	if r := s.Apply(Encode(OpPut, "a", []byte("1"))); r[0] != StatusOK {
		t.Fatal(r)
	}
	if r := s.Apply(Encode(OpCAS, "a", []byte("2"), []byte("3"))); r[0] != StatusCASFail {
		t.Fatal("cas with a wrong expectation succeeded")
	}
	if r := s.Apply(Encode(OpCAS, "a", []byte("1"), []byte("3"))); r[0] != StatusOK {
		t.Fatal("cas failed")
	}
	if r := s.Apply(Encode(OpCAS, "new", nil, []byte("x"))); r[0] != StatusOK {
		t.Fatal("cas on an absent key expecting empty failed")
	}
	s.Apply(Encode(OpAppend, "l", []byte("x")))
	if r := s.Apply(Encode(OpAppend, "l", []byte("y"))); r[0] != StatusOK || r[1] != 2 {
		t.Fatalf("append: %v", r)
	}
	if r := s.Apply(Encode(OpDelete, "zz")); r[0] != StatusNotFound {
		t.Fatal("delete of a missing key")
	}
	if r := s.Apply([]byte{}); r[0] != StatusBadInput {
		t.Fatal("empty command accepted")
	}
	got, _ := s.Query(Encode(OpGet, "a"))
	if !bytes.Equal(got, []byte{StatusOK, '3'}) {
		t.Fatalf("get = %q", got)
	}
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	s2 := New()
	if err := s2.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	var buf2 bytes.Buffer
	s2.Snapshot(&buf2)
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatal("snapshot round trip differs")
	}
	l, _ := s2.Query(Encode(OpList, "l"))
	els, err := DecodeList(l[1:])
	if err != nil || len(els) != 2 || string(els[1]) != "y" {
		t.Fatalf("list = %q %v", els, err)
	}
	for i := range buf.Len() {
		if err := New().Restore(bytes.NewReader(buf.Bytes()[:i])); err == nil && i > 0 && i < buf.Len() {
			t.Fatalf("truncated snapshot of %d bytes accepted", i)
		}
	}
}

func FuzzApply(f *testing.F) {
	f.Add(Encode(OpPut, "k", []byte("v")))
	f.Add(Encode(OpCAS, "k", nil, []byte("v")))
	f.Add([]byte{'A', 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New()
		s.Apply(b)
		s.Query(b)
		var buf bytes.Buffer
		s.Snapshot(&buf)
		s.Restore(bytes.NewReader(b))
	})
}
