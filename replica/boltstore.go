package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// BoltStore is the durable Store: one bbolt file per node (docs/design.md §4).
//
// Write applies a whole Batch, the writes of many groups, in one bbolt
// transaction: one commit (group commit across groups), which bbolt makes
// durable with two fdatasyncs, the pages then the meta page. The
// GroupWrites are applied in order, each as documented on GroupWrite, with
// the rules GroupWrite leaves open: a zero StableHint leaves the stored
// hint alone; Delete makes the other fields of its GroupWrite moot (the
// group ends up gone); any other GroupWrite, even an empty one, creates its
// group. A failed Write leaves nothing behind (bbolt rolls the transaction
// back) and, because a failed fsync means the disk can no longer be
// trusted, the store refuses every later Write with the first error: the
// caller stops the node, it never retries and carries on.
//
// Layout. A bbolt commit rewrites every page it touched, so the layout
// keeps the pages a typical batch (one or a few entries and a stable hint
// for each of many groups) touches few and small, and keeps large values
// out of pages that change often. Top-level buckets, with G the GroupID, S
// the Seq and V the view ID as 8 big-endian bytes each:
//
//	"groups"  G   → 1: the groups that exist
//	"log"     G‖S → the entry (appendEntry); one group's entries are
//	                contiguous and ascending by Seq
//	"hs"      G   → the HardState (appendHardState)
//	"stable"  G   → the stable hint (appendViewstamp)
//	"views"   G‖V → a view record (appendViewRecord); one group's records
//	                are contiguous and ascending by view ID, at most
//	                MaxViews of them (Load refuses more: lowering MaxViews
//	                would take a new format version)
//	"snap"    G   → a bucket of its own holding key "v", the last snapshot
//	                (appendSnapshot), so that no other write rewrites it
//	"quicksilver" "format" → the format version (uvarint)
//	"quicksilver" "wal"    → under a DiskStore, the LSN of the last WAL
//	                         frame the file holds (uvarint); absent: 0
//
// Appending to a group dirties the last leaf of its range of "log" (one
// page per group, plus the shared branch pages), and a stable hint one
// small shared leaf. A bucket per group holding a log sub-bucket would
// dirty about three pages per group (the log's leaf and root, the group's
// bucket page): 2.6 times the page bytes of this layout and 2.4 times
// slower in BenchmarkBoltWrite with 256 groups; and a snapshot stored as a
// key beside the hard state would be rewritten whole at every hint update.
//
// A view record is written rarely, only when the group installs a view.
// The records get a bucket of their own, one key per record: beside the
// hard states, which change at every ballot, they would fill the leaves
// that every hard-state update rewrites, and as one value per group every
// view change would rewrite all MaxViews of them. Writing one dirties the
// leaf at the high end of its group's range of "views" (for a record with
// a lower ID, the leaf it falls in) and, once the group holds MaxViews
// records, the leaf at the low end, where the lowest is deleted; a batch
// without a view record does not touch "views" at all. The trim counts
// records rather than computing a cut-off from the new ID (ID ≤ new −
// MaxViews): the IDs a member installs need not be contiguous (it may miss
// views it was not part of), and a record may arrive with a lower ID than
// kept ones, so only counting keeps exactly the MaxViews highest IDs, as
// GroupWrite says.
//
// Format versions: 1 had no "views" bucket; OpenBolt migrates a version-1
// file to version 2 in place, creating "views" and setting the version in
// one transaction. A file of any other version is refused.
//
// Values read from bbolt are copied before the read transaction ends, so
// what Load returns is the caller's. BoltStore is safe for concurrent use;
// writes are serialised (bbolt has one writer), loads run concurrently.
type BoltStore struct {
	db   *bolt.DB
	path string
	log  *slog.Logger

	// mu guards closed: Write, Load and Groups hold it shared, Close
	// exclusively, so Close waits for them.
	mu     sync.RWMutex
	closed bool

	// writeMu serialises Write so that a failure is recorded before the
	// next Write starts.
	writeMu sync.Mutex
	failed  error // first Write error; guarded by writeMu

	writes      atomic.Uint64
	groupWrites atomic.Uint64
	entries     atomic.Uint64
	bytes       atomic.Uint64
	writeNanos  atomic.Int64

	// testHookApplied, if set, runs inside the write transaction after the
	// i-th GroupWrite of a batch was applied; an error aborts the
	// transaction. Tests use it to check that a failed batch leaves nothing.
	testHookApplied func(i int) error
}

