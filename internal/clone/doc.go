// Package clone is one clone of one group on one node, without threads:
// the code path between a groupcomm core, the node's replica.Store and the
// service's replica.StateMachine — persist → apply → snapshot → truncate →
// restart, and the install of a donor's snapshot. racs runs it (its
// workers own the threads, the transport and the batching of many clones'
// writes into one fsync); the groupcomm and racs simulations run the same
// code over a replica.MemStore, so that what they check is what runs.
//
// # The caller's loop
//
//	cl, _ := clone.Restart(cfg, coreCfg, store.Load(g)) // or Bootstrap, Join
//	for cl.Core().HasReady() {
//		rd := cl.Core().Ready()
//		send(ordersOf(rd))                 // the sequencer's ORDER frames may go first
//		if w, ok := cl.Write(&rd); ok {
//			store.Write(batchOf(w))        // one fsync, with other clones' writes
//		}
//		send(othersOf(rd))
//		if snap := cl.Apply(&rd, onApplied); snap != nil {
//			store.Write(batchOf(*snap))    // before the next Apply
//		}
//		// rd.Snapshots: cl.SnapshotData() for each learner; rd.ReadStates...
//		cl.Advance(rd)
//	}
//
// A learner that received a whole snapshot calls InstallSnapshot, persists
// the write it returns, then Restored.
//
// # What the clone keeps
//
// The idempotency table (G6) is replicated state: every clone updates it
// in the same order and it travels in snapshots, so a retry with the same
// key applies once. Updates travel as Envelopes (key and update). The
// applied position is durable only through snapshots: a durable clone
// snapshots every Config.SnapshotEvery updates and compacts its log below
// the snapshot, keeping Config.LogTail entries; a restart restores the
// last snapshot and the core replays the stable log after it.
package clone
