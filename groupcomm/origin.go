package groupcomm

import "fmt"

// originState tracks this member's own submissions until they are
// delivered. An origin keeps each submission pending until it is
// delivered; it resends Submits not yet seen in an ORDER frame after
// TickRTO, and after installing a new view it resubmits, with the same id,
// every pending submission: those ≤ the cut were delivered at the install,
// so the rest can never be delivered in the old view (S8).
type originState struct {
	counter uint64
	pending map[uint64]*pendingSubmit
	queue   []uint64 // counters in submission order; delivered ones are skipped
	unsent  int
}

type pendingSubmit struct {
	payload  []byte
	sent     bool
	ordered  bool
	lastSent uint64
}

func (o *originState) init() { o.pending = map[uint64]*pendingSubmit{} }

func (o *originState) count() int { return len(o.pending) }

// Multicast submits payload for totally ordered, SAFE delivery to every
// member of the group. It returns the submission's id; the caller
// completes its future when a Delivery with that id comes back at this
// member. The caller must not modify payload afterwards.
//
// While a view change runs the submission is queued and sent after the
// install (A8). ErrBusy means the window is full (back-pressure).
func (n *Node) Multicast(payload []byte) (EntryID, error) {
	switch {
	case n.status == StatusRemoved:
		return EntryID{}, ErrRemoved
	case n.leaving:
		return EntryID{}, ErrLeaving
	case n.status != StatusNormal && n.status != StatusFrozen, n.restoring:
		return EntryID{}, ErrNotNormal
	case len(payload) > n.cfg.MaxPayloadBytes:
		return EntryID{}, fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))
	case len(n.origin.pending) >= n.cfg.Window:
		return EntryID{}, ErrBusy
	}
	if s := n.seq; s != nil && n.status == StatusNormal {
		if n.elog.last().Seq-n.stable.Seq >= uint64(n.cfg.Window) {
			return EntryID{}, ErrBusy
		}
	}
	o := &n.origin
	o.counter++
	id := EntryID{Origin: n.self, Counter: o.counter}
	p := &pendingSubmit{payload: payload}
	o.pending[o.counter] = p
	o.queue = append(o.queue, o.counter)
	if n.seq != nil && n.status == StatusNormal {
		n.order(id, payload, false)
		p.sent, p.ordered = true, true
	} else {
		o.unsent++
	}
	return id, nil
}

// flushSubmits sends every unsent pending submission to the sequencer in
// one Submit message.
func (n *Node) flushSubmits() {
	o := &n.origin
	if o.unsent == 0 || n.status != StatusNormal || n.restoring {
		return
	}
	if n.seq != nil {
		// This member became the sequencer: order its own queue.
		for _, c := range o.queue {
			if p := o.pending[c]; p != nil && !p.sent {
				n.order(EntryID{Origin: n.self, Counter: c}, p.payload, false)
				p.sent, p.ordered = true, true
			}
		}
		o.unsent = 0
		return
	}
	var ents []Entry
	for _, c := range o.queue {
		if p := o.pending[c]; p != nil && !p.sent {
			ents = append(ents, Entry{ID: EntryID{Origin: n.self, Counter: c}, Payload: p.payload})
			p.sent, p.lastSent = true, n.now
		}
	}
	o.unsent = 0
	if len(ents) > 0 {
		n.send(Message{Type: MsgSubmit, To: n.view.Sequencer(), Entries: ents})
	}
}

// resendSubmits marks for resending the submissions not yet seen ordered
// after TickRTO (a Submit or its ORDER frame may have been lost).
func (n *Node) resendSubmits() {
	o := &n.origin
	if n.seq != nil || n.status != StatusNormal {
		return
	}
	for _, c := range o.queue {
		if p := o.pending[c]; p != nil && p.sent && !p.ordered && n.now-p.lastSent >= uint64(n.cfg.TickRTO) {
			p.sent = false
			o.unsent++
		}
	}
}

// noteOrdered marks own submissions seen in an ORDER frame.
func (n *Node) noteOrdered(e *Entry) {
	if e.ID.Origin != n.self {
		return
	}
	if p := n.origin.pending[e.ID.Counter]; p != nil {
		if !p.sent {
			n.origin.unsent--
			p.sent = true
		}
		p.ordered = true
	}
}

// noteDelivered forgets a delivered own submission.
func (n *Node) noteDelivered(id EntryID) {
	if id.Origin != n.self {
		return
	}
	o := &n.origin
	if p := o.pending[id.Counter]; p != nil {
		if !p.sent {
			o.unsent--
		}
		delete(o.pending, id.Counter)
	}
	for len(o.queue) > 0 && o.pending[o.queue[0]] == nil {
		o.queue = o.queue[1:]
	}
}

// resubmitAll marks every pending submission unsent: called after a view
// is installed (S8).
func (n *Node) resubmitAll() {
	o := &n.origin
	o.unsent = 0
	for _, c := range o.queue {
		if p := o.pending[c]; p != nil {
			p.sent, p.ordered = false, false
			o.unsent++
		}
	}
}

// abandonPending answers every pending submission "not ordered, safe to
// retry": called when this member is removed (A5).
func (n *Node) abandonPending() {
	o := &n.origin
	for _, c := range o.queue {
		if o.pending[c] != nil {
			n.out.outcomes = append(n.out.outcomes, Outcome{ID: EntryID{Origin: n.self, Counter: c}, Err: ErrNotOrdered})
		}
	}
	o.pending = map[uint64]*pendingSubmit{}
	o.queue = nil
	o.unsent = 0
}
