// Package rpc makes request/response calls between nodes over the node's
// multiplexed transport (racs.Transport: the TCP one, one connection per
// node pair, or memnet in tests), with no HTTP between processes. The
// partitioned service's Router uses it to send a client's update to a
// partition's sequencer node and a query to a chosen clone.
//
// # Wiring
//
//	ep, err := rpc.New(rpc.Config{Self: node, Send: tr.Send, Handler: serve,
//		Errors: map[string]error{"racs.not_applied": racs.ErrNotApplied, ...}})
//	hostCfg.OnCall = ep.Deliver // racs.Host hands every Call packet to it
//	...
//	reply, err := ep.Call(ctx, to, request)
//	...
//	ep.Close() // before the transport closes
//
// # Protocol
//
// Every frame is one racs.Packet carrying a racs.Call {ID, Reply, Body}
// and Group 0 (the TCP transport's packet kind 5). ID names the exchange
// at the caller: each Call takes a fresh one (from a random start, so a
// restarted node does not reuse its previous incarnation's IDs); Reply is
// set on frames going back to the caller. Body starts with a two-byte
// header, kind then flags:
//
//	kind 1 request (caller → callee): flag bit 0 Deadline; if set, a
//	       uvarint timeout in nanoseconds (the caller's remaining time,
//	       ≥ 1); then the request body to the end of the frame.
//	kind 2 reply (callee → caller): flag bit 0 Error; if set, uvarint
//	       len(code), the error code (≤ 64 bytes), uvarint len(message),
//	       the message (≤ 1 KiB); else the reply body to the end.
//	kind 3 cancel (caller → callee): no flags, nothing more.
//
// Varints are minimal; unknown kinds and flags, a reply kind without the
// Reply bit (or the reverse), oversized strings and trailing bytes are
// malformed. A malformed frame is dropped and counted (Stats.Malformed),
// never answered: a peer speaking another version is not confused
// further. The caller's deadline travels as a relative timeout, so the
// nodes' clocks need not agree; the callee's handler context expires that
// long after the request arrived, a little after the caller's (by the
// one-way latency).
//
// # Calls
//
// Call registers a pending reply under a fresh ID, sends one request and
// waits for the reply or its context. When the context expires the caller
// gets an error wrapping context.DeadlineExceeded (the Router's "outcome
// unknown": the handler may have run); when it is cancelled, an error
// wrapping context.Canceled, and a cancel frame asks the callee to cancel
// the handler's context (best effort: the frame may be lost, or arrive
// after the handler returned). A reply that arrives after the caller gave
// up, or for an ID nobody waits for, is dropped (Stats.LateReplies). rpc
// never retries: the Router decides what is safe to retry (ErrBusy, and
// remote ErrClosed, mean the handler did not run). A call to Self neither
// encodes nor sends anything: the handler runs on the caller's goroutine,
// under the same MaxInFlight bound and context.
//
// # Serving
//
// Deliver never blocks. A request is refused at once with an ErrBusy reply
// when MaxInFlight calls are being served, with ErrTooLarge when its body
// exceeds MaxBody, and with ErrClosed after Close; otherwise its handler
// runs in a goroutine of its own with a context that ends at the caller's
// deadline, on the caller's cancel frame, or at Close. The handler's
// reply, or its error as a code and message, goes back in one frame; no
// reply is sent for a call the caller cancelled. A request that arrives
// again while it is being served is dropped (Stats.Duplicates); rpc keeps
// no memory of finished calls, so a transport that duplicates packets
// (memnet's DupRate; TCP never does) can run a handler twice.
//
// # Errors across the hop
//
// A handler's error travels as a code and its message. The code is that
// of the most specific sentinel in Config.Errors the error wraps, else one
// of this package's ("rpc.busy", "rpc.closed", "rpc.too_large",
// "rpc.deadline_exceeded", "rpc.canceled" for ErrBusy, ErrClosed,
// ErrTooLarge and the context errors), else none. The caller gets a
// *RemoteError that wraps ErrRemote and the sentinel its own table maps
// the code to, so errors.Is(err, racs.ErrNotApplied) holds at the caller
// when the handler's error wrapped it; other error chains do not cross.
// For a call to Self the RemoteError wraps the handler's error itself.
//
// # The caller's duties
//
//   - Wire Deliver to every incoming Call packet (racs.Config.OnCall does
//     it for a Host) and Send to the transport the packets leave by.
//   - Register the same error codes on every node (Config.Errors), and
//     map errors at the Router: an error wrapping context.DeadlineExceeded
//     or Canceled, or a local ErrClosed, is an unknown outcome; ErrBusy
//     and a remote ErrClosed mean the handler did not run.
//   - Give each call a deadline: without one a call to a node that never
//     answers (crashed, partitioned, its frame dropped by a full queue)
//     waits until the caller cancels it or the endpoint closes.
//   - Handlers honour their context (Close waits for them), must not
//     modify the request body nor keep it after returning, and must not
//     call Close. rpc does not recover a handler's panic.
//   - Keep MaxBody, plus MaxRequestHeader and the transport's own packet
//     header, under the transport's frame bound (tcp.Config.MaxFrameBytes):
//     a frame that is too big is dropped by the transport, and the call
//     then ends at its deadline.
//   - Close the endpoint before the transport.
package rpc
