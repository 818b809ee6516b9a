package groupcomm

import (
	"fmt"
	"slices"
)

// pendingChange is a membership delta this member wants: as coordinator
// it batches them into its next proposal; otherwise it forwards them to
// the sequencer. A change stays queued until an installed view reflects it
// (L5), so a change lost with a dead proposer is proposed again.
type pendingChange struct {
	Change
	since uint64 // installed view when queued (for Readmit)
}

// Propose queues a membership delta. At the sequencer it is batched into
// the next view change (the fast path); elsewhere it is forwarded to the
// sequencer. It returns ErrInvalidChange for a delta that cannot apply to
// the installed view.
func (n *Node) Propose(c Change) error {
	if n.status == StatusRemoved {
		return ErrRemoved
	}
	if c.Member.IsZero() {
		return fmt.Errorf("%w: no member", ErrInvalidChange)
	}
	m, in := n.view.Lookup(c.Member)
	switch c.Kind {
	case AddLearner:
		if in {
			return fmt.Errorf("%w: %v is already a member", ErrInvalidChange, c.Member)
		}
	case Promote:
		if !in || m.Role != Learner {
			return fmt.Errorf("%w: %v is not a learner", ErrInvalidChange, c.Member)
		}
	case Remove, Readmit:
		if !in {
			return fmt.Errorf("%w: %v is not a member", ErrInvalidChange, c.Member)
		}
	case Lead:
		if !in || m.Role != Voter {
			return fmt.Errorf("%w: %v is not a voter", ErrInvalidChange, c.Member)
		}
		if n.view.Sequencer() == c.Member {
			return nil // already leads
		}
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidChange, c.Kind)
	}
	if c.Epoch != 0 && c.Epoch < n.view.Epoch {
		return fmt.Errorf("%w: epoch %d is older than the view's %d", ErrInvalidChange, c.Epoch, n.view.Epoch)
	}
	n.addChange(c)
	n.forwardChanges()
	return nil
}

// Leave asks the group to remove this member once its pending submissions
// are delivered (A14). The member stays an acceptor until the Commit, then
// Ready.Removed is set.
func (n *Node) Leave() {
	n.leaving = true
}

func (n *Node) addChange(c Change) {
	for _, p := range n.changes {
		if p.Kind == c.Kind && p.Member == c.Member {
			return
		}
	}
	n.changes = append(n.changes, pendingChange{Change: c, since: n.view.ID})
}

func (n *Node) hasChange(k ChangeKind, id MemberID) bool {
	for _, p := range n.changes {
		if p.Kind == k && p.Member == id {
			return true
		}
	}
	return false
}

// reflected reports whether an installed view v satisfies c (or makes it
// moot).
func (c *pendingChange) reflected(v *View) bool {
	m, in := v.Lookup(c.Member)
	switch c.Kind {
	case AddLearner:
		return in
	case Promote:
		return !in || m.Role == Voter
	case Remove:
		return !in
	case Readmit:
		return !in || v.ID > c.since
	case Lead:
		return !in || m.Role != Voter || v.Sequencer() == c.Member
	}
	return true
}

// pruneChanges drops the changes the installed view reflects, and those
// from a partition-map epoch older than the view's (S11).
func (n *Node) pruneChanges() {
	keep := n.changes[:0]
	for _, c := range n.changes {
		if c.reflected(&n.view) || (c.Epoch != 0 && c.Epoch < n.view.Epoch) {
			continue
		}
		keep = append(keep, c)
	}
	n.changes = keep
}

// forwardChanges sends the queued changes to the sequencer.
func (n *Node) forwardChanges() {
	if n.seq != nil || len(n.changes) == 0 || n.status != StatusNormal {
		return
	}
	cs := make([]Change, len(n.changes))
	for i, c := range n.changes {
		cs[i] = c.Change
	}
	n.follower.lastForward = n.now
	n.send(Message{Type: MsgPropose, To: n.view.Sequencer(), Changes: cs})
}

func (n *Node) onPropose(m *Message) {
	for _, c := range m.Changes {
		if c.Member.IsZero() || c.Kind < AddLearner || c.Kind > Lead {
			continue
		}
		pc := pendingChange{Change: c, since: n.view.ID}
		if pc.reflected(&n.view) && c.Kind != Readmit {
			continue
		}
		n.addChange(c)
	}
}

