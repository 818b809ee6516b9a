package groupcomm

// HasReady reports whether Ready would return work.
func (n *Node) HasReady() bool {
	o := &n.out
	if n.hsDirty || o.truncAbove != nil || len(o.entries) > 0 || len(o.msgs) > 0 ||
		len(o.deliveries) > 0 || o.newView != nil || o.removed || len(o.snapshots) > 0 ||
		len(o.readStates) > 0 || len(o.outcomes) > 0 || o.ackDue || o.stableDue && n.seq != nil && n.status == StatusNormal {
		return true
	}
	if n.origin.unsent > 0 && n.status == StatusNormal {
		return true
	}
	if s := n.seq; s != nil && !s.muted && s.viewDurable && n.status == StatusNormal {
		held := n.elog.last()
		for i := range s.peers {
			p := &s.peers[i]
			if p.forceFrame || p.sent.Seq < held.Seq && p.sent.Seq < p.acked.Seq+uint64(n.cfg.MaxInflight) {
				return true
			}
		}
	}
	return false
}

// Ready returns the work accumulated since the last Advance. The caller
// must handle it as the Ready type documents and then call Advance.
func (n *Node) Ready() Ready {
	n.flushSubmits()
	n.flushOrders()
	n.flushAck()
	o := &n.out
	if len(o.snapshots) > 0 {
		// The snapshot is taken after this Ready's deliveries are applied:
		// at the delivered position, with the dedup table at that position.
		d := n.dedup.encode()
		for i := range o.snapshots {
			o.snapshots[i].Pos, o.snapshots[i].Dedup, o.snapshots[i].View = n.delivered, d, n.view.ID
		}
	}
	rd := Ready{
		TruncateAbove: o.truncAbove,
		Entries:       o.entries,
		StableHint:    n.stable,
		Messages:      o.msgs,
		Deliveries:    o.deliveries,
		NewView:       o.newView,
		Removed:       o.removed,
		Snapshots:     o.snapshots,
		ReadStates:    o.readStates,
		Outcomes:      o.outcomes,
	}
	if n.hsDirty {
		hs := n.hs
		hs.Installed = hs.Installed.Clone()
		if n.bugs.ReplyBeforePersist {
			// Planted bug S4: the promise and the acceptance are not
			// written before the replies leave.
			hs.Promised, hs.Accepted, hs.AcceptedView = n.diskHS.Promised, n.diskHS.Accepted, n.diskHS.AcceptedView
		}
		rd.HardState = &hs
		n.diskHS = hs
		o.readyView = hs.Installed.ID
	}
	o.readyHeld = n.elog.last()
	return rd
}

// Advance tells the node that rd was handled: persisted, sent and applied.
func (n *Node) Advance(rd Ready) {
	o := &n.out
	n.hsDirty = false
	// Entries and Deliveries keep their arrays for the next Ready (the
	// caller is done with them at Advance); Messages never do: a transport
	// may still hold them.
	if s := n.seq; s != nil && o.readyView == n.view.ID {
		s.viewDurable = true // its frames of this view may leave now
	}
	*o = outbox{readyHeld: o.readyHeld, entries: clearEntries(o.entries), deliveries: clearDeliveries(o.deliveries)}
	if n.seq == nil || n.status != StatusNormal {
		for i := range n.seqPeers() {
			n.seq.peers[i].forceFrame = false
		}
	}
	if n.persisted.Less(o.readyHeld) || o.readyHeld.Less(n.persisted) {
		n.persisted = o.readyHeld
	}
	if n.seq != nil {
		n.computeStable()
	}
	n.compact()
	// An install held back because a NewView was in this Ready.
	if pc := n.follower.pendingCommit; pc != nil && n.follower.fetch == nil {
		n.tryInstall(pc, n.follower.pendingSrc)
	}
	n.deliverStable()
}

// flushAck queues one cumulative ack for the entries taken since the last
// Ready. It leaves only after the caller persisted them.
func (n *Node) flushAck() {
	if !n.out.ackDue {
		return
	}
	n.out.ackDue = false
	if n.seq != nil || !n.mayAck() {
		return
	}
	n.send(Message{Type: MsgAck, To: n.view.Sequencer(), VS: n.elog.last(), Frame: n.follower.lastFrame})
}

// mayAck reports whether this member acknowledges ORDER frames of its
// view: only in NORMAL status (a frozen member must not, S1; a recovering
// one must not, S7).
func (n *Node) mayAck() bool {
	if n.status == StatusNormal {
		return true
	}
	return n.status == StatusFrozen && n.bugs.NoFreeze
}

// compact drops from memory the entries every member holds and this
// member delivered.
func (n *Node) compact() {
	upto := minVS(n.follower.retain, n.delivered)
	if n.seq != nil {
		upto = minVS(n.seq.retain(n), n.delivered)
	}
	if n.elog.base.Seq+uint64(n.cfg.MaxFrameEntries) < upto.Seq {
		n.elog.compactTo(upto.Seq)
	}
}

// clearEntries empties s for reuse, dropping its payload references.
func clearEntries(s []Entry) []Entry {
	clear(s)
	return s[:0]
}

func clearDeliveries(s []Delivery) []Delivery {
	clear(s)
	return s[:0]
}

// Retained returns the highest entry every member of the installed view is
// known to hold (zero when unknown: a new view, a restart). The caller
// keeps its durable log above it when it compacts below a snapshot, so
// that a member that lags can still fetch what it lacks (L9); the core
// keeps its in-memory log above it likewise.
func (n *Node) Retained() Viewstamp {
	if n.seq != nil {
		return n.seq.retain(n)
	}
	return n.follower.retain
}
