package groupcomm

import "fmt"

// vcState is a member's view-change state for instance w (its installed
// view): election timers, and, while it proposes, the Paxos phases.
type vcState struct {
	wanting     bool
	wantSince   uint64
	deferUntil  uint64 // gave way to another proposer until then
	lastWaiting []MemberID
	jitter      uint64
	frozenSince uint64
	maxRound    uint64

	active     bool
	phase      vcPhase
	ballot     Ballot
	phaseStart uint64
	lastSend   uint64
	promises   []promise
	proposal   *View
	acceptedBy []MemberID

	// commit is the last decision this member made; it resends it until
	// every member of w and w+1 acknowledged (L2).
	commit        *View
	commitTargets []commitTarget
	commitLast    uint64
	commitSends   int
}

type vcPhase uint8

const (
	phasePrepare vcPhase = iota + 1
	phaseFetch
	phaseAccept
)

type promise struct {
	from     MemberID
	last     Viewstamp
	accepted Ballot
	proposal *View
}

type commitTarget struct {
	id    MemberID
	acked bool
}

// acceptors returns the members of v that vote in its instance: the
// voters (planted bug S3: every member).
func (n *Node) isAcceptor(v *View, id MemberID) bool {
	m, ok := v.Lookup(id)
	return ok && (m.Role == Voter || n.bugs.LearnersVote)
}

func (n *Node) quorum(v *View) int {
	if n.bugs.LearnersVote {
		return len(v.Members)/2 + 1
	}
	return v.Quorum()
}

// covers reports whether this member holds every entry up to cut.
func (n *Node) covers(cut Viewstamp) bool {
	return !n.vsLess(n.elog.last(), cut)
}

// reportLast is what a Promise reports: the last view-w entry held, else
// the cut of w (S2: reports below view w count as c_w).
func (n *Node) reportLast() Viewstamp {
	l := n.elog.last()
	if n.bugs.SeqOnlyCompare {
		return l
	}
	if l.View != n.view.ID {
		return n.view.Cut
	}
	return l
}

// freeze stops acking and ordering in the installed view (S1).
func (n *Node) freeze() {
	if n.bugs.NoFreeze && n.seq == nil {
		return // planted bug S1: a follower goes on acking
	}
	if n.status == StatusNormal {
		n.status = StatusFrozen
		n.vc.frozenSince = n.now
		n.failReads(ErrNoQuorum)
	}
}

// tickViewChange runs the election timer and the proposer's resends.
func (n *Node) tickViewChange() {
	if n.status != StatusNormal && n.status != StatusFrozen && n.status != StatusRecovering {
		return
	}
	n.resendCommit()
	if n.selfRec.Role != Voter && !n.bugs.LearnersVote {
		return
	}
	vc := &n.vc
	if vc.active {
		if n.now-vc.phaseStart >= uint64(3*n.cfg.TickVC)+vc.jitter {
			vc.lastWaiting = n.waitingFor()
			n.logf("view change attempt timed out", "ballot", vc.ballot, "phase", vc.phase, "waiting_for", fmt.Sprint(vc.lastWaiting),
				"proposal", vc.proposal)
			vc.active = false
			vc.wantSince, vc.jitter = n.now, n.jitter()
			return
		}
		if n.now-vc.lastSend >= uint64(n.cfg.TickRTO) {
			n.resendPhase()
		}
		return
	}
	if n.now < vc.deferUntil {
		return
	}
	want := n.sequencerSuspected()
	if !want {
		vc.wanting = false
		return
	}
	if !vc.wanting {
		vc.wanting, vc.wantSince, vc.jitter = true, n.now, n.jitter()
	}
	rank := n.view.VoterRank(n.self)
	eligible := true
	for i, v := range n.view.Voters() {
		if i >= rank {
			break
		}
		if !n.suspected[v.Node] && !(i == 0 && n.sequencerSuspected()) {
			eligible = false
		}
	}
	wait := uint64(rank*n.cfg.TickVC) + vc.jitter
	if !eligible {
		wait += uint64(2 * n.cfg.TickVC)
	}
	if n.now-vc.wantSince >= wait {
		n.startPrepare()
	}
}

