package raps

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
)

// Subscriptions: a partition's ordered stream of applied updates, read
// from any of its clones (each keeps the last Service.Retain updates,
// racs.Group.Updates), resumable from a token. A call to a clone is held
// until an update arrives or subscribeHold passes; an empty answer is the
// heartbeat, so a subscriber tells a quiet partition from a dead clone.
// When a clone fails, the subscriber resumes from its last token at
// another: every clone applies the same updates under the same tokens, so
// the stream goes on without a gap or a repeat.

// subscribeHold is how long a clone holds a subscribe call with nothing
// to send (the heartbeat interval).
const subscribeHold = time.Second

// subscribeBatchBytes bounds one answer's update bytes (a transport
// message); a batch is cut there and the rest follows on the next call.
const subscribeBatchBytes = 512 << 10

// Target names the partition a subscription follows.
type Target struct {
	key    []byte
	part   int
	byPart bool
}

// KeyTarget follows the partition that holds key.
func KeyTarget(key []byte) Target { return Target{key: key} }

// PartitionTarget follows the partition with this id in its service.
func PartitionTarget(id int) Target { return Target{part: id, byPart: true} }

// Event is one event of a subscription: an applied update, or a heartbeat
// (no update: the clone had nothing new for subscribeHold).
type Event struct {
	// Token is where this event leaves the stream: pass it as from to
	// resume after it (also the session token of a read that must see it).
	Token     racs.Token
	Heartbeat bool
	Update    []byte // the update as submitted
	Result    []byte // the state machine's answer to it
	View      uint64 // the view it was delivered in
	Partition partitionmap.PartRef
	Group     uint64
	Clone     groupcomm.NodeID // the clone that sent it
}

// Subscribe follows the ordered stream of updates applied to the
// partition of target in service, after from (the zero token: from now
// on). Each update comes once, in the group's order, with its token; a
// heartbeat comes when nothing happened for about a second. The stream
// moves to another clone (chosen by load) when its clone fails, and
// resumes from the last token; it ends when ctx ends, or with one
// error:
//
//   - racs.ErrCompacted (a *racs.CompactedError naming the oldest token a
//     clone still has): the updates after from are no longer kept (the
//     subscriber fell behind Service.Retain). Resync: read the state with
//     a Strict Query, whose Result.Token is the position it reflects, and
//     subscribe again from that token.
//   - racs.ErrBadToken: from is of another incarnation of the partition
//     (its group was re-created and its data lost): resync the same way.
//   - ErrUnknownService, ErrBadKey: the target does not exist.
//   - ErrNoStream: the service keeps no update stream (Retain 0).
func (c *Client) Subscribe(ctx context.Context, service string, target Target, from racs.Token) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		var tried []groupcomm.NodeID
		var compacted error
		for attempt := 0; ctx.Err() == nil; attempt++ {
			p, err := c.target(service, target)
			if err != nil {
				if errors.Is(err, ErrNoMap) && c.backoff(ctx, attempt) {
					continue
				}
				yield(Event{}, err)
				return
			}
			if err := c.checkStream(service); err != nil {
				yield(Event{}, err)
				return
			}
			if from.Incarnation != 0 && from.Incarnation != p.Incarnation {
				yield(Event{}, fmt.Errorf("%w: token of incarnation %d, partition %s is at %d", racs.ErrBadToken, from.Incarnation, p.Ref(), p.Incarnation))
				return
			}
			cands := c.queryCandidates(p, tried)
			to := c.pick.choose(cands, c.self, c.load)
			evs, next, err := c.subscribeOnce(ctx, p, to, from)
			if err == nil {
				attempt, tried, compacted = -1, tried[:0], nil
				for _, ev := range evs {
					if !yield(ev, nil) {
						return
					}
				}
				from = next
				continue
			}
			if ctx.Err() != nil {
				return
			}
			var ce *racs.CompactedError
			switch {
			case errors.As(err, &ce) || errors.Is(err, racs.ErrCompacted):
				// This clone may hold a newer snapshot than others (a new
				// learner): ask every clone before giving up.
				compacted = err
			case errors.Is(err, racs.ErrBadToken):
				yield(Event{}, err)
				return
			}
			tried = append(tried, to)
			if compacted != nil && len(tried) >= len(p.Voters()) {
				yield(Event{}, compacted)
				return
			}
			if len(tried) >= len(p.Voters()) {
				tried = tried[:0]
			}
			if !c.backoff(ctx, attempt) {
				return
			}
		}
	}
}

// target is the partition a subscription follows, in the newest map.
func (c *Client) target(service string, t Target) (*partitionmap.Partition, error) {
	if !t.byPart {
		return c.locate(service, t.key)
	}
	m := c.env.Map()
	if m == nil {
		return nil, ErrNoMap
	}
	p, err := m.Partition(partitionmap.PartRef{Service: service, ID: t.part})
	switch {
	case errors.Is(err, partitionmap.ErrUnknownService):
		return nil, fmt.Errorf("%w: %q", ErrUnknownService, service)
	case err != nil:
		return nil, fmt.Errorf("%w: service %q has no partition %d", ErrBadKey, service, t.part)
	}
	return p, nil
}

