package replica

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/quicksilver-go/quicksilver/replica/wal"
)

// stateOf replays batches into a MemStore and returns what every group
// loads.
func stateOf(t *testing.T, batches []*Batch) map[GroupID]GroupState {
	t.Helper()
	ms := NewMemStore()
	for _, b := range batches {
		if err := ms.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return loadAll(t, ms)
}

func loadAll(t *testing.T, s Store) map[GroupID]GroupState {
	t.Helper()
	ids, err := s.Groups()
	if err != nil {
		t.Fatal(err)
	}
	out := map[GroupID]GroupState{}
	for _, id := range ids {
		st, err := s.Load(id)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = st
	}
	return out
}

func cloneBatch(b *Batch) *Batch {
	c, err := decodeBatch(appendBatch(nil, b))
	if err != nil {
		panic(err)
	}
	return c
}

func memDiskOptions(t *testing.T, fs wal.FS, seg int64) DiskOptions {
	return DiskOptions{BoltPath: filepath.Join(t.TempDir(), "node.db"), WALDir: "/wal", WALFS: fs, SegmentSize: seg, InlineCheckpoint: true}
}

// TestDiskCrashModel writes random batches to a DiskStore on a strict
// MemFS with small segments (so that checkpoints and releases happen all
// the time), fails a random sync now and then and crashes — the crash
// tears unsynced writes — and checks after every recovery that the store
// holds exactly the acknowledged batches, or those and the one whose
// Write failed (its frame may have reached the disk whole): never less,
// never anything else.
func TestDiskCrashModel(t *testing.T) {
	seeds := uint64(12)
	if testing.Short() {
		seeds = 4
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0xd15c))
			mem := wal.NewMemFS()
			opts := memDiskOptions(t, mem, 512+int64(r.IntN(4096)))
			efs := wal.NewErrorFS(mem)
			opts.WALFS = efs
			s := openDiskT(t, opts)
			m := model{}
			var acked []*Batch
			for round := 0; round < 12; round++ {
				if r.IntN(2) == 0 {
					efs.Inject(wal.OpSync, 1+r.IntN(30), wal.FaultEIO, false)
				}
				var failed *Batch
				for i := 0; i < 10+r.IntN(40); i++ {
					b := randBatch(r, m, 5)
					keep := cloneBatch(b)
					if err := s.Write(b); err != nil {
						if !errors.Is(err, wal.ErrInjected) {
							t.Fatalf("round %d: write: %v", round, err)
						}
						failed = keep
						break
					}
					m.apply(keep)
					acked = append(acked, keep)
				}
				// Crash: the store is abandoned mid-flight, the disk keeps
				// what was synced and a torn part of the rest.
				s.Close()
				mem.Crash(r)
				efs = wal.NewErrorFS(mem)
				opts.WALFS = efs
				s = openDiskT(t, opts)
				got := loadAll(t, s)
				want := stateOf(t, acked)
				if !reflect.DeepEqual(got, want) {
					if failed == nil || !reflect.DeepEqual(got, stateOf(t, append(slices.Clone(acked), failed))) {
						t.Fatalf("round %d: recovered state is neither the acknowledged one nor that and the failed batch", round)
					}
					m.apply(failed)
					acked = append(acked, failed)
				}
			}
			if len(acked) == 0 {
				t.Fatal("nothing acknowledged")
			}
		})
	}
}

// TestDiskCutAtEveryOffset writes batches, then cuts the WAL's active
// segment at every byte of its last frame and recovers from each cut:
// the state is exactly that of the batches whose frames are whole.
func TestDiskCutAtEveryOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 7))
	mem := wal.NewMemFS()
	opts := memDiskOptions(t, mem, 1<<20)
	opts.NoSync = true // of bbolt, which holds nothing here; MemFS keeps what it keeps
	s := openDiskT(t, opts)
	m := model{}
	var batches []*Batch
	var sizes []int
	for i := 0; i < 20; i++ {
		b := randBatch(r, m, 4)
		keep := cloneBatch(b)
		if err := s.Write(b); err != nil {
			t.Fatal(err)
		}
		m.apply(keep)
		batches = append(batches, keep)
		sizes = append(sizes, len(appendBatch(nil, keep)))
	}
	s.Close()
	seg := filepath.Join("/wal", "0000000000000000.seg")
	full, ok := mem.Bytes(seg)
	if !ok {
		t.Fatal("no segment 0")
	}
	// Frame k (0-based) occupies [start_k, start_k + 16 + size_k), 8-aligned.
	var starts []int64
	off := int64(24)
	for _, n := range sizes {
		starts = append(starts, off)
		off += (int64(16+n) + 7) / 8 * 8
	}
	wantAt := map[int]map[GroupID]GroupState{}
	for k := 18; k <= 20; k++ {
		wantAt[k] = stateOf(t, batches[:k])
	}
	for cut := starts[19]; cut <= off; cut++ {
		c := mem.Clone()
		b := slices.Clone(full)
		clear(b[cut:off])
		c.SetBytes(seg, b)
		o := opts
		o.WALFS = c
		s2, err := OpenDisk(o)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		whole := 0
		// A frame is whole if the cut left its bytes as they were (its
		// last bytes may be zeros).
		for whole < len(sizes) {
			end := starts[whole] + 16 + int64(sizes[whole])
			if end > cut && slices.ContainsFunc(full[cut:end], func(c byte) bool { return c != 0 }) {
				break
			}
			whole++
		}
		if got := loadAll(t, s2); !reflect.DeepEqual(got, wantAt[whole]) {
			for k, w := range wantAt {
				if reflect.DeepEqual(loadAll(t, s2), w) {
					t.Logf("it is that of the first %d", k)
				}
			}
			t.Fatalf("cut %d (frame 16 at %d, 17 at %d, end %d): recovered state is not that of the first %d batches", cut, starts[16], starts[17], off, whole)
		}
		s2.Close()
	}
}

