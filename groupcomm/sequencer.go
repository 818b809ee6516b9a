package groupcomm

import "slices"

// seqState is the sequencer's per-view state (rank 0 of the installed
// view, NORMAL). It numbers entries from the cut, sends them to every other
// member in ORDER frames within a per-member window, collects cumulative
// acks, computes Stable = the highest viewstamp acked by Q(w) voters
// (itself counted once its own write landed), and piggybacks Stable on
// frames (alone when idle).
type seqState struct {
	peers        []peer
	frame        uint64
	ordered      map[EntryID]struct{} // ordered in this view, not yet delivered
	lastProgress uint64               // tick of the last stable advance (or of becoming sequencer)
	muted        bool
	soloQuorum   bool // Q(w) = 1: own entries are stable once persisted
	// viewDurable: the HardState that installed this view was persisted
	// (the Advance of its Ready). Until then no ORDER frame leaves, not
	// even before the write (the Ready contract's one exception): a
	// sequencer that crashed before its install was durable would come
	// back in the view before, learn this view again, and number from the
	// cut once more, giving seqs its first life had sent to others.
	viewDurable bool
	muteProbe   uint64 // frame of the last probe sent while muted
	lastFrame   uint64 // tick of the last frame sent to anyone
}

// peer is what the sequencer knows of one other member.
type peer struct {
	id         MemberID
	voter      bool
	acked      Viewstamp
	frameAcked uint64
	sent       Viewstamp // highest entry sent
	lastSend   uint64
	stableSent Viewstamp
	forceFrame bool // send a frame even without entries (probe, nack, read round)
	lastAck    uint64
	since      uint64
}

func (n *Node) becomeSequencer() {
	s := &seqState{ordered: map[EntryID]struct{}{}, lastProgress: n.now, soloQuorum: n.quorum(&n.view) == 1}
	for _, m := range n.view.Members {
		if m.ID == n.self {
			continue
		}
		// acked starts at zero, not at the cut: a member may not hold the
		// entries up to the cut yet (it did not accept, or missed the
		// Commit), so nothing is compacted until every member has acked in
		// this view (L9).
		s.peers = append(s.peers, peer{id: m.ID, voter: m.Role == Voter, sent: n.view.Cut, stableSent: n.view.Cut, since: n.now})
	}
	n.seq = s
	n.notifyRemoved()
	// Announce the view to everyone right away: members that missed the
	// Commit ask for it, and learners learn where ORDER comes from.
	for i := range s.peers {
		s.peers[i].forceFrame = true
	}
}

// seqPeers returns the sequencer's peers (none when not the sequencer).
func (n *Node) seqPeers() []peer {
	if n.seq == nil {
		return nil
	}
	return n.seq.peers
}

func (s *seqState) peer(id MemberID) *peer {
	for i := range s.peers {
		if s.peers[i].id == id {
			return &s.peers[i]
		}
	}
	return nil
}

// order appends a new entry of the installed view.
// order appends a new entry of the installed view. remote says it came
// in a Submit: only those are remembered until delivered, to skip a
// resent Submit (own entries are never submitted twice in a view).
func (n *Node) order(id EntryID, payload []byte, remote bool) {
	e := Entry{VS: Viewstamp{View: n.view.ID, Seq: n.elog.last().Seq + 1}, ID: id, Payload: payload}
	n.elog.append(e)
	n.out.entries = append(n.out.entries, e)
	if remote {
		n.seq.ordered[id] = struct{}{}
	}
	if n.seq.soloQuorum {
		n.out.stableDue = true
	}
}

// onSubmit orders the entries of a Submit of this view.
func (n *Node) onSubmit(m *Message) {
	s := n.seq
	if s == nil || n.status != StatusNormal || s.muted {
		return
	}
	if _, ok := n.view.Lookup(m.From); !ok {
		return // nothing from a non-member is ordered (P7)
	}
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.ID.Origin != m.From {
			continue
		}
		if n.dedup.seen(e.ID) {
			continue
		}
		if _, dup := s.ordered[e.ID]; dup {
			continue
		}
		if n.elog.last().Seq-n.stable.Seq >= uint64(n.cfg.Window) {
			return // window full: the origin resends after TickRTO
		}
		n.order(e.ID, e.Payload, true)
	}
}

