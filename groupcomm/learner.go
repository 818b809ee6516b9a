package groupcomm

import (
	"fmt"
	"slices"
)

// sendJoin asks the contacts (round robin) to add this new member as a
// learner.
func (n *Node) sendJoin() {
	f := &n.follower
	f.lastJoin = n.now
	if len(f.contacts) == 0 {
		return
	}
	f.joinTries++
	to := f.contacts[f.joinTries%len(f.contacts)]
	n.send(Message{Type: MsgJoin, To: MemberID{Node: to}})
}

// sendRejoin asks every member of the latest installed view to re-admit
// this recovering member (S7).
func (n *Node) sendRejoin() {
	n.follower.lastRejoin = n.now
	for _, m := range n.view.Members {
		if m.ID != n.self {
			n.send(Message{Type: MsgRejoin, To: m.ID})
		}
	}
}

// onJoin queues AddLearner for a new member (and the removal of an older
// incarnation on the same node).
func (n *Node) onJoin(m *Message) {
	if old, ok := n.view.LookupNode(m.From.Node); ok && old.ID.Incarnation < m.From.Incarnation {
		// A newer incarnation of that node exists: the old one is gone for
		// good (its state with it), whatever the failure detector says of
		// the node. A sequencer that was replaced is suspected (L3), and a
		// proposal leaves the replaced member out.
		n.replaced[old.ID] = true
	}
	if n.status != StatusNormal {
		return
	}
	if _, in := n.view.Lookup(m.From); in {
		// It missed its Commit: a joiner installs the latest view that
		// lists it (it has no earlier view to walk from).
		c := n.view.Clone()
		n.send(Message{Type: MsgCommit, To: m.From, Proposal: &c})
		return
	}
	if old, ok := n.view.LookupNode(m.From.Node); ok && old.ID.Incarnation < m.From.Incarnation {
		n.addChange(Change{Kind: Remove, Member: old.ID, Epoch: n.view.Epoch})
	}
	if old, ok := n.view.LookupNode(m.From.Node); ok && old.ID.Incarnation > m.From.Incarnation {
		return // a stale incarnation
	}
	n.addChange(Change{Kind: AddLearner, Member: m.From, Epoch: n.view.Epoch})
	n.forwardChanges()
}

// onRejoin: a restarted member asks to be re-admitted.
func (n *Node) onRejoin(m *Message) {
	switch {
	case n.status == StatusJoining:
	case m.View < n.view.ID:
		n.sendViewsAfter(m.From, m.View)
	case m.View > n.view.ID:
		n.askView(m.From)
	default:
		if !n.bugs.PromoteStaleReady {
			delete(n.readyLearners, m.From) // it restarted: its readiness is old
		}
		if _, in := n.view.Lookup(m.From); in && n.status == StatusNormal {
			n.addChange(Change{Kind: Readmit, Member: m.From, Epoch: n.view.Epoch})
			n.forwardChanges()
		}
	}
}

// onLearnerReady: a learner restored its snapshot; promote it. The
// message is of the installed view (Step fences older ones) and names the
// learner's delivered position, which covers the view's cut.
func (n *Node) onLearnerReady(m *Message) {
	if m.VS.Less(n.view.Cut) && !n.bugs.PromoteStaleReady {
		return // stale: the learner's state is from before this view's cut
	}
	if mm, ok := n.view.Lookup(m.From); ok && mm.Role == Learner {
		n.readyLearners[m.From] = true
		n.addChange(Change{Kind: Promote, Member: m.From, Epoch: n.view.Epoch})
		n.forwardChanges()
	}
}

// onSnapshotAsk: a learner asks its donor (again) for a snapshot.
func (n *Node) onSnapshotAsk(m *Message) {
	if n.status != StatusNormal || n.restoring {
		return
	}
	if mm, ok := n.view.Lookup(m.From); ok && mm.Role == Learner {
		n.queueSnapshot(m.From)
	}
}

// queueSnapshot asks the caller for a snapshot for learner to; its
// position is the delivered position when Ready is built.
func (n *Node) queueSnapshot(to MemberID) {
	for _, s := range n.out.snapshots {
		if s.To == to {
			return
		}
	}
	n.out.snapshots = append(n.out.snapshots, SnapshotRequest{To: to})
}

