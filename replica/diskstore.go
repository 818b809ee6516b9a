package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/replica/wal"
)

// DiskStore is the production durable Store: a write-ahead log for the hot
// path and a bbolt file for the rest (docs/design.md §4).
//
// Write encodes the whole Batch — every group's entries, truncations, hard
// states, stable hints, view records, snapshots and deletes — as one WAL
// frame and makes it durable with one write and one fdatasync (package
// wal), then applies it to an in-memory mirror (a MemStore) that Load and
// Groups answer from. A batch is therefore atomic: recovery either
// replays its frame whole or, if a crash tore it before its sync returned,
// not at all; and nothing a Write reported durable is lost.
//
// The bbolt file (BoltStore's layout) is a checkpoint of the same state:
// once a WAL segment is sealed, a checkpoint replays its frames into bbolt
// — snapshots, view records, the dedup and idempotency tables inside
// snapshots, hard states, and the log entries not yet compacted — in
// transactions that record the LSN of the last frame they hold, and then
// releases the segment. Open loads bbolt, then replays the frames after
// its LSN. A checkpoint runs on a goroutine of its own, off the write
// path (DiskOptions.InlineCheckpoint runs it inside Write, for
// deterministic simulations); Checkpoint runs one at once, and Open
// schedules one when the last run left sealed segments behind. A file a BoltStore wrote opens as a
// DiskStore checkpoint at LSN 0, so a node upgrades in place.
//
// Departure from the issue that asked for this store: it asked for
// segments to be released once every group's snapshot covers them. That
// would let one idle group with an uncompacted log pin every segment
// after its entries; instead the checkpoint moves what a segment holds
// into bbolt, so the log stays a few segments long whatever the groups
// do, at the cost of writing a log entry twice when no snapshot covered it
// before its segment sealed (busy groups compact long before that).
//
// The mirror holds every group's log since its snapshot and its last
// snapshot in memory, as the cores above it do.
//
// A failed Write or checkpoint is final: the store refuses every later
// Write with the first error, and the caller stops the node.
type DiskStore struct {
	bolt   *BoltStore
	wal    *wal.Log
	mirror *MemStore
	opts   DiskOptions
	log    *slog.Logger

	mu     sync.RWMutex // Write, Load, Groups hold it shared; Close exclusively
	closed bool

	writeMu sync.Mutex // serialises Write
	buf     []byte     // guarded by writeMu

	failed atomic.Pointer[error] // the first Write or checkpoint error

	ckptMu  sync.Mutex    // serialises checkpoints
	ckptLSN atomic.Uint64 // the LSN bbolt holds the state after
	ckptC   chan struct{}
	stop    chan struct{}
	done    chan struct{}

	writes, groupWrites, entries, bytes atomic.Uint64
	writeNanos                          atomic.Int64
	checkpoints                         atomic.Uint64
	ckptNanos                           atomic.Int64
}

var _ Store = (*DiskStore)(nil)

// DiskOptions configures OpenDisk.
type DiskOptions struct {
	// BoltPath is the bbolt file; WALDir the directory of the WAL
	// segments. Both are created if needed.
	BoltPath string
	WALDir   string
	// WALFS is the WAL's file system; nil means the operating system's.
	// Tests and simulations pass a wal.MemFS or wal.ErrorFS.
	WALFS wal.FS
	// SegmentSize is the WAL segment size; zero means
	// wal.DefaultSegmentSize.
	SegmentSize int64
	// NoSync skips every fsync. It VOIDS DURABILITY; tests and
	// benchmarks only.
	NoSync bool
	// BoltNoSync skips the fsync of the bbolt checkpoint only. UNSAFE on
	// a real machine (a checkpoint releases WAL segments); for
	// simulations whose WAL runs on a wal.MemFS and whose crashes are,
	// for bbolt, process crashes.
	BoltNoSync bool
	// InlineCheckpoint checkpoints inside the Write that seals a segment,
	// and creates WAL segments inline: no goroutine of the store's own,
	// for deterministic simulations.
	InlineCheckpoint bool
	// BoltTimeout is BoltOptions.Timeout.
	BoltTimeout time.Duration
	// Logger receives open, repair and failure events; nil discards.
	Logger *slog.Logger
}

