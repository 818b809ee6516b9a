package partitionmap

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestJSONRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMap(t, rapidSource{t}, smallMaps)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeJSON(b)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, m)
		}
	})
}

func TestJSONShape(t *testing.T) {
	m := fixture(t)
	m = ok(t)(m.SetNodeState(m.Epoch, 5, NodeDead, t0))
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"state":"active"`, `"state":"dead"`, `"dead_since":"2026-03-01T12:00:00Z"`,
		`"partitioning":"hash"`, `"partitioning":"range"`, `"durability":"disk"`, `"durability":"memory"`,
		`"role":"voter"`, `"role":"learner"`, `"ready":true`, `"start":"D","end":"G"`, `"slot_lo":0,"slot_hi":16`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, `"service":"catalog","id":0,"slot_lo"`) {
		t.Error("a range partition shows slots")
	}
	empty, _ := json.Marshal(ok(t)(New(1)))
	if string(empty) != `{"epoch":1,"next_group":1,"nodes":[],"services":[],"partitions":[]}` {
		t.Errorf("empty map: %s", empty)
	}
	mv, _ := json.Marshal(Move{Partition: PartRef{"kv", 3}, Kind: PromoteAndRemove, Node: 4, Replace: 2, Reason: "r"})
	if string(mv) != `{"partition":{"service":"kv","id":3},"kind":"promote_and_remove","node":4,"replace":2,"reason":"r"}` {
		t.Errorf("move: %s", mv)
	}
	// Keys that are not UTF-8 travel as hex.
	k, _ := json.Marshal(Key("\xff\x00a"))
	if string(k) != `{"hex":"ff0061"}` {
		t.Errorf("key: %s", k)
	}
	var back Key
	if err := json.Unmarshal(k, &back); err != nil || string(back) != "\xff\x00a" {
		t.Errorf("key back: %q %v", back, err)
	}
	// Bad input is an error, not a silently different map.
	for _, bad := range []string{
		strings.Replace(s, `"state":"active"`, `"state":"sleepy"`, 1),
		strings.Replace(s, `"epoch":`, `"epoch_x":1,"epoch":`, 1),
		strings.Replace(s, `"start":"D"`, `"start":"E"`, 1),
		s + "{}",
		`{"epoch":1,"next_group":1,"nodes":[{"id":1,"state":"active"},{"id":1,"state":"active"}]}`,
	} {
		if _, err := DecodeJSON([]byte(bad)); !errors.Is(err, ErrDecode) {
			t.Errorf("accepted bad JSON (%v): %.200s", err, bad)
		}
	}
	var st NodeState
	if err := st.UnmarshalText([]byte("draining")); err != nil || st != NodeDraining {
		t.Fatal(st, err)
	}
	if _, err := NodeState(9).MarshalText(); err == nil {
		t.Fatal("marshalled state 9")
	}
	if NodeState(9).String() != "NodeState(9)" || AddLearner.String() != "add_learner" {
		t.Fatal("String")
	}
}
