package room

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// The hub shares one upstream subscription (raps.Client.Subscribe) per
// partition among all the pages this process serves that watch rooms of
// that partition: a thousand readers of a room cost the clones one
// stream. It keeps the partition's last ringSize events, so a page that
// reconnects (EventSource sends its Last-Event-ID) resumes from them
// without a new upstream. A page that does not keep up is dropped, never
// waited for; it reconnects and resumes from its last event. A page whose
// token is older than the ring gets an upstream of its own from that
// token (the clones keep Retain updates).

const (
	ringSize   = 256
	pageBuffer = 64 // events queued for one page before it is dropped as slow
)

// Event is what a page receives: a message, or a heartbeat (Msg nil), or
// the end of the stream (Err set: "slow", or the upstream's error).
type Event struct {
	Token racs.Token
	Msg   *Message
	Err   error
	clone groupcomm.NodeID
}

type hub struct {
	c       *raps.Client
	ctx     context.Context // the hub's life
	mu      sync.Mutex
	streams map[int]*stream // by partition id
}

// stream is one upstream subscription and its pages.
type stream struct {
	part   int
	cancel context.CancelFunc
	pages  map[*page]bool
	ring   []Event          // the partition's last events (messages of every room), oldest first
	floor  racs.Token       // events after floor are all in ring
	pos    racs.Token       // where the upstream is
	clone  groupcomm.NodeID // the clone the upstream last heard from
}

// The hub's fields are guarded by mu; run's goroutine is the only writer
// of a stream's ring and position, under mu too.

type page struct {
	room string
	from racs.Token // skip events at or before it
	ch   chan Event
}

func newHub(ctx context.Context, c *raps.Client) *hub {
	return &hub{c: c, ctx: ctx, streams: map[int]*stream{}}
}

// watch returns the events of room after from, and a func to stop. part
// is the room's partition.
func (h *hub) watch(room string, part int, from racs.Token) (<-chan Event, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[part]
	var replay []Event
	switch {
	case s == nil:
		s = h.startLocked(part, from)
		h.streams[part] = s
	case from.Incarnation != s.floor.Incarnation || from.Seq < s.floor.Seq:
		s = h.startLocked(part, from) // not in the ring: a stream of its own
	default:
		for _, ev := range s.ring {
			if ev.Token.Seq > from.Seq && ev.Msg.Room == room {
				replay = append(replay, ev)
			}
		}
	}
	p := &page{room: room, from: from, ch: make(chan Event, pageBuffer+len(replay))}
	for _, ev := range replay {
		p.ch <- ev
	}
	s.pages[p] = true
	return p.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if s.pages[p] {
			h.dropLocked(s, p)
		}
	}
}

// dropLocked ends a page's stream, and the upstream with its last page.
func (h *hub) dropLocked(s *stream, p *page) {
	delete(s.pages, p)
	close(p.ch)
	if len(s.pages) == 0 {
		s.cancel()
		if h.streams[s.part] == s {
			delete(h.streams, s.part)
		}
	}
}

// startLocked starts an upstream at from.
func (h *hub) startLocked(part int, from racs.Token) *stream {
	ctx, cancel := context.WithCancel(h.ctx)
	s := &stream{part: part, cancel: cancel, pages: map[*page]bool{}, floor: from, pos: from}
	go h.run(ctx, s, from)
	return s
}

// run follows the upstream and hands each event to the pages.
func (h *hub) run(ctx context.Context, s *stream, from racs.Token) {
	for ev, err := range h.c.Subscribe(ctx, ServiceName, raps.PartitionTarget(s.part), from) {
		if err != nil {
			h.end(s, err)
			return
		}
		e := Event{Token: ev.Token, clone: ev.Clone}
		if !ev.Heartbeat {
			var m Message
			if json.Unmarshal(ev.Update, &m) == nil && string(ev.Result) == "ok" {
				e.Msg = &m
			} // else refused: it only moves the position
		}
		h.advance(s, e, ev.Heartbeat)
	}
	h.end(s, ctx.Err())
}

// advance records an event and delivers it to the pages that want it.
func (h *hub) advance(s *stream, e Event, beat bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.pos, s.clone = e.Token, e.clone
	if e.Msg != nil {
		s.ring = append(s.ring, e)
		if len(s.ring) > ringSize {
			s.floor = s.ring[0].Token
			s.ring = append(s.ring[:0:0], s.ring[1:]...)
		}
	}
	for p := range s.pages {
		if e.Token.Seq <= p.from.Seq || (e.Msg != nil && e.Msg.Room != p.room) || (e.Msg == nil && !beat) {
			continue
		}
		select {
		case p.ch <- e:
		default: // slow: drop it; it resumes from its last event
			h.dropLocked(s, p)
		}
	}
}

// end closes every page of s with err (nil when the hub stops).
func (h *hub) end(s *stream, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p := range s.pages {
		select {
		case p.ch <- Event{Err: err}:
		default:
		}
		h.dropLocked(s, p)
	}
	if h.streams[s.part] == s {
		delete(h.streams, s.part)
	}
}
