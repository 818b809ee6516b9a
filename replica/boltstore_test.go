package replica

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestBoltReopenKeepsEverything writes many fsynced batches across groups,
// closes the file and opens it again: everything is there.
func TestBoltReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	s := openBoltT(t, path, BoltOptions{})
	r := rand.New(rand.NewPCG(42, 42))
	m := model{}
	for range 40 {
		b := randBatch(r, m, 5)
		m.apply(b)
		if err := s.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	want := map[GroupID]GroupState{}
	for g := range GroupID(6) {
		want[g] = m.load(g)
	}
	var groups []GroupID
	for g := range GroupID(6) {
		if m[g] != nil {
			groups = append(groups, g)
		}
	}
	checkStore(t, s, want, groups)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openBoltT(t, path, BoltOptions{})
	checkStore(t, s, want, groups)
}

var errHook = errors.New("hook: disk on fire")

// TestBoltFailedWriteLeavesNothing fails a write in the middle of its
// transaction: nothing of the batch is left (bbolt rolls back), every later
// write fails with the first error, and the file still holds the state
// before the batch after a reopen.
func TestBoltFailedWriteLeavesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	var logBuf bytes.Buffer
	s := openBoltT(t, path, BoltOptions{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	before := batch(
		GroupWrite{Group: 1, HardState: hsp(1, 1), Entries: ents(1, 1, 3), StableHint: vs(1, 2), View: vrec(1)},
		GroupWrite{Group: 2, Entries: ents(1, 1, 2), View: vrec(1)},
	)
	if err := s.Write(before); err != nil {
		t.Fatal(err)
	}
	want := map[GroupID]GroupState{
		1: {HardState: hsp(1, 1), Log: ents(1, 1, 3), StableHint: vs(1, 2), Views: vrecs(1)},
		2: {Log: ents(1, 1, 2), Views: vrecs(1)},
		3: {},
	}
	s.testHookApplied = func(i int) error {
		if i == 2 {
			return errHook
		}
		return nil
	}
	err := s.Write(batch(
		GroupWrite{Group: 1, TruncateAbove: vsp(1, 1), Entries: ents(2, 2, 5), HardState: hsp(1, 2), View: vrec(2), StableHint: vs(2, 4), CompactTo: 1},
		GroupWrite{Group: 2, Delete: true},
		GroupWrite{Group: 3, Entries: ents(1, 1, 1), Snapshot: snap(1, 0, "x"), View: vrec(1)},
	))
	if !errors.Is(err, errHook) {
		t.Fatalf("Write = %v, want the hook's error", err)
	}
	checkStore(t, s, want, []GroupID{1, 2})
	s.testHookApplied = nil
	err2 := s.Write(batch(GroupWrite{Group: 4, Entries: ents(1, 1, 1)}))
	if !errors.Is(err2, errHook) {
		t.Fatalf("Write after failure = %v, want it to wrap the first error", err2)
	}
	if !errors.Is(s.Err(), errHook) {
		t.Fatalf("Err() = %v", s.Err())
	}
	checkStore(t, s, want, []GroupID{1, 2})
	if st := s.Stats(); st.Writes != 1 || st.GroupWrites != 2 || st.Entries != 5 {
		t.Fatalf("Stats() = %+v: the failed writes must not count", st)
	}
	if !strings.Contains(logBuf.String(), "level=ERROR") || !strings.Contains(logBuf.String(), errHook.Error()) {
		t.Fatalf("the failure was not logged:\n%s", logBuf.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A new process starts over from what is on disk.
	s = openBoltT(t, path, BoltOptions{})
	checkStore(t, s, want, []GroupID{1, 2})
	if err := s.Write(batch(GroupWrite{Group: 4, Entries: ents(1, 1, 1)})); err != nil {
		t.Fatal(err)
	}
}

// TestFaultyBoltInjectedFailure: a FaultyStore around a BoltStore fails the
// second write; nothing of it reaches the file, and the third write fails
// too.
func TestFaultyBoltInjectedFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	bs := openBoltT(t, path, BoltOptions{})
	f := NewFaulty(bs)
	f.FailNthWrite(2)
	if err := f.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 1, 2), HardState: hsp(1, 1)})); err != nil {
		t.Fatal(err)
	}
	want := map[GroupID]GroupState{1: {Log: ents(1, 1, 2), HardState: hsp(1, 1)}}
	for i := range 2 {
		err := f.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 3, 4), HardState: hsp(1, 2)}, GroupWrite{Group: 2, Entries: ents(1, 1, 1)}))
		if !errors.Is(err, ErrInjected) {
			t.Fatalf("write %d: %v, want ErrInjected", i+2, err)
		}
		checkStore(t, f, want, nil)
	}
	if f.Writes() != 3 || bs.Stats().Writes != 1 {
		t.Fatalf("faulty saw %d writes, bolt committed %d; want 3 and 1", f.Writes(), bs.Stats().Writes)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkStore(t, openBoltT(t, path, BoltOptions{}), want, nil)
}

