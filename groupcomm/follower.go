package groupcomm

import "slices"

// followerState is what a non-sequencer member tracks in its view.
type followerState struct {
	lastHeard uint64 // tick of the last frame from the sequencer
	lastFrame uint64 // highest frame number received in this view
	retain    Viewstamp
	early     []Message // ORDER frames ahead of the held run (bounded)
	lastNack  uint64
	probing   bool // a Nack went out as a probe; the sequencer owes a frame

	contacts   []NodeID // a joiner's contacts
	joinTries  int
	snapAsks   int
	lastJoin   uint64
	lastAsk    uint64 // a restoring learner last asked its donor
	lastRejoin uint64

	lastForward  uint64 // queued changes last forwarded to the sequencer
	lastNeedView uint64
	// aheadView is the latest view a member that sent this one a view
	// record was in (aheadFrom): while this member's view is older, it
	// keeps asking for the next record, even idle (catchUp).
	aheadView    uint64
	aheadFrom    MemberID
	catchUpTries int
	// confirming: the member restarted into its persisted view and does
	// not know whether that view is still the group's. Until a quorum of
	// the view's voters say they are in it too, or a later view's record
	// arrives, it asks them all (catchUp): a member removed while it was
	// down, whose notices were lost with it, would otherwise sit NORMAL
	// and idle in its old view for good. confirmedBy: who said so.
	confirming  bool
	confirmedBy []NodeID

	fetch           *fetchState
	pendingCommit   *View
	pendingSrc      MemberID
	pendingAccept   *Message
	pendingAcceptAt uint64
}

// fetchState is an outstanding request for entries (lo, hi].
type fetchState struct {
	from   MemberID
	lo, hi Viewstamp
	at     uint64
	// refused lists the members that answered they no longer hold the
	// entries (compacted below lo, or a learner's snapshot above it).
	refused []MemberID
	// silent lists the members asked that never answered (down, or not
	// holding hi yet); tries counts the resends to the current source.
	silent []MemberID
	tries  int
}

const maxEarlyFrames = 64

// onOrder takes an ORDER frame of the installed view: appends the entries
// that extend the gap-free run (holding early frames and NACKing gaps),
// acks, and delivers up to Stable.
func (n *Node) onOrder(m *Message) {
	if n.seq != nil || m.From != n.view.Sequencer() && !n.bugs.SeqOnlyCompare {
		return
	}
	f := &n.follower
	f.lastHeard = n.now
	f.probing = false
	if m.Frame > f.lastFrame {
		f.lastFrame = m.Frame
	}
	if n.vsLess(f.retain, m.Retain) {
		f.retain = m.Retain
	}
	appendable := n.status == StatusNormal || (n.status == StatusFrozen && n.bugs.NoFreeze)
	if appendable && len(m.Entries) > 0 {
		if !n.takeEntries(m.Entries) {
			if len(f.early) < maxEarlyFrames {
				f.early = append(f.early, *m)
			}
			if n.now-f.lastNack >= 1 {
				f.lastNack = n.now
				n.send(Message{Type: MsgNack, To: m.From, VS: n.elog.last()})
			}
		}
		n.drainEarly()
	}
	if appendable && (len(m.Entries) > 0 || m.Reject) {
		n.out.ackDue = true
	}
	if n.status == StatusNormal || n.status == StatusFrozen {
		// A frozen member may still deliver up to a Stable of its view: what
		// was stable is in every cut (S1).
		if n.vsLess(n.stable, m.Stable) && (m.Stable.View == n.view.ID || m.Stable == n.view.Cut || n.bugs.SeqOnlyCompare) {
			n.stable = m.Stable
		}
		n.deliverStable()
	}
}

// takeEntries appends the entries of one frame that extend the held run.
// It reports false if the frame starts beyond the run (a gap).
func (n *Node) takeEntries(ents []Entry) bool {
	last := n.elog.last()
	if ents[0].VS.Seq > last.Seq+1 {
		return false
	}
	for i := range ents {
		e := &ents[i]
		if e.VS.Seq <= last.Seq {
			continue
		}
		if e.VS.View != n.view.ID && !n.bugs.SeqOnlyCompare {
			return true
		}
		n.elog.append(*e)
		n.out.entries = append(n.out.entries, *e)
		n.noteOrdered(e)
		last = e.VS
	}
	return true
}