var _ Store = (*BoltStore)(nil)

// BoltOptions configures OpenBolt. The zero value is the production
// configuration.
type BoltOptions struct {
	// NoSync skips the fsync at commit. It VOIDS DURABILITY: a machine
	// crash (not just a process crash) may lose or tear acknowledged
	// writes. For tests and benchmarks only.
	NoSync bool
	// Timeout bounds the wait for the file lock, which another process
	// (or another BoltStore of this process) holding the file keeps. Zero
	// means DefaultBoltTimeout; negative waits forever.
	Timeout time.Duration
	// Logger receives open/close events and write failures. Nil discards.
	Logger *slog.Logger
}

// DefaultBoltTimeout is the file-lock wait of BoltOptions.Timeout zero.
const DefaultBoltTimeout = time.Second

// BoltStats counts what a BoltStore wrote since it was opened. Only
// committed Writes count; an empty Batch commits nothing and counts
// nothing.
type BoltStats struct {
	// Writes is the number of committed transactions: one durable commit
	// each (unless NoSync).
	Writes uint64
	// GroupWrites is the number of GroupWrites committed; GroupWrites /
	// Writes is the group-commit factor.
	GroupWrites uint64
	// Entries is the number of log entries written.
	Entries uint64
	// Bytes is the number of encoded bytes (keys and values) put.
	Bytes uint64
	// WriteTime is the time spent in committed Writes, fsync included.
	WriteTime time.Duration
	// PageBytes is the size of the pages bbolt allocated for its commits:
	// what it wrote besides the meta page, against Bytes of payload.
	PageBytes uint64
}

// boltFormatVersion is the version of the layout this code writes;
// boltFormatV1 the one it migrates (no "views" bucket).
const (
	boltFormatVersion = 2
	boltFormatV1      = 1
)

var (
	boltMetaBucket   = []byte("quicksilver")
	boltFormatKey    = []byte("format")
	boltWALKey       = []byte("wal") // DiskStore: the WAL LSN the file holds the state after
	boltGroupsBucket = []byte("groups")
	boltLogBucket    = []byte("log")
	boltHSBucket     = []byte("hs")
	boltStableBucket = []byte("stable")
	boltViewsBucket  = []byte("views")
	boltSnapBucket   = []byte("snap")
	boltSnapKey      = []byte("v")
	boltGroupMarker  = []byte{1}

	// boltBucketsV1 are the top-level buckets of format version 1;
	// boltBuckets those of the current version.
	boltBucketsV1 = [][]byte{boltGroupsBucket, boltLogBucket, boltHSBucket, boltStableBucket, boltSnapBucket}
	boltBuckets   = slices.Concat(boltBucketsV1, [][]byte{boltViewsBucket})
)

// boltLogFillPercent packs log pages tightly: a group's entries are
// appended at the high end of its range and compacted from the low end, so
// splits rarely need room. The same holds for a group's view records.
const boltLogFillPercent = 0.9

func groupKey(g GroupID) []byte { return binary.BigEndian.AppendUint64(nil, uint64(g)) }

// logKey appends the "log" key of (g, seq) to b. The "views" key of (g,
// view ID) has the same form.
func logKey(b []byte, g GroupID, seq uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(g))
	return binary.BigEndian.AppendUint64(b, seq)
}

// OpenBolt opens (creating if needed) the bbolt file at path. The file is
// locked while open: a second OpenBolt of the same file fails after
// opts.Timeout.
func OpenBolt(path string, opts BoltOptions) (*BoltStore, error) {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultBoltTimeout
	case timeout < 0:
		timeout = 0 // bbolt: wait forever
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)

	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout,
		NoSync:  opts.NoSync,
		// The freelist is rebuilt by a scan at open instead of being
		// written at every commit, and kept in a hashmap: cheaper commits
		// with a log that is appended and compacted all the time.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("replica: open bolt store %s: %w", path, err)
	}
	s := &BoltStore{db: db, path: path, log: lg}
	if created && !opts.NoSync {
		// bbolt syncs the file, not the directory entry that names it.
		if err := syncDir(filepath.Dir(path)); err != nil {
			db.Close()
			return nil, fmt.Errorf("replica: open bolt store %s: sync directory: %w", path, err)
		}
	}
	if err := s.checkFormat(); err != nil {
		db.Close()
		return nil, fmt.Errorf("replica: open bolt store %s: %w", path, err)
	}
	lg.Info("replica: bolt store opened", "path", path, "created", created, "nosync", opts.NoSync)
	if opts.NoSync {
		lg.Warn("replica: bolt store runs with NoSync: writes are not durable", "path", path)
	}
	return s, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkFormat initialises a new file, checks an existing one and migrates
