package mgmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// TestSnapshotRoundTrip: a restored state has the same cluster, map,
// history and snapshot, and its map is handed to the change callback.
func TestSnapshotRoundTrip(t *testing.T) {
	for _, s := range []*StateMachine{New(), bootstrapped(t)} {
		snap := snapshot(t, s)
		r := New()
		var got *partitionmap.Map
		r.SetOnChange(func(m *partitionmap.Map) { got = m })
		if err := r.Restore(bytes.NewReader(snap)); err != nil {
			t.Fatal(err)
		}
		if r.Cluster() != s.Cluster() || !bytes.Equal(mapBytes(t, r.Map()), mapBytes(t, s.Map())) {
			t.Fatal("cluster or map differ after a restore")
		}
		if !reflect.DeepEqual(r.History(0, 0), s.History(0, 0)) {
			t.Fatalf("history differs after a restore:\n%+v\n%+v", r.History(0, 0), s.History(0, 0))
		}
		if !bytes.Equal(snapshot(t, r), snap) {
			t.Fatal("the restored state's snapshot differs")
		}
		if got != r.Map() {
			t.Fatal("the restored map was not handed to the callback")
		}
	}
	// Restoring an empty state over a bootstrapped one empties it.
	s := bootstrapped(t)
	if err := s.Restore(bytes.NewReader(snapshot(t, New()))); err != nil || s.Map() != nil || s.Cluster() != 0 || len(s.History(0, 0)) != 0 {
		t.Fatalf("restoring the empty state: %v", err)
	}
}

// TestHistoryBounded: the history keeps the last MaxHistory changes, on
// every clone alike, and a full history survives a snapshot.
func TestHistoryBounded(t *testing.T) {
	s := New()
	mustApply(t, s, bootstrapCmd(testNodes(2, 1)))
	state := []partitionmap.NodeState{partitionmap.NodeDraining, partitionmap.NodeActive}
	for i := range MaxHistory + 50 {
		mustApply(t, s, Command{Op: OpSetNodeState, NodeID: 1, State: state[i%2]})
	}
	last := s.Map().Epoch
	h := s.History(0, 0)
	if len(h) != MaxHistory || h[0].Epoch != last-MaxHistory+1 || h[len(h)-1].Epoch != last {
		t.Fatalf("%d entries, epochs %d..%d, map at %d", len(h), h[0].Epoch, h[len(h)-1].Epoch, last)
	}
	if got := s.History(last-3, 0); len(got) != 3 || got[0].Epoch != last-2 {
		t.Fatalf("the last 3: %+v", got)
	}
	if got := s.History(5, 2); len(got) != 2 || got[0].Epoch != h[0].Epoch {
		t.Fatalf("since a dropped epoch: %+v", got)
	}
	r := restore(t, snapshot(t, s))
	if !reflect.DeepEqual(r.History(0, 0), h) {
		t.Fatal("a full history does not survive a snapshot")
	}
}

// withCRC seals a copy of a snapshot body with its checksum, to test the
// checks behind it. A copy: appending in place could write into the
// spare capacity of the caller's slice (the fuzzer's own input buffer).
func withCRC(body []byte) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
}

