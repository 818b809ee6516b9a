package workload

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// ms is a time in the history.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func appendOp(i int, key, tok string, out Outcome, call, ret int) Op {
	return Op{Index: i, Workload: "append", Kind: "append", Key: key, Value: tok, Outcome: out, Call: ms(call), Return: ms(ret)}
}

func listOp(i int, key string, level racs.Level, l []string, call, ret int) Op {
	return Op{Index: i, Workload: "append", Kind: "list", Key: key, Level: level, List: l, Outcome: OK, Call: ms(call), Return: ms(ret)}
}

func has(vs []Violation, check string) bool {
	for _, v := range vs {
		if strings.Contains(v.Check, check) {
			return true
		}
	}
	return false
}

func clones(l ...[]string) map[groupcomm.NodeID][]string {
	out := map[groupcomm.NodeID][]string{}
	for i, x := range l {
		out[groupcomm.NodeID(i+1)] = x
	}
	return out
}

func TestCheckAppend(t *testing.T) {
	ops := []Op{
		appendOp(0, "k", "a", OK, 0, 1),
		appendOp(1, "k", "b", Unknown, 2, 3),
		appendOp(2, "k", "c", Fail, 4, 5),
		appendOp(3, "k", "d", OK, 6, 7),
		listOp(4, "k", racs.Strict, []string{"a"}, 5, 9), // concurrent with d
	}
	good := []string{"a", "b", "d"}
	for _, tc := range []struct {
		name  string
		final [][]string
		ops   []Op
		want  string
	}{
		{"good", [][]string{good, good, good}, ops, ""},
		{"unknown may be absent", [][]string{{"a", "d"}, {"a", "d"}}, ops[:4], ""},
		{"lost", [][]string{{"a", "b"}, {"a", "b"}}, ops[:4], "lost acknowledged"},
		{"duplicated", [][]string{{"a", "b", "d", "a"}}, ops[:4], "duplicated"},
		{"failed but applied", [][]string{{"a", "c", "d"}}, ops[:4], "failed but applied"},
		{"never sent", [][]string{{"a", "d", "zz"}}, ops[:4], "never sent"},
		{"divergent", [][]string{{"a", "b", "d"}, {"a", "d", "b"}}, ops[:4], "divergent"},
		{"stale strict read", [][]string{good}, append(ops[:4:4], listOp(4, "k", racs.Strict, []string{"a", "b"}, 8, 9)), "stale strict read"},
		{"read not a prefix", [][]string{good}, append(ops[:4:4], listOp(4, "k", racs.Any, []string{"b"}, 8, 9)), "not a prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := CheckAppend(tc.ops, Lists{"k": clones(tc.final...)})
			if tc.want == "" && len(vs) > 0 || tc.want != "" && !has(vs, tc.want) {
				t.Fatalf("want %q, got %v", tc.want, vs)
			}
		})
	}
}

func regOp(i, client int, kind, key, val, exp string, out Outcome, res string, call, ret int) Op {
	return Op{Index: i, Client: client, Workload: "register", Kind: kind, Key: key, Value: val, Expect: exp, Level: racs.Strict,
		Outcome: out, Result: res, Call: ms(call), Return: ms(ret)}
}

func TestCheckRegister(t *testing.T) {
	lin := []Op{
		regOp(0, 0, "put", "x", "1", "", OK, "", 0, 10),
		regOp(1, 1, "get", "x", "", "", OK, "1", 11, 12),
		regOp(2, 0, "cas", "x", "2", "1", OK, "true", 13, 14),
		regOp(3, 1, "put", "x", "3", "", Unknown, "", 15, 16),
		regOp(4, 1, "get", "x", "", "", OK, "2", 17, 18), // the unknown put not applied (yet)
		regOp(5, 0, "get", "x", "", "", OK, "3", 19, 20), // now it is
	}
	if v, vs := CheckRegister(lin, 10*time.Second); v.Result != porcupine.Ok || len(vs) > 0 {
		t.Fatalf("a linearizable history: %v %v", v.Result, vs)
	}
	stale := append(lin[:5:5], regOp(5, 0, "get", "x", "", "", OK, "1", 19, 20)) // 1 was overwritten before
	if v, vs := CheckRegister(stale, 10*time.Second); v.Result != porcupine.Illegal || !has(vs, "not linearizable") {
		t.Fatalf("a stale read: %v %v", v.Result, vs)
	}
	failedApplied := []Op{
		regOp(0, 0, "put", "x", "1", "", OK, "", 0, 10),
		regOp(1, 1, "put", "x", "2", "", Fail, "", 11, 12),
		regOp(2, 1, "get", "x", "", "", OK, "2", 13, 14),
	}
	if v, _ := CheckRegister(failedApplied, 10*time.Second); v.Result != porcupine.Illegal {
		t.Fatalf("a read of a failed write: %v", v.Result)
	}
	sess := []Op{{Index: 0, Workload: "session", Kind: "get", Key: "s", Expect: "v2", Result: "v1", Outcome: OK, Level: racs.Session}}
	if _, vs := CheckRegister(sess, time.Second); !has(vs, "read-your-writes") {
		t.Fatalf("a session read of an older value: %v", vs)
	}
}

func TestCheckBankAndIdem(t *testing.T) {
	ops := []Op{{Index: 0, Workload: "bank", Kind: "read", Outcome: OK, List: []string{"60", "30"}}}
	if vs := CheckBank(ops, Balances{1: {50, 50}, 2: {50, 50}}, 2, 50); !has(vs, "total changed") {
		t.Fatalf("a read whose total changed: %v", vs)
	}
	if vs := CheckBank(nil, Balances{1: {50, 50}, 2: {40, 60}}, 2, 50); !has(vs, "divergent") {
		t.Fatalf("divergent clones: %v", vs)
	}
	if vs := CheckBank(nil, Balances{1: {40, 60}, 2: {40, 60}}, 2, 50); len(vs) > 0 {
		t.Fatalf("a good bank: %v", vs)
	}
	idem := []Op{
		{Index: 0, Workload: "idem", Kind: "append", Key: "i", Value: "t1", IdemKey: "k1", Outcome: Unknown},
		{Index: 1, Workload: "idem", Kind: "append", Key: "i", Value: "t1", IdemKey: "k1", Outcome: OK, Data: []byte{0, 1}},
		{Index: 2, Workload: "idem", Kind: "append", Key: "i", Value: "t1", IdemKey: "k1", Outcome: OK, Data: []byte{0, 1}},
	}
	if vs := CheckIdem(idem, Lists{"i": clones([]string{"t1"})}); len(vs) > 0 {
		t.Fatalf("applied once: %v", vs)
	}
	if vs := CheckIdem(idem, Lists{"i": clones([]string{"t1", "t1"})}); !has(vs, "more than once") {
		t.Fatalf("applied twice: %v", vs)
	}
	if vs := CheckIdem(idem, Lists{"i": clones([]string{})}); !has(vs, "lost") {
		t.Fatalf("lost: %v", vs)
	}
	idem[2].Data = []byte{0, 2}
	if vs := CheckIdem(idem, Lists{"i": clones([]string{"t1"})}); !has(vs, "another result") {
		t.Fatalf("another result: %v", vs)
	}
}

func TestUpdateOutcome(t *testing.T) {
	if UpdateOutcome(nil) != OK || UpdateOutcome(racs.ErrNotApplied) != Fail || UpdateOutcome(racs.ErrOutcomeUnknown) != Unknown ||
		UpdateOutcome(racs.ErrStopped) != Unknown || UpdateOutcome(racs.ErrBusy) != Fail {
		t.Fatal("outcomes")
	}
}
