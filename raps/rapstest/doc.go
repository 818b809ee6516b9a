// Package rapstest runs an in-process raps cluster for the tests of other
// packages (the dispatcher, services built on raps): n raps.Nodes over an
// in-memory network (internal/transport/memnet), the management group
// bootstrapped on the first min(n, 3), the services defined and their
// clones converged before New returns.
//
//	c := rapstest.New(t, 3)              // kv: 4 hash partitions × 3 clones, Memory
//	fe := c.FrontEnd(100)                // a stateless Router, as qs-frontend runs it
//	res, err := fe.Update(ctx, "kv", key, kv.Encode(kv.OpPut, k, v), raps.UpdateOptions{})
//
// # What it models
//
//   - Nodes: New starts nodes 1..n; Start adds one, Kill crashes one (its
//     transport drops everything, the others' failure detectors suspect
//     it, it leaves Live), Restart brings it back on its store: a
//     replica.MemStore by default (an in-memory "disk" that survives the
//     kill), a replica.DiskStore in t.TempDir() with WithDisk, and with
//     WithPowerLoss a DiskStore whose WAL is on a strict in-memory disk
//     (wal.MemFS) behind a replica.FaultyStore: PowerFail loses every
//     write not yet fsynced, Faulty(id) slows or fails writes.
//   - The failure detector is Cluster.Live (the nodes not killed); memnet
//     faults (Net().Partition, Isolate, Cut, Heal) do not change it, as a
//     real detector lags a real partition.
//   - FrontEnd(id) starts a raps.Client with NewClient on its own memnet
//     endpoint (seeds: the bootstrap nodes; live: Live), closed by
//     t.Cleanup.
//
// # Time
//
// The cluster uses the time package only, so it runs on the real clock
// (for tests that use real sockets, such as net/http/httptest) or, built
// inside a testing/synctest bubble, on the bubble's fake clock. WaitFor
// polls a condition until a deadline; nothing sleeps to synchronize.
//
// Close (registered with t.Cleanup by New) stops the front ends, the
// nodes and the network.
package rapstest
