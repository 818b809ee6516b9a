// Package wal is a segmented write-ahead log: the hot path of a node's
// durable state (replica.DiskStore writes one frame per batch of every
// group's log entries, truncations and hard states).
//
// # Writing
//
// Append writes one frame — a CRC-32C, a length, an LSN and the payload —
// at the end of the active segment with one write and makes it durable
// with one fdatasync. Segments are created ahead of time (on a goroutine,
// while the one before fills its second half) at their full size,
// zero-filled and synced a few MiB at a time, under a temporary name
// renamed into place with the directory synced; a frame written into one therefore changes no
// file metadata, and its fdatasync writes data blocks only. A frame that
// does not fit goes to the next segment; one larger than a segment gets a
// segment of its own, which grows. Append is serialised and never writes
// a frame before the previous one is synced: a caller that wants group
// commit (racs's committer does) hands it everything that waits as one
// payload, so each sync carries what arrived while the previous one was in
// flight.
//
// # Recovering
//
// Open reads every segment. In the last segment holding frames, the end is
// where the frames stop; a damaged frame there is a torn tail — the write
// a crash interrupted before its fdatasync returned, so nobody was told it
// was durable — and is cut back (zeroed and synced) together with any
// torn sectors after it. Because a frame is written only after the one
// before it was synced, a whole frame after a damaged one proves the
// damaged one had been synced: that, a damaged frame in any earlier
// segment, a bad segment header, an LSN out of sequence or a missing
// segment is corruption, and Open fails with ErrCorrupt naming the file
// and offset. It never skips data. (A synced last frame that the disk
// later damages cannot be told from a torn one; the checksum catches it
// and it is cut, as etcd's WAL does.)
//
// # Releasing
//
// The caller keeps a checkpoint elsewhere (DiskStore: bbolt) and tells
// Release the LSN it covers; whole segments below it are removed. Open
// takes the first LSN the caller needs and drops segments below it whose
// removal a crash undid.
//
// # Faults
//
// FS abstracts the file system: OS for production, MemFS (strict: a
// crash keeps only what was synced, or tears unsynced writes at sectors)
// and ErrorFS (short writes, fsync errors, a full disk, bit flips), after
// pebble's vfs and vfs/errorfs. After a failed write or sync the log
// refuses every later Append: an fsync error is final.
package wal