// DiskStats counts what a DiskStore did since it was opened.
type DiskStats struct {
	// Writes is the number of durable Writes: one WAL frame and one
	// fdatasync each.
	Writes uint64
	// GroupWrites and Entries count what those Writes carried:
	// Entries / Writes is the number of log entries per fsync.
	GroupWrites, Entries uint64
	// Bytes is the number of WAL bytes written.
	Bytes uint64
	// WriteTime is the time spent in Writes; SyncTime the part of it in
	// fdatasync.
	WriteTime, SyncTime time.Duration
	// Checkpoints is the number of bbolt checkpoint transactions, and
	// CheckpointTime the time they took (off the write path).
	Checkpoints    uint64
	CheckpointTime time.Duration
	// Segments is the number of WAL segments on disk.
	Segments int
}

// OpenDisk opens (creating if needed) the store and recovers it: the
// bbolt checkpoint, then the WAL frames after it. A damaged WAL other
// than a torn tail fails with an error wrapping wal.ErrCorrupt that names
// the file and offset.
func OpenDisk(opts DiskOptions) (*DiskStore, error) {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if opts.BoltPath == "" || opts.WALDir == "" {
		return nil, errors.New("replica: open disk store: BoltPath and WALDir are required")
	}
	if err := os.MkdirAll(filepath.Dir(opts.BoltPath), 0o700); err != nil {
		return nil, fmt.Errorf("replica: open disk store: %w", err)
	}
	bs, err := OpenBolt(opts.BoltPath, BoltOptions{NoSync: opts.NoSync || opts.BoltNoSync, Timeout: opts.BoltTimeout, Logger: lg})
	if err != nil {
		return nil, err
	}
	s := &DiskStore{bolt: bs, mirror: NewMemStore(), opts: opts, log: lg, ckptC: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.recover(); err != nil {
		bs.Close()
		return nil, fmt.Errorf("replica: open disk store %s: %w", opts.WALDir, err)
	}
	if opts.InlineCheckpoint {
		close(s.done)
	} else {
		go s.runCheckpointer()
		if s.wal.SealedThrough() > s.ckptLSN.Load() {
			s.ckptC <- struct{}{} // what the last run left sealed
		}
	}
	lg.Info("replica: disk store opened", "bolt", opts.BoltPath, "wal", opts.WALDir, "checkpoint_lsn", s.ckptLSN.Load(), "last_lsn", s.wal.LastLSN())
	return s, nil
}

// recover loads the bbolt checkpoint into the mirror and replays the WAL
// after it.
func (s *DiskStore) recover() error {
	lsn, err := s.bolt.walLSN()
	if err != nil {
		return err
	}
	s.ckptLSN.Store(lsn)
	ids, err := s.bolt.Groups()
	if err != nil {
		return err
	}
	for _, id := range ids {
		st, err := s.bolt.Load(id)
		if err != nil {
			return err
		}
		s.mirror.putLocked(id, st)
	}
	w, err := wal.Open(wal.Options{FS: s.opts.WALFS, Dir: s.opts.WALDir, SegmentSize: s.opts.SegmentSize, NoSync: s.opts.NoSync, InlinePrealloc: s.opts.InlineCheckpoint, Logger: s.log}, lsn+1)
	if err != nil {
		return err
	}
	s.wal = w
	replayed := 0
	err = w.Replay(lsn+1, w.LastLSN(), func(lsn uint64, p []byte) error {
		b, err := decodeBatch(p)
		if err != nil {
			return fmt.Errorf("WAL frame %d: %w", lsn, err)
		}
		s.mirror.writeLocked(b)
		replayed++
		return nil
	})
	if err != nil {
		w.Close()
		return err
	}
	s.log.Info("replica: disk store recovered", "groups", len(ids), "frames_replayed", replayed)
	return nil
}

// Err returns the first Write or checkpoint error, if any.
func (s *DiskStore) Err() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *DiskStore) fail(err error) {
	if s.failed.CompareAndSwap(nil, &err) {
		s.log.Error("replica: disk store failed; it refuses further writes", "wal", s.opts.WALDir, "err", err)
	}
}

