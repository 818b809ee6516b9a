package groupcomm

const maxHistory = 256

// onCommit learns a decided view record V_{w+1} (or a later one).
func (n *Node) onCommit(m *Message) {
	p := m.Proposal
	if p == nil || p.Cluster != n.cfg.Cluster || p.Group != n.cfg.Group || p.GroupIncarnation != n.cfg.GroupIncarnation {
		return
	}
	if n.status == StatusJoining {
		if mm, ok := p.Lookup(n.self); ok && mm.Role == Learner {
			n.installJoiner(p)
		}
		n.send(Message{Type: MsgCommitAck, To: m.From, Installed: n.view.ID})
		return
	}
	n.noteAhead(m)
	if p.ID <= n.view.ID {
		n.send(Message{Type: MsgCommitAck, To: m.From, Installed: n.view.ID})
		n.catchUp()
		return
	}
	if p.ID > n.view.ID+1 {
		mm, ok := p.Lookup(n.self)
		if ok && mm.Role == Learner && n.restoring {
			n.installView(p) // a learner without state can jump: it needs a snapshot anyway
			return
		}
		if !ok {
			// A later view without this member: it was removed in a view it
			// never saw (a member is never re-admitted under the same id
			// except as a learner), and it cannot know what was delivered
			// meanwhile.
			n.removedUnseen(p)
			return
		}
		n.askView(m.From)
		return
	}
	n.tryInstall(p, m.From)
	if n.view.ID >= p.ID || n.status == StatusRemoved {
		n.send(Message{Type: MsgCommitAck, To: m.From, Installed: p.ID})
	}
	n.catchUp()
}

// tryInstall installs p = V_{w+1} if this member holds every entry up to
// its cut (a learner without state needs none), else fetches them first.
func (n *Node) tryInstall(p *View, src MemberID) {
	if n.out.newView != nil {
		// One view per Ready: the caller sees each NewView after exactly
		// the deliveries of the view before it. Install at Advance.
		v := p.Clone()
		n.follower.pendingCommit = &v
		n.follower.pendingSrc = src
		return
	}
	if !n.restoring && !n.covers(p.Cut) {
		v := p.Clone()
		n.follower.pendingCommit = &v
		n.follower.pendingSrc = src
		n.logf("install waits for entries", "view", v, "held", n.elog.last(), "from", src)
		if src != n.self {
			n.sendFetch(src, n.elog.last(), p.Cut)
		}
		return
	}
	n.installView(p)
}

// retryWaiting resumes what waited for entries: an install, an accept, a
// proposal in its fetch phase.
func (n *Node) retryWaiting() {
	f := &n.follower
	if pc := f.pendingCommit; pc != nil && pc.ID == n.view.ID+1 && n.out.newView == nil && (n.restoring || n.covers(pc.Cut)) {
		f.pendingCommit = nil
		n.installView(pc)
		return
	}
	if pa := f.pendingAccept; pa != nil && n.covers(pa.Proposal.Cut) {
		f.pendingAccept = nil
		n.onAccept(pa)
	}
	if vc := &n.vc; vc.active && vc.phase == phaseFetch && n.covers(vc.proposal.Cut) {
		n.startAccept()
	}
}

