package racs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Level is the consistency level of a query (G5).
type Level uint8

const (
	// Any: any ready clone, by load (the default).
	Any Level = iota
	// Session: a clone whose applied position has reached the token.
	Session
	// Strict: linearizable, through a read index confirmed by a quorum.
	Strict
)

// Token is a freshness token: the group incarnation and a delivered seq.
type Token struct {
	Incarnation uint64
	Seq         uint64
}

// Result is the outcome of an applied update.
type Result struct {
	Data  []byte
	Token Token
	View  uint64
}

// Group is one clone of one group on this node. Its protocol core and its
// state machine's Apply are owned by one worker goroutine; Submit and
// Query may be called from any goroutine.
type Group struct {
	id   replica.GroupID
	host *Host
	cfg  GroupConfig
	w    *worker

	// Owned by the worker goroutine.
	cl             *clone.Clone // the protocol core, the state machine, the durable Ready loop
	futures        map[groupcomm.EntryID]future
	reads          map[uint64]chan groupcomm.ReadState
	outXfer        map[groupcomm.MemberID]*outTransfer
	inXfer         *inTransfer
	creating       *createState // set while this node creates the group (no clone yet)
	ghosts         []*ghost     // removed incarnations that still answer (ghost.go)
	created        *createRound // set once this node started the first view in a creation round
	inBatch        bool
	leaveDone      []chan error // RemoveGroup callers waiting (leave.go)
	advancePending bool
	ticking        bool   // on the worker's tick list (worker.active)
	quietFrom      uint64 // the first worker tick skipped while quiescent
	lastContact    uint64 // the core's LastContact when last seen
	contactSeen    bool
	contactAt      int64 // Host.mono when lastContact moved
	vcSince        int64 // Host.mono when the clone was first seen out of NORMAL (0: in NORMAL)

	// smMu: Apply, Snapshot and Restore hold it for writing, Query for
	// reading (replica.StateMachine's rule).
	smMu sync.RWMutex

	applied      atomic.Uint64 // delivered seq applied to the state machine
	role         atomic.Value  // groupcomm.Info, refreshed by the worker
	appliedC     atomic.Pointer[chan struct{}]
	stopped      atomic.Bool
	left         atomic.Bool // left for good (RemoveGroup); state deleted
	stopErr      atomic.Value
	readID       atomic.Uint64
	freshUntil   atomic.Int64 // "any" reads are fresh until then (Host.mono; freshness.go)
	xferProgress atomic.Value
	viewRec      atomic.Value // groupcomm.View
	stream       ring         // the retained update stream (stream.go)
}

// future is a Submit waiting for its update's apply at this clone.
type future struct {
	c  chan submitResult
	at int64 // Host.mono at the handover to the core (HostStats.DeliveryLatency)
}

type submitResult struct {
	res Result
	err error
}

type request struct {
	g      *Group
	submit clone.Envelope // for a Submit
	resp   chan submitResult
	readID uint64
	readC  chan groupcomm.ReadState
}

// ID returns the group id.
func (g *Group) ID() replica.GroupID { return g.id }

// Info returns the clone's protocol positions (refreshed after each batch).
func (g *Group) Info() groupcomm.Info {
	if v, ok := g.role.Load().(groupcomm.Info); ok {
		return v
	}
	return groupcomm.Info{}
}

// View returns the clone's installed view record (refreshed after each
// batch).
func (g *Group) View() groupcomm.View {
	if v, ok := g.viewRec.Load().(groupcomm.View); ok {
		return v
	}
	return groupcomm.View{}
}

// Left reports whether this clone left its group for good (RemoveGroup
// finished): it is stopped, its state is deleted, and it lingers on the
// host only while its ghost answers. Its Info keeps what it last
// published, which need not say StatusRemoved. A later AddGroup of the
// same id starts a new clone.
func (g *Group) Left() bool { return g.left.Load() }

// Applied returns the token of the last applied update.
func (g *Group) Applied() Token { return Token{Incarnation: g.cfg.Incarnation, Seq: g.applied.Load()} }