// startPrepare begins phase 1 with a ballot above any seen in instance w.
func (n *Node) startPrepare() {
	w := n.view.ID
	round := n.vc.maxRound
	if n.hs.Promised.Instance == w && n.hs.Promised.Round > round {
		round = n.hs.Promised.Round
	}
	b := Ballot{Instance: w, Round: round + 1, Node: n.self.Node}
	n.vc.maxRound = b.Round
	n.logf("prepare", "ballot", b)
	vc := &n.vc
	vc.active, vc.phase, vc.ballot, vc.phaseStart = true, phasePrepare, b, n.now
	vc.promises, vc.proposal, vc.acceptedBy = vc.promises[:0], nil, nil
	n.hs.Promised = b
	n.hsDirty = true
	n.freeze()
	vc.promises = append(vc.promises, n.myPromise())
	n.resendPhase()
	n.checkPromises()
}

func (n *Node) myPromise() promise {
	p := promise{from: n.self, last: n.reportLast()}
	if n.hs.AcceptedView != nil && n.hs.Accepted.Instance == n.view.ID {
		p.accepted, p.proposal = n.hs.Accepted, n.hs.AcceptedView
	}
	return p
}

// resendPhase (re)sends Prepare or Accept to the acceptors that have not
// answered.
func (n *Node) resendPhase() {
	vc := &n.vc
	vc.lastSend = n.now
	switch vc.phase {
	case phasePrepare:
		for _, m := range n.view.Members {
			if m.ID == n.self || !n.isAcceptor(&n.view, m.ID) || vc.promisedBy(m.ID) {
				continue
			}
			n.send(Message{Type: MsgPrepare, To: m.ID, Ballot: vc.ballot})
		}
	case phaseFetch:
		if f := n.follower.fetch; f != nil {
			n.sendFetch(f.from, n.elog.last(), f.hi)
		}
	case phaseAccept:
		for _, id := range n.acceptTargets(vc.proposal) {
			if id == n.self || vc.acceptedByHas(id) {
				continue
			}
			p := *vc.proposal
			m := Message{Type: MsgAccept, To: id, Ballot: vc.ballot, Proposal: &p}
			if lo, ok := n.knownHeld(id); ok && lo.Seq < p.Cut.Seq {
				m.Entries = n.elog.slice(lo.Seq, min(p.Cut.Seq, lo.Seq+uint64(4*n.cfg.MaxFrameEntries)))
			}
			n.send(m)
		}
	}
}

func (vc *vcState) promisedBy(id MemberID) bool {
	for _, p := range vc.promises {
		if p.from == id {
			return true
		}
	}
	return false
}

func (vc *vcState) acceptedByHas(id MemberID) bool {
	for _, a := range vc.acceptedBy {
		if a == id {
			return true
		}
	}
	return false
}

// acceptTargets are the acceptors of w and the voters of w+1 (S10).
func (n *Node) acceptTargets(p *View) []MemberID {
	var out []MemberID
	for _, m := range n.view.Members {
		if n.isAcceptor(&n.view, m.ID) || n.isAcceptor(p, m.ID) {
			out = append(out, m.ID)
		}
	}
	for _, m := range p.Members {
		if _, ok := n.view.Lookup(m.ID); !ok && n.isAcceptor(p, m.ID) {
			out = append(out, m.ID)
		}
	}
	return out
}

// knownHeld is the proposer's best knowledge of what a member holds, to
// send it the entries it lacks with the Accept.
func (n *Node) knownHeld(id MemberID) (Viewstamp, bool) {
	for _, p := range n.vc.promises {
		if p.from == id {
			return p.last, true
		}
	}
	if s := n.seq; s != nil {
		if p := s.peer(id); p != nil {
			return p.acked, true
		}
	}
	return Viewstamp{}, false
}

