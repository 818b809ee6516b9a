package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// Defaults of the tunable Config fields.
const (
	DefaultMaxInFlight = 256
	DefaultMaxBody     = 4 << 20
)

// Handler serves one call: from is the calling node, body the request
// (the handler must not modify it, nor keep it after returning: for a
// call to Self it is the caller's own slice). ctx ends when the caller's
// deadline passes, when the caller cancels, or when the endpoint closes.
// The reply it returns is the caller's: the handler must not modify it
// afterwards. An error travels back as its code (Config.Errors) and
// message.
type Handler func(ctx context.Context, from groupcomm.NodeID, body []byte) ([]byte, error)

// Config configures an Endpoint.
type Config struct {
	// Self is this node's id (not 0).
	Self groupcomm.NodeID
	// Send hands packets to the transport: usually the racs.Transport's
	// Send (the same transport as the node's groups). It must not block.
	Send func([]racs.Packet)
	// Handler serves the calls that reach this endpoint. Required.
	Handler Handler
	// MaxInFlight bounds the calls this endpoint serves at once (from
	// other nodes and from itself); beyond it a call is refused at once
	// with ErrBusy. Default 256.
	MaxInFlight int
	// MaxBody bounds a request this endpoint sends or serves and a reply
	// it returns (ErrTooLarge). It must leave room for the frame headers
	// (MaxRequestHeader, and the transport's) under the transport's frame
	// bound. Default 4 MiB.
	MaxBody int
	// Errors maps error codes to sentinel errors, both ways: a handler
	// error wrapping a sentinel travels as its code, and the caller's
	// error wraps the sentinel again (errors.Is works across the hop).
	// Both ends must register the same codes; a code the caller does not
	// know leaves its error wrapping ErrRemote only. Codes have 1 to 64
	// bytes and must not start with "rpc." (this package's own codes).
	Errors map[string]error
	// Logger receives events (malformed frames at Debug); nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of the tunable fields; the caller
// sets Self, Send and Handler.
func DefaultConfig() Config {
	return Config{MaxInFlight: DefaultMaxInFlight, MaxBody: DefaultMaxBody}
}

// Validate reports a configuration that cannot work (zero tunables are
// defaults, not errors).
func (c Config) Validate() error {
	switch {
	case c.Self == 0:
		return errors.New("rpc: invalid config: Self must be set")
	case c.Send == nil:
		return errors.New("rpc: invalid config: Send must be set")
	case c.Handler == nil:
		return errors.New("rpc: invalid config: Handler must be set")
	case c.MaxInFlight < 0 || c.MaxBody < 0:
		return errors.New("rpc: invalid config: negative MaxInFlight or MaxBody")
	}
	return validateCodes(c.Errors)
}

// Stats counts an endpoint's calls and frames.
type Stats struct {
	// Sent counts requests sent to other nodes; Local, calls to Self.
	Sent, Local uint64
	// Served counts handler runs for other nodes' requests.
	Served uint64
	// Busy counts calls refused for MaxInFlight (from others and Self).
	Busy uint64
	// LateReplies counts replies to no pending call: the caller gave up,
	// or the ID is unknown (dropped).
	LateReplies uint64
	// Malformed counts frames that did not decode (dropped).
	Malformed uint64
	// Duplicates counts requests that arrived again while being served
	// (dropped).
	Duplicates uint64
	// CancelsSent and CancelsReceived count cancel frames.
	CancelsSent, CancelsReceived uint64
	// InFlight is the number of calls being served now (remote and
	// local): the node's load as the Router weighs it.
	InFlight int64
}

// Endpoint makes and serves calls over a transport. Its methods are safe
// for concurrent use.
type Endpoint struct {
	cfg   Config
	log   *slog.Logger
	codes codes

	nextID   atomic.Uint64
	inflight atomic.Int64 // calls being served (remote and local)

	// ctx is the parent of every handler's context; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu struct {
		sync.Mutex
		closed  bool
		pending map[uint64]*pending
		serving map[serveKey]*serving
	}
	wg sync.WaitGroup // handler goroutines and local calls

	stats struct {
		sent, local, served, busy, late, malformed, dups atomic.Uint64
		cancelsSent, cancelsReceived                     atomic.Uint64
	}
}

// pending is a call waiting for its reply. (It is not pooled: a channel
// made in a testing/synctest bubble must not be used outside it.)
type pending struct {
	to   groupcomm.NodeID
	done chan result // capacity 1; written once, by Deliver or Close
}

type result struct {
	f   frame
	err error // set by Close
}

type serveKey struct {
	from groupcomm.NodeID
	id   uint64
}

// serving is a request whose handler runs.
type serving struct {
	cancel    context.CancelFunc
	cancelled bool // by the caller's cancel frame: no reply
}

// New returns an endpoint. Wire its Deliver as racs.Config.OnCall (or
// call it from the transport's deliver func for every Call packet).
func New(cfg Config) (*Endpoint, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := DefaultConfig()
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = d.MaxInFlight
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = d.MaxBody
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Endpoint{cfg: cfg, log: log, codes: newCodes(cfg.Errors)}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.mu.pending = make(map[uint64]*pending)
	e.mu.serving = make(map[serveKey]*serving)
	// A random first ID: a restarted node does not reuse the IDs of its
	// previous incarnation, whose late replies are then dropped.
	e.nextID.Store(rand.Uint64())
	return e, nil
}

