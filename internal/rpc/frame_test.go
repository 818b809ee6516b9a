package rpc

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// sampleFrames covers every kind and the edge values of each field.
func sampleFrames() []frame {
	return []frame{
		{kind: kindRequest, body: []byte("get k")},
		{kind: kindRequest, timeout: time.Second, body: []byte("put k v")},
		{kind: kindRequest, timeout: 1},
		{kind: kindRequest, timeout: math.MaxInt64, body: []byte{0}},
		{kind: kindReply, body: []byte("value")},
		{kind: kindReply},
		{kind: kindReply, isErr: true, code: "racs.not_applied", msg: "racs: update not applied, safe to retry"},
		{kind: kindReply, isErr: true},
		{kind: kindReply, isErr: true, code: strings.Repeat("c", maxCodeBytes), msg: strings.Repeat("m", maxMessageBytes)},
		{kind: kindCancel},
	}
}

func isReply(f frame) bool { return f.kind == kindReply }

func TestFrameRoundTrip(t *testing.T) {
	for i, f := range sampleFrames() {
		b := appendFrame(f)
		got, err := decodeFrame(isReply(f), b)
		if err != nil {
			t.Fatalf("%d: decode: %v", i, err)
		}
		if len(got.body) == 0 {
			got.body = nil
		}
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("%d: round trip:\n got %+v\nwant %+v", i, got, f)
		}
		if _, err := decodeFrame(!isReply(f), b); !errors.Is(err, errMalformed) {
			t.Fatalf("%d: decoded with the wrong Reply bit: %v", i, err)
		}
		if len(b) > 2+len(f.body)+len(f.code)+len(f.msg)+MaxRequestHeader {
			t.Fatalf("%d: frame of %d bytes for a body of %d", i, len(b), len(f.body))
		}
	}
}

func TestFrameRejects(t *testing.T) {
	long := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	errReply := func(code, msg []byte) []byte {
		b := []byte{kindReply, flagError, byte(len(code))}
		b = append(b, code...)
		if len(msg) < 128 {
			b = append(b, byte(len(msg)))
		} else {
			b = append(b, byte(len(msg)|0x80), byte(len(msg)>>7))
		}
		return append(b, msg...)
	}
	cases := map[string]struct {
		reply bool
		b     []byte
	}{
		"empty":              {false, nil},
		"one byte":           {false, []byte{kindRequest}},
		"kind 0":             {false, []byte{0, 0}},
		"kind 4":             {false, []byte{4, 0}},
		"request flags":      {false, []byte{kindRequest, 2}},
		"timeout missing":    {false, []byte{kindRequest, flagDeadline}},
		"timeout 0":          {false, []byte{kindRequest, flagDeadline, 0}},
		"timeout non-min":    {false, []byte{kindRequest, flagDeadline, 0x81, 0x00}},
		"timeout overflow":   {false, []byte{kindRequest, flagDeadline, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		"timeout > maxint":   {false, []byte{kindRequest, flagDeadline, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
		"request as reply":   {true, []byte{kindRequest, 0}},
		"cancel as reply":    {true, []byte{kindCancel, 0}},
		"reply as request":   {false, []byte{kindReply, 0}},
		"reply flags":        {true, []byte{kindReply, 2}},
		"error truncated":    {true, []byte{kindReply, flagError}},
		"error no message":   {true, []byte{kindReply, flagError, 1, 'c'}},
		"error trailing":     {true, append(errReply([]byte("c"), []byte("m")), 0)},
		"code too long":      {true, errReply(long(maxCodeBytes+1), nil)},
		"message too long":   {true, errReply(nil, long(maxMessageBytes+1))},
		"string past end":    {true, []byte{kindReply, flagError, 5, 'a'}},
		"cancel flags":       {false, []byte{kindCancel, 1}},
		"cancel trailing":    {false, []byte{kindCancel, 0, 0}},
		"error code non-min": {true, []byte{kindReply, flagError, 0x80, 0x00, 0}},
	}
	for name, c := range cases {
		f, err := decodeFrame(c.reply, c.b)
		if !errors.Is(err, errMalformed) {
			t.Errorf("%s: err %v", name, err)
		}
		if !reflect.DeepEqual(f, frame{}) {
			t.Errorf("%s: non-zero frame on error", name)
		}
	}
}

// A long error message is cut at a rune boundary.
func TestErrorMessageCut(t *testing.T) {
	msg := strings.Repeat("é", maxMessageBytes) // 2 bytes each
	f, err := decodeFrame(true, newErrorReply("c", "x"+msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.msg) > maxMessageBytes || !utf8.ValidString(f.msg) || !strings.HasPrefix("x"+msg, f.msg) {
		t.Fatalf("cut message of %d bytes, valid %v", len(f.msg), utf8.ValidString(f.msg))
	}
	if f, _ := decodeFrame(true, newErrorReply(strings.Repeat("c", maxCodeBytes+1), "m")); f.code != "" || f.msg != "m" {
		t.Fatalf("overlong code: %+v", f)
	}
}

// FuzzDecodeFrame: the decoder never panics; whatever decodes re-encodes
// to the same bytes and decodes again to the same frame.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		f.Add(isReply(fr), appendFrame(fr))
	}
	f.Add(false, []byte{})
	f.Add(false, []byte{kindRequest, flagDeadline, 0x80})
	f.Add(true, []byte{kindReply, flagError, 0x80, 0x01})
	f.Add(true, []byte{kindReply, 0xff})
	f.Fuzz(func(t *testing.T, reply bool, b []byte) {
		fr, err := decodeFrame(reply, b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error does not wrap errMalformed: %v", err)
			}
			return
		}
		if isReply(fr) != reply {
			t.Fatalf("kind %d decoded with Reply %v", fr.kind, reply)
		}
		enc := appendFrame(fr)
		if !bytes.Equal(enc, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, enc)
		}
		fr2, err := decodeFrame(reply, enc)
		if err != nil || !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("decode(encode(x)) = %+v, %v; want %+v", fr2, err, fr)
		}
	})
}
