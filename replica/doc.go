// Package replica holds what a clone group persists and applies: the
// StateMachine contract a service implements, and the Store that keeps a
// node's protocol state on disk.
//
// # StateMachine
//
// A service is a StateMachine. Quicksilver calls Apply for every update in
// the group's total order, on one goroutine, after the update is stable
// (G1, G2): Apply must be deterministic — it must not read the clock,
// random numbers, the network or anything but its state and the update —
// because every clone must reach the same state. Query reads the state; it
// may run concurrently with other Query calls but never with Apply,
// Snapshot or Restore. Snapshot writes the whole state; Restore replaces
// the state with a snapshot's. Snapshots transfer state to joining clones
// and bound the log.
//
// # Store
//
// A Store persists, per group: the HardState (promised and accepted
// ballots, the installed view, the incarnation), the log since the last
// snapshot, the stable mark (a hint), the last snapshot with its position
// and dedup table, and the records of the views the member installed (the
// MaxViews with the highest ids, so that it can answer a member behind it
// with the views it missed). Write takes the writes of many groups and
// makes them durable in one transaction with one fsync (group commit
// across groups, docs/design.md §4). A Write error means the disk can no longer be
// trusted: the caller stops the node; it never retries and carries on.
//
// DiskStore is the production store: a write-ahead log (package wal) for
// the hot path and a bbolt file as its checkpoint. Write encodes the whole
// batch as one WAL frame and makes it durable with one write and one
// fdatasync into a preallocated segment (no metadata change per sync);
// checkpoints replay sealed segments into bbolt off the write path and
// release them; Open loads bbolt and replays the WAL after it, cutting a
// torn tail and stopping loudly, naming the file and offset, at any other
// damage. See DiskStore's comment for the rules and docs/benchmarks.md for
// what it costs.
//
// BoltStore is the store nodes ran before the WAL, and the checkpoint's
// layout: one bbolt file per node, with shared
// top-level buckets keyed by group (hard state, stable hint, log keyed by
// group then seq, view records keyed by group then view id, a small bucket
// per group's snapshot), so that one commit touches about one page per
// group, a hard-state update never rewrites a snapshot or a view record,
// and a view record is written only on a view change (see BoltStore's
// comment for the measurements). MemStore keeps everything in memory
// (tests, memory-durability services; DiskStore's mirror). FaultyStore
// wraps a Store and fails or delays the Nth write, for crash tests; below
// the store, wal.ErrorFS fails or corrupts single file operations and
// wal.MemFS loses what was not synced at a simulated power failure.
//
// Every Store passes one conformance suite (store_test.go) and a
// randomized model test; DiskStore also passes crash tests that tear the
// WAL at every byte of its last frames and at random syncs.
package replica
