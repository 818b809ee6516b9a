package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

const testDir = "/wal"

func openT(t *testing.T, fs FS, segSize int64, from uint64) *Log {
	t.Helper()
	l, err := Open(Options{FS: fs, Dir: testDir, SegmentSize: segSize, InlinePrealloc: true}, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func payload(lsn uint64, r *rand.Rand) []byte {
	n := r.IntN(300)
	p := make([]byte, n+8)
	copy(p, fmt.Sprintf("%08d", lsn))
	for i := 8; i < len(p); i++ {
		p[i] = byte(r.Uint32())
	}
	return p
}

func replayAll(t *testing.T, l *Log, from uint64) map[uint64][]byte {
	t.Helper()
	got := map[uint64][]byte{}
	prev := uint64(0)
	if err := l.Replay(from, ^uint64(0), func(lsn uint64, p []byte) error {
		if prev != 0 && lsn != prev+1 {
			return fmt.Errorf("LSN %d after %d", lsn, prev)
		}
		prev = lsn
		got[lsn] = bytes.Clone(p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAppendReplayReopen(t *testing.T) {
	fs := NewMemFS()
	r := rand.New(rand.NewPCG(1, 2))
	l := openT(t, fs, 1024, 1)
	want := map[uint64][]byte{}
	for i := 0; i < 200; i++ {
		p := payload(uint64(i+1), r)
		lsn, err := l.Append(p)
		if err != nil {
			t.Fatal(err)
		}
		if lsn != uint64(i+1) {
			t.Fatalf("lsn %d, want %d", lsn, i+1)
		}
		want[lsn] = p
	}
	if st := l.Stats(); st.Segments < 10 || st.Appends != 200 {
		t.Fatalf("stats %+v: want many segments", st)
	}
	l.Close()
	fs.Crash(nil) // everything was synced
	l = openT(t, fs, 1024, 1)
	got := replayAll(t, l, 1)
	if len(got) != len(want) {
		t.Fatalf("replayed %d frames, want %d", len(got), len(want))
	}
	for lsn, p := range want {
		if !bytes.Equal(got[lsn], p) {
			t.Fatalf("frame %d differs", lsn)
		}
	}
	if lsn, err := l.Append([]byte("next")); err != nil || lsn != 201 {
		t.Fatalf("append after reopen: %d %v", lsn, err)
	}
}

func TestReleaseAndFrom(t *testing.T) {
	fs := NewMemFS()
	r := rand.New(rand.NewPCG(3, 4))
	l := openT(t, fs, 1024, 1)
	for i := 0; i < 100; i++ {
		if _, err := l.Append(payload(uint64(i+1), r)); err != nil {
			t.Fatal(err)
		}
	}
	sealed := l.SealedThrough()
	if sealed == 0 || sealed >= 100 {
		t.Fatalf("sealed through %d", sealed)
	}
	if err := l.Release(sealed); err != nil {
		t.Fatal(err)
	}
	if l.Stats().Segments != 1 {
		t.Fatalf("segments after release: %d", l.Stats().Segments)
	}
	l.Close()
	l = openT(t, fs, 1024, sealed+1)
	got := replayAll(t, l, sealed+1)
	if len(got) != int(100-sealed) {
		t.Fatalf("replayed %d, want %d", len(got), 100-sealed)
	}
	l.Close()
	// A caller that needs an LSN the log released: corrupt.
	if _, err := Open(Options{FS: fs, Dir: testDir, SegmentSize: 1024, InlinePrealloc: true}, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open needing released LSNs: %v", err)
	}
	// A log released entirely starts after the caller's checkpoint.
	fs2 := NewMemFS()
	l2 := openT(t, fs2, 1024, 50)
	if lsn, err := l2.Append([]byte("x")); err != nil || lsn != 50 {
		t.Fatalf("first append at from=50: %d %v", lsn, err)
	}
}

// TestCrashAtEveryOffset writes frames, then cuts the log at every byte
// of its last frames (as a crash in the middle of the last write may
// leave it, with the preallocated zeros after), and checks that recovery
// yields exactly the frames wholly before the cut, and that the log then
// appends and recovers again.
func TestCrashAtEveryOffset(t *testing.T) {
	fs := NewMemFS()
	r := rand.New(rand.NewPCG(5, 6))
	const segSize = 4096
	l := openT(t, fs, segSize, 1)
	var ends []int64     // ends[i]: offset after frame i+1 in segment 0
	var dataEnds []int64 // the same without frame i+1's zero padding
	var frames [][]byte
	for i := 0; i < 12; i++ {
		p := payload(uint64(i+1), r)
		if _, err := l.Append(p); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, p)
		dataEnds = append(dataEnds, l.off-frameLen(len(p))+frameHeaderLen+int64(len(p)))
		ends = append(ends, l.off)
	}
	if l.Stats().Segments != 1 {
		t.Fatal("test wants one segment")
	}
	l.Close()
	name := filepath.Join(testDir, segmentName(0))
	full, _ := fs.Bytes(name)
	from := ends[8]
	for cut := from; cut <= ends[11]; cut++ {
		for _, garbage := range []bool{false, true} {
			c := fs.Clone()
			b := bytes.Clone(full)
			for i := cut; i < ends[11]; i++ {
				b[i] = 0
				if garbage {
					b[i] = byte(r.Uint32()) // torn sectors of the unsynced write
				}
			}
			c.SetBytes(name, b)
			l, err := Open(Options{FS: c, Dir: testDir, SegmentSize: segSize, InlinePrealloc: true}, 1)
			if err != nil {
				t.Fatalf("cut %d garbage %v: %v", cut, garbage, err)
			}
			whole := 0
			for whole < len(ends) && dataEnds[whole] <= cut {
				whole++
			}
			got := replayAll(t, l, 1)
			if len(got) != whole {
				t.Fatalf("cut %d garbage %v: recovered %d frames, want %d", cut, garbage, len(got), whole)
			}
			for i := 0; i < whole; i++ {
				if !bytes.Equal(got[uint64(i+1)], frames[i]) {
					t.Fatalf("cut %d: frame %d differs", cut, i+1)
				}
			}
			// The repaired log appends where the cut left it and recovers.
			if lsn, err := l.Append([]byte("after")); err != nil || lsn != uint64(whole+1) {
				t.Fatalf("cut %d: append %d %v", cut, lsn, err)
			}
			l.Close()
			c.Crash(nil)
			l, err = Open(Options{FS: c, Dir: testDir, SegmentSize: segSize, InlinePrealloc: true}, 1)
			if err != nil {
				t.Fatalf("cut %d: reopen after repair: %v", cut, err)
			}
			if got := replayAll(t, l, 1); len(got) != whole+1 || string(got[uint64(whole+1)]) != "after" {
				t.Fatalf("cut %d: after repair recovered %d frames", cut, len(got))
			}
			l.Close()
		}
	}
}

// TestCorruptionIsLoud flips a bit in a frame that whole frames follow,
// in the last segment and in an earlier one: Open fails naming the file
// and offset.
func TestCorruptionIsLoud(t *testing.T) {
	for _, seg := range []uint64{0, 1} {
		fs := NewMemFS()
		r := rand.New(rand.NewPCG(7, 8))
		l := openT(t, fs, 2048, 1)
		for i := 0; i < 15; i++ {
			if _, err := l.Append(payload(uint64(i+1), r)); err != nil {
				t.Fatal(err)
			}
		}
		if l.Stats().Segments < 2 {
			t.Fatal("want two segments")
		}
		l.Close()
		name := filepath.Join(testDir, segmentName(seg))
		b, _ := fs.Bytes(name)
		b[segmentHeaderLen+frameHeaderLen+3] ^= 1 // the first frame's payload
		fs.SetBytes(name, b)
		_, err := Open(Options{FS: fs, Dir: testDir, SegmentSize: 2048, InlinePrealloc: true}, 1)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("segment %d: open: %v, want ErrCorrupt", seg, err)
		}
		if want := fmt.Sprintf("%s offset %d", name, segmentHeaderLen); !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Fatalf("segment %d: error %q does not name %q", seg, err, want)
		}
	}
}

func TestMissingSegmentIsLoud(t *testing.T) {
	fs := NewMemFS()
	r := rand.New(rand.NewPCG(9, 10))
	l := openT(t, fs, 1024, 1)
	for i := 0; i < 60; i++ {
		if _, err := l.Append(payload(uint64(i+1), r)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if err := fs.Remove(filepath.Join(testDir, segmentName(2))); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{FS: fs, Dir: testDir, SegmentSize: 1024, InlinePrealloc: true}, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a hole: %v", err)
	}
}

// TestUndoneReleaseIsDropped: a release a crash undid leaves old
// segments below a hole; Open drops them when the caller needs none of
// their frames.
func TestUndoneReleaseIsDropped(t *testing.T) {
	fs := NewMemFS()
	r := rand.New(rand.NewPCG(11, 12))
	l := openT(t, fs, 1024, 1)
	for i := 0; i < 60; i++ {
		if _, err := l.Append(payload(uint64(i+1), r)); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	s1, s2 := *l.segs[1], *l.segs[2]
	l.mu.Unlock()
	l.Close()
	if err := fs.Remove(s1.name); err != nil { // segment 0 stays: its removal was undone
		t.Fatal(err)
	}
	l = openT(t, fs, 1024, s2.firstLSN)
	if got := replayAll(t, l, s2.firstLSN); len(got) != int(60-s2.firstLSN+1) {
		t.Fatalf("replayed %d", len(got))
	}
}

// TestFaultsAreFinal: a failed sync, a short write or a full disk fails
// the Append and every later one; what was synced before survives.
func TestFaultsAreFinal(t *testing.T) {
	for _, c := range []struct {
		op    Op
		fault Fault
	}{{OpSync, FaultEIO}, {OpWrite, FaultShortWrite}, {OpWrite, FaultNoSpace}, {OpWrite, FaultEIO}} {
		t.Run(fmt.Sprintf("%s-%d", c.op, c.fault), func(t *testing.T) {
			mem := NewMemFS()
			efs := NewErrorFS(mem)
			l := openT(t, efs, 4096, 1)
			for i := 0; i < 5; i++ {
				if _, err := l.Append([]byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			efs.Inject(c.op, 1, c.fault, false)
			if _, err := l.Append([]byte("lost")); !errors.Is(err, ErrInjected) {
				t.Fatalf("append with fault: %v", err)
			}
			if _, err := l.Append([]byte("later")); !errors.Is(err, ErrFailed) {
				t.Fatalf("append after fault: %v", err)
			}
			l.Close()
			mem.Crash(rand.New(rand.NewPCG(1, 1)))
			l = openT(t, mem, 4096, 1)
			got := replayAll(t, l, 1)
			if len(got) != 5 && len(got) != 6 {
				t.Fatalf("recovered %d frames", len(got))
			}
		})
	}
}

// TestBitFlipOnWriteIsCaught: a frame corrupted on its way to the disk
// fails its checksum at recovery; as the last frame it is a torn tail,
// with a frame after it it is corruption.
func TestBitFlipOnWriteIsCaught(t *testing.T) {
	mem := NewMemFS()
	efs := NewErrorFS(mem)
	l := openT(t, efs, 4096, 1)
	l.Append([]byte("one"))
	efs.Inject(OpWrite, 1, FaultBitFlip, false)
	l.Append([]byte("two, flipped"))
	l.Append([]byte("three"))
	l.Close()
	if _, err := Open(Options{FS: mem, Dir: testDir, SegmentSize: 4096, InlinePrealloc: true}, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
}

// TestCrashRandomized appends with random crashes that tear unsynced
// writes, and checks that every acknowledged frame survives and that the
// log is a prefix of what was appended.
func TestCrashRandomized(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		mem := NewMemFS()
		efs := NewErrorFS(mem)
		var acked [][]byte
		var from uint64 = 1
		for round := 0; round < 8; round++ {
			l, err := Open(Options{FS: efs, Dir: testDir, SegmentSize: 512 + int64(r.IntN(2048)), InlinePrealloc: true}, from)
			if err != nil {
				t.Fatalf("seed %d round %d: open: %v", seed, round, err)
			}
			got := replayAll(t, l, from)
			for lsn := from; lsn < from+uint64(len(acked))-uint64(from-1); lsn++ {
				if !bytes.Equal(got[lsn], acked[lsn-1]) {
					t.Fatalf("seed %d round %d: acknowledged frame %d lost or changed", seed, round, lsn)
				}
			}
			if last := l.LastLSN(); last > uint64(len(acked)) {
				// A frame whose Append failed may have landed: it is
				// then part of the log.
				p := got[last]
				acked = append(acked, p)
			}
			if r.IntN(3) == 0 {
				efs.Inject(OpSync, 1+r.IntN(20), FaultEIO, false)
			}
			for i := 0; i < r.IntN(40); i++ {
				p := payload(uint64(len(acked)+1), r)
				if _, err := l.Append(p); err != nil {
					break
				}
				acked = append(acked, p)
			}
			if r.IntN(2) == 0 && l.SealedThrough() > 0 {
				s := l.SealedThrough()
				l.Release(s)
				from = s + 1
			}
			l.Close()
			mem.Crash(r)
			efs = NewErrorFS(mem)
		}
	}
}

// FuzzOpen: whatever a segment holds, Open recovers a prefix or fails
// with ErrCorrupt; it never panics, and what it recovers replays.
func FuzzOpen(f *testing.F) {
	mem := NewMemFS()
	l, err := Open(Options{FS: mem, Dir: testDir, SegmentSize: 1024, InlinePrealloc: true}, 1)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		l.Append([]byte(fmt.Sprintf("frame %d", i)))
	}
	l.Close()
	seg, _ := mem.Bytes(filepath.Join(testDir, segmentName(0)))
	f.Add(seg)
	f.Add(seg[:100])
	f.Add(appendSegmentHeader(nil, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := NewMemFS()
		fs.MkdirAll(testDir)
		fs.SetBytes(filepath.Join(testDir, segmentName(0)), data)
		l, err := Open(Options{FS: fs, Dir: testDir, SegmentSize: 1024, InlinePrealloc: true}, 1)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open: %v does not wrap ErrCorrupt", err)
			}
			return
		}
		defer l.Close()
		n := uint64(0)
		if err := l.Replay(1, l.LastLSN(), func(uint64, []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != l.LastLSN() {
			t.Fatalf("replayed %d frames, last LSN %d", n, l.LastLSN())
		}
	})
}
