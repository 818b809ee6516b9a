package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures Open.
type Options struct {
	// FS is the file system; nil means OS.
	FS FS
	// Dir holds the segments (created if needed).
	Dir string
	// SegmentSize is the size each segment is created at; zero means
	// DefaultSegmentSize.
	SegmentSize int64
	// NoSync skips fdatasync. It VOIDS DURABILITY; tests and benchmarks
	// only.
	NoSync bool
	// InlinePrealloc creates the next segment in the Append that needs it
	// instead of ahead of time on a goroutine of its own: deterministic,
	// for simulations and tests.
	InlinePrealloc bool
	// Logger receives recovery repairs and failures; nil discards.
	Logger *slog.Logger
}

// DefaultSegmentSize is Options.SegmentSize zero: 32 MiB.
const DefaultSegmentSize = 32 << 20

// Sentinel errors.
var (
	// ErrCorrupt: recovery found damage that is not a torn tail; the error
	// names the file and offset. The log never skips data past it.
	ErrCorrupt = errors.New("wal: corrupt log")
	// ErrFailed: an earlier write or sync failed; the log refuses every
	// later Append (an fsync error is final).
	ErrFailed = errors.New("wal: log failed")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("wal: log closed")
)

// Stats counts what a Log did since it was opened.
type Stats struct {
	Appends     uint64        // frames written, one fdatasync each
	Bytes       uint64        // frame bytes written
	SyncTime    time.Duration // time spent in fdatasync
	Segments    int           // segments holding frames now
	Created     uint64        // segments created
	Released    uint64        // segments released
	LastLSN     uint64
	RepairedCut int64 // bytes of a torn tail cut at Open
}

// Log is a segmented write-ahead log of opaque payloads, each at an LSN.
// Append is serialised: one frame, one write, one fdatasync per call; a
// caller that wants group commit hands Append a batch. Log is safe for
// concurrent use; Replay and Release may run beside Append.
type Log struct {
	opts Options
	fs   FS
	log  *slog.Logger

	mu       sync.Mutex // guards the fields below
	segs     []*segment // ascending by index; the last is the active one
	active   File
	off      int64  // where the next frame goes in the active segment
	lastLSN  uint64 // of the last frame written
	spare    *spareSegment
	failed   error
	closed   bool
	buf      []byte
	prealloc sync.WaitGroup

	appends, bytes, created, released atomic.Uint64
	syncNanos                         atomic.Int64
	repairedCut                       int64
}

// segment is what the log knows of one segment file.
type segment struct {
	index          uint64
	name           string // full path
	firstLSN, last uint64 // LSNs of its frames; last = firstLSN-1 when none
	end            int64  // offset after its last frame
	used           bool   // holds a frame
}

type spareSegment struct {
	index uint64
	file  File
	err   error
	ready chan struct{}
}

func (o *Options) fill() {
	if o.FS == nil {
		o.FS = OS
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < segmentHeaderLen+frameHeaderLen+frameAlign {
		o.SegmentSize = segmentHeaderLen + frameHeaderLen + frameAlign
	}
	o.SegmentSize = (o.SegmentSize + frameAlign - 1) / frameAlign * frameAlign
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Open recovers the log in opts.Dir and opens it for appending. from is
// the first LSN the caller still needs (what a checkpoint does not
// cover): segments wholly below it are released, and a log that starts
// above it, or has a hole at or above it, is corrupt. A torn tail — a
// last frame of the last segment that a crash cut short, with no whole
// frame after it — is cut back; any other damage fails with ErrCorrupt,
// naming the file and offset. An empty log's next LSN is from.
func Open(opts Options, from uint64) (*Log, error) {
	opts.fill()
	l := &Log{opts: opts, fs: opts.FS, log: opts.Logger}
	if err := l.fs.MkdirAll(opts.Dir); err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", opts.Dir, err)
	}
	if err := l.recover(max(from, 1)); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("wal: open %s: %w", opts.Dir, err)
	}
	return l, nil
}