// TestRestoreRefuses: damaged snapshots, and well-sealed ones that break
// an invariant, are refused and change nothing.
func TestRestoreRefuses(t *testing.T) {
	s := bootstrapped(t)
	good := snapshot(t, s)
	enc := mapBytes(t, s.Map())
	hist := s.History(0, 0)
	body := func(cluster uint64, m []byte, h []Change) []byte {
		b := appendSnapshot(nil, cluster, m, h)
		return b[:len(b)-4]
	}
	shifted := append([]Change{}, hist...)
	shifted[0].Epoch = 5
	unknownOp := append([]Change{}, hist...)
	unknownOp[1].Op = "split"
	badUTF8 := append([]Change{}, hist...)
	badUTF8[1].Summary = "\xff"
	future := append([]Change{}, hist...)
	future[1].Epoch = 3
	cases := map[string][]byte{
		"empty":                   nil,
		"magic only":              []byte(snapshotMagic),
		"another magic":           append([]byte("qskv"), good[4:]...),
		"bad checksum":            append(good[:len(good)-1:len(good)-1], good[len(good)-1]^1),
		"flipped byte":            func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 0x10; return b }(),
		"unknown version":         withCRC(append([]byte(snapshotMagic+"\x02"), body(testCluster, enc, hist)[5:]...)),
		"trailing bytes":          withCRC(append(body(testCluster, enc, hist), 0)),
		"cluster without map":     withCRC(body(testCluster, nil, nil)),
		"map without cluster":     withCRC(body(0, enc, hist)),
		"map without history":     withCRC(body(testCluster, enc, nil)),
		"history not consecutive": withCRC(body(testCluster, enc, shifted)),
		"history ahead of map":    withCRC(body(testCluster, enc, future)),
		"history behind map":      withCRC(body(testCluster, enc, hist[:1])),
		"unknown op":              withCRC(body(testCluster, enc, unknownOp)),
		"invalid UTF-8":           withCRC(body(testCluster, enc, badUTF8)),
		"bad map":                 withCRC(body(testCluster, enc[:len(enc)-1], hist)),
		"history count too large": withCRC(append(body(testCluster, enc, nil), 0xff, 0xff, 0x03)),
	}
	cases["cut in the map"] = good[:len(good)/3]
	cases["cut before the checksum"] = good[:len(good)-4]
	for name, b := range cases {
		f := freeze(t, s)
		if err := s.Restore(bytes.NewReader(b)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: Restore = %v", name, err)
		}
		f.check(t, s, name)
	}
	// Every truncation fails (the checksum, or the layout behind it).
	for n := range len(good) {
		if err := New().Restore(bytes.NewReader(good[:n])); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes restored", n, len(good))
		}
	}
	f := freeze(t, s)
	if err := s.Restore(iotest.ErrReader(errors.New("disk on fire"))); err == nil {
		t.Fatal("a failing reader restored")
	}
	f.check(t, s, "failing reader")
}

// FuzzRestore feeds Restore arbitrary bytes, raw and sealed with a valid
// checksum (so the fuzzer reaches the decoder behind it). It must never
// panic; a refusal changes nothing; a state it accepts snapshots to bytes
// that restore to the same snapshot again.
func FuzzRestore(f *testing.F) {
	s := bootstrapped(f)
	mustApply(f, s, Command{Op: OpDefineService, Service: rangeService("cat", 0, 2), Ranges: partitionmap.SplitRanges("m")})
	good := snapshot(f, s)
	f.Add(good)
	f.Add(good[:len(good)-4])
	f.Add(snapshot(f, New()))
	f.Add(snapshot(f, New())[:5])
	f.Add([]byte{})
	f.Add([]byte("qsmg\x01\x07\x00\x00"))
	base := bootstrapped(f)
	baseSnap := snapshot(f, base)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, withCRC(data)} {
			s := restore(t, baseSnap)
			if err := s.Restore(bytes.NewReader(b)); err != nil {
				if !errors.Is(err, ErrBadSnapshot) {
					t.Fatalf("an error not wrapping ErrBadSnapshot: %v", err)
				}
				if !bytes.Equal(snapshot(t, s), baseSnap) {
					t.Fatal("a refused restore changed the state")
				}
				continue
			}
			snap := snapshot(t, s)
			if again := snapshot(t, restore(t, snap)); !bytes.Equal(again, snap) {
				t.Fatal("an accepted snapshot does not round-trip")
			}
			if s.Map() != nil {
				if _, err := DecodeMapReply(query(t, s, Query{Kind: QueryMap})); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := DecodeHistoryReply(query(t, s, Query{Kind: QueryHistory})); err != nil {
				t.Fatal(err)
			}
		}
	})
}