// Stats returns the counters.
func (e *Endpoint) Stats() Stats {
	s := &e.stats
	return Stats{
		Sent: s.sent.Load(), Local: s.local.Load(), Served: s.served.Load(), Busy: s.busy.Load(),
		LateReplies: s.late.Load(), Malformed: s.malformed.Load(), Duplicates: s.dups.Load(),
		CancelsSent: s.cancelsSent.Load(), CancelsReceived: s.cancelsReceived.Load(),
		InFlight: e.inflight.Load(),
	}
}

// acquire takes one of MaxInFlight serving slots.
func (e *Endpoint) acquire() bool {
	if e.inflight.Add(1) > int64(e.cfg.MaxInFlight) {
		e.inflight.Add(-1)
		e.stats.busy.Add(1)
		return false
	}
	return true
}

func (e *Endpoint) release() { e.inflight.Add(-1) }

// Call sends body to node to and waits for the handler's reply, until
// ctx ends. It sends one request and never retries. The request carries
// ctx's remaining time, so the callee's handler context expires with the
// caller's; when ctx is cancelled (not expired) a cancel frame asks the
// callee to cancel the handler's context too (best effort). A call to
// Self runs the handler on this goroutine, encoding and sending nothing.
//
// Errors: one wrapping ctx.Err() when ctx ends first (the handler may or
// may not have run: outcome unknown); a *RemoteError (wrapping ErrRemote
// and the sentinel of its code) when the handler failed or the callee
// refused (ErrBusy, ErrClosed, ErrTooLarge); ErrTooLarge before sending
// a body over MaxBody; ErrBusy for a call to Self beyond MaxInFlight;
// ErrClosed when the endpoint is closed or closes while the call waits.
// The reply may alias the transport's buffer (never reused): it is the
// caller's.
func (e *Endpoint) Call(ctx context.Context, to groupcomm.NodeID, body []byte) ([]byte, error) {
	if len(body) > e.cfg.MaxBody {
		return nil, fmt.Errorf("%w: request of %d bytes exceeds MaxBody %d", ErrTooLarge, len(body), e.cfg.MaxBody)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rpc: call to node %d: %w", to, err)
	}
	if to == e.cfg.Self {
		return e.callLocal(ctx, body)
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, fmt.Errorf("rpc: call to node %d: %w", to, context.DeadlineExceeded)
		}
	}
	id := e.nextID.Add(1)
	p := &pending{to: to, done: make(chan result, 1)}
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: call to node %d not sent", ErrClosed, to)
	}
	e.mu.pending[id] = p
	e.mu.Unlock()

	e.send(to, id, false, newRequest(timeout, body))
	e.stats.sent.Add(1)

	select {
	case r := <-p.done:
		return e.result(to, r)
	case <-ctx.Done():
	}
	e.mu.Lock()
	_, waiting := e.mu.pending[id]
	delete(e.mu.pending, id)
	e.mu.Unlock()
	if !waiting { // the reply (or Close) came first: it is in done
		return e.result(to, <-p.done)
	}
	err := ctx.Err()
	if errors.Is(err, context.Canceled) {
		e.send(to, id, false, cancelFrame)
		e.stats.cancelsSent.Add(1)
	}
	return nil, fmt.Errorf("rpc: call to node %d: %w", to, err)
}

// result turns a reply into Call's results.
func (e *Endpoint) result(to groupcomm.NodeID, r result) ([]byte, error) {
	switch {
	case r.err != nil:
		return nil, r.err
	case r.f.isErr:
		return nil, e.codes.remote(to, r.f.code, r.f.msg)
	}
	return r.f.body, nil
}

// callLocal runs the handler for a call to Self on the caller's goroutine.
func (e *Endpoint) callLocal(ctx context.Context, body []byte) ([]byte, error) {
	self := e.cfg.Self
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: call to node %d (self) not run", ErrClosed, self)
	}
	if !e.acquire() {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: %d calls in flight at node %d (self)", ErrBusy, e.cfg.MaxInFlight, self)
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()
	defer e.release()
	e.stats.local.Add(1)

	hctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(e.ctx, cancel) // Close cancels the handler
	out, err := e.cfg.Handler(hctx, self, body)
	stop()
	cancel()
	switch {
	case err != nil:
		return nil, &RemoteError{Node: self, Code: e.codes.codeOf(err), Message: cutMessage(err.Error()), err: err}
	case len(out) > e.cfg.MaxBody:
		err := fmt.Errorf("%w: reply of %d bytes exceeds MaxBody %d", ErrTooLarge, len(out), e.cfg.MaxBody)
		return nil, &RemoteError{Node: self, Code: codeTooLarge, Message: err.Error(), err: ErrTooLarge}
	}
	return out, nil
}

// outFrame is one outgoing frame: the packet slice handed to Send and
// the Call it points to, in one allocation.
type outFrame struct {
	p [1]racs.Packet
	c racs.Call
}