// tickLearner: a restoring learner re-asks its donor; a restored learner
// re-sends Ready until promoted; a learner frozen by the Accept of its
// promotion asks the voters for the decision.
func (n *Node) tickLearner() {
	me := n.selfRec
	if me.Role == Learner && n.status == StatusFrozen {
		n.askDecision()
		return
	}
	if me.Role != Learner || n.status != StatusNormal {
		return
	}
	f := &n.follower
	every := uint64(8 * n.cfg.TickVC)
	if n.now-f.lastAsk < every {
		return
	}
	f.lastAsk = n.now
	if n.restoring {
		// Ask the donor first, then rotate over the voters (L6): a donor
		// may be dead or behind.
		to := me.Donor
		if voters := n.view.Voters(); f.snapAsks > 0 && len(voters) > 0 {
			to = voters[f.snapAsks%len(voters)]
		}
		f.snapAsks++
		if !to.IsZero() {
			n.send(Message{Type: MsgSnapshotAsk, To: to})
		}
		return
	}
	n.sendLearnerReady()
}

// sendLearnerReady tells the sequencer this learner holds state from the
// cut of the installed view on (it delivered up to n.delivered).
func (n *Node) sendLearnerReady() {
	n.follower.lastAsk = n.now
	if sq := n.view.Sequencer(); sq != n.self {
		n.send(Message{Type: MsgLearnerReady, To: sq, VS: n.delivered})
	}
}

// CheckRestore reports whether Restore would take a snapshot at pos, without
// changing anything: a caller checks before it replaces its state machine.
func (n *Node) CheckRestore(pos Viewstamp) error {
	if !n.restoring || n.status != StatusNormal {
		return ErrNotLearner
	}
	if pos.Less(n.view.Cut) {
		return fmt.Errorf("%w: snapshot at %v, cut %v", ErrStaleSnapshot, pos, n.view.Cut)
	}
	if n.elog.last().Seq >= pos.Seq && pos.Seq > n.elog.base.Seq {
		if vs, ok := n.elog.vsAt(pos.Seq); !ok || vs != pos {
			return fmt.Errorf("%w: snapshot position %v not on this member's log", ErrStaleSnapshot, pos)
		}
	}
	return nil
}

// Restore tells a restoring learner that the caller restored and persisted
// a snapshot at position pos with the dedup table dedup (both from the
// donor's SnapshotRequest). The learner then delivers exactly the entries
// after pos (G7) and asks to be promoted.
func (n *Node) Restore(pos Viewstamp, dedup []byte) error {
	if err := n.CheckRestore(pos); err != nil {
		return err
	}
	d, err := decodeDedup(dedup)
	if err != nil {
		return err
	}
	if n.elog.last().Seq < pos.Seq {
		n.elog.reset(pos)
	} else if pos.Seq > n.elog.base.Seq {
		n.elog.compactTo(pos.Seq)
	}
	n.dedup = d
	n.delivered = pos
	n.stable = maxVS(n.stable, pos)
	n.restoring = false
	n.follower.lastAsk = n.now
	n.out.ackDue = true
	n.sendLearnerReady()
	n.deliverStable()
	return nil
}

// askDecision: a learner that accepted the proposal promoting it is frozen
// until it installs the next view, but it runs no view change itself (it
// is no acceptor of its view): if the Commit does not come, it asks the
// voters, one at a time, for the records after its view (a member that
// installed them answers; A7).
func (n *Node) askDecision() {
	f := &n.follower
	if n.now-n.vc.frozenSince < uint64(n.cfg.TickVC) || n.now-f.lastAsk < uint64(4*n.cfg.TickRTO) {
		return
	}
	f.lastAsk = n.now
	var to []MemberID
	to = append(to, n.view.Voters()...)
	if av := n.hs.AcceptedView; av != nil {
		for _, id := range av.Voters() {
			if id != n.self && !slices.Contains(to, id) {
				to = append(to, id)
			}
		}
	}
	if len(to) == 0 {
		return
	}
	f.snapAsks++
	n.send(Message{Type: MsgNeedView, To: to[f.snapAsks%len(to)]})
}
