package fanout

import (
	"context"
	"sync"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// Options size a Hub.
type Options struct {
	// Ring is how many events a shared stream keeps for subscribers that
	// resume. Default 256.
	Ring int
	// Buffer is how many events may wait for one subscriber before it is
	// dropped as slow. Default 64.
	Buffer int
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options { return Options{Ring: 256, Buffer: 64} }

// Event is what a subscriber receives: an update or a heartbeat (as
// raps.Subscribe gives them), or, last before its channel closes, the
// upstream's error.
type Event struct {
	raps.Event
	Err error
}

// Hub shares upstream subscriptions; safe for concurrent use.
type Hub struct {
	c    *raps.Client
	ctx  context.Context
	opts Options

	mu      sync.Mutex
	streams map[streamKey]*stream // the shared stream of each partition
}

type streamKey struct {
	service string
	part    int
}

// stream is one upstream subscription and its subscribers; its fields
// are guarded by Hub.mu.
type stream struct {
	key    streamKey
	cancel context.CancelFunc
	subs   map[*sub]bool
	ring   []raps.Event // the last updates, oldest first
	floor  racs.Token   // every update after floor is in ring (zero: not known yet)
	pos    racs.Token   // where the upstream is (zero: not known yet)
	clone  uint64       // the clone it last heard from
}

type sub struct {
	from racs.Token // it has everything up to from
	keep func(raps.Event) bool
	ch   chan Event
}

// New returns a Hub over c; its upstreams end with ctx.
func New(ctx context.Context, c *raps.Client, opts Options) *Hub {
	d := DefaultOptions()
	if opts.Ring <= 0 {
		opts.Ring = d.Ring
	}
	if opts.Buffer <= 0 {
		opts.Buffer = d.Buffer
	}
	return &Hub{c: c, ctx: ctx, opts: opts, streams: map[streamKey]*stream{}}
}

// Streams reports how many upstream subscriptions are open.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// Clone reports the clone the shared stream of a partition last heard
// from (0: none open, or none heard yet).
func (h *Hub) Clone(service string, part int) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.streams[streamKey{service, part}]; s != nil {
		return s.clone
	}
	return 0
}

// Watch follows partition part of service after from (zero: from now),
// keeping the updates keep accepts (nil: all); stop ends it.
func (h *Hub) Watch(service string, part int, from racs.Token, keep func(raps.Event) bool) (events <-chan Event, stop func()) {
	k := streamKey{service, part}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[k]
	var replay []raps.Event
	switch {
	case s == nil:
		s = h.startLocked(k, from)
		h.streams[k] = s
	case from == (racs.Token{}):
		from = s.pos // from now: what the shared stream has not delivered yet (all of it if it knows no position)
	case s.floor == (racs.Token{}) || from.Incarnation != s.floor.Incarnation || from.Seq < s.floor.Seq:
		s = h.startLocked(k, from) // not in the ring: a stream of its own
	default:
		for _, ev := range s.ring {
			if ev.Token.Seq > from.Seq && (keep == nil || keep(ev)) {
				replay = append(replay, ev)
			}
		}
	}
	sb := &sub{from: from, keep: keep, ch: make(chan Event, h.opts.Buffer+len(replay))}
	for _, ev := range replay {
		sb.ch <- Event{Event: ev}
		sb.from = ev.Token
	}
	s.subs[sb] = true
	return sb.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if s.subs[sb] {
			h.dropLocked(s, sb)
		}
	}
}

// startLocked starts an upstream after from.
func (h *Hub) startLocked(k streamKey, from racs.Token) *stream {
	ctx, cancel := context.WithCancel(h.ctx)
	s := &stream{key: k, cancel: cancel, subs: map[*sub]bool{}, floor: from, pos: from}
	go h.run(ctx, s, from)
	return s
}

// dropLocked ends a subscriber, and the upstream with its last one.
func (h *Hub) dropLocked(s *stream, sb *sub) {
	delete(s.subs, sb)
	close(sb.ch)
	if len(s.subs) == 0 {
		s.cancel()
		if h.streams[s.key] == s {
			delete(h.streams, s.key)
		}
	}
}

// run follows the upstream and hands each event to the subscribers.
func (h *Hub) run(ctx context.Context, s *stream, from racs.Token) {
	for ev, err := range h.c.Subscribe(ctx, s.key.service, raps.PartitionTarget(s.key.part), from) {
		if err != nil {
			h.end(s, err)
			return
		}
		h.deliver(s, ev)
	}
	h.end(s, ctx.Err())
}

// deliver records an event and hands it to the subscribers that want it.
func (h *Hub) deliver(s *stream, ev raps.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.floor == (racs.Token{}) { // a stream from now: it starts before its first event
		s.floor = ev.Token
		if !ev.Heartbeat && ev.Token.Seq > 0 {
			s.floor.Seq--
		}
	}
	s.pos, s.clone = ev.Token, uint64(ev.Clone)
	if !ev.Heartbeat {
		s.ring = append(s.ring, ev)
		if len(s.ring) > h.opts.Ring {
			s.floor = s.ring[0].Token
			s.ring = append(s.ring[:0:0], s.ring[1:]...)
		}
	}
	for sb := range s.subs {
		if sb.from != (racs.Token{}) && (ev.Token.Seq < sb.from.Seq || !ev.Heartbeat && ev.Token.Seq == sb.from.Seq) {
			continue // it has it already (it joined from a later token)
		}
		if !ev.Heartbeat && sb.keep != nil && !sb.keep(ev) {
			sb.from = ev.Token
			continue
		}
		select {
		case sb.ch <- Event{Event: ev}:
			sb.from = ev.Token
		default: // slow: drop it; it resumes from its last event
			h.dropLocked(s, sb)
		}
	}
}

// end closes every subscriber of s with err (none when ctx ended).
func (h *Hub) end(s *stream, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sb := range s.subs {
		if err != nil && h.ctx.Err() == nil {
			select {
			case sb.ch <- Event{Err: err}:
			default:
			}
		}
		h.dropLocked(s, sb)
	}
	if h.streams[s.key] == s {
		delete(h.streams, s.key)
	}
}