// a version-1 file to the current version.
func (s *BoltStore) checkFormat() error {
	want := binary.AppendUvarint(nil, boltFormatVersion)
	v1 := binary.AppendUvarint(nil, boltFormatV1)
	var have []byte
	missing, missingV1, nonEmpty := false, false, false
	if err := s.db.View(func(tx *bolt.Tx) error {
		if mb := tx.Bucket(boltMetaBucket); mb != nil {
			have = slices.Clone(mb.Get(boltFormatKey))
		}
		for _, name := range boltBuckets {
			missing = missing || tx.Bucket(name) == nil
		}
		for _, name := range boltBucketsV1 {
			missingV1 = missingV1 || tx.Bucket(name) == nil
		}
		k, _ := tx.Cursor().First()
		nonEmpty = k != nil
		return nil
	}); err != nil {
		return err
	}
	if have == nil && nonEmpty {
		// The buckets and the version are written in one transaction.
		return fmt.Errorf("%w: a bbolt file without a format version: not a quicksilver store", ErrCorrupt)
	}
	switch {
	case have == nil:
		return s.db.Update(func(tx *bolt.Tx) error {
			for _, name := range slices.Concat(boltBuckets, [][]byte{boltMetaBucket}) {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return tx.Bucket(boltMetaBucket).Put(boltFormatKey, want)
		})
	case bytes.Equal(have, want):
		if missing {
			return fmt.Errorf("%w: a top-level bucket is missing", ErrCorrupt)
		}
		return nil
	case bytes.Equal(have, v1):
		if missingV1 {
			return fmt.Errorf("%w: format version 1: a top-level bucket is missing", ErrCorrupt)
		}
		return s.migrateV1(want)
	default:
		return fmt.Errorf("%w: format version %x, want %x (or %x, which is migrated)", ErrCorrupt, have, want, v1)
	}
}

// migrateV1 turns a version-1 file into a current one: it adds the "views"
// bucket (version 1 kept no view records, so every group starts with none)
// and sets the version, in one transaction, so a crash leaves either file.
func (s *BoltStore) migrateV1(want []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(boltViewsBucket); err != nil {
			if errors.Is(err, bolt.ErrBucketExists) {
				return fmt.Errorf("%w: format version 1 with a %q bucket", ErrCorrupt, boltViewsBucket)
			}
			return err
		}
		return tx.Bucket(boltMetaBucket).Put(boltFormatKey, want)
	})
	if err != nil {
		return fmt.Errorf("migrate format version %d to %d: %w", boltFormatV1, boltFormatVersion, err)
	}
	s.log.Info("replica: bolt store migrated", "path", s.path, "from", boltFormatV1, "to", boltFormatVersion)
	return nil
}

// Path returns the file the store was opened on.
func (s *BoltStore) Path() string { return s.path }

// Stats returns the write counters.
func (s *BoltStore) Stats() BoltStats {
	dbStats := s.db.Stats()
	return BoltStats{
		Writes:      s.writes.Load(),
		GroupWrites: s.groupWrites.Load(),
		Entries:     s.entries.Load(),
		Bytes:       s.bytes.Load(),
		WriteTime:   time.Duration(s.writeNanos.Load()),
		PageBytes:   uint64(dbStats.TxStats.GetPageAlloc()),
	}
}

// Err returns the error of the Write that failed, if one did.
func (s *BoltStore) Err() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.failed
}

// Write makes the batch durable in one transaction (one fsync). After an
// error the store refuses every later Write.
func (s *BoltStore) Write(b *Batch) error {
	if b == nil {
		return s.write(nil, 0)
	}
	return s.write([]*Batch{b}, 0)
}

