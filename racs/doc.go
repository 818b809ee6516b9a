// Package racs runs a partition's clone group: a Reliable Array of Cloned
// Servers. A Host runs many groups on one node; each Group drives one
// groupcomm core and applies the service's replica.StateMachine.
//
// # Threads and ownership
//
// A Host has a few workers; each owns a fixed set of groups (chosen by
// group id) and is the only goroutine that touches their cores, applies
// their updates and runs their state transfers. Submit and Query may be
// called from any goroutine: Submit hands the update to the worker and
// waits for its result; Query runs on the caller's goroutine under a read
// lock that Apply never holds at the same time.
//
// # Many groups, one cost
//
// The protocol's cost is paid per node pair and per pass, not per group
// (QuickSilver's claim: "there will be a lot of groups"):
//
//   - Ticks. A worker ticks only the groups on its tick list (ticker.go):
//     a quiescent group (groupcomm's Quiescent: nothing in flight, no
//     timer that could fire) leaves the list and is handed the ticks it
//     skipped (Elapse, counted on the monotonic clock) when something
//     reaches it. A worker with an empty list wants no ticks, and a host
//     whose workers want none stops its ticker: an idle group costs no
//     CPU and sends nothing, and failure detection is per node (the
//     membership layer, fed to SetSuspected), never a heartbeat per group.
//     A node suspected for Config.RemoveSuspectedAfter ticks is proposed
//     for removal by every group this host sequences (suspect.go), so an
//     idle group that lost a follower installs its next view too.
//   - One pass, one write, one flush. A worker takes the Ready of every
//     group it touched, makes one durable write for all of them (and for
//     every other worker committing at that moment) and hands all their
//     messages to the transport in one Send.
//   - One sender per destination. The TCP transport keeps one connection
//     and one writer per peer node; each round the writer drains what
//     every group queued for that node into one buffered write, with no
//     timer (CockroachDB's processQueue, dragonboat's processMessages).
//   - One bundle per receiver. The transport hands the frames one read
//     brought to DeliverBatch, which splits them by worker and queues one
//     event per worker: a worker steps a whole bundle, then runs one pass.
//
// Regions (QSM's aggregation of the acks and stability of groups with the
// same members into one exchange per node pair) are designed but not
// built: acks and stability announcements already travel in the same
// bundles, writes and flushes as everything else between two nodes, so
// what an aggregate ack vector would save is frame headers and a
// groupcomm Step per group, not syscalls or wake-ups. It would take an
// explicit multi-group message in groupcomm (an ack vector of (group,
// viewstamp) pairs, split by the receiving host into per-group Steps),
// and is worth it when profiles of many lightly loaded groups show the
// per-message Step dominating; docs/benchmarks.md has the figures.
//
// # The Ready loop (groupcomm's contract)
//
// For every group with work, a worker takes the core's Ready, sends the
// sequencer's ORDER frames at once, persists the Ready's entries,
// truncations and HardState — the writes of all its groups, and of every
// other worker writing at the same moment, go to the Store in ONE batch
// (one fsync: group commit across groups) — then sends the other
// messages, applies the deliveries in order, and calls Advance. A failed
// write stops the groups (never retry and carry on). Memory groups skip
// the disk.
//
// # Guarantees
//
//   - Submit returns success only once the update was applied at this
//     clone, which happens only after it is stable (G2). A clone that
//     cannot reach a quorum of its view's voters (by the failure detector
//     fed to Host.SetSuspected) refuses at once with ErrNotApplied (G3).
//     A deadline after the update was handed to the group returns
//     ErrOutcomeUnknown (G6).
//   - Every update may carry an idempotency key: the replicated
//     idempotency table (part of every snapshot, bounded by
//     Config.IdempotencyWindow, expired by sequence) makes a retry with
//     the same key apply once and return the first result (G6).
//   - Query levels (G5): Any serves at once when the clone heard its
//     sequencer lately, and otherwise first confirms freshness with a
//     quorum (it becomes a Strict read); Session waits until the clone
//     applied the client's token; Strict runs a read index confirmed by a
//     quorum and waits until applied reaches it.
//   - State transfer (G7): the donor snapshots the state machine and the
//     idempotency table at its delivered position p ≥ the cut, names the
//     snapshot (p, size, crc64) and sends it in chunks, a few in flight,
//     resuming from the learner's acknowledged offset; the learner accepts
//     one snapshot id at a time, verifies the digest, restores, persists,
//     and only then tells its core, which delivers exactly the entries
//     after p.
//   - Disk groups persist a snapshot every Config.SnapshotEvery updates
//     and truncate their log below it, keeping LogTail entries and what a
//     member of the view has not acknowledged yet (up to MaxLogLag). A
//     restarted node restores the snapshot, replays the stable log and
//     comes back RECOVERING until a view change re-admits it (S7). The
//     persist → apply → snapshot → truncate → restart path is
//     internal/clone's, the very code the simulations run.
//   - An idempotency key reused with a different update is refused at
//     every clone (ErrKeyReused); the table keeps a digest of the update.
//   - "Any" reads are judged fresh at read time, on the host's monotonic
//     clock, from the moment the clone last heard its sequencer (a paused
//     or starved process serves nothing stale when it wakes); a session
//     read is never weaker than an "any" read (freshness.go).
//   - Creating a group is a one-time act: a node asked to create one that
//     holds no state first asks the other members of the first view
//     (create.go), so a restarted memory node or a wiped disk joins the
//     group as a new incarnation instead of starting view 1 again.
//   - A removed clone lingers as a ghost, answering with the decision,
//     until the new view's members acknowledged it (ghost.go).
//
// # The update stream
//
// A group with GroupConfig.Retain > 0 keeps, at each clone, its last
// Retain applied updates with their results and tokens (stream.go), and
// Group.Updates serves them after a token, waiting for the next one when
// there is none. Every clone applies the same updates under the same
// tokens, so a subscriber can move between clones at any token. A
// duplicate delivery, a retry the idempotency table answered and an
// update refused at every clone are not in the stream. A clone that
// restored a snapshot (a new learner, a rejoin) keeps only what it
// applied after it; a token older than what a clone keeps is answered
// ErrCompacted with the oldest token it can resume from.
//
// # Counters
//
// Host.Stats reports what the host did (stats.go): views installed and
// how long clones were out of NORMAL before each, updates delivered and
// the submit → apply latency of those submitted here, state transfers
// and their bytes, and every durable write's latency, entries and
// groups. Each worker counts in atomics of its own and the committer in
// its own; a latency or a size goes to a racs.Histogram (fixed
// power-of-two buckets, an atomic add each), so counting costs the
// delivery path no lock and no allocation. Stats sums them when asked
// (internal/metrics asks at every scrape).
//
// # Testing
//
// A host can also be driven without its goroutines (export_test.go), one
// step at a time, so that the racs simulation (sim_test.go: many groups on
// 3–7 hosts over memnet in a testing/synctest bubble, crashes at storage
// boundaries through replica.FaultyStore, wiped disks, partitions, cut
// links, joins) replays a seed exactly. Its journals go to
// internal/simcheck, which checks P1–P14, D1 and G7 for every group.
//
// # The caller's duties
//
// Wire a Transport (the TCP one, or internal/transport/memnet in tests)
// whose incoming packets go to Host.DeliverBatch (or Host.Deliver), feed the failure detector's
// opinions to Host.SetSuspected, and give each group its StateMachine and
// its first view (the partition map's entry) or contacts to join. Calls
// between nodes (internal/rpc) share the transport: set Config.OnCall to
// the rpc endpoint's Deliver, which the host calls on the transport's
// goroutine for every Call packet; it must not block (rpc runs each
// handler in a goroutine of its own).
package racs