// onAck records a member's cumulative ack.
func (n *Node) onAck(m *Message) {
	s := n.seq
	if s == nil {
		return
	}
	p := s.peer(m.From)
	if p == nil {
		return
	}
	if n.vsLess(p.acked, m.VS) && !n.vsLess(n.elog.last(), m.VS) {
		p.acked = m.VS
		if p.sent.Less(p.acked) {
			p.sent = p.acked
		}
	}
	if m.Frame > p.frameAcked {
		p.frameAcked = m.Frame
	}
	p.lastAck = n.now
	if s.muted && s.muteProbe > 0 {
		heard := 1
		for i := range s.peers {
			if s.peers[i].voter && s.peers[i].frameAcked >= s.muteProbe {
				heard++
			}
		}
		if heard >= n.view.Quorum() {
			n.logf("sequencer unmuted: a quorum answered")
			s.muted, s.muteProbe, s.lastProgress = false, 0, n.now
			for i := range s.peers {
				s.peers[i].sent = s.peers[i].acked // resend what is unacked
			}
		}
	}
	n.computeStable()
	n.checkReads()
}

// onNack resends from the member's held position, and always answers with
// a frame (a Nack doubles as a liveness probe).
func (n *Node) onNack(m *Message) {
	s := n.seq
	if s == nil {
		return
	}
	p := s.peer(m.From)
	if p == nil {
		return
	}
	from := m.VS
	if from.Less(p.acked) {
		from = p.acked
	}
	if _, ok := n.elog.vsAt(from.Seq); ok && from.Seq <= n.elog.last().Seq {
		p.sent = from
	}
	p.forceFrame = true
}

// vsLess compares viewstamps; the planted bug S2 compares seqs alone.
func (n *Node) vsLess(a, b Viewstamp) bool {
	if n.bugs.SeqOnlyCompare {
		return a.Seq < b.Seq
	}
	return a.Less(b)
}

// computeStable sets Stable to the highest viewstamp acked by Q(w) voters
// (by every voter with Config.AckAll).
func (n *Node) computeStable() {
	s := n.seq
	var buf [16]Viewstamp
	acks := buf[:0]
	if n.view.IsVoter(n.self) {
		acks = append(acks, n.persisted)
	}
	for i := range s.peers {
		if s.peers[i].voter || n.bugs.LearnersVote {
			acks = append(acks, s.peers[i].acked)
		}
	}
	q := n.view.Quorum()
	if n.cfg.AckAll {
		q = n.view.NumVoters()
	}
	if n.bugs.LearnersVote {
		q = len(n.view.Members)/2 + 1
	}
	if len(acks) < q {
		return
	}
	slices.SortFunc(acks, func(a, b Viewstamp) int { return b.Compare(a) })
	st := acks[q-1]
	if n.bugs.SeqOnlyCompare {
		// Planted bug S2: acks counted by seq alone.
		slices.SortFunc(acks, func(a, b Viewstamp) int { return int(b.Seq) - int(a.Seq) })
		st = Viewstamp{View: n.view.ID, Seq: min(acks[q-1].Seq, n.elog.last().Seq)}
	}
	if st.Less(n.view.Cut) {
		return
	}
	if n.stable.Less(st) {
		n.stable = st
		s.lastProgress = n.now
		s.muted = false
		n.out.stableDue = true
		n.deliverStable()
	}
}

// retain returns the highest viewstamp every member acked: entries up to it
// may leave memory once delivered.
func (s *seqState) retain(n *Node) Viewstamp {
	r := n.persisted
	for i := range s.peers {
		r = minVS(r, s.peers[i].acked)
	}
	return r
}

