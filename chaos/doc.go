// Package chaos is the in-process fault suite (issue 13, depth a): the
// workloads of package chaos/workload run against a 5-node
// raps/rapstest cluster — the kv service (4 partitions × 3 clones) and the
// chaos/bank service (1 partition × 3 clones), both Disk, each node's WAL
// on a strict in-memory disk that a power failure truncates to what was
// fsynced (rapstest.WithPowerLoss) — while package chaos/nemesis runs a
// seeded schedule of faults: kills (one node, two at once), a power loss,
// an isolated node, a minority|majority split, a flaky network (drops,
// duplicates, delays), a clone move and a drain under load, and finally
// a power loss of every node at once and a restart of all.
//
// At the end RunSeed stops the clients, waits for the cluster to
// converge, reads every clone's final state straight from the clone,
// compares every partition's digests and applied positions across its
// clones, and runs the checkers: no acknowledged update lost, none
// duplicated, nothing never sent; linearizable strict reads and updates
// (porcupine); read-your-writes for session reads; a bank total that
// never changes; idempotent retries applied once.
//
// TestFaultSuite runs three fixed seeds, each inside a testing/synctest
// bubble (the cluster's clock is the bubble's: a fault's hold of seconds
// costs no wall time), logs each seed's schedule, steps and figures, and
// fails with the seed, a replay command and an excerpt of the history on
// any violation, leaving the history (history.txt) and porcupine's
// visualization (register.html) in the test's artifact directory
// (go test -artifacts). -chaos.seeds=7,8 runs other seeds.
package chaos
