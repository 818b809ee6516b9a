package replica

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica/wal"
)

// storeMaker opens a Store for the conformance suite.
type storeMaker struct {
	name string
	open func(t *testing.T) Store
	// reopen closes s and opens the same storage again; nil when the store
	// keeps nothing across Close.
	reopen func(t *testing.T, s Store) Store
}

func openBoltT(t testing.TB, path string, opts BoltOptions) *BoltStore {
	t.Helper()
	s, err := OpenBolt(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopenBoltT(t testing.TB, s Store) *BoltStore {
	t.Helper()
	bs := s.(*BoltStore)
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	return openBoltT(t, bs.Path(), BoltOptions{NoSync: bs.db.NoSync})
}

func openDiskT(t testing.TB, opts DiskOptions) *DiskStore {
	t.Helper()
	s, err := OpenDisk(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopenDiskT(t testing.TB, s Store) *DiskStore {
	t.Helper()
	ds := s.(*DiskStore)
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
	return openDiskT(t, ds.Options())
}

func diskMaker(name string, opts func(t *testing.T) DiskOptions) storeMaker {
	return storeMaker{
		name:   name,
		open:   func(t *testing.T) Store { return openDiskT(t, opts(t)) },
		reopen: func(t *testing.T, s Store) Store { return reopenDiskT(t, s) },
	}
}

func storeMakers() []storeMaker {
	return []storeMaker{
		// The production configuration: WAL and bbolt on disk, fsyncs,
		// checkpoints on their goroutine.
		diskMaker("disk", func(t *testing.T) DiskOptions {
			d := t.TempDir()
			return DiskOptions{BoltPath: filepath.Join(d, "node.db"), WALDir: filepath.Join(d, "node.wal"), SegmentSize: 64 << 10}
		}),
		// Tiny segments on a strict MemFS, checkpointing inline: most
		// batches seal a segment, so every case runs through bbolt too.
		diskMaker("disk-memfs-tinyseg", func(t *testing.T) DiskOptions {
			d := t.TempDir()
			return DiskOptions{BoltPath: filepath.Join(d, "node.db"), WALDir: "/wal", WALFS: wal.NewMemFS(), SegmentSize: 256, InlineCheckpoint: true, NoSync: true}
		}),
		{name: "mem", open: func(t *testing.T) Store { return NewMemStore() }},
		{
			// The production configuration: every Write fsyncs.
			name: "bolt",
			open: func(t *testing.T) Store {
				return openBoltT(t, filepath.Join(t.TempDir(), "node.db"), BoltOptions{})
			},
			reopen: func(t *testing.T, s Store) Store { return reopenBoltT(t, s) },
		},
		{
			// NoSync through faulty: the wrappers must not change anything.
			name: "faulty-bolt-nosync",
			open: func(t *testing.T) Store {
				return NewFaulty(openBoltT(t, filepath.Join(t.TempDir(), "node.db"), BoltOptions{NoSync: true}))
			},
			reopen: func(t *testing.T, s Store) Store { return NewFaulty(reopenBoltT(t, s.(*FaultyStore).Inner())) },
		},
	}
}

// --- builders ---

func vs(view, seq uint64) groupcomm.Viewstamp { return groupcomm.Viewstamp{View: view, Seq: seq} }

func vsp(view, seq uint64) *groupcomm.Viewstamp { v := vs(view, seq); return &v }

func ent(view, seq uint64, payload string) groupcomm.Entry {
	e := groupcomm.Entry{VS: vs(view, seq), ID: groupcomm.EntryID{Origin: mid(1, 1), Counter: view<<20 | seq}}
	if payload != "" {
		e.Payload = []byte(payload)
	}
	return e
}

// ents returns entries seq from..to of view, with payload "v<view>s<seq>".
func ents(view, from, to uint64) []groupcomm.Entry {
	var es []groupcomm.Entry
	for s := from; s <= to; s++ {
		es = append(es, ent(view, s, fmt.Sprintf("v%ds%d", view, s)))
	}
	return es
}

func hsp(inc uint64, view uint64) *groupcomm.HardState {
	return &groupcomm.HardState{
		Incarnation: inc,
		Promised:    groupcomm.Ballot{Instance: view, Round: 1, Node: 2},
		Installed:   testView(view),
	}
}

func hsWithAccepted(inc uint64, view uint64) *groupcomm.HardState {
	hs := hsp(inc, view)
	av := testView(view + 1)
	hs.Accepted = groupcomm.Ballot{Instance: view, Round: 1, Node: 2}
	hs.AcceptedView = &av
	hs.OriginEpoch = 4
	return hs
}

func snap(view, seq uint64, data string) *Snapshot {
	return &Snapshot{Pos: vs(view, seq), Dedup: []byte("dedup@" + data), Data: []byte(data)}
}

func batch(ws ...GroupWrite) *Batch { return &Batch{Writes: ws} }

// vrec returns the view record of view id (testView(id)).
func vrec(id uint64) *groupcomm.View { v := testView(id); return &v }

// vrecs returns the view records of the ids, in that order.
func vrecs(ids ...uint64) []groupcomm.View {
	var vs []groupcomm.View
	for _, id := range ids {
		vs = append(vs, testView(id))
	}
	return vs
}

// viewWrites returns a view-only GroupWrite of group g for each id, in
// that order.
func viewWrites(g GroupID, ids ...uint64) []GroupWrite {
	var ws []GroupWrite
	for _, id := range ids {
		ws = append(ws, GroupWrite{Group: g, View: vrec(id)})
	}
	return ws
}

// idSteps returns from, from+step, … up to to (descending when step < 0).
func idSteps(from, to uint64, step int) []uint64 {
	var ids []uint64
	for id := from; ; id = uint64(int64(id) + int64(step)) {
		if (step > 0 && id > to) || (step < 0 && id < to) {
			return ids
		}
		ids = append(ids, id)
		if id == to {
			return ids
		}
	}
}

// --- the conformance suite ---

type confCase struct {
	name       string
	steps      []*Batch
	want       map[GroupID]GroupState
	wantGroups []GroupID
}

func confCases() []confCase {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB

	// Replacing records by id: 5 is replaced by a record with other fields
	// and empty (not nil) Members, which loads as nil.
	v5 := testView(5)
	v5.Epoch, v5.Members = 99, []groupcomm.Member{}
	v5want := v5
	v5want.Members = nil

	// More than MaxViews records. Group 1 gets the even ids 2..2n at once,
	// which keeps lo..2n; then 5, below every kept id (dropped at once);
	// then odd, a new id among the kept ones but not the highest (lo goes);
	// then a record replacing odd-1 (nothing goes); then high, above all
	// (lo+2 goes). Group 3 gets 2n..2 descending: every id after the
	// MaxViews-th arrives below the kept ones and is dropped. Groups 0 and
	// 2, the neighbours of 1's keys, keep theirs.
	n := uint64(MaxViews + 10)
	lo := 2 * (n - MaxViews + 1)
	odd := lo + 2*(MaxViews/2) + 1
	high := 2*n + 100
	replaced := testView(odd - 1)
	replaced.Epoch = 77
	var many1 []groupcomm.View
	for _, id := range slices.Sorted(slices.Values(append(idSteps(lo+4, 2*n, 2), odd, high))) {
		if id == odd-1 {
			many1 = append(many1, replaced)
		} else {
			many1 = append(many1, testView(id))
		}
	}
	many3 := vrecs(idSteps(lo, 2*n, 2)...)
	if len(many1) != MaxViews || len(many3) != MaxViews {
		panic(fmt.Sprintf("the MaxViews case keeps %d and %d records", len(many1), len(many3)))
	}

	return []confCase{
		{
			name: "round trip across groups",
			steps: []*Batch{batch(
				GroupWrite{Group: 1, HardState: hsp(1, 3), Entries: ents(3, 1, 4), StableHint: vs(3, 2), Snapshot: snap(2, 0, "s1")},
				GroupWrite{Group: 2, HardState: hsWithAccepted(2, 5), Entries: ents(5, 10, 12)},
				GroupWrite{Group: 1 << 40, HardState: hsp(9, 1)},
				GroupWrite{Group: 0, Entries: ents(1, 1, 1), StableHint: vs(1, 1)},
			)},
			want: map[GroupID]GroupState{
				1:       {HardState: hsp(1, 3), Log: ents(3, 1, 4), StableHint: vs(3, 2), Snapshot: snap(2, 0, "s1")},
				2:       {HardState: hsWithAccepted(2, 5), Log: ents(5, 10, 12)},
				1 << 40: {HardState: hsp(9, 1)},
				0:       {Log: ents(1, 1, 1), StableHint: vs(1, 1)},
				3:       {},
			},
			wantGroups: []GroupID{0, 1, 2, 1 << 40},
		},
		{
			name: "entries are keyed by seq",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, Entries: ents(1, 1, 3)}),
				batch(GroupWrite{Group: 1, Entries: []groupcomm.Entry{ent(2, 2, "new2")}}),
			},
			want: map[GroupID]GroupState{1: {Log: []groupcomm.Entry{ent(1, 1, "v1s1"), ent(2, 2, "new2"), ent(1, 3, "v1s3")}}},
		},
		{
			name: "entries out of order in one write",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, Entries: []groupcomm.Entry{ent(1, 5, "a"), ent(1, 2, "b"), ent(1, 9, "c"), ent(1, 2, "d")}}),
			},
			want: map[GroupID]GroupState{1: {Log: []groupcomm.Entry{ent(1, 2, "d"), ent(1, 5, "a"), ent(1, 9, "c")}}},
		},
		{
			name: "a view record is kept",
			steps: []*Batch{batch(
				GroupWrite{Group: 1, HardState: hsp(1, 3), Entries: ents(3, 1, 2), View: vrec(3)},
				GroupWrite{Group: 2, View: &groupcomm.View{}},
			)},
			want: map[GroupID]GroupState{
				1: {HardState: hsp(1, 3), Log: ents(3, 1, 2), Views: vrecs(3)},
				2: {Views: []groupcomm.View{{}}},
			},
		},
		{
			name: "view records are replaced by id",
			steps: []*Batch{
				batch(viewWrites(1, 5, 2)...),
				batch(GroupWrite{Group: 1, View: &v5}, GroupWrite{Group: 1, View: vrec(3)}),
				batch(GroupWrite{Group: 1, View: vrec(2)}),
			},
			want: map[GroupID]GroupState{1: {Views: []groupcomm.View{testView(2), testView(3), v5want}}},
		},
		{
			name: "more than MaxViews view records keep the highest ids",
			steps: []*Batch{
				batch(slices.Concat(
					viewWrites(0, max64),
					viewWrites(1, idSteps(2, 2*n, 2)...),
					viewWrites(2, 1, 0),
					viewWrites(3, idSteps(2*n, 2, -2)...),
				)...),
				batch(viewWrites(1, 5)...),
				batch(viewWrites(1, odd)...),
				batch(GroupWrite{Group: 1, View: &replaced}),
				batch(viewWrites(1, high)...),
			},
			want: map[GroupID]GroupState{
				0: {Views: vrecs(max64)},
				1: {Views: many1},
				2: {Views: vrecs(0, 1)},
				3: {Views: many3},
			},
		},
		{
			// The first batch commits MaxViews records (a few leaves in a
			// bbolt file); the second trims more than a leaf's worth of them
			// in one transaction, then gets ids below all kept ones: they
			// must go too, although empty leaves now lie between them and
			// the kept records until the commit.
			name: "view records trimmed across leaves in one batch",
			steps: []*Batch{
				batch(viewWrites(1, idSteps(10, 10+2*(MaxViews-1), 2)...)...),
				batch(slices.Concat(
					viewWrites(1, idSteps(10+2*MaxViews, 10+2*(MaxViews+199), 2)...),
					viewWrites(1, 1, 3, 0),
					viewWrites(2, 1),
				)...),
			},
			want: map[GroupID]GroupState{
				1: {Views: vrecs(idSteps(10+2*200, 10+2*(MaxViews+199), 2)...)},
				2: {Views: vrecs(1)},
			},
		},
		{
			name: "delete removes view records",
			steps: []*Batch{
				batch(
					GroupWrite{Group: 1, HardState: hsp(1, 2), View: vrec(1)},
					GroupWrite{Group: 1, View: vrec(2)},
					GroupWrite{Group: 2, View: vrec(1)},
					GroupWrite{Group: 3, View: vrec(4)},
				),
				batch(
					GroupWrite{Group: 1, Delete: true},
					GroupWrite{Group: 3, Delete: true},
					GroupWrite{Group: 4, View: vrec(1), Delete: true},
				),
				batch(GroupWrite{Group: 1, Entries: ents(4, 7, 7)}), // recreated afresh
			},
			want:       map[GroupID]GroupState{1: {Log: ents(4, 7, 7)}, 2: {Views: vrecs(1)}, 3: {}, 4: {}},
			wantGroups: []GroupID{1, 2},
		},
		{
			name:       "a view-only group write creates the group",
			steps:      []*Batch{batch(GroupWrite{Group: 7, View: vrec(1)})},
			want:       map[GroupID]GroupState{7: {Views: vrecs(1)}, 8: {}},
			wantGroups: []GroupID{7},
		},
		{
			name: "truncate above then append replaces entries",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, Entries: ents(1, 1, 5)}),
				batch(GroupWrite{Group: 1, TruncateAbove: vsp(1, 2), Entries: ents(2, 3, 4)}),
			},
			want: map[GroupID]GroupState{1: {Log: append(ents(1, 1, 2), ents(2, 3, 4)...)}},
		},
		{
			name: "truncate above compares Seq only",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, Entries: ents(4, 1, 5)}),
				batch(GroupWrite{Group: 1, TruncateAbove: vsp(9, 3)}),
			},
			want: map[GroupID]GroupState{1: {Log: ents(4, 1, 3)}},
		},
		{
			name: "truncate above everything and beyond the end",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, Entries: ents(1, 1, 5)}, GroupWrite{Group: 2, Entries: ents(1, 1, 5)}),
				batch(GroupWrite{Group: 1, TruncateAbove: vsp(0, 0)}, GroupWrite{Group: 2, TruncateAbove: vsp(1, 9)}),
				batch(GroupWrite{Group: 2, TruncateAbove: vsp(1, max64)}),
			},
			want:       map[GroupID]GroupState{1: {}, 2: {Log: ents(1, 1, 5)}},
			wantGroups: []GroupID{1, 2},
		},
		{
			name: "compact",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, Entries: ents(1, 1, 5)}, GroupWrite{Group: 2, Entries: ents(1, 3, 5)}, GroupWrite{Group: 3, Entries: ents(1, 1, 2)}),
				batch(
					GroupWrite{Group: 1, CompactTo: 3, Snapshot: snap(1, 3, "c3")},
					GroupWrite{Group: 2, CompactTo: 1},
					GroupWrite{Group: 3, CompactTo: max64},
				),
			},
			want: map[GroupID]GroupState{
				1: {Log: ents(1, 4, 5), Snapshot: snap(1, 3, "c3")},
				2: {Log: ents(1, 3, 5)},
				3: {},
			},
			wantGroups: []GroupID{1, 2, 3},
		},
		{
			name: "apply order within one group write",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, Entries: ents(1, 1, 5), StableHint: vs(1, 2)}),
				// Truncate above 3, then append 4..6 of view 2, then compact
				// to 4: only 5 and 6 of view 2 remain.
				batch(GroupWrite{
					Group: 1, TruncateAbove: vsp(1, 3), Entries: ents(2, 4, 6),
					HardState: hsp(1, 2), View: vrec(2), StableHint: vs(2, 4), Snapshot: snap(2, 4, "s4"), CompactTo: 4,
				}),
			},
			want: map[GroupID]GroupState{1: {HardState: hsp(1, 2), Log: ents(2, 5, 6), StableHint: vs(2, 4), Snapshot: snap(2, 4, "s4"), Views: vrecs(2)}},
		},
		{
			name: "same group twice in a batch applies in order",
			steps: []*Batch{batch(
				GroupWrite{Group: 1, Entries: ents(1, 1, 5), HardState: hsp(1, 1), View: vrec(1)},
				GroupWrite{Group: 1, TruncateAbove: vsp(1, 1), HardState: hsp(1, 2), View: vrec(2)},
				GroupWrite{Group: 1, Entries: ents(3, 2, 2), View: vrec(1)},
			)},
			want: map[GroupID]GroupState{1: {HardState: hsp(1, 2), Log: append(ents(1, 1, 1), ents(3, 2, 2)...), Views: vrecs(1, 2)}},
		},
		{
			name: "hard state and snapshot replace",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, HardState: hsWithAccepted(1, 2), Snapshot: snap(1, 5, "first")}),
				batch(GroupWrite{Group: 1, HardState: hsp(1, 3), Snapshot: &Snapshot{Pos: vs(3, 7), Data: []byte{}, Dedup: []byte{}}}),
			},
			want: map[GroupID]GroupState{1: {HardState: hsp(1, 3), Snapshot: &Snapshot{Pos: vs(3, 7)}}},
		},
		{
			name: "zero stable hint keeps the stored one",
			steps: []*Batch{
				batch(GroupWrite{Group: 1, StableHint: vs(2, 7)}),
				batch(GroupWrite{Group: 1, HardState: hsp(1, 1)}),
			},
			want: map[GroupID]GroupState{1: {HardState: hsp(1, 1), StableHint: vs(2, 7)}},
		},
		{
			name: "delete",
			steps: []*Batch{
				batch(
					GroupWrite{Group: 1, HardState: hsp(1, 1), Entries: ents(1, 1, 3), StableHint: vs(1, 3), Snapshot: snap(1, 0, "x")},
					GroupWrite{Group: 2, HardState: hsp(1, 1), Entries: ents(1, 1, 3)},
					GroupWrite{Group: 3, HardState: hsp(1, 1)},
				),
				batch(
					GroupWrite{Group: 1, Delete: true},
					GroupWrite{Group: 9, Delete: true}, // never existed
					GroupWrite{Group: 2, Delete: true},
					GroupWrite{Group: 2, Entries: ents(4, 7, 7)}, // recreated afresh
					GroupWrite{Group: 3, HardState: hsp(2, 2), Delete: true},
				),
			},
			want:       map[GroupID]GroupState{1: {}, 2: {Log: ents(4, 7, 7)}, 3: {}, 9: {}},
			wantGroups: []GroupID{2},
		},
		{
			name:       "an empty group write creates the group",
			steps:      []*Batch{batch(GroupWrite{Group: 5})},
			want:       map[GroupID]GroupState{5: {}},
			wantGroups: []GroupID{5},
		},
		{
			name:       "nil and empty batches",
			steps:      []*Batch{nil, {}, batch()},
			want:       map[GroupID]GroupState{1: {}},
			wantGroups: []GroupID{},
		},
		{
			name: "large values",
			steps: []*Batch{batch(
				GroupWrite{Group: 1, Entries: []groupcomm.Entry{ent(1, 1, string(big[:100<<10])), ent(1, 2, "")}, Snapshot: &Snapshot{Pos: vs(1, 0), Data: big}},
			)},
			want: map[GroupID]GroupState{1: {Log: []groupcomm.Entry{ent(1, 1, string(big[:100<<10])), ent(1, 2, "")}, Snapshot: &Snapshot{Pos: vs(1, 0), Data: big}}},
		},
	}
}