// onPrepare: phase 1 at an acceptor.
func (n *Node) onPrepare(m *Message) {
	b := m.Ballot
	if b.Instance != n.view.ID || !n.isAcceptor(&n.view, n.self) {
		return
	}
	if b == n.hs.Promised {
		n.send(n.promiseMsg(m.From, b)) // duplicate Prepare: answer again
		return
	}
	if !n.hs.Promised.Less(b) {
		n.send(Message{Type: MsgReject, To: m.From, Ballot: n.hs.Promised})
		return
	}
	sq := n.view.Sequencer()
	if m.From != sq && n.status == StatusNormal && !n.sequencerSuspected() {
		// Stickiness (L3): promise a non-sequencer proposer only if this
		// member suspects the sequencer itself. Probe the sequencer so that
		// a dead one is suspected soon.
		n.send(Message{Type: MsgReject, To: m.From, Ballot: b})
		if n.seq == nil {
			n.follower.probing = true
			n.send(Message{Type: MsgNack, To: sq, VS: n.elog.last()})
		} else if !n.vc.active {
			// A healthy sequencer that sees a rival proposer runs instance w
			// itself with a higher ballot: the voters that promised the
			// rival are frozen and only an install unfreezes them (L11).
			n.vc.maxRound = max(n.vc.maxRound, b.Round)
			n.startPrepare()
		}
		return
	}
	n.giveWay(b)
	n.hs.Promised = b
	n.hsDirty = true
	n.freeze()
	if b.Round > n.vc.maxRound {
		n.vc.maxRound = b.Round
	}
	n.send(n.promiseMsg(m.From, b))
}

// giveWay lets the proposer of ballot b finish: this member stops its own
// attempt and waits before proposing again (L3: no duelling proposers).
func (n *Node) giveWay(b Ballot) {
	vc := &n.vc
	if b.Node == n.self.Node {
		return
	}
	if vc.active && vc.ballot.Less(b) {
		vc.active = false
	}
	vc.deferUntil = n.now + uint64(3*n.cfg.TickVC) + n.jitter()
}

func (n *Node) promiseMsg(to MemberID, b Ballot) Message {
	p := n.myPromise()
	msg := Message{Type: MsgPromise, To: to, Ballot: b, VS: p.last, Installed: n.view.ID}
	if p.proposal != nil {
		v := p.proposal.Clone()
		msg.Accepted, msg.Proposal = p.accepted, &v
	}
	return msg
}

// onPromise: phase 1 at the proposer.
func (n *Node) onPromise(m *Message) {
	vc := &n.vc
	if !vc.active || vc.phase != phasePrepare || m.Ballot != vc.ballot || vc.promisedBy(m.From) {
		return
	}
	p := promise{from: m.From, last: m.VS, accepted: m.Accepted}
	if m.Proposal != nil && m.Accepted.Instance == n.view.ID {
		v := m.Proposal.Clone()
		p.proposal = &v
	}
	vc.promises = append(vc.promises, p)
	n.checkPromises()
}

// onReject: an acceptor promised a higher ballot, or refused a
// non-sequencer proposer.
func (n *Node) onReject(m *Message) {
	vc := &n.vc
	if m.Ballot.Instance == n.view.ID && m.Ballot.Round > vc.maxRound {
		vc.maxRound = m.Ballot.Round
	}
	if vc.active && vc.ballot.Less(m.Ballot) {
		n.logf("proposal pre-empted", "ballot", vc.ballot, "by", m.Ballot)
		vc.active = false
		vc.wantSince, vc.jitter = n.now, n.jitter()
	}
}

// checkPromises: with Q(w) promises, adopt the highest-ballot accepted
// proposal or build a new one, fetch entries up to its cut, then phase 2.
func (n *Node) checkPromises() {
	vc := &n.vc
	count := 0
	for _, p := range vc.promises {
		if n.isAcceptor(&n.view, p.from) {
			count++
		}
	}
	if count < n.quorum(&n.view) {
		return
	}
	var adopt *promise
	for i := range vc.promises {
		p := &vc.promises[i]
		if p.proposal != nil && (adopt == nil || adopt.accepted.Less(p.accepted)) {
			adopt = p
		}
	}
	var prop *View
	src := n.self
	if adopt != nil {
		v := adopt.proposal.Clone()
		prop, src = &v, adopt.from
	} else {
		prop = n.buildProposal(false)
		if prop == nil {
			vc.active = false
			return
		}
		best := n.view.Cut
		for _, p := range vc.promises {
			if n.vsLess(best, p.last) {
				best, src = p.last, p.from
			}
		}
	}
	vc.proposal = prop
	if !n.covers(prop.Cut) {
		vc.phase = phaseFetch
		n.sendFetch(src, n.elog.last(), prop.Cut)
		return
	}
	n.startAccept()
}

