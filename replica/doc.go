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
// across groups, DESIGN §4). A Write error means the disk can no longer be
// trusted: the caller stops the node; it never retries and carries on.
//
// BoltStore is the real store: one bbolt file per node, with shared
// top-level buckets keyed by group (hard state, stable hint, log keyed by
// group then seq, view records keyed by group then view id, a small bucket
// per group's snapshot), so that one commit touches about one page per
// group, a hard-state update never rewrites a snapshot or a view record,
// and a view record is written only on a view change (see BoltStore's
// comment for the measurements). MemStore keeps everything in memory
// (tests, memory-durability services). FaultyStore wraps a Store and fails
// or delays the Nth write, for crash tests.
package replica
