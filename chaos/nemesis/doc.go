// Package nemesis injects faults into an in-process raps cluster
// (raps/rapstest) on a seeded schedule, as Jepsen's nemesis does.
//
// Plan(seed, nodes) draws a Schedule: every fault kind once, in an order
// and with targets and durations the seed chooses, then a crash of every
// node:
//
//   - kill: kill one node (a process crash: its store keeps what it
//     wrote), hold, restart it on the same data;
//   - kill2: kill two nodes at once, hold, restart both (5 nodes or more:
//     a partition may lose its majority for the hold, never for good);
//   - powerloss: a power failure of one node: its WAL disk (a wal.MemFS,
//     rapstest.WithPowerLoss) forgets or tears every write not yet
//     fsynced, the node dies, and comes back on what the disk kept;
//   - isolate: cut one node off the network, hold, heal (memnet);
//   - partition: split the nodes into a minority and a majority, hold,
//     heal;
//   - flaky: drop, duplicate and delay packets for the hold (memnet);
//   - move: move a random clone of a random partition to a node that
//     holds none of it (raps.Client.MoveClone), under load;
//   - drain: drain a node (its clones move away), then make it active
//     again;
//   - crashall: the last fault: every node loses power at once, and all
//     restart: a Disk service keeps every acknowledged update.
//
// Run executes a schedule: after each fault it heals what the fault broke
// and waits, polling with a deadline, until the cluster converged again
// (every live node on the same map, every partition's clones normal
// voters with equal digests and positions), and records how long that
// took. A schedule's Holds are real durations of the cluster's clock
// (inside a testing/synctest bubble, of the bubble's): they pace the
// faults; nothing waits on a sleep for a condition.
package nemesis
