// Package simcheck is the checker the simulations share: the groupcomm
// simulation (one group, the protocol cores driven through the clone
// component) and the racs simulation (many groups on hosts). Each records,
// for every node, a journal of what its members did (installs, deliveries,
// acceptances, restores, restarts, reads) as it happens; after a run Check
// verifies docs/design.md §3's properties P1–P14 from the journals and the healed
// state, and two that make the durable path's bugs visible before they
// lose an update: G7 (a voter holds its state; nothing is delivered
// without it) and D1 (a restarted member holds every entry it
// acknowledged that no later cut truncated). DigestMachine is the replicated service both run: a running hash
// of the applied updates, so that equal digests mean equal histories.
package simcheck