// installView installs p = V_{w+1}: deliver the entries up to the cut in
// view w (A6), truncate everything above the cut (S2), persist the record,
// emit NewView, then take the new role: sequencer, follower, learner, or
// removed (A5).
func (n *Node) installView(p *View) {
	v := p.Clone()
	if !n.restoring {
		if n.vsLess(n.stable, v.Cut) {
			n.stable = v.Cut
		}
		for n.delivered.Seq < v.Cut.Seq {
			e, ok := n.elog.at(n.delivered.Seq + 1)
			if !ok {
				break
			}
			n.deliver(e)
		}
	}
	if v.Cut.Seq < n.elog.last().Seq {
		n.truncateAbove(v.Cut)
	}
	me, in := v.Lookup(n.self)
	if n.restoring || (in && me.Role == Learner && n.restoringIn(&v)) {
		// A learner without state needs a snapshot at a position at or
		// after this cut (S9); it buffers the entries after the cut.
		n.restoring = true
		if n.elog.last().Less(v.Cut) {
			n.elog.reset(v.Cut)
		}
		n.follower.lastAsk = n.now
	}
	n.stable = v.Cut
	n.persisted = minVS(n.persisted, n.elog.last())
	if v.ID > n.view.ID {
		// A restarted member's doubt outlives this install: the record
		// may come from a member as stale as it is (one that restarted
		// and forwards its own view's decision). Only a quorum of the
		// new view ends it (onSameView).
		n.follower.confirmedBy = nil
	}
	n.installRecord(v)
	n.logf("installed", "view", v, "base", n.elog.base, "last", n.elog.last())
	nv := v.Clone()
	n.out.newView = &nv
	if !in {
		n.status = StatusRemoved
		n.seq = nil
		n.abandonPending()
		n.failReads(ErrRemoved)
		n.out.removed = true
		n.removedAt = v.ID
		n.lingerWith(&v)
		return
	}
	n.status = StatusNormal
	n.becomeRoleInView()
}

// removedUnseen stops a member that finds itself absent from a view well
// after its own: its pending submissions' outcomes are unknown.
func (n *Node) removedUnseen(p *View) {
	n.logf("removed in a later view", "view", p)
	o := &n.origin
	for _, c := range o.queue {
		if o.pending[c] != nil {
			n.out.outcomes = append(n.out.outcomes, Outcome{ID: EntryID{Origin: n.self, Counter: c}, Err: ErrOutcomeUnknown})
		}
	}
	o.pending, o.queue, o.unsent = map[uint64]*pendingSubmit{}, nil, 0
	n.status = StatusRemoved
	n.removedAt = p.ID
	n.seq = nil
	n.failReads(ErrRemoved)
	n.out.removed = true
}

// restoringIn reports whether this member enters v as a learner that must
// restore a snapshot: a joiner, or a learner that never restored.
func (n *Node) restoringIn(v *View) bool {
	if n.restoring {
		return true
	}
	_, wasMember := n.view.Lookup(n.self)
	return !wasMember
}

// truncateAbove drops every entry above cut, in memory and (through
// Ready.TruncateAbove) on disk.
func (n *Node) truncateAbove(cut Viewstamp) {
	// Copy the kept prefix: ORDER messages already handed to the caller may
	// still reference the old backing array.
	kept := append([]Entry(nil), n.elog.slice(n.elog.base.Seq, cut.Seq)...)
	n.elog.entries = kept
	t := cut
	if n.out.truncAbove != nil {
		t = minVS(t, *n.out.truncAbove)
	}
	n.out.truncAbove = &t
	keep := n.out.entries[:0]
	for _, e := range n.out.entries {
		if e.VS.Seq <= cut.Seq {
			keep = append(keep, e)
		}
	}
	n.out.entries = keep
}

// installRecord makes v the installed view and resets per-view state.
func (n *Node) installRecord(v View) {
	n.view = v
	n.selfRec, _ = v.Lookup(n.self)
	if len(n.history) == 0 || n.history[len(n.history)-1].ID < v.ID {
		n.history = append(n.history, v.Clone())
		if len(n.history) > maxHistory {
			n.history = n.history[len(n.history)-maxHistory:]
		}
	}
	n.hs.Installed = v.Clone()
	if n.hs.Accepted.Instance < v.ID {
		n.hs.Accepted, n.hs.AcceptedView = Ballot{}, nil
	}
	n.hsDirty = true
	n.dedup.retain(&v)
	// A learner's readiness holds for the view it was sent in: it says the
	// learner holds state up to that view's cut. In a new view each ready
	// learner says so again (becomeRoleInView), so a promotion never rests
	// on a LearnerReady sent before a restart or a readmission.
	for id := range n.readyLearners {
		if m, ok := v.Lookup(id); !ok || m.Role != Learner || !n.bugs.PromoteStaleReady {
			delete(n.readyLearners, id)
		}
	}
	n.seq = nil
	n.failReads(ErrNoQuorum)
	for id := range n.replaced {
		if _, in := v.Lookup(id); !in {
			delete(n.replaced, id)
		}
	}
	f := &n.follower
	f.lastHeard, f.lastFrame, f.early, f.fetch, f.probing = n.now, 0, nil, nil, false
	f.pendingCommit, f.pendingAccept = nil, nil
	f.retain = Viewstamp{}
	vc := &n.vc
	vc.active, vc.wanting, vc.frozenSince, vc.maxRound, vc.lastWaiting = false, false, 0, 0, nil
	vc.promises, vc.proposal, vc.acceptedBy = vc.promises[:0], nil, nil
}