func TestBoltStats(t *testing.T) {
	s := openBoltT(t, filepath.Join(t.TempDir(), "node.db"), BoltOptions{NoSync: true})
	if err := s.Write(batch(
		GroupWrite{Group: 1, Entries: ents(1, 1, 2)},
		GroupWrite{Group: 2, Entries: ents(1, 1, 2), HardState: hsp(1, 1)},
		GroupWrite{Group: 3, Entries: ents(1, 1, 2)},
	)); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(&Batch{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 3, 3)})); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Writes != 2 || st.GroupWrites != 4 || st.Entries != 7 || st.Bytes == 0 || st.WriteTime <= 0 {
		t.Fatalf("Stats() = %+v, want 2 writes, 4 group writes, 7 entries", st)
	}
}

func TestBoltFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	openBoltT(t, path, BoltOptions{})
	start := time.Now()
	s, err := OpenBolt(path, BoltOptions{Timeout: 50 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("a second OpenBolt of a locked file succeeded")
	}
	if !errors.Is(err, bolt.ErrTimeout) {
		t.Fatalf("second OpenBolt: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the lock wait took %v", d)
	}
}

func TestBoltOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenBolt(filepath.Join(dir, "missing", "node.db"), BoltOptions{}); err == nil {
		t.Fatal("OpenBolt in a missing directory succeeded")
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a bolt file "), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenBolt(garbage, BoltOptions{}); err == nil {
		s.Close()
		t.Fatal("OpenBolt of a garbage file succeeded")
	}
	// A bbolt file that is not a store is refused.
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := OpenBolt(foreign, BoltOptions{}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("OpenBolt of a foreign bbolt file: %v, want ErrCorrupt", err)
	}
	// A file of another format version is refused.
	path := filepath.Join(dir, "node.db")
	s := openBoltT(t, path, BoltOptions{})
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(boltMetaBucket).Put(boltFormatKey, []byte{99})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := OpenBolt(path, BoltOptions{}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("OpenBolt of format 99: %v, want ErrCorrupt", err)
	}
}