// write applies the batches in order in one transaction; a non-zero
// walLSN is recorded with them (the DiskStore checkpoint: what bbolt
// holds is the state after that WAL frame).
func (s *BoltStore) write(bs []*Batch, walLSN uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.failed != nil {
		return fmt.Errorf("replica: bolt store refuses writes after a failed write: %w", s.failed)
	}
	nw := 0
	for _, b := range bs {
		nw += len(b.Writes)
	}
	if nw == 0 && walLSN == 0 {
		return nil
	}
	start := time.Now()
	var n boltWriteCounts
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = boltWriteCounts{}
		// Encoded keys and values go into one arena: bbolt keeps
		// references to them until the commit. Sub-slices stay valid when
		// append moves the arena, because the old array is left untouched.
		var arena []byte
		bk, err := openBoltBuckets(tx)
		if err != nil {
			return err
		}
		i := 0
		for _, b := range bs {
			for k := range b.Writes {
				if arena, err = bk.apply(&b.Writes[k], arena, &n); err != nil {
					return fmt.Errorf("group %d: %w", b.Writes[k].Group, err)
				}
				if s.testHookApplied != nil {
					if err := s.testHookApplied(i); err != nil {
						return err
					}
				}
				i++
			}
		}
		if walLSN != 0 {
			return tx.Bucket(boltMetaBucket).Put(boltWALKey, binary.AppendUvarint(nil, walLSN))
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("replica: bolt write of %d groups: %w", nw, err)
		s.failed = err
		s.log.Error("replica: bolt write failed; the store refuses further writes", "path", s.path, "err", err)
		return err
	}
	s.writes.Add(1)
	s.groupWrites.Add(uint64(nw))
	s.entries.Add(n.entries)
	s.bytes.Add(n.bytes)
	s.writeNanos.Add(int64(time.Since(start)))
	return nil
}

type boltWriteCounts struct {
	entries, bytes uint64
}

// boltBuckets holds the top-level buckets of one transaction.
type boltTxBuckets struct {
	groups, log, hs, stable, views, snap *bolt.Bucket
}

func openBoltBuckets(tx *bolt.Tx) (boltTxBuckets, error) {
	bk := boltTxBuckets{
		groups: tx.Bucket(boltGroupsBucket),
		log:    tx.Bucket(boltLogBucket),
		hs:     tx.Bucket(boltHSBucket),
		stable: tx.Bucket(boltStableBucket),
		views:  tx.Bucket(boltViewsBucket),
		snap:   tx.Bucket(boltSnapBucket),
	}
	if bk.groups == nil || bk.log == nil || bk.hs == nil || bk.stable == nil || bk.views == nil || bk.snap == nil {
		return bk, fmt.Errorf("%w: a top-level bucket is missing", ErrCorrupt)
	}
	bk.log.FillPercent = boltLogFillPercent
	bk.views.FillPercent = boltLogFillPercent // appended and trimmed like the log
	return bk, nil
}

// deleteLog deletes the entries of group g with from ≤ Seq ≤ to.
func (bk boltTxBuckets) deleteLog(g GroupID, from, to uint64) error {
	return deleteRange(bk.log, "log", g, from, to)
}