// drainEarly appends held-back frames that now extend the run.
func (n *Node) drainEarly() {
	f := &n.follower
	for progress := true; progress && len(f.early) > 0; {
		progress = false
		keep := f.early[:0]
		for i := range f.early {
			fm := &f.early[i]
			last := fm.Entries[len(fm.Entries)-1].VS
			if last.Seq <= n.elog.last().Seq {
				continue // already held
			}
			if n.takeEntries(fm.Entries) {
				progress = true
				continue
			}
			keep = append(keep, *fm)
		}
		f.early = keep
	}
}

// deliverStable delivers, in order, every held entry up to Stable.
func (n *Node) deliverStable() {
	if n.restoring || n.out.newView != nil {
		return // after a NewView, deliveries wait for the next Ready
	}
	upto := minVS(n.stable, n.elog.last())
	if n.bugs.DeliverUnstable && (n.status == StatusNormal || n.status == StatusFrozen) {
		upto = n.elog.last() // planted bug: deliver before stability
	}
	for n.delivered.Seq < upto.Seq {
		e, ok := n.elog.at(n.delivered.Seq + 1)
		if !ok {
			return
		}
		n.deliver(e)
	}
}

// deliver hands one entry to the caller, marking duplicates. The entry is
// delivered in the view that ordered it (G4): the installed view, or, when
// a restarted member replays its stable log, the view it was delivered in
// before the crash.
func (n *Node) deliver(e *Entry) {
	dup := n.dedup.seen(e.ID)
	if !dup {
		n.dedup.add(e.ID)
	}
	n.out.deliveries = append(n.out.deliveries, Delivery{Entry: *e, InView: e.VS.View, Duplicate: dup})
	n.delivered = e.VS
	n.noteDelivered(e.ID)
	if n.seq != nil && len(n.seq.ordered) > 0 {
		delete(n.seq.ordered, e.ID)
	}
}

// tickFollower runs the follower's timers: suspect a silent sequencer while
// busy (TickFD), resend Nacks for gaps, retry fetches.
func (n *Node) tickFollower() {
	f := &n.follower
	if n.seq == nil && (n.status == StatusNormal || n.status == StatusFrozen) {
		if len(f.early) > 0 && n.now-f.lastNack >= uint64(n.cfg.TickRTO) {
			f.lastNack = n.now
			n.send(Message{Type: MsgNack, To: n.view.Sequencer(), VS: n.elog.last()})
		}
	}
	if ft := f.fetch; ft != nil && n.now-ft.at >= uint64(n.cfg.TickRTO) {
		n.retryFetch(ft)
	}
	if f.pendingAccept != nil && n.now-f.pendingAcceptAt >= uint64(4*n.cfg.TickRTO) {
		f.pendingAccept = nil // give up; the proposer resends its Accept
	}
	n.catchUp()
}

// noteAhead records that m's sender is in a later view than this member.
func (n *Node) noteAhead(m *Message) {
	if f := &n.follower; m.View > n.view.ID && m.View > f.aheadView {
		f.aheadView, f.aheadFrom = m.View, m.From
	}
}

// behind reports whether a member in a later view answered this one: its
// view may exclude it, so it must not settle (nor go quiescent) in its own.
func (n *Node) behind() bool {
	return (n.view.ID < n.follower.aheadView || n.follower.confirming) && n.status != StatusRemoved && n.status != StatusJoining
}

// onSameView: a member of this member's view answered its NeedView from
// the same view. A quorum of such answers ends the restart's doubt: a
// later view needed a quorum of this view's voters to install it.
func (n *Node) onSameView(m *Message) {
	f := &n.follower
	if !f.confirming || m.Installed != n.view.ID {
		return
	}
	if mm, in := n.view.Lookup(m.From); in && mm.Role == Voter && !slices.Contains(f.confirmedBy, m.From.Node) {
		f.confirmedBy = append(f.confirmedBy, m.From.Node)
	}
	n.checkConfirmed()
}

// checkConfirmed ends a restarted member's doubt once the voters that
// said they are in its view, with itself if it is a voter (its persisted
// state: it never accepted a later view), form a quorum of the view.
func (n *Node) checkConfirmed() {
	f := &n.follower
	have := len(f.confirmedBy)
	if n.selfRec.Role == Voter {
		have++
	}
	if f.confirming && n.status == StatusNormal && have >= n.view.Quorum() {
		f.confirming, f.confirmedBy = false, nil
	}
}

