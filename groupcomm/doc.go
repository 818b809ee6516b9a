// Package groupcomm is Quicksilver's virtual-synchrony protocol: a pure,
// deterministic state machine for one member of one clone group, shaped
// like etcd raft's RawNode. It keeps a partition's clones identical by a
// sequencer-ordered, totally ordered, SAFE multicast whose views are
// decided by single-decree Paxos over the old view's voters (close to
// Viewstamped Replication Revisited). See docs/design.md §3 for the
// rules in brief and the safety holes each rule closes (S1–S12; the
// liveness ones are L1–L11); comments in this package cite them.
//
// # Purity
//
// A Node runs no goroutine and reads no clock, network or global
// randomness. Time is Tick calls; jitter comes from Config.Seed. The
// caller (package racs) owns the goroutine, the disk and the transport.
//
// # The caller's loop
//
//	n, _ := groupcomm.Bootstrap(cfg, view1)   // or Join, or Restart
//	for {
//		select {
//		case <-ticker:    n.Tick()
//		case m := <-inbox: n.Step(m)
//		case p := <-submit: id, err := n.Multicast(p) // ErrBusy: back-pressure
//		}
//		for n.HasReady() {
//			rd := n.Ready()
//			persist(rd.TruncateAbove, rd.Entries, rd.HardState) // one fsync per node per batch
//			send(rd.Messages)        // only the sequencer's Order frames may go before the fsync
//			apply(rd.Deliveries)     // in order; skip Duplicate; then NewView, Snapshots, ReadStates
//			n.Advance(rd)
//		}
//	}
//
// A caller with many groups need not tick an idle one: while Quiescent
// reports true no timer can fire, so the caller may count the ticks and
// hand them over with Elapse before the next Step, Multicast, Propose,
// ReadIndex or Restore (racs does; the simulation runs half its seeds so).
//
// Ready documents each field's duty. In short: nothing leaves before the
// state it reports is durable (S4): an Ack after its entries, a Promise
// after the promised ballot, an Accepted after the accepted proposal and
// the entries up to its cut. A memory member skips the disk; it comes back
// after a crash as a new incarnation (Join), never with Restart.
//
// # Views and roles
//
// A view record V_w lists ranked members, each a VOTER or a LEARNER. Rank
// 0 is a voter: the coordinator and the sequencer. Q(w) = ⌊voters/2⌋+1;
// learners count in no quorum (S3). Entries are named by viewstamps
// (view, seq), compared lexicographically (S2); seqs never restart: the
// sequencer of w numbers from c_w.Seq+1, where c_w is the view's cut.
//
// # Normal case
//
//	origin --Submit--> sequencer --Order(entries, Stable)--> every member
//	member --Ack(highest gap-free persisted vs)--> sequencer
//	Stable = highest vs acked by Q(w) voters; members deliver ≤ Stable, in order.
//
// Frames carry many entries; many frames fly per member within MaxInflight;
// unacked ranges are resent after TickRTO; gaps are held and NACKed; Stable
// rides on frames and is sent alone when it advanced (L2). The window
// bounds unstable entries: Multicast returns ErrBusy beyond it (L9).
// Delivery skips entry ids already delivered (a replicated dedup table that
// travels in snapshots), so resubmissions apply once (S8).
//
// # View change (instance w decides V_{w+1})
//
//	          Prepare(b)            Promise(b, accepted, last vs)
//	proposer ───────────► voters of w ──────────────────────────► proposer
//	          Accept(b, V_{w+1}, entries)       Accepted(b)
//	proposer ───────────► voters of w and w+1 ─────────────► proposer
//	          Commit(V_{w+1}) once Q(w) of w and Q(w+1) of w+1 accepted (S10)
//	proposer ───────────► every member of w and w+1 (resent until acked)
//
// Ballots are (w, round, node) (S12); round 0 belongs to the sequencer of
// w, which skips phase 1 for planned changes (joins, promotions, leaves,
// removals, re-admissions: the fast path). A member's first Promise or
// Accepted in instance w freezes it: it acks nothing and appends no view-w
// entry until it installs a later view (S1). A member that installed a
// later view answers with the decided record (S5). Who proposes: the
// lowest-ranked voter that suspects every voter before it, after
// rank·TickVC plus jitter; a voter promises a non-sequencer only if it
// suspects the sequencer itself (L3); a member that promised someone else
// gives way for a while; a healthy sequencer that sees a rival Prepare runs
// the instance itself with a higher ballot (L11).
//
// Installing V_{w+1}: deliver the remaining entries up to the cut in view
// w, truncate everything above the cut (S2), persist the record, emit
// NewView (one per Ready), take the new role. Origins resubmit what was not
// delivered, with the same id (S8). A member missing from the new view
// answers its pending submissions ErrNotOrdered and sets Ready.Removed.
//
// Status diagram:
//
//	Bootstrap ───────────► NORMAL ── promise/accept ──► FROZEN
//	                         ▲                            │
//	                         └──── install V_{w+1} ───────┘
//	Join ─► JOINING ─► (learner, restoring) ─ Restore ─► NORMAL learner ─ promote ─► NORMAL voter
//	Restart ─► RECOVERING ── install a later view (re-admission, S7) ──► NORMAL
//	any ── install a view without this member ──► REMOVED
//
// # Joins and state transfer (G7)
//
// A joiner enters as a restoring LEARNER with a donor. It buffers and acks
// ORDER frames (for log retention only). The donor's Ready carries a
// SnapshotRequest at its delivered position p ≥ the cut; the caller sends
// the snapshot (chunked, resumable only under the same id, S9) and the
// joiner's caller restores it and calls Restore(p, dedup): the joiner then
// delivers exactly the entries after p and sends LearnerReady; only then
// may a Promote make it a voter. A learner that is not Ready within
// TickJoin is removed; one whose donor is silent asks the other voters.
//
// # Sequencer hand-off
//
// A view's sequencer is its first member; a view change keeps the old
// voters' order, so after failures the sequencer stays with the first
// survivor. Propose(Change{Kind: Lead, Member: m}) asks for a view whose
// first member is the voter m: the sequencer (or, forwarded, any member)
// puts it in its next proposal's voters at rank 0 and runs the fast path —
// the same Paxos instance and cut as any view change, the old sequencer's
// entries all in the cut, m ordering from the new view on. A Lead for the
// member that already leads is a no-op; one for a member no longer a voter
// is moot and dropped. The simulation proposes Lead changes at random
// (TestSim) and testdata/sequencer-handoff.txt scripts one.
//
// # Restart (S7, L8)
//
// Restart comes back RECOVERING: the member answers Prepare and Accept
// from its HardState, never orders or acks in the view it had, and asks
// the members of its view to re-admit it (a Readmit view change). After a
// total outage the returning voters run instance w among themselves;
// whoever installed a later view answers with it and the others walk
// forward, one record at a time: a member that got a record from a member
// in a later view asks it for the next one, and does not go quiescent,
// until it has caught up (an idle member in an old view that removed it
// later would otherwise never speak again). And a restarted member doubts
// its view — even one it installed since from a member as stale as itself
// — until a quorum of that view's voters (itself included) answer its
// NeedView from the same view, or a later record arrives: until then it
// asks every member of the view, backing off, and is never quiescent. A
// member removed while it was down learns it that way even when the
// notices of its removal went to it while it was down. A member that can no longer
// catch up from the log (it needs a
// view record or entries that were discarded) is removed and joins again
// as a learner (L9).
//
// What Restart keeps of the persisted log: the entries contiguous from the
// applied position (the run right after it, and the run that ends at the
// applied entry itself); a gap means the pieces before it are stale (a
// snapshot arrived ahead of the entries a learner had buffered). A voter
// holds every entry up to its view's cut (it could not have installed the
// view otherwise): if its log does not reach the cut, Restart fails with
// ErrLogGap rather than come back without entries it may have
// acknowledged. A learner is restoring after a restart only if it lacks
// that state (it never restored a snapshot); one that restored comes back
// with it. The caller hands back the view records it persisted
// (RestartState.History, from Ready.NewView), so that the member still
// answers a member behind it with the records it missed; and the member
// forwards the decision of its installed view to the members of the view
// before it (the proposer's resends may have died with it).
//
// A member removed from the group (or that left) lingers: it answers every
// message of its old view with the records and resends the Commit until
// each member of the new view acknowledged it; then it is Retired and the
// caller may drop it. A new sequencer tells the members the new view
// excluded, and a decision still owed to members carries over to the next
// decision, so that an idle removed member learns it was removed. A
// message addressed to an older incarnation of a member is answered with
// the records after the sender's view.
//
// # Reads (G5)
//
// CanServeAny says whether an "any" read may be served (heard from the
// sequencer within TickStale). Session reads compare a token (the group
// incarnation and a delivered seq) with Info().Delivered. ReadIndex runs a
// strict read (S6): the sequencer notes r = Stable and answers once Q(w)
// voters acked a frame sent after the read arrived; the caller serves once
// its applied position reaches r. A frozen or deposed sequencer cannot get
// that quorum: the ReadState carries ErrNoQuorum.
//
// # Departures from docs/design.md §3
//
//   - Messages from a newer view are not buffered: the receiver asks the
//     sender for the record (NeedView) and relies on the sender's resends.
//   - A durable member's submission counters carry its restart count in
//     the high bits (HardState.OriginEpoch), so a restarted member never
//     reuses an EntryID.
//   - Entries fetched from another member are taken only from a member
//     that holds the viewstamp asked for: such a log holds the one chain
//     leading to it. A fetch refused (compacted) by one member is asked of
//     the view's other voters; a member gives up (and joins again as a
//     learner) only when a quorum of them refused.
//   - A member too far behind to catch up from the log leaves and joins
//     again as a learner instead of taking a snapshot as a voter.
//   - A learner's readiness (LearnerReady) holds for the view it was sent
//     in; a ready learner says so again after each install. A member
//     promoted while restoring (which the rules above prevent) never
//     serves or delivers: it stays restoring and asks to be removed.
//   - Commit resends stop after maxCommitResends (a member gone for good
//     must not keep an idle group busy); the decision is still answered to
//     whoever asks.
//
// # Testing
//
// The scenarios and the randomized simulation live in package
// groupcomm_test (export_test.go gives them a few internals): each member
// is an internal/clone.Clone — the persist → apply → snapshot → restart
// path racs runs — over a replica.MemStore, which passes BoltStore's
// conformance suite; the harness keeps no disk semantics of its own.
// Interaction scenarios live in testdata/*.txt (datadriven); sim_test.go
// runs seeded randomized runs (crashes also in the middle of a Ready, at
// each storage boundary; frequent snapshots so that restarts replay the
// log) and internal/simcheck checks P1–P14 of docs/design.md §3 from each member's
// journal, with G7 (no voter or delivery without state) and D1 (a
// restarted member holds everything it acknowledged). TestingKnobs plant
// known bugs to show the checker fails when a rule is switched off.
package groupcomm