// Submit multicasts an update and returns its result once it is applied
// at this clone, which happens only after it is stable (G2). A non-empty
// key makes a retry safe: the group applies each key once and returns the
// first result (G6). Without a key a retry after ErrOutcomeUnknown may
// apply twice.
func (g *Group) Submit(ctx context.Context, update []byte, key string) (Result, error) {
	if g.stopped.Load() {
		return Result{}, g.stopError()
	}
	req := &request{g: g, submit: clone.NewEnvelope(key, update), resp: make(chan submitResult, 1)}
	if err := g.w.enqueue(ctx, req); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrNotApplied, err)
	}
	select {
	case r := <-req.resp:
		return r.res, r.err
	case <-ctx.Done():
		// It was handed to the group: it may still be ordered.
		return Result{}, fmt.Errorf("%w: %v", ErrOutcomeUnknown, ctx.Err())
	}
}

// Query reads the state at the given level. For Session, token is the
// client's freshness token. It returns the result and the clone's applied
// position as the new token.
func (g *Group) Query(ctx context.Context, q []byte, level Level, token Token) ([]byte, Token, error) {
	if g.stopped.Load() {
		return nil, Token{}, g.stopError()
	}
	var target uint64
	switch level {
	case Any, Session:
		info := g.Info()
		if info.Status != groupcomm.StatusNormal || info.Restoring {
			return nil, Token{}, fmt.Errorf("%w: clone is %v", ErrStale, info.Status)
		}
		if level == Session {
			if token.Incarnation != 0 && token.Incarnation != g.cfg.Incarnation {
				return nil, Token{}, ErrBadToken
			}
			target = token.Seq
		}
		if !g.freshForAny() {
			// A clone that has not heard its sequencer lately (idle, cut
			// off, or just back from a pause) confirms freshness with a
			// quorum first (A13): the read becomes a strict one. A session
			// read is never weaker than an "any" read.
			t0 := g.host.mono()
			idx, err := g.readIndex(ctx)
			if err != nil {
				return nil, Token{}, err
			}
			target = max(target, idx)
			g.confirmedFresh(t0)
		}
	case Strict:
		idx, err := g.readIndex(ctx)
		if err != nil {
			return nil, Token{}, err
		}
		target = idx
	}
	if err := g.waitApplied(ctx, target); err != nil {
		return nil, Token{}, err
	}
	g.smMu.RLock()
	res, err := g.cfg.StateMachine.Query(q)
	tok := g.Applied()
	g.smMu.RUnlock()
	return res, tok, err
}

// readIndex runs a strict read round and returns the index to wait for.
func (g *Group) readIndex(ctx context.Context) (uint64, error) {
	req := &request{g: g, readID: g.readID.Add(1), readC: make(chan groupcomm.ReadState, 1)}
	if err := g.w.enqueue(ctx, req); err != nil {
		return 0, err
	}
	select {
	case rs := <-req.readC:
		if rs.Err != nil {
			return 0, fmt.Errorf("%w: %v", ErrNoQuorum, rs.Err)
		}
		return rs.Index.Seq, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %v", ErrStale, ctx.Err())
	}
}

// waitApplied blocks until the applied position reaches seq.
func (g *Group) waitApplied(ctx context.Context, seq uint64) error {
	for {
		c := g.appliedC.Load()
		if g.applied.Load() >= seq {
			return nil
		}
		if g.stopped.Load() {
			return g.stopError()
		}
		select {
		case <-*c:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for position %d: %v", ErrStale, seq, ctx.Err())
		}
	}
}

// notifyApplied wakes the waiters of waitApplied.
func (g *Group) notifyApplied() {
	c := make(chan struct{})
	old := g.appliedC.Swap(&c)
	close(*old)
}

func (g *Group) stopError() error {
	if err, ok := g.stopErr.Load().(error); ok {
		return err
	}
	return ErrStopped
}

// Digest returns a digest of the state machine's snapshot (for tests and
// for comparing clones).
func (g *Group) Digest() (uint64, error) {
	var buf bytes.Buffer
	g.smMu.RLock()
	err := g.cfg.StateMachine.Snapshot(&buf)
	g.smMu.RUnlock()
	if err != nil {
		return 0, err
	}
	return digest(buf.Bytes()), nil
}

var (
	errRemoved = errors.New("racs: clone removed from its group")
	errLeft    = errors.New("racs: clone left its group (RemoveGroup)")
)