// writeV1File writes, with bbolt alone, a store file of format version 1
// as the code of that version left it: the buckets of that layout (no
// "views"), the version, and group 1's state.
func writeV1File(t *testing.T, path string, extra func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		bk := map[string]*bolt.Bucket{}
		for _, name := range []string{"groups", "log", "hs", "stable", "snap", "quicksilver"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			bk[name] = b
		}
		g := groupKey(1)
		hs := hsWithAccepted(1, 3)
		sb, err := bk["snap"].CreateBucket(g)
		if err != nil {
			return err
		}
		for _, err := range []error{
			bk["quicksilver"].Put([]byte("format"), []byte{1}),
			bk["groups"].Put(g, []byte{1}),
			bk["hs"].Put(g, appendHardState(nil, hs)),
			bk["stable"].Put(g, appendViewstamp(nil, vs(3, 2))),
			sb.Put([]byte("v"), appendSnapshot(nil, snap(3, 0, "s"))),
		} {
			if err != nil {
				return err
			}
		}
		for _, e := range ents(3, 1, 3) {
			if err := bk["log"].Put(logKey(nil, 1, e.VS.Seq), appendEntry(nil, &e)); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// boltFileFormat reads the format version and whether the "views" bucket
// exists, with bbolt alone.
func boltFileFormat(t *testing.T, path string) (version []byte, views bool) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		version = bytes.Clone(tx.Bucket([]byte("quicksilver")).Get([]byte("format")))
		views = tx.Bucket([]byte("views")) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return version, views
}

// TestBoltMigrateV1 opens a file of format version 1: it is migrated in
// place to version 2 (the "views" bucket, the version), keeps what it held,
// takes view records, and is not migrated again.
func TestBoltMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	writeV1File(t, path, nil)
	v1State := GroupState{HardState: hsWithAccepted(1, 3), Log: ents(3, 1, 3), StableHint: vs(3, 2), Snapshot: snap(3, 0, "s")}

	var logBuf bytes.Buffer
	s := openBoltT(t, path, BoltOptions{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	checkStore(t, s, map[GroupID]GroupState{1: v1State, 2: {}}, []GroupID{1})
	if !strings.Contains(logBuf.String(), "migrated") {
		t.Fatalf("the migration was not logged:\n%s", logBuf.String())
	}
	if err := s.Write(batch(
		GroupWrite{Group: 1, View: vrec(4), HardState: hsp(1, 4)},
		GroupWrite{Group: 2, View: vrec(1)},
	)); err != nil {
		t.Fatal(err)
	}
	v1State.HardState, v1State.Views = hsp(1, 4), vrecs(4)
	want := map[GroupID]GroupState{1: v1State, 2: {Views: vrecs(1)}}
	checkStore(t, s, want, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, views := boltFileFormat(t, path); !bytes.Equal(v, []byte{2}) || !views {
		t.Fatalf("after the migration: format %x, views bucket %t; want 02 and true", v, views)
	}

	logBuf.Reset()
	s = openBoltT(t, path, BoltOptions{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	checkStore(t, s, want, nil)
	if strings.Contains(logBuf.String(), "migrated") {
		t.Fatalf("a version-2 file was migrated again:\n%s", logBuf.String())
	}
}

// TestBoltFormatRefused: files that are neither version 2 nor a sound
// version 1 are refused with ErrCorrupt, and a refused version-1 file is
// left as it was.
func TestBoltFormatRefused(t *testing.T) {
	cases := []struct {
		name   string
		v1     bool // the file is written as version 1, then damaged
		damage func(tx *bolt.Tx) error
	}{
		{"version 1 without a bucket", true, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("stable")) }},
		{"version 1 with a views bucket", true, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("views")); return err }},
		{"version 0", true, func(tx *bolt.Tx) error { return tx.Bucket([]byte("quicksilver")).Put([]byte("format"), []byte{0}) }},
		{"version 3", true, func(tx *bolt.Tx) error { return tx.Bucket([]byte("quicksilver")).Put([]byte("format"), []byte{3}) }},
		{"overlong version 1", true, func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("quicksilver")).Put([]byte("format"), []byte{0x81, 0x00})
		}},
		{"version 2 without views", false, func(tx *bolt.Tx) error { return tx.DeleteBucket(boltViewsBucket) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.db")
			if c.v1 {
				writeV1File(t, path, c.damage)
			} else {
				s := openBoltT(t, path, BoltOptions{NoSync: true})
				if err := s.db.Update(c.damage); err != nil {
					t.Fatal(err)
				}
				s.Close()
			}
			beforeV, beforeViews := boltFileFormat(t, path)
			if s, err := OpenBolt(path, BoltOptions{}); !errors.Is(err, ErrCorrupt) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("OpenBolt: %v, want ErrCorrupt", err)
			}
			if v, views := boltFileFormat(t, path); !bytes.Equal(v, beforeV) || views != beforeViews {
				t.Fatalf("a refused file was changed: format %x → %x, views bucket %t → %t", beforeV, v, beforeViews, views)
			}
		})
	}
}

