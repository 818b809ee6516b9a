package racs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
)

// The update stream: a clone keeps the last GroupConfig.Retain updates it
// applied (with their results and tokens) for subscribers, so that a
// subscriber can follow a group's ordered stream from any clone and, after
// losing that clone, resume at another from its last token. Every clone
// applies the same updates in the same order under the same tokens (G1,
// G2), so what one clone's ring holds after a token is what any other's
// holds. A duplicate delivery, a retry answered from the idempotency
// table and an update refused identically at every clone (a reused
// idempotency key) changed nothing and are not in the stream; the tokens
// of the stream are therefore increasing, not consecutive.

// ErrCompacted: the stream no longer holds the updates right after the
// token asked (the clone's ring dropped them, or the clone holds state
// from a snapshot taken after it). The subscriber resyncs: it reads the
// state (a Query returns its token) and resumes from that token.
// *CompactedError carries the first token the clone can resume from.
var ErrCompacted = errors.New("racs: updates after that token are no longer kept")

// CompactedError is ErrCompacted with the oldest token this clone can
// resume a stream from.
type CompactedError struct {
	From  Token // the token asked
	Floor Token // resume from a token at or after this one
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("%v: asked after %d, this clone keeps updates after %d", ErrCompacted, e.From.Seq, e.Floor.Seq)
}

func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }

// StreamUpdate is one applied update of the stream.
type StreamUpdate struct {
	Token  Token  // its position: resume after it
	View   uint64 // the view it was delivered in
	Update []byte // the update as submitted (without the idempotency envelope)
	Result []byte // the state machine's answer
}

// ring is a clone's retained stream. The worker appends under mu after
// each Apply; subscribers read under mu.
type ring struct {
	mu    sync.Mutex
	buf   []StreamUpdate // oldest first
	floor uint64         // updates with seq ≤ floor may be missing
	pos   uint64         // every delivery up to pos was recorded (or skipped)
	bytes int
}

// maxRetainBytes bounds a ring's payload bytes whatever Retain says.
const maxRetainBytes = 4 << 20

func (r *ring) reset(floor uint64) {
	r.mu.Lock()
	r.buf, r.floor, r.pos, r.bytes = nil, floor, floor, 0
	r.mu.Unlock()
}

// skip moves the position past a delivery that is not in the stream.
func (r *ring) skip(seq uint64) {
	r.mu.Lock()
	r.pos = max(r.pos, seq)
	r.mu.Unlock()
}

func (r *ring) push(u StreamUpdate, keep int) {
	r.mu.Lock()
	r.pos = max(r.pos, u.Token.Seq)
	r.buf = append(r.buf, u)
	r.bytes += len(u.Update) + len(u.Result)
	drop := 0
	for len(r.buf)-drop > keep || (r.bytes > maxRetainBytes && len(r.buf)-drop > 1) {
		d := r.buf[drop]
		r.bytes -= len(d.Update) + len(d.Result)
		r.floor = d.Token.Seq
		drop++
	}
	if drop > 0 {
		clear(r.buf[:drop])
		r.buf = r.buf[drop:]
	}
	r.mu.Unlock()
}

// after returns up to limit updates with seq > seq, the ring's floor, its
// position (every delivery up to it is accounted for), and false if the
// updates after seq are no longer all kept.
func (r *ring) after(seq uint64, limit int) ([]StreamUpdate, uint64, uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq < r.floor {
		return nil, r.floor, r.pos, false
	}
	i := sort.Search(len(r.buf), func(k int) bool { return r.buf[k].Token.Seq > seq })
	n := min(limit, len(r.buf)-i)
	out := make([]StreamUpdate, n)
	copy(out, r.buf[i:i+n])
	return out, r.floor, r.pos, true
}

// record adds an applied update to the group's ring (worker goroutine,
// inside Apply's callback, before the applied position moves past it:
// a's Delivery is the Ready's, so the bytes are copied).
func (g *Group) record(a clone.Applied) {
	if g.cfg.Retain <= 0 {
		return
	}
	if a.Duplicate || a.Replayed || a.Err != nil {
		g.stream.skip(a.VS.Seq)
		return
	}
	_, update, err := clone.DecodeEnvelope(a.Payload)
	if err != nil {
		g.stream.skip(a.VS.Seq)
		return
	}
	g.stream.push(StreamUpdate{Token: Token{g.cfg.Incarnation, a.VS.Seq}, View: a.InView,
		Update: append([]byte(nil), update...), Result: append([]byte(nil), a.Result...)}, g.cfg.Retain)
}

// Updates returns the updates this clone applied after from, oldest
// first, at most limit (≤ 0: 256), waiting until there is at least one or
// ctx ends (then it returns none and the clone's applied token, so that
// an idle stream can tell a quiet group from a dead clone: the heartbeat).
// A zero from means "from now": nothing older, only what comes next. The
// returned token is where to resume: the last update's, or the applied
// position when none came.
//
// ErrBadToken: from names another incarnation of the group.
// ErrCompacted (a *CompactedError): the updates right after from are no
// longer kept here (GroupConfig.Retain; or this clone holds a snapshot
// newer than from).
func (g *Group) Updates(ctx context.Context, from Token, limit int) ([]StreamUpdate, Token, error) {
	if limit <= 0 {
		limit = 256
	}
	if g.cfg.Retain <= 0 {
		return nil, Token{}, fmt.Errorf("%w: group %d keeps no update stream (GroupConfig.Retain is 0)", ErrCompacted, g.id)
	}
	if from == (Token{}) {
		from = g.Applied()
	}
	if from.Incarnation != g.cfg.Incarnation {
		return nil, Token{}, fmt.Errorf("%w: token of incarnation %d, the group is at %d", ErrBadToken, from.Incarnation, g.cfg.Incarnation)
	}
	for {
		if g.stopped.Load() {
			return nil, Token{}, g.stopError()
		}
		c := g.appliedC.Load()
		ups, floor, pos, ok := g.stream.after(from.Seq, limit)
		if !ok {
			return nil, Token{}, &CompactedError{From: from, Floor: Token{g.cfg.Incarnation, floor}}
		}
		if len(ups) > 0 {
			return ups, ups[len(ups)-1].Token, nil
		}
		select {
		case <-*c:
		case <-ctx.Done(): // the heartbeat: nothing after from up to pos
			return nil, Token{g.cfg.Incarnation, max(from.Seq, pos)}, nil
		}
	}
}

// ConfirmFresh returns nil if this clone is current as an "any" read
// would need (it heard its sequencer lately), else it confirms its view
// with a quorum first (a read round, as Query at Any does: A13) and waits
// to apply what the group ordered meanwhile. A subscriber's heartbeat is
// sent only after it, so a clone cut off from its group's majority, which
// would otherwise answer heartbeats while the others move on, makes the
// subscriber move to another clone instead.
func (g *Group) ConfirmFresh(ctx context.Context) error {
	if g.stopped.Load() {
		return g.stopError()
	}
	if info := g.Info(); info.Status != groupcomm.StatusNormal || info.Restoring {
		return fmt.Errorf("%w: clone is %v", ErrStale, info.Status)
	}
	if g.freshForAny() {
		return nil
	}
	t0 := g.host.mono()
	idx, err := g.readIndex(ctx)
	if err != nil {
		return err
	}
	if err := g.waitApplied(ctx, idx); err != nil {
		return err
	}
	g.confirmedFresh(t0)
	return nil
}