func checkStore(t *testing.T, s Store, want map[GroupID]GroupState, wantGroups []GroupID) {
	t.Helper()
	for _, g := range slices.Sorted(maps.Keys(want)) {
		got, err := s.Load(g)
		if err != nil {
			t.Fatalf("Load(%d): %v", g, err)
		}
		if !reflect.DeepEqual(got, want[g]) {
			t.Fatalf("Load(%d):\n got %s\nwant %s", g, fmtState(got), fmtState(want[g]))
		}
	}
	if wantGroups == nil {
		wantGroups = slices.Sorted(maps.Keys(want))
	}
	got, err := s.Groups()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || len(wantGroups) != 0 {
		if !reflect.DeepEqual(got, wantGroups) {
			t.Fatalf("Groups() = %v, want %v", got, wantGroups)
		}
	}
}

func fmtState(st GroupState) string {
	var b strings.Builder
	if st.HardState != nil {
		fmt.Fprintf(&b, "hs=%+v", *st.HardState)
		if st.HardState.AcceptedView != nil {
			fmt.Fprintf(&b, " av=%+v", *st.HardState.AcceptedView)
		}
	} else {
		b.WriteString("hs=nil")
	}
	fmt.Fprintf(&b, " stable=%v log=[", st.StableHint)
	for i, e := range st.Log {
		if i > 0 {
			b.WriteString(" ")
		}
		p := string(e.Payload)
		if len(p) > 12 {
			p = fmt.Sprintf("%s…(%d)", p[:12], len(p))
		}
		fmt.Fprintf(&b, "%v%v:%q(nil=%t)", e.VS, e.ID, p, e.Payload == nil)
	}
	b.WriteString("]")
	if st.Snapshot != nil {
		fmt.Fprintf(&b, " snap=%v dedup=%d data=%d", st.Snapshot.Pos, len(st.Snapshot.Dedup), len(st.Snapshot.Data))
	}
	fmt.Fprintf(&b, " views(%d, nil=%t)=[", len(st.Views), st.Views == nil)
	for i, v := range st.Views {
		if i > 0 {
			b.WriteString(" ")
		}
		if len(st.Views) <= 4 {
			fmt.Fprintf(&b, "%+v(members nil=%t)", v, v.Members == nil)
		} else {
			fmt.Fprintf(&b, "%d", v.ID)
		}
	}
	b.WriteString("]")
	return b.String()
}