// recover reads every segment, checks it, cuts a torn tail and positions
// the log after its last frame.
func (l *Log) recover(from uint64) error {
	names, err := l.fs.List(l.opts.Dir)
	if err != nil {
		return err
	}
	var idxs []uint64
	for _, n := range names {
		if strings.HasSuffix(n, tmpSuffix) {
			// A segment being created when the node stopped.
			if err := l.fs.Remove(filepath.Join(l.opts.Dir, n)); err != nil {
				return err
			}
			continue
		}
		if idx, ok := parseSegmentName(n); ok {
			idxs = append(idxs, idx)
		}
	}
	// Read the segments; the last one holding a frame gets the torn-tail
	// rule.
	datas := make([][]byte, len(idxs))
	lastUsed := -1
	for i, idx := range idxs {
		name := filepath.Join(l.opts.Dir, segmentName(idx))
		b, err := readAll(l.fs, name)
		if err != nil {
			return err
		}
		if err := checkSegmentHeader(b, idx); err != nil {
			return fmt.Errorf("%w: %s offset 0: %v", ErrCorrupt, name, err)
		}
		datas[i] = b
		if _, _, _, st := readFrame(b, segmentHeaderLen); st != frameEnd {
			if lastUsed != i-1 {
				return fmt.Errorf("%w: %s holds frames after an unused segment", ErrCorrupt, name)
			}
			lastUsed = i
		}
	}
	expect := uint64(0) // the LSN the next frame must have; 0: any
	gapAt := -1         // the last segment whose index does not follow the one before
	for i, idx := range idxs {
		name := filepath.Join(l.opts.Dir, segmentName(idx))
		seg := &segment{index: idx, name: name}
		if i > 0 && idx != idxs[i-1]+1 {
			// A hole: the segments below it must be ones a release
			// removed whose removal a crash undid (checked below).
			gapAt, expect = i, 0
		}
		b := datas[i]
		off := int64(segmentHeaderLen)
		for {
			lsn, _, next, st := readFrame(b, off)
			if st == frameOK && expect != 0 && lsn != expect {
				return fmt.Errorf("%w: %s offset %d: frame has LSN %d, want %d", ErrCorrupt, name, off, lsn, expect)
			}
			if st != frameOK {
				if i >= lastUsed {
					if err := l.cutTail(name, b, off, st, expect); err != nil {
						return err
					}
				} else if st == frameBad {
					return fmt.Errorf("%w: %s offset %d: frame checksum or length does not hold", ErrCorrupt, name, off)
				}
				break
			}
			if !seg.used {
				seg.used, seg.firstLSN = true, lsn
			}
			seg.last, expect, off = lsn, lsn+1, next
		}
		seg.end = off
		if !seg.used {
			seg.firstLSN = expect
			seg.last = expect - 1
		}
		l.segs = append(l.segs, seg)
	}
	if gapAt > 0 {
		for _, s := range l.segs[:gapAt] {
			if s.used && s.last >= from {
				return fmt.Errorf("%w: segment %s follows %s: a segment is missing", ErrCorrupt, l.segs[gapAt].name, l.segs[gapAt-1].name)
			}
		}
		for _, s := range l.segs[:gapAt] {
			if err := l.removeSegment(s); err != nil {
				return err
			}
		}
		l.segs = l.segs[gapAt:]
	}
	// Release what the caller no longer needs; check that it has the rest.
	for len(l.segs) > 1 && l.segs[0].used && l.segs[0].last < from {
		if err := l.removeSegment(l.segs[0]); err != nil {
			return err
		}
		l.segs = l.segs[1:]
	}
	// Drop unused segments but one: the first unused becomes active.
	for len(l.segs) > 1 && !l.segs[len(l.segs)-1].used && !l.segs[len(l.segs)-2].used {
		if err := l.removeSegment(l.segs[len(l.segs)-1]); err != nil {
			return err
		}
		l.segs = l.segs[:len(l.segs)-1]
	}
	if len(l.segs) > 0 && l.segs[0].used && l.segs[0].firstLSN > from {
		return fmt.Errorf("%w: %s starts at LSN %d but LSN %d is needed", ErrCorrupt, l.segs[0].name, l.segs[0].firstLSN, from)
	}
	l.lastLSN = from - 1
	for _, s := range l.segs {
		if s.used {
			if s.last < from-1 {
				return fmt.Errorf("%w: %s ends at LSN %d, before the LSN %d the caller holds", ErrCorrupt, s.name, s.last, from-1)
			}
			l.lastLSN = s.last
		}
	}
	if len(l.segs) == 0 {
		return l.rollLocked(0)
	}
	act := l.segs[len(l.segs)-1]
	if !act.used {
		act.firstLSN, act.last = l.lastLSN+1, l.lastLSN
	}
	f, err := l.fs.OpenRW(act.name)
	if err != nil {
		return err
	}
	l.active, l.off = f, act.end
	return nil
}