// buildProposal builds V_{w+1} from the installed view, the promises (slow
// path) and the queued changes. On the fast path every old voter stays
// unless removed; on the slow path a voter stays if it promised or is not
// suspected (A5). Old voters keep their order, promoted learners follow,
// then the other learners and the joiners. It returns nil when no voter
// would remain.
func (n *Node) buildProposal(fast bool) *View {
	w := &n.view
	cut := w.Cut
	if fast {
		cut = n.elog.last()
	} else {
		for _, p := range n.vc.promises {
			l := p.last
			if !n.bugs.SeqOnlyCompare && l.View != w.ID {
				l = w.Cut // S2: clamp reports below view w
			}
			if n.vsLess(cut, l) {
				cut = l
			}
		}
	}
	epoch := w.Epoch
	for _, c := range n.changes {
		epoch = max(epoch, c.Epoch)
	}
	removed := func(id MemberID) bool { return n.hasChange(Remove, id) }
	var voters, learners []Member
	for _, m := range w.Members {
		if m.Role != Voter || removed(m.ID) {
			continue
		}
		if !fast && !n.vc.promisedBy(m.ID) && (n.suspected[m.ID.Node] || n.replaced[m.ID]) {
			continue
		}
		if !fast && !n.vc.promisedBy(m.ID) && m.ID == w.Sequencer() && n.sequencerSuspected() {
			continue
		}
		voters = append(voters, Member{ID: m.ID, Role: Voter})
	}
	for _, m := range w.Members {
		if n.promotable(m) && !removed(m.ID) {
			voters = append(voters, Member{ID: m.ID, Role: Voter})
		}
	}
	if len(voters) == 0 {
		return nil
	}
	// A Lead change moves its voter to the front: the next view's
	// sequencer. The latest queued wins; the others keep their order.
	for i := len(n.changes) - 1; i >= 0; i-- {
		if c := n.changes[i]; c.Kind == Lead {
			if k := slices.IndexFunc(voters, func(v Member) bool { return v.ID == c.Member }); k > 0 {
				lead := voters[k]
				copy(voters[1:k+1], voters[:k])
				voters[0] = lead
			}
			if slices.ContainsFunc(voters, func(v Member) bool { return v.ID == c.Member }) {
				break
			}
		}
	}
	donor := voters[0].ID
	if len(voters) > 1 {
		donor = voters[1].ID
	}
	for _, m := range w.Members {
		if m.Role == Learner && !removed(m.ID) && !n.promotable(m) {
			learners = append(learners, Member{ID: m.ID, Role: Learner, Donor: donor})
		}
	}
	for _, c := range n.changes {
		if c.Kind != AddLearner {
			continue
		}
		if _, in := w.Lookup(c.Member); in {
			continue
		}
		dupNode := false
		for _, l := range learners {
			if l.ID.Node == c.Member.Node {
				dupNode = true
			}
		}
		for _, v := range voters {
			if v.ID.Node == c.Member.Node {
				dupNode = true // a node runs one member of a group: remove the old incarnation first
			}
		}
		if !dupNode {
			learners = append(learners, Member{ID: c.Member, Role: Learner, Donor: donor})
		}
	}
	return &View{
		Cluster: w.Cluster, Group: w.Group, GroupIncarnation: w.GroupIncarnation,
		ID: w.ID + 1, Members: append(voters, learners...), Cut: cut, Epoch: epoch,
	}
}

// promotable reports whether a learner may become a voter in the next
// view: a promotion was asked for and the learner said it restored its
// snapshot (LearnerReady). A learner without state never votes (S3, G7);
// a Promote for it waits.
func (n *Node) promotable(m Member) bool {
	return m.Role == Learner && n.hasChange(Promote, m.ID) && n.readyLearners[m.ID]
}

// startFastPath proposes the queued changes with ballot (w, 0, self),
// skipping phase 1 (A2): only the sequencer of w may, and only while it is
// NORMAL.
func (n *Node) startFastPath() {
	n.pruneChanges()
	if len(n.changes) == 0 {
		return
	}
	b := Ballot{Instance: n.view.ID, Round: 0, Node: n.self.Node}
	if !n.hs.Promised.Less(b) {
		return
	}
	p := n.buildProposal(true)
	if p == nil {
		return
	}
	if sameMembers(p, &n.view) && !n.hasKind(Readmit) {
		return // nothing can change yet (a Promote waits for LearnerReady)
	}
	n.logf("fast path", "proposal", p, "changes", fmt.Sprint(n.changes))
	vc := &n.vc
	vc.active, vc.ballot, vc.proposal, vc.promises = true, b, p, vc.promises[:0]
	n.hs.Promised = b
	n.hsDirty = true
	n.startAccept()
}

func (n *Node) hasKind(k ChangeKind) bool {
	for _, c := range n.changes {
		if c.Kind == k {
			return true
		}
	}
	return false
}

func sameMembers(a, b *View) bool {
	if len(a.Members) != len(b.Members) {
		return false
	}
	for i := range a.Members {
		if a.Members[i].ID != b.Members[i].ID || a.Members[i].Role != b.Members[i].Role {
			return false
		}
	}
	return true
}
