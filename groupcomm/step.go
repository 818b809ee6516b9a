package groupcomm

import "fmt"

// Step hands the node one message from the network. It drops messages of
// another cluster, group or group incarnation, messages addressed to
// another incarnation of this member, and messages of the installed view
// from non-members (fencing). A message from an older view is not acted
// on: the sender gets the view records after its view. A message from a
// newer view makes this member ask the sender for those records. Every
// handler is idempotent: duplicates are harmless.
func (n *Node) Step(m Message) error {
	if m.Type == 0 || m.Type > maxMsgType {
		return fmt.Errorf("%w: unknown message type %d", ErrDecode, m.Type)
	}
	if m.Cluster != n.cfg.Cluster || m.Group != n.cfg.Group || m.GroupIncarnation != n.cfg.GroupIncarnation {
		return nil
	}
	if m.To.Node != 0 && m.To.Node != n.self.Node || m.From.Node == 0 {
		return nil
	}
	if m.To.Incarnation != 0 && m.To.Incarnation != n.self.Incarnation {
		// Addressed to an older incarnation of this member: the sender is
		// behind (it may still count that incarnation as a member, or wait
		// for it). Tell it what became of it: the records after its view
		// (A7), instead of a silence it would wait on forever.
		switch {
		case m.To.Incarnation > n.self.Incarnation:
		case n.status == StatusJoining:
			// This node's new incarnation wants in: tell the sender, who
			// counts the old one as a member (onJoin), so that it replaces
			// it (and suspects it, if it was its sequencer).
			if n.now != n.follower.lastJoin {
				n.follower.lastJoin = n.now
				n.send(Message{Type: MsgJoin, To: MemberID{Node: m.From.Node}})
			}
		case m.View < n.view.ID:
			n.sendViewsAfter(m.From, m.View)
		}
		return nil
	}
	if n.status == StatusRemoved {
		n.stepRemoved(&m)
		return nil
	}
	switch m.Type {
	case MsgCommit:
		n.onCommit(&m)
		return nil
	case MsgCommitAck:
		n.onCommitAck(&m)
		return nil
	case MsgNeedView:
		n.sendViewsAfter(m.From, m.View)
		return nil
	case MsgFetch:
		n.onFetch(&m)
		return nil
	case MsgEntries:
		n.onEntries(&m)
		return nil
	case MsgJoin:
		n.onJoin(&m)
		return nil
	case MsgRejoin:
		n.onRejoin(&m)
		return nil
	}
	if n.status == StatusJoining {
		return nil
	}
	if n.bugs.SeqOnlyCompare && (m.Type == MsgOrder || m.Type == MsgAck) && m.View != n.view.ID {
		// Planted bug S2: frames and acks are keyed by seq alone, so the
		// view they belong to is not checked.
		if m.Type == MsgOrder {
			n.onOrder(&m)
		} else {
			n.onAck(&m)
		}
		return nil
	}
	switch {
	case m.View < n.view.ID:
		// Older view: never act; tell the sender what it missed (A7).
		switch m.Type {
		case MsgPrepare, MsgAccept:
			n.sendViewsAfter(m.From, m.Ballot.Instance)
		case MsgOrder, MsgSubmit, MsgAck, MsgNack, MsgReadIndex, MsgPropose, MsgLearnerReady, MsgSnapshotAsk:
			n.sendViewsAfter(m.From, m.View)
		}
		return nil
	case m.View > n.view.ID:
		// Newer view: ask for the records; the sender resends (A7).
		if m.Type != MsgReject && m.Type != MsgReadIndexResp {
			n.askView(m.From)
		}
		return nil
	}
	if _, ok := n.view.Lookup(m.From); !ok {
		return nil // not a member of this view (or a stale incarnation)
	}
	switch m.Type {
	case MsgSubmit:
		n.onSubmit(&m)
	case MsgOrder:
		n.onOrder(&m)
	case MsgAck:
		n.onAck(&m)
	case MsgNack:
		n.onNack(&m)
	case MsgPrepare:
		n.onPrepare(&m)
	case MsgPromise:
		n.onPromise(&m)
	case MsgAccept:
		n.onAccept(&m)
	case MsgAccepted:
		n.onAccepted(&m)
	case MsgReject:
		n.onReject(&m)
	case MsgPropose:
		n.onPropose(&m)
	case MsgLearnerReady:
		n.onLearnerReady(&m)
	case MsgSnapshotAsk:
		n.onSnapshotAsk(&m)
	case MsgReadIndex:
		n.onReadIndex(&m)
	case MsgReadIndexResp:
		n.onReadIndexResp(&m)
	}
	return nil
}

// Tick advances the node's clock by one tick. All timeouts are counted in
// ticks (A15).
func (n *Node) Tick() {
	n.now++
	switch n.status {
	case StatusRemoved:
		n.resendCommit() // until the new view's members hold the decision
		return
	case StatusJoining:
		if n.now-n.follower.lastJoin >= uint64(4*n.cfg.TickRTO) {
			n.sendJoin()
		}
		return
	case StatusRecovering:
		if n.now-n.follower.lastRejoin >= uint64(4*n.cfg.TickRTO) {
			n.sendRejoin()
		}
	}
	n.resendSubmits()
	n.tickSequencer()
	n.tickFollower()
	n.tickViewChange()
	n.tickLearner()
	if n.leaving && n.origin.count() == 0 && !n.hasChange(Remove, n.self) {
		n.addChange(Change{Kind: Remove, Member: n.self, Epoch: n.view.Epoch})
		n.forwardChanges()
	}
	if n.seq == nil && len(n.changes) > 0 && n.now-n.follower.lastForward >= uint64(2*n.cfg.TickVC) {
		n.forwardChanges()
	}
}
