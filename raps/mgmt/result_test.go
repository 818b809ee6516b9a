package mgmt

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// TestCodes: every sentinel has one stable code, and a refusal's Result
// gives the sentinel back through Err, also after encoding.
func TestCodes(t *testing.T) {
	seen := map[string]bool{CodeOK: true}
	for _, c := range codes {
		if seen[c.code] {
			t.Fatalf("code %q twice (or ok)", c.code)
		}
		seen[c.code] = true
		err := fmt.Errorf("mgmt: some_op: %w: details", c.err)
		r := refusal(3, err)
		if r.Code != c.code || r.Epoch != 3 || r.Message != err.Error() {
			t.Fatalf("refusal(%v) = %+v", err, r)
		}
		back, derr := DecodeResult(encodeResult(r))
		if derr != nil {
			t.Fatal(derr)
		}
		got := back.Err()
		if !errors.Is(got, c.err) || got.Error() != err.Error() {
			t.Fatalf("code %s: Err() = %v, want %v wrapping %v", c.code, got, err, c.err)
		}
		for _, o := range codes {
			if o.code != c.code && errors.Is(got, o.err) {
				t.Fatalf("code %s also matches %v", c.code, o.err)
			}
		}
	}
	// The codes are API: these spellings must not change.
	for _, c := range []string{"stale_epoch", "unknown_service", "bad_ranges", "too_few_nodes",
		"node_lacks_service", "bad_command", "not_bootstrapped", "already_bootstrapped"} {
		if !seen[c] {
			t.Errorf("code %q missing", c)
		}
	}
	if r := refusal(1, errors.New("mgmt: no sentinel")); r.Code != codeInternal || !errors.Is(r.Err(), ErrInternal) {
		t.Fatalf("an error without a sentinel: %+v", r)
	}
	if err := (Result{Epoch: 4, Code: CodeOK}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := (Result{}).Err(); err == nil {
		t.Fatal("a zero Result reads as success")
	}
	if err := (Result{Code: "from_the_future", Message: "x"}).Err(); !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), "from_the_future") {
		t.Fatalf("an unknown code: %v", err)
	}
	if r := refusal(1, fmt.Errorf("mgmt: %w: %s", partitionmap.ErrInvalidArgument, strings.Repeat("é", maxMessageLen))); len(r.Message) > maxMessageLen || !strings.HasSuffix(r.Message, " …") {
		t.Fatalf("a long message is %d bytes", len(r.Message))
	}
}

func TestDecodeResultRefuses(t *testing.T) {
	long := encodeResult(Result{Code: "x", Message: strings.Repeat("<", maxMessageLen)})
	if _, err := DecodeResult(long); err != nil {
		t.Fatalf("the longest message, escaped: %v", err)
	}
	for _, b := range [][]byte{nil, {1}, {2, '{', '}'}, []byte("\x01{}"), []byte("\x01{\"code\":\"ok\",\"x\":1}"),
		[]byte("\x01{\"code\":\"ok\"}{}"), []byte("\x01[]"), make([]byte, maxResultSize+1)} {
		if _, err := DecodeResult(b); !errors.Is(err, ErrBadReply) {
			t.Errorf("DecodeResult(%q) = %v", b, err)
		}
	}
}