// TestDiskCorruptWALIsLoud: a bit flipped in a frame that whole frames
// follow stops the store at open, naming the file.
func TestDiskCorruptWALIsLoud(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	mem := wal.NewMemFS()
	opts := memDiskOptions(t, mem, 1<<20)
	s := openDiskT(t, opts)
	m := model{}
	for i := 0; i < 10; i++ {
		b := randBatch(r, m, 3)
		m.apply(cloneBatch(b))
		if err := s.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := "/wal/0000000000000000.seg"
	b, _ := mem.Bytes(seg)
	b[24+16+1] ^= 0x40
	mem.SetBytes(seg, b)
	_, err := OpenDisk(opts)
	if !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("open: %v, want wal.ErrCorrupt", err)
	}
	t.Log(err)
}

// TestDiskOpensBoltFile: a file a BoltStore wrote opens as the checkpoint
// of a DiskStore with everything in it (a node upgrades in place).
func TestDiskOpensBoltFile(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	dir := t.TempDir()
	path := filepath.Join(dir, "node.db")
	bs := openBoltT(t, path, BoltOptions{})
	m := model{}
	var batches []*Batch
	for i := 0; i < 30; i++ {
		b := randBatch(r, m, 4)
		keep := cloneBatch(b)
		m.apply(keep)
		batches = append(batches, keep)
		if err := bs.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	bs.Close()
	ds := openDiskT(t, DiskOptions{BoltPath: path, WALDir: filepath.Join(dir, "node.wal")})
	if got, want := loadAll(t, ds), stateOf(t, batches); !reflect.DeepEqual(got, want) {
		t.Fatal("a DiskStore over a BoltStore file does not load what the BoltStore wrote")
	}
}

// TestDiskCheckpointReleasesSegments: with small segments the WAL stays a
// few segments long, the checkpoint holds the rest, and a reopen after
// many checkpoints loads everything.
func TestDiskCheckpointReleasesSegments(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	dir := t.TempDir()
	opts := DiskOptions{BoltPath: filepath.Join(dir, "node.db"), WALDir: filepath.Join(dir, "node.wal"), SegmentSize: 4096, NoSync: true}
	s := openDiskT(t, opts)
	m := model{}
	var batches []*Batch
	for i := 0; i < 400; i++ {
		b := randBatch(r, m, 6)
		keep := cloneBatch(b)
		m.apply(keep)
		batches = append(batches, keep)
		if err := s.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// The checkpointer runs beside the writes; Checkpoint waits for it and
	// takes what is left.
	if err := s.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Checkpoints == 0 {
		t.Fatalf("no checkpoint: %+v", st)
	}
	if st.Segments > 2 {
		t.Fatalf("%d WAL segments after a checkpoint: it does not release them", st.Segments)
	}
	s.Close()
	s = openDiskT(t, opts)
	if got, want := loadAll(t, s), stateOf(t, batches); !reflect.DeepEqual(got, want) {
		t.Fatal("state after checkpoints and reopen differs")
	}
}

func TestDiskFaultIsFinal(t *testing.T) {
	mem := wal.NewMemFS()
	efs := wal.NewErrorFS(mem)
	opts := memDiskOptions(t, efs, 1<<20)
	s := openDiskT(t, opts)
	if err := s.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 1, 3)})); err != nil {
		t.Fatal(err)
	}
	efs.Inject(wal.OpWrite, 1, wal.FaultNoSpace, false)
	if err := s.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 4, 4)})); err == nil {
		t.Fatal("write on a full disk succeeded")
	}
	if err := s.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 5, 5)})); err == nil || s.Err() == nil {
		t.Fatal("write after a failure succeeded")
	}
}