// becomeRoleInView takes this member's role in the installed view.
func (n *Node) becomeRoleInView() {
	me, _ := n.view.Lookup(n.self)
	if me.Role == Voter && n.restoring {
		if n.bugs.PromoteStaleReady {
			n.restoring = false // planted bug: a voter without its state
		} else {
			// Promoted without state: a stale LearnerReady. It must never
			// deliver or serve reads from nothing; it stays restoring and
			// asks to be removed, and its host joins again as a learner.
			n.log.Error("groupcomm: promoted to voter without state; asking to be removed", "node", n.self.Node,
				"group", n.cfg.Group, "view", n.view.ID)
			n.addChange(Change{Kind: Remove, Member: n.self, Epoch: n.view.Epoch})
		}
	}
	if n.view.Sequencer() == n.self {
		n.becomeSequencer()
	}
	n.pruneChanges()
	n.forwardChanges()
	if !n.restoring {
		n.resubmitAll()
	}
	for _, m := range n.view.Members {
		if m.Role == Learner && m.Donor == n.self && n.hasJustJoined(m.ID) {
			n.queueSnapshot(m.ID)
		}
	}
	if me.Role == Learner && !n.restoring && n.status == StatusNormal {
		n.sendLearnerReady() // readiness is per view
	}
}

// hasJustJoined reports whether id was not a member of the previous view.
func (n *Node) hasJustJoined(id MemberID) bool {
	if len(n.history) < 2 {
		return true
	}
	prev := &n.history[len(n.history)-2]
	_, in := prev.Lookup(id)
	return !in
}

// installJoiner installs the first view of a joiner.
func (n *Node) installJoiner(p *View) {
	v := p.Clone()
	n.elog.reset(v.Cut)
	n.stable, n.persisted = v.Cut, v.Cut
	n.restoring = true
	n.installRecord(v)
	n.logf("joined", "view", v)
	nv := v.Clone()
	n.out.newView = &nv
	n.status = StatusNormal
	n.follower.lastAsk = n.now
	n.becomeRoleInView()
}

// askView asks a member in a later view for the record after ours, at
// most once per TickRTO (each answer brings one record; the next is asked
// after installing it).
func (n *Node) askView(to MemberID) {
	if n.follower.lastNeedView != 0 && n.now-n.follower.lastNeedView < uint64(n.cfg.TickRTO) {
		return
	}
	n.follower.lastNeedView = n.now
	n.send(Message{Type: MsgNeedView, To: to})
}

// sendViewsAfter answers a member in an older view with the record of the
// view after its view (Decided, S5; "older view: reply with your record",
// A7); the latest record if that one is no longer kept.
func (n *Node) sendViewsAfter(to MemberID, after uint64) {
	if n.view.ID == after && n.status == StatusNormal {
		// It is in this member's view: say so (onSameView).
		n.send(Message{Type: MsgCommitAck, To: to, Installed: n.view.ID})
		return
	}
	if n.view.ID <= after {
		return
	}
	for i := range n.history {
		if v := &n.history[i]; v.ID == after+1 {
			c := v.Clone()
			n.send(Message{Type: MsgCommit, To: to, Proposal: &c})
			return
		}
	}
	c := n.view.Clone()
	n.send(Message{Type: MsgCommit, To: to, Proposal: &c})
	if _, in := n.view.Lookup(to); in && n.status == StatusNormal {
		// The record it needs is gone (this member restarted since): the
		// member cannot walk forward view by view, so it is removed and
		// joins again as a learner with a snapshot (L9).
		n.addChange(Change{Kind: Remove, Member: to, Epoch: n.view.Epoch})
		n.forwardChanges()
	}
}
