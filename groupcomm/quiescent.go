package groupcomm

// Quiescent reports whether no timer of this member can fire while nothing
// arrives: NORMAL voter, nothing in flight or unacknowledged, no view
// change wanted or running, nothing queued. The caller may then stop
// calling Tick (an idle group costs nothing) and must call Elapse with the
// number of ticks it skipped before it calls Step, Multicast, Propose,
// ReadIndex or Restore (SetSuspected may come at any time: a suspicion
// makes the node non-quiescent, so ticking resumes).
func (n *Node) Quiescent() bool {
	if n.status != StatusNormal || n.restoring || n.selfRec.Role != Voter || n.leaving || n.behind() {
		return false
	}
	vc := &n.vc
	if vc.active || vc.wanting || vc.commit != nil && vc.commitSends < maxCommitResends || n.now < vc.deferUntil || len(n.changes) > 0 {
		return false
	}
	if n.origin.count() > 0 || n.delivered != n.elog.last() || n.HasReady() {
		return false
	}
	f := &n.follower
	if f.fetch != nil || f.pendingCommit != nil || f.pendingAccept != nil || len(f.early) > 0 || f.probing {
		return false
	}
	if len(n.reads.waits) > 0 || len(n.reads.forwarded) > 0 {
		return false
	}
	if s := n.seq; s != nil {
		if s.muted {
			return false
		}
		held := n.elog.last()
		for i := range s.peers {
			p := &s.peers[i]
			if p.acked != held || p.stableSent != n.stable {
				return false
			}
		}
		return true
	}
	return !n.sequencerSuspected()
}

// Elapse advances the clock by ticks at once, as if Tick had been called
// that many times while the node was quiescent (no timer fires in
// between), then runs one Tick.
func (n *Node) Elapse(ticks uint64) {
	if ticks == 0 {
		return
	}
	n.now += ticks - 1
	n.Tick()
}
