package groupcomm

// A member that a view change removed (or that left) keeps the decision
// until every member of the new view acknowledged it: in a 2-voter view, a
// leaver that vanishes before the other voter learned the Commit would
// leave that voter waiting for a quorum of 2 forever (it may have accepted
// the proposal, but only the leaver knows it was decided). Meanwhile the
// removed member answers every message of its old view with the record,
// and resends the Commit; once each member of the new view acknowledged
// (or showed a later view), it is Retired and the caller may drop it.

// lingerWith makes a removed member keep resending the decision v to the
// members of v until they acknowledge it.
func (n *Node) lingerWith(v *View) {
	vc := &n.vc
	if vc.commit == nil || vc.commit.ID != v.ID {
		// Learned from the proposer, which resends itself: forward only if
		// the members have not acknowledged after a while (the first
		// resend comes after TickRTO).
		var ids []MemberID
		for _, m := range v.Members {
			ids = append(ids, m.ID)
		}
		n.commitDuty(v, ids)
		vc.commitLast = n.now
		return
	}
	// This member decided: only the new view's members still matter.
	keep := vc.commitTargets[:0]
	for _, t := range vc.commitTargets {
		if _, in := v.Lookup(t.id); in {
			keep = append(keep, t)
		}
	}
	vc.commitTargets = keep
	if len(vc.commitTargets) == 0 {
		vc.commit = nil
	} else if vc.commitLast != n.now {
		n.resendCommitNow()
	}
}

// stepRemoved handles a message at a removed member: acknowledgements of
// the decision, fetches of entries it holds, and anything from a member behind it (answered with the
// records after its view).
func (n *Node) stepRemoved(m *Message) {
	switch {
	case m.Type == MsgCommitAck:
		n.onCommitAck(m)
	case m.Type == MsgCommit:
		n.send(Message{Type: MsgCommitAck, To: m.From, Installed: max(n.view.ID, n.removedAt)})
	case m.Type == MsgFetch:
		// Entries it holds are as good as anyone's (onFetch answers only
		// with the one chain up to Hi). Answering a fetch with the record
		// instead would send the asker back here: it waits for entries to
		// install that very record.
		n.onFetch(m)
	case m.Type == MsgNeedView || m.View < n.view.ID:
		n.sendViewsAfter(m.From, m.View)
	}
}

// Retired reports whether a removed member has nothing left to do: every
// member of the view that excluded it acknowledged the decision. The
// caller may then drop it (it answers nothing more).
func (n *Node) Retired() bool {
	return n.status == StatusRemoved && n.vc.commit == nil
}