// TestBoltLoadCorrupt damages the file's values behind the store's back:
// Load fails with ErrCorrupt and does not panic.
func TestBoltLoadCorrupt(t *testing.T) {
	g1 := groupKey(1)
	cases := []struct {
		name   string
		damage func(tx *bolt.Tx) error
	}{
		{"hard state", func(tx *bolt.Tx) error { return tx.Bucket(boltHSBucket).Put(g1, []byte{tagHardStateV1, 0, 1}) }},
		{"stable hint", func(tx *bolt.Tx) error { return tx.Bucket(boltStableBucket).Put(g1, []byte{tagEntryV1, 1, 1}) }},
		{"snapshot", func(tx *bolt.Tx) error {
			return tx.Bucket(boltSnapBucket).Bucket(g1).Put(boltSnapKey, []byte{tagSnapshotV1, 1, 1, 200})
		}},
		{"snapshot missing", func(tx *bolt.Tx) error { return tx.Bucket(boltSnapBucket).Bucket(g1).Delete(boltSnapKey) }},
		{"entry", func(tx *bolt.Tx) error { return tx.Bucket(boltLogBucket).Put(logKey(nil, 1, 2), []byte{tagEntryV1}) }},
		{"entry under the wrong seq", func(tx *bolt.Tx) error {
			e := ent(1, 3, "x")
			return tx.Bucket(boltLogBucket).Put(logKey(nil, 1, 2), appendEntry(nil, &e))
		}},
		{"short log key", func(tx *bolt.Tx) error {
			return tx.Bucket(boltLogBucket).Put(append(groupKey(1), 0, 0, 0, 1), []byte{1})
		}},
		{"bucket in the log", func(tx *bolt.Tx) error {
			_, err := tx.Bucket(boltLogBucket).CreateBucket(logKey(nil, 1, 7))
			return err
		}},
		{"top-level bucket missing", func(tx *bolt.Tx) error { return tx.DeleteBucket(boltStableBucket) }},
		{"views bucket missing", func(tx *bolt.Tx) error { return tx.DeleteBucket(boltViewsBucket) }},
		{"view record", func(tx *bolt.Tx) error {
			return tx.Bucket(boltViewsBucket).Put(logKey(nil, 1, 2), []byte{tagViewV1, 0, 0})
		}},
		{"view record of another kind", func(tx *bolt.Tx) error {
			return tx.Bucket(boltViewsBucket).Put(logKey(nil, 1, 2), appendViewstamp(nil, vs(1, 2)))
		}},
		{"view under the wrong id", func(tx *bolt.Tx) error {
			return tx.Bucket(boltViewsBucket).Put(logKey(nil, 1, 3), appendViewRecord(nil, vrec(4)))
		}},
		{"short views key", func(tx *bolt.Tx) error {
			return tx.Bucket(boltViewsBucket).Put(append(groupKey(1), 0, 0, 0, 3), appendViewRecord(nil, vrec(3)))
		}},
		{"bucket in the views", func(tx *bolt.Tx) error {
			_, err := tx.Bucket(boltViewsBucket).CreateBucket(logKey(nil, 1, 7))
			return err
		}},
		{"more than MaxViews view records", func(tx *bolt.Tx) error {
			for id := uint64(100); id < 100+MaxViews; id++ {
				if err := tx.Bucket(boltViewsBucket).Put(logKey(nil, 1, id), appendViewRecord(nil, vrec(id))); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openBoltT(t, filepath.Join(t.TempDir(), "node.db"), BoltOptions{NoSync: true})
			if err := s.Write(batch(GroupWrite{Group: 1, HardState: hsp(1, 1), Entries: ents(1, 1, 3), StableHint: vs(1, 1), Snapshot: snap(1, 0, "s"), View: vrec(2)})); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(c.damage); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(1); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestBoltLayoutNeighbours: groups whose log keys are adjacent in the file
// (G‖S ordering) do not bleed into each other.
func TestBoltLayoutNeighbours(t *testing.T) {
	s := openBoltT(t, filepath.Join(t.TempDir(), "node.db"), BoltOptions{NoSync: true})
	if err := s.Write(batch(
		GroupWrite{Group: 1 << 63, Entries: ents(1, 1, 2), View: vrec(0)},
		GroupWrite{Group: 5, Entries: append(ents(1, 0, 1), ent(1, max64, "last")), View: vrec(max64)},
		GroupWrite{Group: 5, View: vrec(0)},
		GroupWrite{Group: 6, Entries: ents(1, 0, 2), View: vrec(0)},
		GroupWrite{Group: 4, Entries: ents(1, 1, 1), View: vrec(max64)},
	)); err != nil {
		t.Fatal(err)
	}
	// Fill group 6 past MaxViews: its trims must not reach 5's records.
	if err := s.Write(batch(slices.Concat(
		viewWrites(6, idSteps(1, MaxViews+5, 1)...),
		[]GroupWrite{
			{Group: 5, TruncateAbove: vsp(1, 0)},
			{Group: 6, CompactTo: max64},
			{Group: 4, Delete: true},
		})...)); err != nil {
		t.Fatal(err)
	}
	checkStore(t, s, map[GroupID]GroupState{
		4:       {},
		5:       {Log: ents(1, 0, 0), Views: vrecs(0, max64)},
		6:       {Views: vrecs(idSteps(6, MaxViews+5, 1)...)},
		1 << 63: {Log: ents(1, 1, 2), Views: vrecs(0)},
	}, []GroupID{5, 6, 1 << 63})
	got, err := s.Groups()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]GroupID{5, 6, 1 << 63}) {
		t.Fatalf("Groups() = %v", got)
	}
}

// TestBoltSnapshotNotRewritten: writes that do not replace a snapshot do
// not rewrite its pages.
func TestBoltSnapshotNotRewritten(t *testing.T) {
	s := openBoltT(t, filepath.Join(t.TempDir(), "node.db"), BoltOptions{NoSync: true})
	if err := s.Write(batch(GroupWrite{Group: 1, Snapshot: &Snapshot{Data: make([]byte, 4<<20)}})); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().PageBytes
	for i := range uint64(10) {
		if err := s.Write(batch(GroupWrite{Group: 1, Entries: ents(1, i+1, i+1), StableHint: vs(1, i+1), HardState: hsp(1, i+1)})); err != nil {
			t.Fatal(err)
		}
	}
	if per := (s.Stats().PageBytes - before) / 10; per > 64<<10 {
		t.Fatalf("a small write beside a 4 MiB snapshot wrote %d bytes of pages", per)
	}
}

// TestBoltViewsNotRewritten: batches without a view record leave the pages
// of "views" alone (bbolt copies every page it changes, so the bucket's
// root page would move), and one with a view record changes them.
func TestBoltViewsNotRewritten(t *testing.T) {
	s := openBoltT(t, filepath.Join(t.TempDir(), "node.db"), BoltOptions{NoSync: true})
	if err := s.Write(batch(viewWrites(1, idSteps(1, MaxViews, 1)...)...)); err != nil {
		t.Fatal(err)
	}
	root := func() (r uint64) {
		t.Helper()
		if err := s.db.View(func(tx *bolt.Tx) error {
			r = uint64(tx.Bucket(boltViewsBucket).Root())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if r == 0 {
			t.Fatal("the views bucket is inline: too small for the test")
		}
		return r
	}
	before := root()
	for i := range uint64(10) {
		if err := s.Write(batch(
			GroupWrite{Group: 1, Entries: ents(1, i+1, i+1), StableHint: vs(1, i+1), HardState: hsp(1, i+1)},
			GroupWrite{Group: 2, Entries: ents(1, i+1, i+1), Snapshot: snap(1, i, "s"), CompactTo: i},
		)); err != nil {
			t.Fatal(err)
		}
	}
	if after := root(); after != before {
		t.Fatalf("writes without a view record moved the views root page %d → %d", before, after)
	}
	if err := s.Write(batch(GroupWrite{Group: 1, View: vrec(MaxViews + 1)})); err != nil {
		t.Fatal(err)
	}
	if after := root(); after == before {
		t.Fatal("a view record did not change the views bucket's pages")
	}
}
