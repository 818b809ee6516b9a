// Package fanout shares one upstream subscription (raps.Client.Subscribe)
// per partition among every local subscriber of that partition: a front
// end with a thousand readers of one topic costs the clones one stream.
//
// A Hub keeps each shared stream's last Ring events, so a subscriber that
// reconnects from a recent token (an EventSource's Last-Event-ID) resumes
// from them without a new upstream; one whose token is older than the
// ring gets an upstream of its own from that token (the clones keep
// Service.Retain updates, and answer racs.ErrCompacted beyond). A
// subscriber that does not keep up (its Buffer of events is full) is
// dropped, never waited for: its channel closes and it resumes from its
// last event. An upstream error (compacted, a bad token, the hub's end)
// is sent to every subscriber of that stream, whose channels then close.
// An upstream with no subscribers left stops.
//
// Every subscriber sees the events after its own token, in the group's
// order, once: the shared stream may have started earlier, and the hub
// skips what each subscriber already has. Heartbeats reach every
// subscriber of the stream; Watch's keep func filters the updates (the
// rooms of a chat that share a partition, say).
//
// The caller's duties: cancel the context given to New at shutdown, and
// call the stop func Watch returns when a subscriber goes away.
package fanout