// startAccept begins phase 2: accept locally, send Accept to the acceptors
// of w and the voters of w+1.
func (n *Node) startAccept() {
	vc := &n.vc
	vc.phase, vc.phaseStart, vc.acceptedBy = phaseAccept, n.now, nil
	n.acceptLocally(vc.ballot, vc.proposal)
	if n.isAcceptor(&n.view, n.self) || n.isAcceptor(vc.proposal, n.self) {
		vc.acceptedBy = append(vc.acceptedBy, n.self)
	}
	n.resendPhase()
	n.checkAccepted()
}

func (n *Node) acceptLocally(b Ballot, p *View) {
	v := p.Clone()
	if n.hs.Promised.Less(b) {
		n.hs.Promised = b
	}
	n.hs.Accepted, n.hs.AcceptedView = b, &v
	n.hsDirty = true
	n.freeze()
	if n.bugs.OnAccept != nil {
		n.bugs.OnAccept(b, v.Clone())
	}
}

// onAccept: phase 2 at an acceptor (a voter of w, or of w+1).
func (n *Node) onAccept(m *Message) {
	b, p := m.Ballot, m.Proposal
	if p == nil || b.Instance != n.view.ID || p.ID != n.view.ID+1 {
		return
	}
	if !n.isAcceptor(&n.view, n.self) && !n.isAcceptor(p, n.self) {
		return
	}
	if b.Less(n.hs.Promised) {
		n.send(Message{Type: MsgReject, To: m.From, Ballot: n.hs.Promised})
		return
	}
	if n.restoring {
		return // a learner without state never accepts (S3)
	}
	// Take the entries up to the cut that came along.
	last := n.elog.last()
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.VS.Seq <= last.Seq || p.Cut.Seq < e.VS.Seq {
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
	if !n.covers(p.Cut) {
		cp := *m
		n.follower.pendingAccept = &cp
		n.follower.pendingAcceptAt = n.now
		n.sendFetch(m.From, n.elog.last(), p.Cut)
		return
	}
	n.follower.pendingAccept = nil
	n.giveWay(b)
	n.acceptLocally(b, p)
	n.send(Message{Type: MsgAccepted, To: m.From, Ballot: b})
}

// onAccepted: phase 2 at the proposer.
func (n *Node) onAccepted(m *Message) {
	vc := &n.vc
	if !vc.active || vc.phase != phaseAccept || m.Ballot != vc.ballot || vc.acceptedByHas(m.From) {
		return
	}
	vc.acceptedBy = append(vc.acceptedBy, m.From)
	n.checkAccepted()
}

// checkAccepted commits once Q(w) acceptors of w and Q(w+1) voters of w+1
// accepted (S10).
func (n *Node) checkAccepted() {
	vc := &n.vc
	p := vc.proposal
	cw, cw1 := 0, 0
	for _, id := range vc.acceptedBy {
		if n.isAcceptor(&n.view, id) {
			cw++
		}
		if n.isAcceptor(p, id) {
			cw1++
		}
	}
	decided := cw >= n.quorum(&n.view) && cw1 >= n.quorum(p)
	if n.bugs.CommitNoMajority {
		decided = len(vc.acceptedBy) >= 1 // planted bug: commit without majorities
	}
	if decided {
		n.decide(p)
	}
}

// decide records the decision, sends Commit to every member of w and w+1
// and installs it here.
func (n *Node) decide(p *View) {
	vc := &n.vc
	vc.active = false
	v := p.Clone()
	var ids []MemberID
	for _, m := range n.view.Members {
		ids = append(ids, m.ID)
	}
	for _, m := range v.Members {
		ids = append(ids, m.ID)
	}
	n.commitDuty(&v, ids)
	n.logf("decided", "view", v)
	n.resendCommitNow()
	n.tryInstall(&v, n.self)
}