// catchUp asks the member known to be ahead for the record after this
// member's view. A restarted member walks forward record by record
// (sendViewsAfter): without this, one that installed an old view in which
// it is a voter would sit NORMAL and idle there although a later view
// removed it, since nothing makes an idle member speak.
// Every other try asks the members of its view too, in case the member
// that was ahead is gone.
func (n *Node) catchUp() {
	f := &n.follower
	if !n.behind() || f.pendingCommit != nil {
		return // (with the next record at hand, it fetches its entries)
	}
	doubt := f.confirming && n.view.ID >= f.aheadView // nobody is known to be ahead
	if doubt {
		if n.status != StatusNormal {
			return // a recovering member asks by Rejoin
		}
		if n.checkConfirmed(); !f.confirming {
			return
		}
	}
	interval := uint64(n.cfg.TickRTO)
	if doubt {
		// Asking in doubt backs off: the members that could answer may be
		// down for long.
		interval <<= min(f.catchUpTries/2, 5)
	}
	if f.lastNeedView != 0 && n.now-f.lastNeedView < interval {
		return
	}
	f.lastNeedView = n.now
	f.catchUpTries++
	if f.catchUpTries%2 == 1 && n.view.ID < f.aheadView {
		n.send(Message{Type: MsgNeedView, To: f.aheadFrom})
		return
	}
	for _, m := range n.view.Members {
		if m.ID != n.self {
			n.send(Message{Type: MsgNeedView, To: m.ID})
		}
	}
}

// busy reports whether this member has work in flight, so that a silent
// sequencer is worth suspecting (L3: per-group timers run only while busy).
func (n *Node) busy() bool {
	return n.origin.count() > 0 || n.delivered.Less(n.elog.last()) || n.follower.probing
}

// sequencerSuspected reports whether this member suspects the sequencer of
// its view: the caller's detector says so, its silence while busy exceeded
// TickFD, or this member has been frozen past TickVC (L3).
func (n *Node) sequencerSuspected() bool {
	sq := n.view.Sequencer()
	if sq == n.self {
		return n.status == StatusFrozen && n.now-n.vc.frozenSince >= uint64(n.cfg.TickVC) ||
			n.status == StatusRecovering
	}
	if n.suspected[sq.Node] || n.replaced[sq] || n.status == StatusRecovering {
		return true
	}
	if n.status == StatusFrozen && n.now-n.vc.frozenSince >= uint64(n.cfg.TickVC) {
		return true
	}
	return n.busy() && n.now-n.follower.lastHeard >= uint64(n.cfg.TickFD)
}

// sendFetch asks a member for the entries (lo, hi].
func (n *Node) sendFetch(from MemberID, lo, hi Viewstamp) {
	if from.IsZero() || from == n.self {
		return
	}
	f := &fetchState{from: from, lo: lo, hi: hi, at: n.now}
	if old := n.follower.fetch; old != nil && old.hi == hi {
		f.refused, f.silent = old.refused, old.silent
		if old.from == from {
			f.tries = old.tries
		}
	}
	n.follower.fetch = f
	m := Message{Type: MsgFetch, To: from, VS: lo, Hi: hi}
	n.send(m)
}

// retryFetch resends a fetch that got no answer within TickRTO, and after
// two silent tries asks another voter: the one asked may be gone for good
// (it crashed right after sending the decision this member waits to
// install), and nothing else would make this member speak. A member absent
// from the view it waits to install needs the entries only to tell its
// clients what became of their updates: once every voter of that view
// stayed silent, it stops with those outcomes unknown (as when they all
// refuse), and its host joins again as a learner.
func (n *Node) retryFetch(ft *fetchState) {
	ft.tries++
	if ft.tries < 2 {
		n.sendFetch(ft.from, ft.lo, ft.hi)
		return
	}
	if !slices.Contains(ft.silent, ft.from) {
		ft.silent = append(ft.silent, ft.from)
	}
	v := &n.view
	pc := n.follower.pendingCommit
	if pc != nil {
		v = pc
	}
	// The voters of the view waited for, then those of the installed one
	// (a member removed meanwhile still holds the entries it had).
	var next MemberID
	for _, id := range append(v.Voters(), n.view.Voters()...) {
		if id != n.self && !slices.Contains(ft.refused, id) && !slices.Contains(ft.silent, id) {
			next = id
			break
		}
	}
	if next.IsZero() {
		if _, in := v.Lookup(n.self); pc != nil && !in {
			n.follower.fetch = nil
			n.removedUnseen(pc)
			return
		}
		ft.silent = nil // a member of the view keeps asking around: a quorum holds the entries
		next = ft.from
	}
	ft.tries = 0
	n.sendFetch(next, ft.lo, ft.hi)
}