func TestStoreConformance(t *testing.T) {
	for _, m := range storeMakers() {
		t.Run(m.name, func(t *testing.T) {
			for _, c := range confCases() {
				t.Run(c.name, func(t *testing.T) {
					s := m.open(t)
					for i, b := range c.steps {
						if err := s.Write(b); err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
					}
					checkStore(t, s, c.want, c.wantGroups)
					if m.reopen != nil {
						s = m.reopen(t, s)
						checkStore(t, s, c.want, c.wantGroups)
					}
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// TestStoreCopies checks that a store neither keeps the caller's slices nor
// hands out its own.
func TestStoreCopies(t *testing.T) {
	for _, m := range storeMakers() {
		t.Run(m.name, func(t *testing.T) {
			s := m.open(t)
			hs := hsWithAccepted(1, 2)
			w := GroupWrite{Group: 1, HardState: hs, Entries: ents(2, 1, 3), Snapshot: snap(1, 0, "data"), View: vrec(2)}
			want := GroupState{HardState: hsWithAccepted(1, 2), Log: ents(2, 1, 3), Snapshot: snap(1, 0, "data"), Views: vrecs(2)}
			if err := s.Write(batch(w)); err != nil {
				t.Fatal(err)
			}
			// The caller reuses its slices.
			for i := range w.Entries {
				clear(w.Entries[i].Payload)
				w.Entries[i].VS.Seq = 99
			}
			hs.Installed.Members[0].ID.Node = 99
			hs.AcceptedView.Members[1].Role = 0
			clear(w.Snapshot.Data)
			w.View.Members[2].Donor.Node = 99
			w.View.ID, w.View.Epoch = 99, 99
			checkStore(t, s, map[GroupID]GroupState{1: want}, nil)
			// The caller scribbles over what Load returned.
			got, err := s.Load(1)
			if err != nil {
				t.Fatal(err)
			}
			clear(got.Log[0].Payload)
			got.Log[1].VS.Seq = 77
			got.HardState.Installed.Members[0].ID.Node = 77
			got.HardState.AcceptedView.Members[0].ID.Node = 77
			clear(got.Snapshot.Dedup)
			got.Views[0].Members[1].Role = 77
			checkStore(t, s, map[GroupID]GroupState{1: want}, nil)
		})
	}
}

func TestStoreClosed(t *testing.T) {
	for _, m := range storeMakers() {
		t.Run(m.name, func(t *testing.T) {
			s := m.open(t)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(batch(GroupWrite{Group: 1})); err != ErrClosed {
				t.Errorf("Write after Close: %v, want ErrClosed", err)
			}
			if _, err := s.Load(1); err != ErrClosed {
				t.Errorf("Load after Close: %v, want ErrClosed", err)
			}
			if _, err := s.Groups(); err != ErrClosed {
				t.Errorf("Groups after Close: %v, want ErrClosed", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestStoreConcurrent(t *testing.T) {
	for _, m := range storeMakers() {
		t.Run(m.name, func(t *testing.T) {
			s := m.open(t)
			const writers, writes = 4, 25
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					g := GroupID(w + 1)
					for i := range uint64(writes) {
						// Each batch also touches a shared group.
						if err := s.Write(batch(
							GroupWrite{Group: g, Entries: ents(1, i+1, i+1), HardState: hsp(uint64(w), i+1)},
							GroupWrite{Group: 100, Entries: []groupcomm.Entry{ent(1, uint64(w)*writes+i+1, "x")}},
						)); err != nil {
							t.Error(err)
							return
						}
					}
				})
				wg.Go(func() {
					for range writes {
						if _, err := s.Load(GroupID(w + 1)); err != nil {
							t.Error(err)
							return
						}
						if _, err := s.Groups(); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			want := map[GroupID]GroupState{}
			var shared []groupcomm.Entry
			for w := range uint64(writers) {
				want[GroupID(w+1)] = GroupState{Log: ents(1, 1, writes), HardState: hsp(w, writes)}
				for i := range uint64(writes) {
					shared = append(shared, ent(1, w*writes+i+1, "x"))
				}
			}
			want[100] = GroupState{Log: shared}
			checkStore(t, s, want, nil)
		})
	}
}

// --- randomized model test ---

// model is a naive third implementation of the Store semantics: a map per
// group, every rule applied literally.
type model map[GroupID]*modelGroup

type modelGroup struct {
	hs     *groupcomm.HardState
	log    map[uint64]groupcomm.Entry
	stable groupcomm.Viewstamp
	snap   *Snapshot
	views  map[uint64]groupcomm.View // by ID
}

func (m model) apply(b *Batch) {
	if b == nil {
		return
	}
	for _, w := range b.Writes {
		if w.Delete {
			delete(m, w.Group)
			continue
		}
		g := m[w.Group]
		if g == nil {
			g = &modelGroup{log: map[uint64]groupcomm.Entry{}, views: map[uint64]groupcomm.View{}}
			m[w.Group] = g
		}
		if w.TruncateAbove != nil {
			maps.DeleteFunc(g.log, func(seq uint64, _ groupcomm.Entry) bool { return seq > w.TruncateAbove.Seq })
		}
		for _, e := range w.Entries {
			g.log[e.VS.Seq] = cloneEntry(e)
		}
		if w.HardState != nil {
			hs := cloneHardState(w.HardState)
			g.hs = &hs
		}
		if w.View != nil {
			g.views[w.View.ID] = cloneView(*w.View)
			for len(g.views) > MaxViews {
				delete(g.views, slices.Min(slices.Collect(maps.Keys(g.views))))
			}
		}
		if w.StableHint != (groupcomm.Viewstamp{}) {
			g.stable = w.StableHint
		}
		if w.Snapshot != nil {
			s := cloneSnapshot(w.Snapshot)
			g.snap = &s
		}
		if w.CompactTo > 0 {
			maps.DeleteFunc(g.log, func(seq uint64, _ groupcomm.Entry) bool { return seq <= w.CompactTo })
		}
	}
}

func (m model) load(id GroupID) GroupState {
	g := m[id]
	if g == nil {
		return GroupState{}
	}
	st := GroupState{StableHint: g.stable}
	if g.hs != nil {
		hs := cloneHardState(g.hs)
		st.HardState = &hs
	}
	if g.snap != nil {
		s := cloneSnapshot(g.snap)
		st.Snapshot = &s
	}
	for _, seq := range slices.Sorted(maps.Keys(g.log)) {
		st.Log = append(st.Log, cloneEntry(g.log[seq]))
	}
	for _, id := range slices.Sorted(maps.Keys(g.views)) {
		st.Views = append(st.Views, cloneView(g.views[id]))
	}
	return st
}

// viewIDs returns the ids of the group's view records, ascending.
func (m model) viewIDs(id GroupID) []uint64 {
	if g := m[id]; g != nil {
		return slices.Sorted(maps.Keys(g.views))
	}
	return nil
}

func (m model) lastSeq(id GroupID) uint64 {
	var last uint64
	if g := m[id]; g != nil {
		for s := range g.log {
			last = max(last, s)
		}
	}
	return last
}

func randMembers(r *rand.Rand) []groupcomm.Member {
	n := r.IntN(5)
	var ms []groupcomm.Member
	for range n {
		m := groupcomm.Member{ID: mid(r.Uint64N(9)+1, r.Uint64N(3)), Role: groupcomm.Voter}
		if r.IntN(3) == 0 {
			m.Role = groupcomm.Learner
			m.Donor = mid(r.Uint64N(9)+1, r.Uint64N(3))
		}
		ms = append(ms, m)
	}
	return ms
}

func randUint(r *rand.Rand) uint64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return r.Uint64N(200)
	case 2:
		return r.Uint64N(1 << 40)
	}
	return r.Uint64()
}

func randView(r *rand.Rand) groupcomm.View {
	return groupcomm.View{
		Cluster: randUint(r), Group: randUint(r), GroupIncarnation: randUint(r), ID: randUint(r),
		Members: randMembers(r), Cut: vs(randUint(r), randUint(r)), Epoch: randUint(r),
	}
}

func randHardState(r *rand.Rand) groupcomm.HardState {
	hs := groupcomm.HardState{
		Incarnation: randUint(r), OriginEpoch: randUint(r),
		Promised:  groupcomm.Ballot{Instance: randUint(r), Round: randUint(r), Node: groupcomm.NodeID(randUint(r))},
		Accepted:  groupcomm.Ballot{Instance: randUint(r), Round: randUint(r), Node: groupcomm.NodeID(randUint(r))},
		Installed: randView(r),
	}
	if r.IntN(2) == 0 {
		v := randView(r)
		hs.AcceptedView = &v
	}
	return hs
}

func randBytes(r *rand.Rand, maxLen int) []byte {
	n := r.IntN(maxLen + 1)
	if n == 0 && r.IntN(2) == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randEntry(r *rand.Rand, view, seq uint64) groupcomm.Entry {
	return groupcomm.Entry{
		VS:      vs(view, seq),
		ID:      groupcomm.EntryID{Origin: mid(r.Uint64N(5), r.Uint64N(3)), Counter: randUint(r)},
		Payload: randBytes(r, 40),
	}
}

// randViewID draws the id of a view record for a group whose records have
// ids kept (ascending) and whose highest new id so far is top: mostly a new
// view above every kept one, sometimes with a gap, sometimes a kept id (a
// replacement) or an id below the highest (a lower record arriving late,
// dropped when below every kept one and the group is full).
func randViewID(r *rand.Rand, kept []uint64, top uint64) uint64 {
	switch r.IntN(8) {
	case 0:
		if len(kept) > 0 {
			return kept[r.IntN(len(kept))]
		}
	case 1:
		return r.Uint64N(top + 1)
	case 2:
		return top + 2 + r.Uint64N(5)
	}
	return top + 1
}

// randBatch draws a batch over groups 1..groups that looks like what
// groupcomm produces (mostly appends near the end of the log, sometimes a
// truncation, a compaction, a snapshot, a view record or a delete) with
// corner cases mixed in. Now and then a burst of view records takes a group
// past MaxViews.
func randBatch(r *rand.Rand, m model, groups int) *Batch {
	b := &Batch{}
	if r.IntN(25) == 0 {
		g := GroupID(1 + r.IntN(groups))
		kept := m.viewIDs(g)
		var top uint64
		if len(kept) > 0 {
			top = kept[len(kept)-1]
		}
		for range MaxViews/2 + r.IntN(MaxViews) {
			v := randView(r)
			v.ID = randViewID(r, kept, top)
			top = max(top, v.ID)
			b.Writes = append(b.Writes, GroupWrite{Group: g, View: &v})
		}
	}
	for range 1 + r.IntN(4) {
		g := GroupID(1 + r.IntN(groups))
		w := GroupWrite{Group: g}
		if r.IntN(25) == 0 {
			w.Delete = true
			if r.IntN(2) == 0 { // Delete makes the rest moot
				w.Entries = []groupcomm.Entry{randEntry(r, 1, 1)}
			}
			b.Writes = append(b.Writes, w)
			continue
		}
		last := m.lastSeq(g)
		view := 1 + r.Uint64N(6)
		if r.IntN(4) == 0 {
			w.TruncateAbove = vsp(view, r.Uint64N(last+3))
		}
		if r.IntN(5) > 0 {
			start := last + 1
			if r.IntN(3) == 0 {
				start = 1 + r.Uint64N(last+1) // overwrite some
			}
			for i := range uint64(r.IntN(6)) {
				w.Entries = append(w.Entries, randEntry(r, view, start+i))
			}
		}
		if r.IntN(3) == 0 {
			hs := randHardState(r)
			w.HardState = &hs
		}
		if r.IntN(5) == 0 {
			kept := m.viewIDs(g)
			var top uint64
			if len(kept) > 0 {
				top = kept[len(kept)-1]
			}
			v := randView(r)
			v.ID = randViewID(r, kept, top)
			w.View = &v
		}
		if r.IntN(2) == 0 {
			w.StableHint = vs(view, r.Uint64N(last+2))
		}
		if r.IntN(7) == 0 {
			w.Snapshot = &Snapshot{Pos: vs(view, r.Uint64N(last+1)), Dedup: randBytes(r, 30), Data: randBytes(r, 200)}
		}
		if r.IntN(6) == 0 {
			w.CompactTo = r.Uint64N(last + 2)
		}
		b.Writes = append(b.Writes, w)
		// Later writes of the batch see this one's entries in m only
		// approximately; that is fine, the draws need not be exact.
	}
	return b
}

// scribble overwrites everything the caller handed to Write, to catch a
// store that kept a reference to it.
func scribble(b *Batch) {
	for _, w := range b.Writes {
		for _, e := range w.Entries {
			for i := range e.Payload {
				e.Payload[i] = 0xee
			}
		}
		if w.HardState != nil {
			for i := range w.HardState.Installed.Members {
				w.HardState.Installed.Members[i].ID.Node = 0xee
			}
		}
		if w.Snapshot != nil {
			clear(w.Snapshot.Data)
			clear(w.Snapshot.Dedup)
		}
		if w.View != nil {
			for i := range w.View.Members {
				w.View.Members[i].ID.Node = 0xee
			}
			w.View.ID, w.View.Epoch = 0xee, 0xee
		}
	}
}

// TestStoreModel applies random batches to a BoltStore, a MemStore and the
// naive model, and compares what they load after every batch, after random
// reopens of the bolt file and at the end.
func TestStoreModel(t *testing.T) {
	const groups = 6
	batches := 300
	if testing.Short() {
		batches = 60
	}
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
			path := filepath.Join(t.TempDir(), "node.db")
			bs := openBoltT(t, path, BoltOptions{NoSync: true})
			ms := NewMemStore()
			m := model{}
			compare := func(step string) {
				t.Helper()
				for g := range GroupID(groups + 1) {
					want := m.load(g)
					for _, s := range []Store{ms, bs} {
						got, err := s.Load(g)
						if err != nil {
							t.Fatalf("%s: %T.Load(%d): %v", step, s, g, err)
						}
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("%s: %T.Load(%d):\n got %s\nwant %s", step, s, g, fmtState(got), fmtState(want))
						}
					}
				}
				wantGroups := slices.Sorted(maps.Keys(m))
				for _, s := range []Store{ms, bs} {
					got, err := s.Groups()
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, wantGroups) {
						t.Fatalf("%s: %T.Groups() = %v, want %v", step, s, got, wantGroups)
					}
				}
			}
			for i := range batches {
				b := randBatch(r, m, groups)
				m.apply(b)
				if err := ms.Write(b); err != nil {
					t.Fatal(err)
				}
				if err := bs.Write(b); err != nil {
					t.Fatal(err)
				}
				scribble(b)
				compare(fmt.Sprintf("batch %d", i))
				if r.IntN(40) == 0 {
					bs = reopenBoltT(t, bs)
					compare(fmt.Sprintf("reopen after batch %d", i))
				}
			}
			bs = reopenBoltT(t, bs)
			compare("final reopen")
		})
	}
}
