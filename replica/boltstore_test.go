package replica

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
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
		GroupWrite{Group: 1, HardState: hsp(1, 1), Entries: ents(1, 1, 3), StableHint: vs(1, 2)},
		GroupWrite{Group: 2, Entries: ents(1, 1, 2)},
	)
	if err := s.Write(before); err != nil {
		t.Fatal(err)
	}
	want := map[GroupID]GroupState{
		1: {HardState: hsp(1, 1), Log: ents(1, 1, 3), StableHint: vs(1, 2)},
		2: {Log: ents(1, 1, 2)},
		3: {},
	}
	s.testHookApplied = func(i int) error {
		if i == 2 {
			return errHook
		}
		return nil
	}
	err := s.Write(batch(
		GroupWrite{Group: 1, TruncateAbove: vsp(1, 1), Entries: ents(2, 2, 5), HardState: hsp(1, 2), StableHint: vs(2, 4), CompactTo: 1},
		GroupWrite{Group: 2, Delete: true},
		GroupWrite{Group: 3, Entries: ents(1, 1, 1), Snapshot: snap(1, 0, "x")},
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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openBoltT(t, filepath.Join(t.TempDir(), "node.db"), BoltOptions{NoSync: true})
			if err := s.Write(batch(GroupWrite{Group: 1, HardState: hsp(1, 1), Entries: ents(1, 1, 3), StableHint: vs(1, 1), Snapshot: snap(1, 0, "s")})); err != nil {
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
		GroupWrite{Group: 1 << 63, Entries: ents(1, 1, 2)},
		GroupWrite{Group: 5, Entries: append(ents(1, 0, 1), ent(1, max64, "last"))},
		GroupWrite{Group: 6, Entries: ents(1, 0, 2)},
		GroupWrite{Group: 4, Entries: ents(1, 1, 1)},
	)); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(batch(
		GroupWrite{Group: 5, TruncateAbove: vsp(1, 0)},
		GroupWrite{Group: 6, CompactTo: max64},
		GroupWrite{Group: 4, Delete: true},
	)); err != nil {
		t.Fatal(err)
	}
	checkStore(t, s, map[GroupID]GroupState{
		4:       {},
		5:       {Log: ents(1, 0, 0)},
		6:       {},
		1 << 63: {Log: ents(1, 1, 2)},
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