// deleteRange deletes the keys G‖X of group g with from ≤ X ≤ to from b, a
// bucket keyed like "log" ("log" or "views"; what names it in errors).
func deleteRange(b *bolt.Bucket, what string, g GroupID, from, to uint64) error {
	if from > to {
		return nil
	}
	seek := logKey(nil, g, from)
	c := b.Cursor()
	// Re-seek after every delete: a bbolt cursor is not to be trusted to
	// step past a key it deleted.
	for k, _ := c.Seek(seek); k != nil; k, _ = c.Seek(seek) {
		if len(k) != 16 {
			return fmt.Errorf("%w: %s key %x", ErrCorrupt, what, k)
		}
		if GroupID(binary.BigEndian.Uint64(k)) != g || binary.BigEndian.Uint64(k[8:]) > to {
			return nil
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// putView stores the view record v of group g, replacing the one with its
// ID, then keeps the MaxViews records with the highest IDs: it deletes
// every record of the group below the MaxViews-th highest (v itself when
// it is new and below MaxViews kept ones). MemStore trims the same way. key
// is v's key and val its encoding; both stay valid until the commit.
//
// The walk goes forward from the group's lowest key: deletes earlier in
// the transaction may have left empty leaves (bbolt rebalances at the
// commit), which Cursor.Next steps over but Cursor.Prev does not: walking
// down from the highest key stops at the first empty leaf as if the group
// ended there.
func (bk boltTxBuckets) putView(g GroupID, key, val []byte) error {
	if err := bk.views.Put(key, val); err != nil {
		return err
	}
	var ids []uint64 // ascending; at most MaxViews+1 unless the file is corrupt
	c := bk.views.Cursor()
	for k, _ := c.Seek(logKey(nil, g, 0)); k != nil; k, _ = c.Next() {
		if len(k) != 16 {
			return fmt.Errorf("%w: views key %x", ErrCorrupt, k)
		}
		if GroupID(binary.BigEndian.Uint64(k)) != g {
			break
		}
		ids = append(ids, binary.BigEndian.Uint64(k[8:]))
	}
	if len(ids) <= MaxViews {
		return nil
	}
	return deleteRange(bk.views, "views", g, 0, ids[len(ids)-MaxViews-1])
}

// apply applies one GroupWrite; see BoltStore for the rules. Keys and
// values are appended to arena, which the caller keeps until the commit.
func (bk boltTxBuckets) apply(w *GroupWrite, arena []byte, n *boltWriteCounts) ([]byte, error) {
	gkey := groupKey(w.Group)
	if w.Delete {
		if bk.groups.Get(gkey) == nil {
			return arena, nil
		}
		for _, b := range []*bolt.Bucket{bk.groups, bk.hs, bk.stable} {
			if err := b.Delete(gkey); err != nil {
				return arena, err
			}
		}
		if err := bk.snap.DeleteBucket(gkey); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return arena, err
		}
		if err := bk.deleteLog(w.Group, 0, math.MaxUint64); err != nil {
			return arena, fmt.Errorf("delete log: %w", err)
		}
		if err := deleteRange(bk.views, "views", w.Group, 0, math.MaxUint64); err != nil {
			return arena, fmt.Errorf("delete views: %w", err)
		}
		return arena, nil
	}
	// Put only when absent: a Put dirties the leaf even when it changes
	// nothing.
	if bk.groups.Get(gkey) == nil {
		if err := bk.groups.Put(gkey, boltGroupMarker); err != nil {
			return arena, err
		}
	}
	if w.TruncateAbove != nil && w.TruncateAbove.Seq < math.MaxUint64 {
		if err := bk.deleteLog(w.Group, w.TruncateAbove.Seq+1, math.MaxUint64); err != nil {
			return arena, fmt.Errorf("truncate log: %w", err)
		}
	}
	put := func(b *bolt.Bucket, key []byte, start int) error {
		val := arena[start:len(arena):len(arena)]
		n.bytes += uint64(len(key) + len(val))
		return b.Put(key, val)
	}
	for i := range w.Entries {
		e := &w.Entries[i]
		ks := len(arena)
		arena = logKey(arena, w.Group, e.VS.Seq)
		key := arena[ks:len(arena):len(arena)]
		vs := len(arena)
		arena = appendEntry(arena, e)
		if err := put(bk.log, key, vs); err != nil {
			return arena, fmt.Errorf("entry %v: %w", e.VS, err)
		}
		n.entries++
	}
	if w.HardState != nil {
		vs := len(arena)
		arena = appendHardState(arena, w.HardState)
		if err := put(bk.hs, gkey, vs); err != nil {
			return arena, fmt.Errorf("hard state: %w", err)
		}
	}
	if w.View != nil {
		ks := len(arena)
		arena = logKey(arena, w.Group, w.View.ID)
		key := arena[ks:len(arena):len(arena)]
		vs := len(arena)
		arena = appendViewRecord(arena, w.View)
		val := arena[vs:len(arena):len(arena)]
		n.bytes += uint64(len(key) + len(val))
		if err := bk.putView(w.Group, key, val); err != nil {
			return arena, fmt.Errorf("view %d: %w", w.View.ID, err)
		}
	}
	if w.StableHint != (groupcomm.Viewstamp{}) {
		vs := len(arena)
		arena = appendViewstamp(arena, w.StableHint)
		if err := put(bk.stable, gkey, vs); err != nil {
			return arena, fmt.Errorf("stable hint: %w", err)
		}
	}
	if w.Snapshot != nil {
		// A snapshot may be large: give it its own buffer rather than
		// growing the arena.
		val := appendSnapshot(make([]byte, 0, 1+3*binary.MaxVarintLen64+len(w.Snapshot.Dedup)+len(w.Snapshot.Data)), w.Snapshot)
		sb, err := bk.snap.CreateBucketIfNotExists(gkey)
		if err != nil {
			return arena, fmt.Errorf("snapshot: %w", err)
		}
		n.bytes += uint64(len(boltSnapKey) + len(val))
		if err := sb.Put(boltSnapKey, val); err != nil {
			return arena, fmt.Errorf("snapshot: %w", err)
		}
	}
	if w.CompactTo > 0 {
		if err := bk.deleteLog(w.Group, 0, w.CompactTo); err != nil {
			return arena, fmt.Errorf("compact log: %w", err)
		}
	}
	return arena, nil
}

// Load returns what the group stored (the zero GroupState if nothing),
// copied out of bbolt.
func (s *BoltStore) Load(g GroupID) (GroupState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return GroupState{}, ErrClosed
	}
	var st GroupState
	err := s.db.View(func(tx *bolt.Tx) error {
		bk, err := openBoltBuckets(tx)
		if err != nil {
			return err
		}
		gkey := groupKey(g)
		if bk.groups.Get(gkey) == nil {
			return nil
		}
		if v := bk.hs.Get(gkey); v != nil {
			hs, err := decodeHardState(v)
			if err != nil {
				return err
			}
			st.HardState = &hs
		}
		if v := bk.stable.Get(gkey); v != nil {
			vs, err := decodeViewstamp(v)
			if err != nil {
				return err
			}
			st.StableHint = vs
		}
		if sb := bk.snap.Bucket(gkey); sb != nil {
			sn, err := decodeSnapshot(sb.Get(boltSnapKey))
			if err != nil {
				return err
			}
			st.Snapshot = &sn
		}
		c := bk.log.Cursor()
		for k, v := c.Seek(logKey(nil, g, 0)); k != nil; k, v = c.Next() {
			if len(k) != 16 || v == nil {
				return fmt.Errorf("%w: log key %x", ErrCorrupt, k)
			}
			if GroupID(binary.BigEndian.Uint64(k)) != g {
				break
			}
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			if seq := binary.BigEndian.Uint64(k[8:]); e.VS.Seq != seq {
				return fmt.Errorf("%w: entry %v stored under seq %d", ErrCorrupt, e.VS, seq)
			}
			st.Log = append(st.Log, e)
		}
		c = bk.views.Cursor()
		for k, v := c.Seek(logKey(nil, g, 0)); k != nil; k, v = c.Next() {
			if len(k) != 16 || v == nil {
				return fmt.Errorf("%w: views key %x", ErrCorrupt, k)
			}
			if GroupID(binary.BigEndian.Uint64(k)) != g {
				break
			}
			vr, err := decodeViewRecord(v)
			if err != nil {
				return err
			}
			if id := binary.BigEndian.Uint64(k[8:]); vr.ID != id {
				return fmt.Errorf("%w: view %d stored under id %d", ErrCorrupt, vr.ID, id)
			}
			if len(st.Views) == MaxViews {
				return fmt.Errorf("%w: more than %d view records", ErrCorrupt, MaxViews)
			}
			st.Views = append(st.Views, vr)
		}
		return nil
	})
	if err != nil {
		return GroupState{}, fmt.Errorf("replica: load group %d from %s: %w", g, s.path, err)
	}
	return st, nil
}

// Groups returns the groups with stored state, ascending.
func (s *BoltStore) Groups() ([]GroupID, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	var ids []GroupID
	err := s.db.View(func(tx *bolt.Tx) error {
		gb := tx.Bucket(boltGroupsBucket)
		if gb == nil {
			return fmt.Errorf("%w: a top-level bucket is missing", ErrCorrupt)
		}
		return gb.ForEach(func(k, _ []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: group key %x", ErrCorrupt, k)
			}
			ids = append(ids, GroupID(binary.BigEndian.Uint64(k)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("replica: list groups in %s: %w", s.path, err)
	}
	return ids, nil
}

// Close waits for running calls and closes the file. Later calls but Close
// return ErrClosed.
func (s *BoltStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.db.Close()
	s.log.Info("replica: bolt store closed", "path", s.path, "err", err)
	if err != nil {
		return fmt.Errorf("replica: close bolt store %s: %w", s.path, err)
	}
	return nil
}

// walLSN returns the LSN of the last DiskStore WAL frame the file holds
// (0 if none: a file a BoltStore wrote holds the state before any frame).
func (s *BoltStore) walLSN() (uint64, error) {
	var lsn uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(boltMetaBucket).Get(boltWALKey)
		if v == nil {
			return nil
		}
		x, n := binary.Uvarint(v)
		if n != len(v) {
			return fmt.Errorf("%w: wal LSN %x", ErrCorrupt, v)
		}
		lsn = x
		return nil
	})
	return lsn, err
}
