// Package partitionmap is Quicksilver's partition map: which services
// exist, how each splits its keys into partitions (the RAPS), and which
// nodes hold the clones of each partition's group (the RACS) — plus the
// arithmetic that decides how clones move.
//
// The package is pure: no goroutines, clock, network or randomness, and
// nothing of the project is imported. The management group (package raps)
// replicates the map and calls these functions; front ends and nodes read
// it.
//
// # The model
//
// A Map is one version of the cluster's desired state, numbered by Epoch:
//
//   - Nodes: id (groupcomm's node id), zone (a failure domain), address,
//     state (active, draining, or dead since a time) and the services whose
//     code the node has.
//   - Services: a name, a partitioning — Hash (a fixed number of slots,
//     xxhash64(key) mod slots; each partition owns a contiguous slot range)
//     or Range (each partition owns a contiguous key range [start, end),
//     like the catalog's "A-C, D-F") — a partition count, the number of
//     clones (voters) per partition, and a durability (memory or disk).
//   - Partitions: service and id, the slot or key range, the racs group id
//     (unique in the cluster, never reused) and incarnation, and the clones
//     in rank order — voters, then at most one learner. Rank 0 is the
//     preferred coordinator and sequencer, as in groupcomm.
//   - The management group, which keeps the map, is placed in it too: it
//     is the one partition of the reserved system service MgmtService
//     ("_mgmt"; DefineMgmt records it), which every node offers, whose
//     voter count every change sets from the active nodes (MgmtClones: 5,
//     else 3, else all) and which Plan moves like any partition (mgmt.go).
//
// Locate maps a key to its partition in O(log partitions) without
// allocating; it is on every request's path. Keys never change partition:
// ranges and slot ranges are fixed when a service is defined, and only
// clone sets move. (Splitting and merging partitions is not supported.)
//
// # Changes: values, not mutation
//
// A Map is immutable. Every change — AddNode, SetNodeState,
// SetNodeServices, RemoveNode, DefineService, RemoveService, SetClones,
// MoveClone, MarkLearnersReady, Reincarnate, Apply and ApplyAll — is a
// method that takes the epoch the caller read and returns a new Map at
// Epoch+1, sharing every unchanged part with the old one (copy-on-write).
// So readers share a *Map across goroutines with no locks, and a holder of
// an old map still has a consistent one.
//
// Every change is a compare-and-set on the epoch (ErrStaleEpoch otherwise):
// two administrators, or an administrator and the placer, never overwrite
// each other's work; the loser re-reads and retries. Each change checks
// all of its input before anything happens and says what is wrong through
// a sentinel error (ErrUnknownService, ErrBadRanges, ErrTooFewNodes,
// ErrNodeLacksService, ErrNodeInUse, ErrMoveInProgress, ErrInvalidMove,
// …) with the details; a refused change returns no map and leaves the old
// one as it was. Each result is also run through Validate, so no change can
// publish a map that breaks an invariant even if a check above is missing.
//
// # Invariants
//
// Validate lists them all. The ones that matter most: a service's ranges
// (or slot ranges) tile its whole key (or slot) space with no gap or
// overlap; every clone is on a distinct known node that offers the
// service; a service never wants more clones than nodes offer it; group
// ids are unique; the rank-0 clone is a voter; a partition has at most one
// learner, and a learner's Replaces names a voter of the same partition.
//
// # Moves
//
// A clone moves in two steps, never by removing first:
//
//	AddLearner(node, replace r)   a learner joins and receives the state
//	(the group reports it ready)  MarkLearnersReady
//	PromoteAndRemove(node, r)     one view change: the learner votes, r leaves
//
// The promoted learner takes r's rank, so a moved sequencer's role moves
// with it. Remove drops an excess voter or cancels a learner; Lead hands
// the sequencer role (rank 0) to another voter without moving state.
// Because the learner votes in the same view that r leaves, a move never
// lowers a partition's count of live voters; it raises it when r is down.
//
// # Placement
//
// Plan(map, live nodes, policy) returns the next moves, with a reason in
// words for each, as a pure, deterministic function (everything is sorted;
// no map iteration order leaks). It plans at most one move per partition,
// so the moves are independent and can be applied in any order, one by
// one or all at once with ApplyAll. In order:
//
//  1. Finish moves in flight: promote a ready live learner (and remove the
//     voter it replaces); cancel a learner whose node is draining or dead,
//     or that adds a clone no longer wanted; otherwise wait.
//  2. Repair, most urgent first (and, among equals, the partition closest
//     to losing its majority first): re-replicate voters on nodes dead for
//     longer than Policy.DeadGrace; add clones where a partition has fewer
//     voters than its service wants; move clones off draining nodes;
//     remove excess voters (down ones first); spread a partition whose
//     zone holds more than its share (⌈voters/zones⌉) of its voters.
//  3. Rebalance each service's clones from the most to the least loaded
//     usable node, only while they differ by more than one clone (a
//     difference of one cannot be evened out) and never worsening a
//     partition's spread over zones. A new node thus fills up to about 1/N
//     of the clones, with as many relocations as clones it ends up with.
//  4. Once a service's clones are settled (nothing in flight or moved in
//     this plan), balance its sequencers the same way, with Lead moves
//     between voters of the same partition.
//
// A new clone goes to a usable node (active, live, offering the service,
// not holding the partition): the zone with the fewest of the partition's
// clones first, then the node with the fewest clones of the service, then
// (for a new sequencer) the fewest sequencers, then the fewest clones in
// all, then a hash of the group id and the node id. The hash keeps ties
// from placing every partition on the same nodes in the same zone
// combinations, which would leave later moves few choices.
//
// Safety rules, checked on every plan in the tests: no move is planned for
// a partition whose voters lack a live majority (its group cannot install
// a view, G3); a removal or promotion is planned only if both the old view
// and the new one keep a live majority (groupcomm's S10); a learner is
// promoted only when ready and live; no move goes to a node that does not
// offer the service or is not usable; at most MaxConcurrentMoves
// partitions are in transition (learners in the map, except in groups that
// are stuck without a majority, plus the plan's new moves).
//
// # The caller's duties
//
//   - Declare node deaths: SetNodeState(NodeDead, since) when the failure
//     detector gives a node up, NodeActive when it returns. Plan takes the
//     live set separately (who answers now) and only re-replicates after
//     the grace, so a rebooting node comes back to its clones.
//   - Report learners ready (MarkLearnersReady) when a group's coordinator
//     reports the learner holds its state (groupcomm's LearnerReady).
//   - Apply a plan's moves, best all at once with ApplyAll at the epoch the
//     plan was made from (on ErrStaleEpoch, plan again on the new map), and
//     make each group converge on its map entry: add the learner, then
//     promote it and remove the replaced voter in one view.
//   - Give DefineService nodes that are really up: initial placement trusts
//     NodeActive, as it has no live set.
//   - Treat a *Map as read-only, and Locate's result too.
//   - Reincarnate a partition only to accept that its state is lost (every
//     voter declared dead); it refuses otherwise.
//
// # Encodings
//
// MarshalBinary/UnmarshalBinary are a compact, versioned encoding (see
// encoding.go) for the management group's log and for subscribers; the
// decoder rejects truncated, oversized, trailing or invalid input with
// ErrDecode and never panics (FuzzUnmarshal). JSON (encoding/json and
// DecodeJSON) is for the admin API, with enums by name: "active",
// "draining", "dead", "voter", "learner", "hash", "range", "memory",
// "disk", "add_learner", "promote_and_remove", "remove", "lead".
package partitionmap