// onFetch answers with the entries asked for. It answers only if it holds
// the entry at Hi itself: a log that holds viewstamp Hi holds the one
// chain of entries leading to it, so what it sends is what every member
// holds (a log without Hi may hold entries a later cut discarded).
func (n *Node) onFetch(m *Message) {
	lo := m.VS
	if lo.Seq < n.elog.base.Seq || m.Hi.Seq <= n.elog.base.Seq && m.Hi != n.elog.base {
		// Compacted: cannot help. Say so, so a member too far behind stops
		// waiting.
		n.logf("fetch: compacted", "from", m.From, "lo", lo, "hi", m.Hi, "base", n.elog.base)
		n.send(Message{Type: MsgEntries, To: m.From, VS: lo, Hi: m.Hi, Reject: true})
		return
	}
	if vs, ok := n.elog.vsAt(m.Hi.Seq); !ok || vs != m.Hi {
		return // not (yet) on this member's log
	}
	ents := n.elog.slice(lo.Seq, m.Hi.Seq)
	if len(ents) > 4*n.cfg.MaxFrameEntries {
		ents = ents[:4*n.cfg.MaxFrameEntries]
	}
	n.send(Message{Type: MsgEntries, To: m.From, Entries: ents, VS: lo, Hi: m.Hi})
}

// nextFetchSource picks a voter (of the view being installed, else of the
// installed one) that has not refused the fetch yet. It gives up once a
// quorum of those voters refused (a voter that is down would never
// answer), and at once for a view this member is not in: it needs the
// entries only to tell its clients what became of their updates.
func (n *Node) nextFetchSource(ft *fetchState) (MemberID, bool) {
	v := &n.view
	if pc := n.follower.pendingCommit; pc != nil {
		v = pc
		if _, in := pc.Lookup(n.self); !in {
			return MemberID{}, false
		}
	}
	refused := 0
	for _, id := range v.Voters() {
		if slices.Contains(ft.refused, id) {
			refused++
		}
	}
	if refused >= v.Quorum() {
		return MemberID{}, false
	}
	for _, id := range v.Voters() {
		if id != n.self && !slices.Contains(ft.refused, id) {
			return id, true
		}
	}
	return MemberID{}, false
}

// onEntries appends fetched entries that extend the held run, then retries
// whatever waited for them (an install, an accept, a proposal).
func (n *Node) onEntries(m *Message) {
	if ft := n.follower.fetch; ft == nil || ft.hi != m.Hi {
		return // an answer to a fetch this member no longer makes
	}
	if m.Reject {
		// The entries are gone from the responder's log. Ask the other
		// voters (the one that answered may be a learner that restored a
		// snapshot, or a member that compacted more). When a quorum of
		// them refused, or one that is past the view this member waits to
		// install (the group went on without it, and compacted), this
		// member is too far behind to catch up from the log (L9): it stops,
		// with the outcome of its pending submissions unknown; its host
		// joins again as a learner and gets a snapshot (onJoin removes the
		// old incarnation).
		ft := n.follower.fetch
		if !slices.Contains(ft.refused, m.From) {
			ft.refused = append(ft.refused, m.From)
		}
		pc := n.follower.pendingCommit
		// A voter of the view this member waits to install that is past it
		// (and compacted) shows the group went on without this member.
		movedOn := pc != nil && m.View > pc.ID && pc.IsVoter(m.From)
		if next, ok := n.nextFetchSource(ft); ok && !movedOn {
			n.sendFetch(next, ft.lo, ft.hi)
			return
		}
		if pc := n.follower.pendingCommit; pc != nil {
			n.removedUnseen(pc)
		}
		return
	}
	last := n.elog.last()
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.VS.Seq <= last.Seq {
			continue
		}
		if e.VS.Seq != last.Seq+1 {
			break
		}
		n.elog.append(*e)
		n.out.entries = append(n.out.entries, *e)
		n.noteOrdered(e)
		last = e.VS
	}
	if ft := n.follower.fetch; ft != nil && !n.vsLess(n.elog.last(), ft.hi) {
		n.follower.fetch = nil
	} else if ft != nil && len(m.Entries) > 0 {
		n.sendFetch(ft.from, n.elog.last(), ft.hi)
	}
	n.retryWaiting()
}
