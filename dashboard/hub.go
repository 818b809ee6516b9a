package dashboard

import (
	"sync"
	"sync/atomic"
)

// hub fans the encoded snapshots out to the open event streams. The
// sampler never waits for a browser: each stream has a bounded queue, and
// when it is full the oldest queued snapshot is dropped for the newest
// (every snapshot is the whole state, so skipping loses only history the
// next one carries).
type hub struct {
	mu      sync.Mutex
	clients map[*stream]struct{}
	last    []byte // the newest snapshot, for a stream that opens
	closed  bool
	max     int
	buf     int
}

type stream struct {
	ch      chan []byte
	skipped atomic.Uint64
	done    chan struct{} // closed by the hub on Close
}

func newHub(maxClients, buf int) *hub {
	return &hub{clients: map[*stream]struct{}{}, max: maxClients, buf: buf}
}

// join opens a stream, queued with the newest snapshot; false when the
// hub is closed or full.
func (h *hub) join() (*stream, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= h.max {
		return nil, false
	}
	s := &stream{ch: make(chan []byte, h.buf), done: make(chan struct{})}
	if h.last != nil {
		s.ch <- h.last
	}
	h.clients[s] = struct{}{}
	return s, true
}

func (h *hub) leave(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, s)
}

// broadcast queues data on every stream without blocking. Only the
// sampler sends, so after dropping the oldest there is room.
func (h *hub) broadcast(data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = data
	for s := range h.clients {
		select {
		case s.ch <- data:
			continue
		default:
		}
		select {
		case <-s.ch:
			s.skipped.Add(1)
		default:
		}
		select {
		case s.ch <- data:
		default:
		}
	}
}

func (h *hub) latest() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// close ends every stream.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.clients {
		close(s.done)
	}
	h.clients = map[*stream]struct{}{}
}