// send hands one Call frame to the transport.
func (e *Endpoint) send(to groupcomm.NodeID, id uint64, reply bool, body []byte) {
	f := &outFrame{c: racs.Call{ID: id, Reply: reply, Body: body}}
	f.p[0] = racs.Packet{From: e.cfg.Self, To: to, Call: &f.c}
	e.cfg.Send(f.p[:])
}

// Deliver takes an incoming Call frame from node from: wire it as
// racs.Config.OnCall. It never blocks: a request's handler runs in a
// goroutine of its own (or is refused at once with ErrBusy), a reply goes
// to its pending call, a cancel cancels its handler's context. Malformed
// frames, and replies to no pending call, are dropped and counted. c is
// not retained; c.Body is (it must not be reused by the transport).
func (e *Endpoint) Deliver(from groupcomm.NodeID, c *racs.Call) {
	f, err := decodeFrame(c.Reply, c.Body)
	if err != nil {
		e.stats.malformed.Add(1)
		e.log.Debug("rpc: dropping malformed frame", "from", from, "id", c.ID, "err", err)
		return
	}
	switch f.kind {
	case kindReply:
		e.onReply(from, c.ID, f)
	case kindRequest:
		e.onRequest(from, c.ID, f)
	case kindCancel:
		e.onCancel(from, c.ID)
	}
}

func (e *Endpoint) onReply(from groupcomm.NodeID, id uint64, f frame) {
	e.mu.Lock()
	p := e.mu.pending[id]
	if p == nil || p.to != from {
		e.mu.Unlock()
		e.stats.late.Add(1)
		return
	}
	delete(e.mu.pending, id)
	e.mu.Unlock()
	p.done <- result{f: f}
}

func (e *Endpoint) onRequest(from groupcomm.NodeID, id uint64, f frame) {
	if len(f.body) > e.cfg.MaxBody {
		e.send(from, id, true, newErrorReply(codeTooLarge,
			fmt.Sprintf("%v: request of %d bytes exceeds MaxBody %d", ErrTooLarge, len(f.body), e.cfg.MaxBody)))
		return
	}
	key := serveKey{from, id}
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		e.send(from, id, true, newErrorReply(codeClosed, ErrClosed.Error()))
		return
	}
	if e.mu.serving[key] != nil {
		e.mu.Unlock()
		e.stats.dups.Add(1)
		return
	}
	if !e.acquire() {
		e.mu.Unlock()
		e.send(from, id, true, newErrorReply(codeBusy,
			fmt.Sprintf("%v: %d calls in flight at node %d", ErrBusy, e.cfg.MaxInFlight, e.cfg.Self)))
		return
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if f.timeout > 0 {
		ctx, cancel = context.WithTimeout(e.ctx, f.timeout)
	} else {
		ctx, cancel = context.WithCancel(e.ctx)
	}
	s := &serving{cancel: cancel}
	e.mu.serving[key] = s
	e.wg.Add(1)
	e.mu.Unlock()
	go e.serve(ctx, key, s, f.body)
}

// serve runs the handler for one request and sends its reply.
func (e *Endpoint) serve(ctx context.Context, key serveKey, s *serving, body []byte) {
	defer e.wg.Done()
	out, err := e.cfg.Handler(ctx, key.from, body)
	e.mu.Lock()
	delete(e.mu.serving, key)
	cancelled := s.cancelled
	e.mu.Unlock()
	s.cancel()
	e.release()
	e.stats.served.Add(1)
	if cancelled {
		return // the caller gave up and would drop the reply
	}
	var reply []byte
	switch {
	case err != nil:
		reply = newErrorReply(e.codes.codeOf(err), err.Error())
	case len(out) > e.cfg.MaxBody:
		reply = newErrorReply(codeTooLarge,
			fmt.Sprintf("%v: reply of %d bytes exceeds MaxBody %d", ErrTooLarge, len(out), e.cfg.MaxBody))
	default:
		reply = newReply(out)
	}
	e.send(key.from, key.id, true, reply)
}

func (e *Endpoint) onCancel(from groupcomm.NodeID, id uint64) {
	e.stats.cancelsReceived.Add(1)
	e.mu.Lock()
	if s := e.mu.serving[serveKey{from, id}]; s != nil {
		s.cancelled = true
		s.cancel()
	}
	e.mu.Unlock()
}

// Close fails every pending call with ErrClosed, cancels the context of
// every running handler and waits for them to return (handlers must
// honour their context); later requests are answered with ErrClosed and
// later replies dropped. Close is idempotent. It must not be called from
// a handler.
func (e *Endpoint) Close() {
	e.mu.Lock()
	var pend map[uint64]*pending
	if !e.mu.closed {
		e.mu.closed = true
		pend = e.mu.pending
		e.mu.pending = make(map[uint64]*pending)
	}
	e.mu.Unlock()
	e.cancel()
	for _, p := range pend {
		p.done <- result{err: fmt.Errorf("%w: call to node %d abandoned, outcome unknown", ErrClosed, p.to)}
	}
	e.wg.Wait()
}
