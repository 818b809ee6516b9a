// Package raps runs partitioned services: a Reliable Array of Partitioned
// Services whose partition map the framework keeps, replicates and
// administers itself.
//
// # The pieces
//
//   - Service (service.go) is what a user writes: a name, hash or range
//     partitioning, the clones per partition, the durability, and the
//     constructor of a partition's replica.StateMachine. A node offers the
//     services it has code for; placement puts a service's clones only on
//     nodes that offer it.
//
//   - The management group is itself a racs group (group 1) whose state
//     machine (raps/mgmt) keeps the partitionmap.Map and its history.
//     Every admin change is a compare-and-set on the map's epoch. Its
//     first view comes only from an explicit bootstrap on empty disks
//     (Config.Bootstrap, the same list on every listed node; S11): a node
//     with state restarts its clone, a wiped one joins, and a node that
//     was never bootstrapped and reaches no seed holds no map and waits —
//     it never creates a second cluster.
//
//   - The map places the management group like a partition: it is the
//     one partition of the system service partitionmap.MgmtService
//     ("_mgmt", group 1, incarnation 1), which every node offers (it
//     needs no user code) and no admin call may define, resize, remove or
//     reincarnate. The bootstrap's map lists every Config.Bootstrap node
//     (as each describes itself: zone, address, services) and places the
//     group's voters on exactly them, in order — its real first view.
//     From then on its size follows the active nodes (5 voters when there
//     are at least 5, else 3 when at least 3, else all of them:
//     partitionmap.MgmtClones, set on every change), and the placer grows,
//     shrinks and re-replicates it off nodes dead past the grace with the
//     same moves and rules as any partition (a learner first, then
//     promote-and-remove; never below a live majority; within the bounded
//     concurrent moves; each move's reason in the history and the log).
//     Reconcile hosts its clone like any other, with a mgmt.StateMachine
//     of its own: a node that gains one applies every change itself and
//     stops watching others for the map; one that loses it watches again.
//     At start a node whose store holds the group's state restarts its
//     clone from it, whether Bootstrap lists it or not (so a cluster whose
//     management group moved off its bootstrap nodes restarts whole); a
//     Bootstrap node without state first asks the seeds and live nodes
//     for a map and, if one answers with it, hosts only what that map
//     places on it — only when none does it take part in creating the
//     group, and racs's creation asks the first view's members and the
//     known management members and seeds whether the group exists, so a
//     wiped bootstrap node joins and never makes a second group 1. The
//     management members a node tells others follow the map's clone set
//     (and its own clone's view).
//
//   - Node (node.go, reconcile.go) is the runtime on each node. It learns
//     new epochs (from its own management clone, else by asking a
//     management member or a seed every Poll; a node keeps the newest map
//     it saw, so its epochs only grow), registers itself, and hosts
//     exactly the clones the map places on it: a voter of a partition's
//     clone set takes part in creating the group (its first view is the
//     clone set's voters; creation is one-time, so a clone whose group
//     exists joins it), a learner joins the voters and receives the state,
//     and a clone the map no longer places here leaves its group
//     (racs.Host.RemoveGroup) and its state is deleted. A learner that
//     holds its state is reported (the map's learner Ready flag). A data
//     group's view changes never wait for the management group.
//
//   - The placer (place.go) runs on the node that sequences the
//     management group: it declares nodes unreachable for DeadAfter dead,
//     asks partitionmap.Plan for the next moves (re-replication after the
//     grace, drains, gradual rebalancing, at most MaxConcurrentMoves in
//     flight, never below a live majority) and proposes them in as few
//     changes as keep every move and its reason whole in the history's
//     summary (mgmt.MovesFit), each change's reason listing its moves;
//     each move is logged with its reason.
//
//   - Client (client.go, choose.go), the Router: key → partition (the
//     map's Locate) → group → clone. Update goes to the group's sequencer
//     (as this process's clone sees the installed view, else the map's
//     rank-0 clone, else round the other live voters; any member may
//     multicast, so a stale choice costs a hop, not an error); Query to a
//     live voter chosen by power of two choices over a predicted wait —
//     (the client's in-flight calls + the node's gossiped load + 1) × a
//     peak EWMA of the client's round trips — and hedged to a second clone
//     when slower than the recent p95 (at most a tenth of queries, from a
//     budget); Scatter queries every partition in parallel and flags
//     partial results. Each attempt is bounded (AttemptTimeout), so a dead
//     or stalled clone costs one attempt, not the caller's deadline.
//     Remote calls are request/response packets over the transport
//     (internal/rpc, wire.go); a call to a clone in this process takes no
//     hop and no encoding. Every update carries an idempotency key (the
//     caller's, or one the client makes), so the Router's retries across
//     view and epoch changes apply at most once. Errors are typed:
//     ErrNotApplied (safe to retry), ErrOutcomeUnknown, ErrUnknownService,
//     ErrBadKey. The admin calls (DefineService, SetClones, Drain,
//     MoveClone, History, Admin) are the Client's too.
//
//   - Subscribe (subscribe.go) follows a partition's ordered stream of
//     applied updates from any clone (each keeps the last Service.Retain,
//     racs.Group.Updates), resumable from a token: the call is held until
//     an update comes or a second passes (the heartbeat), and the stream
//     moves to another clone, from its last token, when its clone fails.
//     A subscriber behind the retention gets racs.ErrCompacted and
//     resyncs from a Strict query's token.
//
//   - A process that hosts no clones — the stateless front end, or any Go
//     program — makes its Router with NewClient (frontend.go): it joins
//     the transport under an id of its own, learns the map by asking the
//     management members, the seeds and the live nodes (every Poll, and at
//     once on Client.Notice of a newer gossiped epoch), and sends every
//     call over the transport; its transport hands packets to
//     Client.DeliverBatch.
//
//   - Sequencers follow the map (lead.go): a partition's preferred
//     sequencer is its rank-0 voter, which the placer balances; the node
//     whose clone sequences a group the map prefers elsewhere hands it over
//     with a Lead view change (racs Group.Lead) once the preferred node is
//     live and a voter of the view, paced per node and per group. So the
//     sequencers a crash moved to the survivors go back when the node
//     returns.
//
//   - Queries from a node's own Router draw its own clone as one of the
//     two choices (no hop unless the other is cheaper).
//
//   - Nodes and front ends that hold no management clone keep a watch
//     open over the transport (watch.go): a call the watched node holds
//     until its map is newer than the watcher's, then answers with it, so
//     a new epoch arrives one round trip after that node has it. Polling
//     (Config.Poll; an unchanged map costs a few bytes) and the epochs
//     gossiped in memberlist metadata (Config.OnEpoch, Node.Notice) stay
//     as the fallback.
//
// # Departures, for now
//
//   - A node declared dead counts at once in the management group's size
//     (it is not active): with 5 voters, the first death shrinks the
//     group to 3 live ones without waiting for the grace; the grace
//     applies to replacing a voter when the size stays.
//   - Bootstrap names its members (Config.Bootstrap, qs-node -bootstrap
//     1,2,3) instead of counting them (-bootstrap-expect N): every node of
//     the first view knows the same view without an election among
//     whoever showed up first, and a node the list does not name can only
//     join.
//
// # The caller's duties
//
// Build a racs.Host whose Config.OnCall hands calls to Node.OnCall, give
// the Node that host and its transport, the services this node has code
// for, the seeds, and on the first nodes of a new cluster the bootstrap
// list; feed the failure detector's live set (Config.Live) and its
// suspicions (racs.Host.SetSuspected); gossip Node.Load and feed the
// peers' loads back (Config.Load).
package raps
