package mgmt

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

func query(tb testing.TB, s *StateMachine, q Query) []byte {
	tb.Helper()
	b, err := EncodeQuery(q)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := s.Query(b)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestQueryMap(t *testing.T) {
	s := New()
	if _, err := DecodeMapReply(query(t, s, Query{Kind: QueryMap})); !errors.Is(err, ErrNotBootstrapped) {
		t.Fatalf("before the bootstrap: %v", err)
	}
	s = bootstrapped(t)
	reply := query(t, s, Query{Kind: QueryMap})
	m, err := DecodeMapReply(reply)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mapBytes(t, m), mapBytes(t, s.Map())) || reply[0] != byte(s.Map().Epoch) {
		t.Fatal("the reply is not the map")
	}
	// The reply is the caller's: scribbling on it changes no later one.
	for i := range reply {
		reply[i] = 0xff
	}
	if _, err := DecodeMapReply(query(t, s, Query{Kind: QueryMap})); err != nil {
		t.Fatalf("after scribbling on a reply: %v", err)
	}
	// After a change, the new map.
	mustApply(t, s, Command{Op: OpSetClones, Name: "kv", Clones: 2})
	if m, err := DecodeMapReply(query(t, s, Query{Kind: QueryMap})); err != nil || m.Epoch != s.Map().Epoch {
		t.Fatalf("after a change: %v, %v", m, err)
	}

	good := query(t, s, Query{Kind: QueryMap})
	wrongEpoch := append([]byte{byte(good[0] + 1)}, good[1:]...)
	for _, b := range [][]byte{nil, {0x80}, {0, 1}, {5}, wrongEpoch, good[:len(good)-1], append(good, 0)} {
		if _, err := DecodeMapReply(b); !errors.Is(err, ErrBadReply) {
			t.Errorf("DecodeMapReply(%x) = %v", b, err)
		}
	}
}

func TestQueryHistory(t *testing.T) {
	s := bootstrapped(t)
	for range 5 {
		mustApply(t, s, Command{Op: OpSetNodeState, NodeID: 1, State: partitionmap.NodeDraining})
		mustApply(t, s, Command{Op: OpSetNodeState, NodeID: 1, State: partitionmap.NodeActive})
	}
	all := s.History(0, 0)
	if len(all) != 12 || all[0].Epoch != 1 || all[11].Epoch != 12 {
		t.Fatalf("history %+v", all)
	}
	for _, tc := range []struct {
		since  uint64
		limit  int
		lo, hi uint64 // epochs returned, hi exclusive
	}{
		{0, 0, 1, 13}, {0, 3, 1, 4}, {4, 0, 5, 13}, {4, 2, 5, 7}, {11, 5, 12, 13}, {12, 0, 0, 0}, {99, 1, 0, 0}, {0, -1, 1, 13},
	} {
		got, err := DecodeHistoryReply(query(t, s, Query{Kind: QueryHistory, Since: tc.since, Limit: tc.limit}))
		if err != nil {
			t.Fatal(err)
		}
		if direct := s.History(tc.since, tc.limit); !reflect.DeepEqual(got, direct) {
			t.Fatalf("since %d limit %d: the reply %v is not History's %v", tc.since, tc.limit, got, direct)
		}
		var want []Change
		if tc.hi > 0 {
			want = all[tc.lo-1 : tc.hi-1]
		}
		if len(got) != len(want) || (len(want) > 0 && (got[0].Epoch != want[0].Epoch || got[len(got)-1].Epoch != want[len(want)-1].Epoch)) {
			t.Fatalf("since %d limit %d: %d entries", tc.since, tc.limit, len(got))
		}
	}
	if b := query(t, New(), Query{Kind: QueryHistory}); string(b) != "[]" {
		t.Fatalf("empty history reply %q", b)
	}
}

func TestBadQueries(t *testing.T) {
	s := bootstrapped(t)
	for _, b := range [][]byte{nil, []byte("map"), []byte("\x01{}"), []byte("\x01{\"kind\":\"everything\"}"),
		[]byte("\x02{\"kind\":\"map\"}"), []byte("\x01{\"kind\":\"map\",\"since\":3}"), []byte("\x01{\"kind\":\"map\"} x"),
		[]byte("\x01{\"kind\":\"history\",\"until\":3}"), append([]byte("\x01{\"kind\":\"map\"}"), bytes.Repeat([]byte(" "), maxQuerySize)...)} {
		if _, err := s.Query(b); !errors.Is(err, ErrBadQuery) {
			t.Errorf("Query(%.40q) = %v", b, err)
		}
	}
	if _, err := EncodeQuery(Query{Kind: "nope"}); !errors.Is(err, ErrBadQuery) {
		t.Fatal(err)
	}
	if _, err := DecodeHistoryReply([]byte("{")); !errors.Is(err, ErrBadReply) {
		t.Fatal(err)
	}
}
