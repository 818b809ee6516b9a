// Package workload drives concurrent clients against a raps.Client and
// checks what they saw against the guarantees of docs/design.md §1, the
// way Jepsen's workloads do. Every operation is recorded (History) with
// its invocation and completion times on the monotonic clock and its
// outcome: ok, fail (certainly not applied: raps.ErrNotApplied and the
// other refusals), or unknown (a timeout or raps.ErrOutcomeUnknown: it
// may or may not have been applied, and may still be applied later, G6).
// The checkers treat an unknown update as maybe-applied, at any time after
// its invocation.
//
// Workloads (Config says how many clients each runs):
//
//   - append: each write appends a unique token to one of a few list
//     keys of the kv service. CheckAppend: every acknowledged token is in
//     the final list of every clone exactly once, no token appears twice,
//     nothing appears that was never sent or certainly failed, every
//     clone holds the same list (same order), and every strict list read
//     during the run was a prefix of the final list holding every token
//     acknowledged before the read began.
//   - register: put, get and compare-and-set on a few kv keys. Strict
//     gets and every update are checked for linearizability with
//     porcupine (CheckRegister); each client also writes a key of its own
//     and reads it back at the session level with the write's freshness
//     token, which must return the value written (read-your-writes).
//   - bank: transfers between the accounts of package chaos/bank (one
//     partition), and reads of every balance at the strict and any
//     levels: the total never changes and no balance is negative, in
//     every read and on every clone at the end (CheckBank).
//   - idem: an append sent with an idempotency key, then sent again with
//     the same key, until one attempt is acknowledged or the client gives
//     up. CheckIdem: the token is in the final list at most once, exactly
//     once if any attempt was acknowledged, and every acknowledged attempt
//     returned the first one's result.
//
// Start runs the clients until Stop; the checkers take the History and
// the final state each clone holds (read by the caller straight from each
// clone, not through the Router), and return Violations with an excerpt
// of the operations involved.
package workload
