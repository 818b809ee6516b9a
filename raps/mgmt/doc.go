// Package mgmt is the management group's replicated state machine: the
// cluster's partition map (package partitionmap) and the history of its
// changes, kept by a racs clone group on up to five nodes (docs/design.md §5 — the
// framework uses itself). It is a replica.StateMachine; the raps package
// hosts it, proposes its commands and serves its reads. Of the project it
// imports only partitionmap, so admin tools can encode commands and decode
// replies without the runtime.
//
// # State
//
// The cluster id, the current *partitionmap.Map (nil before the
// bootstrap) and the history: one Change per applied change (epoch, the
// proposer's time, op, reason, and a summary in words), the last
// MaxHistory = 10,000 of them. Maps are immutable values; each applied
// change publishes a new one at Epoch+1.
//
// # The protocol
//
// An admin change is a Command: an Op, the arguments that op takes (see
// the Op constants), and:
//
//   - Epoch, the epoch of the map the proposer read. Every change is a
//     compare-and-set on it: if the map has moved on, the change is
//     refused with partitionmap.ErrStaleEpoch and the proposer re-reads
//     and retries (a placer plans again on the new map). Two admins, or
//     an admin and the placer, never overwrite each other's work.
//   - Time, set by the proposer. Apply never reads a clock: every clone
//     applies the same bytes and must reach the same state, so anything
//     time-dependent comes in the command. It is only recorded (history);
//     a node's death time is the separate argument Since.
//   - Reason, in words, recorded in the history (≤ MaxReasonLen).
//   - Cluster, optional except for the bootstrap: if set, the command
//     applies only in that cluster (ErrWrongCluster), a guard against an
//     admin tool pointed at the wrong cluster.
//
// EncodeCommand writes a version byte and then JSON (the partitionmap
// types' JSON: enums by name, keys as strings), at most MaxCommandSize
// bytes — within groupcomm's default payload limit with the clone
// envelope. JSON because commands are rare, small, and read by people in
// logs and admin tools; the version byte lets a later encoding change.
// DecodeCommand accepts exactly what EncodeCommand can write: the right
// version, exact field names, no unknown field, no argument the op does
// not take (an argument silently ignored is a surprise for the admin who
// set it), bounded strings, times that JSON can write back; anything else
// is ErrBadCommand, never a panic (FuzzDecodeCommand).
//
// Apply decodes the command, runs the partitionmap change of its op on the
// current map and returns an encoded Result: CodeOK and the new epoch, or
// the refusal's stable code, the unchanged epoch and a message. Result.Err
// gives back an error wrapping the matching sentinel (errors.Is(err,
// partitionmap.ErrStaleEpoch), ErrBadCommand, …); the table in result.go
// maps each sentinel to its code ("stale_epoch", "unknown_service",
// "bad_ranges", "too_few_nodes", "node_lacks_service", "bad_command",
// "not_bootstrapped", "already_bootstrapped", …). Codes cross the network
// and versions and are never renamed; a code a caller does not know reads
// as ErrBadReply.
//
// # The bootstrap
//
// The map starts only with an explicit OpBootstrap, at Epoch 0: the
// cluster id (non-zero), the first data-group id (ids below it are the
// caller's, for the management group itself) and at least one node. It
// makes the first map, at epoch 1, with those nodes and no services. Any
// other command before it is refused (ErrNotBootstrapped); a second
// bootstrap is refused (ErrAlreadyBootstrapped), as it would throw every
// change away. Re-bootstrapping a cluster is a new management group on
// empty disks, never a command.
//
// # Invariants
//
//   - A refused command changes nothing: the map (the same pointer), the
//     cluster id, the history and so the snapshot stay as they were. Each
//     partitionmap change checks its whole input before it builds
//     anything, and Apply publishes only a change that succeeded.
//   - An applied change moves the epoch by exactly one and adds exactly one
//     history entry, at that epoch. So history epochs are consecutive and
//     the last is the map's; the bootstrap's entry is epoch 1.
//   - No map ⇔ cluster id 0 ⇔ empty history.
//   - Apply is deterministic: the same command sequence gives
//     byte-identical results and snapshots on every clone. Nothing reads a
//     clock or random numbers; no Go map's iteration order reaches the
//     state (the partitionmap changes sort everything; the history's
//     summaries are built from the command and the maps); times are kept
//     in UTC without a monotonic reading, whatever zone a proposer wrote.
//     TestDeterministic applies seeded random sequences to several clones,
//     one of them restored from a snapshot midway, and compares every
//     result and snapshot.
//   - A panic inside a change (a bug) is turned into a refusal with code
//     "internal" (ErrInternal) and changes nothing. A panic would recur on
//     every clone and at every replay of the log, stopping the management
//     group for good; a refusal is only a bug to fix.
//
// # Reads
//
// Map, Cluster and History may be called from any goroutine at any time,
// concurrently with Apply: the cluster id and the map are published
// together through an atomic.Pointer (maps are immutable), the history is
// copied out under a lock. A change is in History only once Map returns
// its map or a later one.
//
// Through the group (Query), a read is a small encoded Query (EncodeQuery,
// a version byte and JSON): {Kind: "map"} returns the map's epoch as a
// uvarint followed by its binary encoding (partitionmap MarshalBinary) —
// the epoch first so a holder can tell it is behind from the first bytes;
// DecodeMapReply reads it, and before the bootstrap reports
// ErrNotBootstrapped. {Kind: "history", Since, Limit} returns the JSON of
// History(Since, Limit) (DecodeHistoryReply). Anything else is
// ErrBadQuery. The map's encoding is made once per map and shared.
//
// # Snapshots
//
// Snapshot writes the cluster id, the map (binary) and the history in one
// versioned, checksummed (CRC-32C) byte string; see snapshot.go for the
// layout. Restore reads at most MaxSnapshotSize bytes and checks
// everything Apply keeps true (the invariants above, known ops, bounded
// valid UTF-8 strings, a valid map); garbage, damage or a broken invariant
// is ErrBadSnapshot, never a panic (FuzzRestore), and leaves the state as
// it was.
//
// # Change notification
//
// SetOnChange registers a function called with the new map after every
// applied change, and after a Restore that installs a map (a clone that
// catches up by state transfer must learn the map too). It runs on the
// applying goroutine, inside Apply, so it must not block or call back into
// the group: hand the map on (a one-slot channel that keeps the newest,
// an atomic) and return. Subscribers elsewhere learn epochs from the
// raps layer (subscriptions, gossip), not from here.
//
// # The caller's duties
//
//   - Propose at the epoch you read, with Time set; on ErrStaleEpoch,
//     re-read and decide again (do not just bump the epoch: the map you
//     judged is gone).
//   - After a timeout (an outcome unknown, G6), do not blindly resubmit:
//     submit with an idempotency key (racs de-duplicates it), or read the
//     history and look for your change (a unique Reason helps). The
//     compare-and-set makes an unkeyed retry of an applied change fail as
//     stale rather than apply twice.
//   - Roll out a new command version or field only once every clone of the
//     management group runs code that reads it; a clone that refused what
//     its peers applied would diverge.
//   - Bootstrap once, on empty disks; a node with state joins instead
//     (S11). Give the bootstrap the nodes that really exist.
//   - Treat every *Map this package returns as read-only.
//   - Page through a long history (History's limit) rather than asking
//     for all of it at once.
//
// Not here: the placer that runs partitionmap.Plan and proposes
// OpApplyMoves, learner-ready reports, node-death declarations, the admin
// API and subscriptions — the raps runtime around this state machine.
package mgmt