// backoff pauses before a subscription's next attempt (5 ms doubling to
// 1 s); false if ctx ended.
func (c *Client) backoff(ctx context.Context, attempt int) bool {
	d := min(5*time.Millisecond<<min(attempt, 8), time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// subscribeOnce asks clone to for the updates after from: the events
// (a heartbeat when none came) and the token to resume from.
func (c *Client) subscribeOnce(ctx context.Context, p *partitionmap.Partition, to groupcomm.NodeID, from racs.Token) ([]Event, racs.Token, error) {
	cctx, cancel := context.WithTimeout(ctx, subscribeHold+c.attemptTimeout)
	defer cancel()
	rep, err := c.call(cctx, to, &request{kind: kindSubscribe, group: p.Group, incarnation: p.Incarnation, token: from})
	if err != nil {
		return nil, from, err
	}
	ups, compacted, err := decodeStream(rep.data, p.Incarnation)
	if err != nil {
		return nil, from, err
	}
	if compacted {
		return nil, from, &racs.CompactedError{From: from, Floor: rep.token}
	}
	base := Event{Partition: p.Ref(), Group: p.Group, Clone: to}
	if len(ups) == 0 {
		ev := base
		ev.Heartbeat, ev.Token = true, rep.token
		return []Event{ev}, rep.token, nil
	}
	evs := make([]Event, len(ups))
	for i, u := range ups {
		ev := base
		ev.Token, ev.Update, ev.Result, ev.View = u.Token, u.Update, u.Result, u.View
		evs[i] = ev
	}
	return evs, rep.token, nil
}

// serveSubscribe answers a subscribe call from this node's clone.
func (n *Node) serveSubscribe(ctx context.Context, req *request) (reply, error) {
	g, err := n.groupFor(req)
	if err != nil {
		return reply{}, err
	}
	if in := g.Info(); in.Restoring || in.Status == groupcomm.StatusRemoved {
		return reply{}, fmt.Errorf("%w: clone is restoring or removed", racs.ErrStale)
	}
	hctx, cancel := context.WithTimeout(ctx, subscribeHold)
	defer cancel()
	ups, next, err := g.Updates(hctx, req.token, 256)
	var ce *racs.CompactedError
	if errors.As(err, &ce) {
		return reply{data: []byte{streamCompacted}, token: ce.Floor}, nil
	}
	if err != nil {
		return reply{}, err
	}
	if len(ups) == 0 {
		// A heartbeat says "nothing new here": only from a clone that is
		// current (a quorum confirms it if it has not heard its sequencer
		// lately), so a clone cut off from its majority sends the
		// subscriber elsewhere instead of holding it behind.
		if err := g.ConfirmFresh(ctx); err != nil {
			return reply{}, err
		}
		if ups, next, err = g.Updates(hctxNow(ctx), req.token, 256); err != nil {
			return reply{}, err // what the confirmation applied, if anything came
		}
	}
	data, last := encodeStream(ups, subscribeBatchBytes)
	if last < len(ups) { // cut: resume after the last update sent
		next = ups[last-1].Token
	}
	return reply{data: data, token: next}, nil
}

// hctxNow is a context that is already done: Updates then answers at
// once with what it has.
func hctxNow(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	cancel()
	return ctx
}

// A stream answer: a status byte (streamUpdates, streamCompacted), then
// for updates a count and per update its seq, view, update and result.
const (
	streamUpdates   byte = 0
	streamCompacted byte = 1
)

// encodeStream encodes the updates up to about budget bytes (at least
// one) and returns how many it took.
func encodeStream(ups []racs.StreamUpdate, budget int) ([]byte, int) {
	n, size := 0, 0
	for n < len(ups) && (n == 0 || size+len(ups[n].Update)+len(ups[n].Result) <= budget) {
		size += len(ups[n].Update) + len(ups[n].Result)
		n++
	}
	b := make([]byte, 0, 8+size+24*n)
	b = append(b, streamUpdates)
	b = binary.AppendUvarint(b, uint64(n))
	for _, u := range ups[:n] {
		b = binary.AppendUvarint(b, u.Token.Seq)
		b = binary.AppendUvarint(b, u.View)
		b = appendBytes(b, u.Update)
		b = appendBytes(b, u.Result)
	}
	return b, n
}

func decodeStream(b []byte, incarnation uint64) (ups []racs.StreamUpdate, compacted bool, err error) {
	d := wireReader{b: b}
	switch d.byte1() {
	case streamCompacted:
		return nil, true, d.done()
	case streamUpdates:
	default:
		return nil, false, fmt.Errorf("%w: stream status", errMalformed)
	}
	k := d.uvarint()
	if d.err == nil && k > uint64(len(d.b)) {
		return nil, false, fmt.Errorf("%w: %d updates", errMalformed, k)
	}
	var last uint64
	for range k {
		u := racs.StreamUpdate{Token: racs.Token{Incarnation: incarnation, Seq: d.uvarint()}, View: d.uvarint(),
			Update: slices.Clone(d.bytes()), Result: slices.Clone(d.bytes())}
		if d.err == nil && u.Token.Seq <= last {
			return nil, false, fmt.Errorf("%w: stream out of order", errMalformed)
		}
		last = u.Token.Seq
		ups = append(ups, u)
	}
	return ups, false, d.done()
}
