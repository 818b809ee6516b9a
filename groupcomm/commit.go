package groupcomm

import "slices"

// Forwarding a decision. The proposer that decided V_{w+1} resends the
// Commit to every member of w and w+1 until each acknowledges (or shows a
// later view), L2. Its resends die with it, so others take the duty up:
// a restarted member for the view it installed (resumeCommit), a new
// sequencer for the members its view excluded (notifyRemoved), a removed
// member for the new view's members (removed.go); and a decision still
// owed to some members carries over to the next one (commitDuty), which
// tells them as much.

// commitDuty makes this member resend the decided record v to ids until
// each acknowledges (L2). Members still owed an older decision keep their
// place: the newer record tells them as much (a member behind asks for
// the views it missed; one that was removed learns it).
func (n *Node) commitDuty(v *View, ids []MemberID) {
	vc := &n.vc
	var carry []MemberID
	if vc.commit != nil && vc.commit.ID < v.ID {
		for _, t := range vc.commitTargets {
			if !t.acked {
				carry = append(carry, t.id)
			}
		}
	}
	c := v.Clone()
	vc.commit, vc.commitSends = &c, 0
	vc.commitTargets = vc.commitTargets[:0]
	for _, id := range append(ids, carry...) {
		if id == n.self || slices.ContainsFunc(vc.commitTargets, func(t commitTarget) bool { return t.id == id }) {
			continue
		}
		vc.commitTargets = append(vc.commitTargets, commitTarget{id: id})
	}
}

// maxCommitResends bounds the Commit resends of one decision.
const maxCommitResends = 100

func (n *Node) resendCommit() {
	vc := &n.vc
	if vc.commit == nil {
		return
	}
	// Resend every TickRTO at first, then slowly, until every member of w
	// and w+1 acknowledged (L2): a member cut off for long (a deposed
	// sequencer) still learns the view when it can be reached again. After
	// maxCommitResends the resends stop (a member gone for good must not
	// keep an idle group busy); the record still answers whoever asks.
	if vc.commitSends >= maxCommitResends {
		return
	}
	every := uint64(n.cfg.TickRTO)
	if vc.commitSends >= 30 {
		every *= 16
	}
	if n.now-vc.commitLast < every {
		return
	}
	n.resendCommitNow()
}

func (n *Node) resendCommitNow() {
	vc := &n.vc
	vc.commitLast = n.now
	vc.commitSends++
	pending := false
	for _, t := range vc.commitTargets {
		if !t.acked {
			pending = true
			v := vc.commit.Clone()
			n.send(Message{Type: MsgCommit, To: t.id, Proposal: &v})
		}
	}
	if !pending {
		vc.commit = nil
	}
}

func (n *Node) onCommitAck(m *Message) {
	n.onSameView(m)
	vc := &n.vc
	if vc.commit == nil || m.Installed < vc.commit.ID {
		return
	}
	for i := range vc.commitTargets {
		if vc.commitTargets[i].id == m.From {
			vc.commitTargets[i].acked = true
		}
	}
}

// notifyRemoved makes a new sequencer tell the members of the previous view
// that the installed view excludes: the proposer that decided it resends
// the Commit to them, but it may have crashed, and an idle removed member
// sends nothing that would make anyone answer it. Members that already
// know acknowledge at once.
func (n *Node) notifyRemoved() {
	vc := &n.vc
	if vc.commit != nil && vc.commit.ID == n.view.ID || len(n.history) < 2 {
		return // this member decided: it resends to them already
	}
	prev := &n.history[len(n.history)-2]
	if prev.ID+1 != n.view.ID {
		return
	}
	var ids []MemberID
	for _, m := range prev.Members {
		if _, in := n.view.Lookup(m.ID); !in && m.ID != n.self {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 && vc.commit == nil {
		return
	}
	n.commitDuty(&n.view, ids)
	vc.commitLast = n.now
}

// resumeCommit makes a restarted member forward the decision of its
// installed view to the members of the view before it and of its own: the
// proposer that decided may have crashed before every one of them learned
// it, and its resends died with it ("whoever learns the decision may
// forward it"). Members that installed it acknowledge at once.
func (n *Node) resumeCommit() {
	if len(n.history) < 2 || n.history[len(n.history)-2].ID+1 != n.view.ID {
		return
	}
	var ids []MemberID
	for _, m := range n.history[len(n.history)-2].Members {
		ids = append(ids, m.ID)
	}
	for _, m := range n.view.Members {
		ids = append(ids, m.ID)
	}
	n.commitDuty(&n.view, ids)
	n.resendCommitNow()
}
