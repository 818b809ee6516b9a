package groupcomm

import "fmt"

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
	if n.status != StatusNormal {
		return
	}
	if _, in := n.view.Lookup(m.From); in {
		n.sendViewsAfter(m.From, 0) // it missed its Commit
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
		if _, in := n.view.Lookup(m.From); in && n.status == StatusNormal {
			n.addChange(Change{Kind: Readmit, Member: m.From, Epoch: n.view.Epoch})
			n.forwardChanges()
		}
	}
}

// onLearnerReady: a learner restored its snapshot; promote it.
func (n *Node) onLearnerReady(m *Message) {
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
// re-sends Ready until promoted.
func (n *Node) tickLearner() {
	me := n.selfRec
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
	n.send(Message{Type: MsgLearnerReady, To: n.view.Sequencer(), VS: n.delivered})
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
	n.send(Message{Type: MsgLearnerReady, To: n.view.Sequencer(), VS: pos})
	n.deliverStable()
	return nil
}