// cutTail handles the end of the last segment holding frames at off: a
// torn frame (or torn sectors after the end) is zeroed and synced,
// unless a whole frame with a later LSN follows — then what is at off
// was synced once, and it is corruption.
func (l *Log) cutTail(name string, b []byte, off int64, st frameStatus, expect uint64) error {
	last := int64(len(b))
	for last > off && b[last-1] == 0 {
		last--
	}
	if last <= off {
		return nil // clean end
	}
	for p := off + frameAlign; p+frameHeaderLen <= int64(len(b)); p += frameAlign {
		if lsn, _, _, fst := readFrame(b, p); fst == frameOK && (expect == 0 || lsn >= expect) {
			return fmt.Errorf("%w: %s offset %d: a damaged frame with a whole frame (LSN %d) at offset %d after it", ErrCorrupt, name, off, lsn, p)
		}
	}
	f, err := l.fs.OpenRW(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, last-off), off); err != nil {
		return fmt.Errorf("cut torn tail of %s: %w", name, err)
	}
	if err := l.sync(f); err != nil {
		return fmt.Errorf("cut torn tail of %s: %w", name, err)
	}
	l.repairedCut += last - off
	l.log.Warn("wal: cut a torn tail", "file", name, "offset", off, "bytes", last-off, "status", st)
	return nil
}

func readAll(fs FS, name string) ([]byte, error) {
	f, err := fs.OpenRW(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

func (l *Log) sync(f File) error {
	if l.opts.NoSync {
		return nil
	}
	start := time.Now()
	err := f.Sync()
	l.syncNanos.Add(int64(time.Since(start)))
	return err
}

// Append writes payload as the next frame and makes it durable (one
// write, one fdatasync); it returns the frame's LSN. After a failure
// every later Append fails with ErrFailed.
func (l *Log) Append(payload []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	if l.failed != nil {
		return 0, fmt.Errorf("%w: %w", ErrFailed, l.failed)
	}
	n := frameLen(len(payload))
	if l.off+n > l.opts.SegmentSize && l.off > segmentHeaderLen {
		if err := l.rollLocked(l.segs[len(l.segs)-1].index + 1); err != nil {
			l.failed = err
			return 0, err
		}
	}
	lsn := l.lastLSN + 1
	l.buf = appendFrame(l.buf[:0], lsn, payload)
	if _, err := l.active.WriteAt(l.buf, l.off); err != nil {
		l.failed = fmt.Errorf("write %s offset %d: %w", l.segs[len(l.segs)-1].name, l.off, err)
		return 0, l.failed
	}
	if err := l.sync(l.active); err != nil {
		l.failed = fmt.Errorf("sync %s: %w", l.segs[len(l.segs)-1].name, err)
		return 0, l.failed
	}
	act := l.segs[len(l.segs)-1]
	if !act.used {
		act.used, act.firstLSN = true, lsn
	}
	act.last, act.end = lsn, l.off+n
	l.off += n
	if !l.opts.InlinePrealloc && l.off > l.opts.SegmentSize/2 {
		// The next segment is made while this one fills its second half:
		// not at once, so that a node that starts does not write a whole
		// segment of zeros beside its first syncs.
		l.prepareSpareLocked()
	}
	l.lastLSN = lsn
	l.appends.Add(1)
	l.bytes.Add(uint64(n))
	if cap(l.buf) > 1<<20 {
		l.buf = nil // do not keep a snapshot-sized buffer
	}
	return lsn, nil
}

// rollLocked makes segment index the active one, taking the spare if it
// is that one, else creating it.
func (l *Log) rollLocked(index uint64) error {
	var f File
	if sp := l.spare; sp != nil && sp.index == index {
		<-sp.ready // with mu held: no other Append may roll meanwhile
		l.spare = nil
		if sp.err != nil {
			return sp.err
		}
		f = sp.file
	} else {
		var err error
		if f, err = l.createSegment(index); err != nil {
			return err
		}
	}
	if l.active != nil {
		l.active.Close()
	}
	l.active, l.off = f, segmentHeaderLen
	l.segs = append(l.segs, &segment{index: index, name: filepath.Join(l.opts.Dir, segmentName(index)), firstLSN: l.lastLSN + 1, last: l.lastLSN, end: segmentHeaderLen})
	return nil
}

// prepareSpareLocked starts creating the segment after the active one.
func (l *Log) prepareSpareLocked() {
	if l.spare != nil || len(l.segs) == 0 {
		return
	}
	sp := &spareSegment{index: l.segs[len(l.segs)-1].index + 1, ready: make(chan struct{})}
	l.spare = sp
	l.prealloc.Add(1)
	go func() {
		defer l.prealloc.Done()
		sp.file, sp.err = l.createSegment(sp.index)
		close(sp.ready)
	}()
}

// createSegment creates segment index at its full size: the header, then
// zeros, synced under a temporary name and renamed into place, the
// directory synced.
func (l *Log) createSegment(index uint64) (File, error) {
	name := filepath.Join(l.opts.Dir, segmentName(index))
	tmp := name + tmpSuffix
	f, err := l.fs.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	fail := func(err error) (File, error) {
		f.Close()
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	if _, err := f.WriteAt(appendSegmentHeader(nil, index), 0); err != nil {
		return fail(err)
	}
	zeros := make([]byte, 1<<20)
	unsynced := int64(0)
	for off := int64(segmentHeaderLen); off < l.opts.SegmentSize; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), l.opts.SegmentSize-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fail(err)
		}
		if unsynced += n; unsynced >= 4<<20 {
			// Sync every 4 MiB: one flush of a whole segment would queue
			// the log's own fdatasyncs behind it.
			if err := l.sync(f); err != nil {
				return fail(err)
			}
			unsynced = 0
		}
	}
	if err := l.sync(f); err != nil {
		return fail(err)
	}
	if err := l.fs.Rename(tmp, name); err != nil {
		return fail(err)
	}
	if !l.opts.NoSync {
		if err := l.fs.SyncDir(l.opts.Dir); err != nil {
			return fail(err)
		}
	}
	l.created.Add(1)
	return f, nil
}