// flushOrders sends each member the entries it has not been sent, within
// its window, with Stable piggybacked; or an empty frame when Stable
// advanced, a probe is due, or a read round needs one.
func (n *Node) flushOrders() {
	s := n.seq
	if s == nil || s.muted || !s.viewDurable || n.status != StatusNormal {
		return
	}
	held := n.elog.last()
	stableDue := n.out.stableDue
	n.out.stableDue = false
	retain := s.retain(n)
	framed := false
	for i := range s.peers {
		p := &s.peers[i]
		limit := p.acked.Seq + uint64(n.cfg.MaxInflight)
		sent := false
		for p.sent.Seq < held.Seq && p.sent.Seq < limit {
			hi := min(held.Seq, limit, p.sent.Seq+uint64(n.cfg.MaxFrameEntries))
			ents := n.elog.slice(p.sent.Seq, hi)
			if len(ents) == 0 {
				break
			}
			if n.cfg.MaxFrameBytes > 0 {
				size := 0
				for k := range ents {
					size += len(ents[k].Payload)
					if size > n.cfg.MaxFrameBytes && k > 0 {
						ents = ents[:k]
						break
					}
				}
			}
			if !framed {
				s.frame++
				framed = true
			}
			n.send(Message{Type: MsgOrder, To: p.id, Entries: ents, Stable: n.stable, Retain: retain, Frame: s.frame})
			p.sent = ents[len(ents)-1].VS
			p.lastSend, p.stableSent, sent = n.now, n.stable, true
		}
		if !sent && (p.forceFrame || (stableDue && p.stableSent.Less(n.stable))) {
			if !framed {
				s.frame++
				framed = true
			}
			n.send(Message{Type: MsgOrder, To: p.id, Stable: n.stable, Retain: retain, Frame: s.frame, Reject: p.forceFrame})
			p.lastSend, p.stableSent = n.now, n.stable
		}
		p.forceFrame = false
	}
	if framed {
		s.lastFrame = n.now
	}
}

// tickSequencer resends unacked ranges after TickRTO (go-back-N), announces
// Stable alone after TickIdle, stops sending when no quorum acks for TickCQ
// with entries in flight (so busy members' TickFD fires, L3), removes
// learners not Ready within TickJoin, and starts the fast path for queued
// membership changes.
func (n *Node) tickSequencer() {
	s := n.seq
	if s == nil || n.status != StatusNormal {
		return
	}
	held := n.elog.last()
	inFlight := n.stable.Less(held)
	if inFlight && n.now-s.lastProgress >= uint64(n.cfg.TickCQ) {
		if !s.muted {
			n.logf("sequencer muted: no quorum acks", "stable", n.stable, "held", held)
		}
		s.muted = true
	}
	if s.muted {
		// Probe now and then, slower than TickFD so that busy members still
		// suspect this sequencer, but so that a member in a later view can
		// answer with its record and this one learns it was deposed.
		// A quorum acking a probe shows the sequencer can hear again: it
		// unmutes (onAck).
		if every := uint64(max(n.cfg.TickCQ, 2*n.cfg.TickFD)); n.now-s.lastFrame >= every {
			s.lastFrame = n.now
			s.frame++
			s.muteProbe = s.frame
			for i := range s.peers {
				n.send(Message{Type: MsgOrder, To: s.peers[i].id, Stable: n.stable, Frame: s.frame, Reject: true})
			}
		}
		return
	}
	for i := range s.peers {
		p := &s.peers[i]
		if n.now-p.lastSend < uint64(n.cfg.TickRTO) {
			continue
		}
		if p.acked.Less(p.sent) || p.acked.Less(held) {
			p.sent = p.acked // go back: resend the unacked range
			p.forceFrame = true
		} else if p.stableSent.Less(n.stable) && n.now-p.lastSend >= uint64(n.cfg.TickIdle) {
			p.forceFrame = true
		}
	}
	if len(n.reads.waits) > 0 {
		// A read round whose probe or ack was lost: probe again (L2).
		need := n.reads.waits[0].frame
		for i := range s.peers {
			p := &s.peers[i]
			if p.voter && p.frameAcked < need && n.now-p.lastSend >= uint64(n.cfg.TickRTO) {
				p.forceFrame = true
			}
		}
	}
	for i := range s.peers {
		p := &s.peers[i]
		if m, ok := n.view.Lookup(p.id); ok && m.Role == Learner && !n.hasChange(Promote, p.id) &&
			n.now-p.since >= uint64(n.cfg.TickJoin) {
			n.addChange(Change{Kind: Remove, Member: p.id, Epoch: n.view.Epoch})
		}
	}
	if len(n.changes) > 0 && !n.vc.active {
		n.startFastPath()
	}
}