// Write makes the batch durable as one WAL frame (one fdatasync).
func (s *DiskStore) Write(b *Batch) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.Err(); err != nil {
		return fmt.Errorf("replica: disk store refuses writes after a failure: %w", err)
	}
	if b == nil || len(b.Writes) == 0 {
		return nil
	}
	start := time.Now()
	s.buf = appendBatch(s.buf[:0], b)
	if _, err := s.wal.Append(s.buf); err != nil {
		err = fmt.Errorf("replica: disk store write of %d groups: %w", len(b.Writes), err)
		s.fail(err)
		return err
	}
	if cap(s.buf) > 1<<20 {
		s.buf = nil
	}
	s.mirror.Write(b)
	s.writes.Add(1)
	s.groupWrites.Add(uint64(len(b.Writes)))
	for i := range b.Writes {
		s.entries.Add(uint64(len(b.Writes[i].Entries)))
	}
	s.writeNanos.Add(int64(time.Since(start)))
	if s.wal.SealedThrough() > s.ckptLSN.Load() {
		if s.opts.InlineCheckpoint {
			if err := s.checkpoint(); err != nil {
				return err
			}
		} else {
			select {
			case s.ckptC <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// maxCheckpointBytes bounds the WAL payload one checkpoint transaction
// takes, and so the memory it holds decoded.
const maxCheckpointBytes = 8 << 20

// checkpoint replays the sealed WAL frames after the checkpoint into bbolt
// and releases their segments. A failure fails the store.
func (s *DiskStore) checkpoint() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	start := time.Now()
	from, to := s.ckptLSN.Load()+1, s.wal.SealedThrough()
	if to < from {
		return nil
	}
	var pending []*Batch
	var size int
	flush := func(lsn uint64) error {
		if err := s.bolt.write(pending, lsn); err != nil {
			return err
		}
		s.ckptLSN.Store(lsn)
		s.checkpoints.Add(1)
		pending, size = pending[:0], 0
		return nil
	}
	err := s.wal.Replay(from, to, func(lsn uint64, p []byte) error {
		b, err := decodeBatch(p)
		if err != nil {
			return fmt.Errorf("WAL frame %d: %w", lsn, err)
		}
		pending = append(pending, b)
		size += len(p)
		if size >= maxCheckpointBytes || lsn == to {
			return flush(lsn)
		}
		return nil
	})
	if err == nil {
		err = s.wal.Release(to)
	}
	s.ckptNanos.Add(int64(time.Since(start)))
	if err != nil {
		err = fmt.Errorf("replica: disk store checkpoint: %w", err)
		s.fail(err)
	}
	return err
}

// Checkpoint moves every sealed WAL segment into bbolt now and releases
// it (the checkpointer does so on its own after each segment; this is for
// tests and for an operator who wants the log short, e.g. before a
// backup). A failure fails the store.
func (s *DiskStore) Checkpoint() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.Err(); err != nil {
		return err
	}
	return s.checkpoint()
}

func (s *DiskStore) runCheckpointer() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.ckptC:
			if s.Err() == nil {
				s.checkpoint()
			}
		}
	}
}

// Load returns what the group stored (the zero GroupState if nothing).
func (s *DiskStore) Load(g GroupID) (GroupState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return GroupState{}, ErrClosed
	}
	return s.mirror.Load(g)
}

// Groups returns the groups with stored state, ascending.
func (s *DiskStore) Groups() ([]GroupID, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.mirror.Groups()
}

// Stats returns the counters.
func (s *DiskStore) Stats() DiskStats {
	ws := s.wal.Stats()
	return DiskStats{
		Writes: s.writes.Load(), GroupWrites: s.groupWrites.Load(), Entries: s.entries.Load(),
		Bytes: ws.Bytes, WriteTime: time.Duration(s.writeNanos.Load()), SyncTime: ws.SyncTime,
		Checkpoints: s.checkpoints.Load(), CheckpointTime: time.Duration(s.ckptNanos.Load()), Segments: ws.Segments,
	}
}

// Paths returns the bbolt file and the WAL directory.
func (s *DiskStore) Paths() (boltPath, walDir string) { return s.opts.BoltPath, s.opts.WALDir }

// Options returns the options the store was opened with.
func (s *DiskStore) Options() DiskOptions { return s.opts }

// Close stops the checkpointer, waits for running calls and closes the
// files. Later calls but Close return ErrClosed.
func (s *DiskStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.opts.InlineCheckpoint {
		close(s.stop)
	}
	<-s.done
	s.ckptMu.Lock() // a checkpoint a Write started inline has ended
	s.ckptMu.Unlock()
	werr := s.wal.Close()
	berr := s.bolt.Close()
	s.mirror.Close()
	s.log.Info("replica: disk store closed", "wal", s.opts.WALDir)
	return errors.Join(werr, berr)
}

// DiskPaths returns the conventional bbolt file and WAL directory of a
// node's data directory.
func DiskPaths(dataDir, name string) (boltPath, walDir string) {
	return filepath.Join(dataDir, name+".db"), filepath.Join(dataDir, name+".wal")
}