func (l *Log) removeSegment(s *segment) error {
	if err := l.fs.Remove(s.name); err != nil {
		return fmt.Errorf("release segment %s: %w", s.name, err)
	}
	l.released.Add(1)
	return nil
}

// Release removes the segments all of whose frames have LSN ≤ through
// (the caller's checkpoint covers them); never the active segment.
func (l *Log) Release(through uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	removed := false
	for len(l.segs) > 1 && l.segs[0].last <= through {
		if err := l.removeSegment(l.segs[0]); err != nil {
			return err
		}
		l.segs = l.segs[1:]
		removed = true
	}
	if removed && !l.opts.NoSync {
		// Not needed for safety (Open releases what a checkpoint covers
		// again), but it keeps the directory honest after a crash.
		return l.fs.SyncDir(l.opts.Dir)
	}
	return nil
}

// SealedThrough returns the LSN of the last frame in a segment that is no
// longer active (0 if none): what a checkpoint can take without racing
// Append.
func (l *Log) SealedThrough() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segs) < 2 {
		return 0
	}
	return l.segs[len(l.segs)-2].last
}

// Replay calls fn for every frame with from ≤ LSN ≤ to, in order; it
// stops at fn's first error and returns it. The payload is valid only
// during the call. It reads what Append wrote before Replay was called.
func (l *Log) Replay(from, to uint64, fn func(lsn uint64, payload []byte) error) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var segs []segment
	for _, s := range l.segs {
		if s.used && s.last >= from && s.firstLSN <= to {
			segs = append(segs, *s)
		}
	}
	l.mu.Unlock()
	for _, s := range segs {
		b, err := readAll(l.fs, s.name)
		if err != nil {
			return fmt.Errorf("wal: replay: %w", err)
		}
		for off := int64(segmentHeaderLen); off < s.end; {
			lsn, p, next, st := readFrame(b, off)
			if st != frameOK {
				return fmt.Errorf("wal: replay: %w: %s offset %d: a frame that held at open does not now", ErrCorrupt, s.name, off)
			}
			if lsn > to {
				return nil
			}
			if lsn >= from {
				if err := fn(lsn, p); err != nil {
					return err
				}
			}
			off = next
		}
	}
	return nil
}

// LastLSN returns the LSN of the last frame written (or, for an empty
// log, from-1 of Open).
func (l *Log) LastLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastLSN
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	segs, last, cut := len(l.segs), l.lastLSN, l.repairedCut
	l.mu.Unlock()
	return Stats{
		Appends: l.appends.Load(), Bytes: l.bytes.Load(), SyncTime: time.Duration(l.syncNanos.Load()),
		Segments: segs, Created: l.created.Load(), Released: l.released.Load(), LastLSN: last, RepairedCut: cut,
	}
}

// Close waits for a segment being created and closes the files.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.prealloc.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeFiles()
	return nil
}

func (l *Log) closeFiles() {
	if l.active != nil {
		l.active.Close()
		l.active = nil
	}
	if l.spare != nil {
		<-l.spare.ready
		if l.spare.file != nil {
			l.spare.file.Close()
		}
		l.spare = nil
	}
}
