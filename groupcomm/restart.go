package groupcomm

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
)

// RestartState is what a durable member read back from its store.
type RestartState struct {
	HardState HardState
	// Log holds the persisted entries, ascending by Seq. It may hold more
	// than the member needs (entries below Applied, stale pieces left by a
	// snapshot that arrived ahead of the log): Restart keeps only the
	// entries contiguous from Applied.
	Log []Entry
	// Applied is the position the caller's restored state machine covers
	// (its snapshot, or its durable applied position).
	Applied Viewstamp
	// Dedup is the dedup table at Applied (from the snapshot).
	Dedup []byte
	// StableHint is the persisted stable mark: entries up to it may be
	// delivered again (replayed) at once.
	StableHint Viewstamp
	// History holds the view records the member persisted (Ready.NewView),
	// so that it can still answer a member behind it with the records it
	// missed (A7). Any order; the installed view is added if missing.
	History []View
}

// Restart creates a durable member from its persisted state. It comes back
// RECOVERING (S7) and asks the members of its latest view to re-admit it.
// Entries in (Applied, StableHint] are replayed as Deliveries in the first
// Ready, each in the view that ordered it.
//
// The member keeps the entries contiguous from Applied (the run after it,
// and the run that ends at the Applied entry itself): a gap means the
// pieces before it are stale. A voter must hold every entry up to its
// view's cut (it could not have installed the view otherwise): if its log
// does not reach the cut, Restart fails with ErrLogGap rather than come
// back without entries it may have acknowledged. A learner that lacks them
// never restored a snapshot: it comes back restoring.
func Restart(cfg Config, st RestartState) (*Node, error) {
	if st.HardState.Incarnation != 0 && cfg.Self.Incarnation != st.HardState.Incarnation {
		return nil, fmt.Errorf("%w: incarnation %d does not match persisted %d",
			ErrInvalidConfig, cfg.Self.Incarnation, st.HardState.Incarnation)
	}
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	if st.HardState.Installed.ID == 0 {
		return nil, fmt.Errorf("%w: persisted state has no installed view", ErrInvalidConfig)
	}
	d, err := decodeDedup(st.Dedup)
	if err != nil {
		return nil, err
	}
	n.dedup = d
	n.hs = st.HardState
	n.hs.Incarnation = cfg.Self.Incarnation
	if n.hs.AcceptedView != nil {
		c := n.hs.AcceptedView.Clone()
		n.hs.AcceptedView = &c
	}
	n.hs.OriginEpoch++
	n.hsDirty = true
	n.origin.counter = n.hs.OriginEpoch << originEpochShift
	n.view = st.HardState.Installed.Clone()
	n.selfRec, _ = n.view.Lookup(n.self)
	n.history = restoredHistory(st.History, n.view)
	if n.bugs.RestartGapFreeStart {
		n.restoreGapFreeStart(st.Log, st.Applied)
	} else {
		n.restoreLog(st.Log, st.Applied)
	}
	n.delivered = st.Applied
	n.status = StatusRecovering
	me, in := n.view.Lookup(n.self)
	switch {
	case !in:
		// It installed the view that removed it before it crashed: tell
		// the caller again, and keep the decision for the new view's
		// members until they acknowledge it (removed.go).
		n.status = StatusRemoved
		n.removedAt = n.view.ID
		n.out.removed = true
		v := n.view.Clone()
		n.lingerWith(&v)
	case n.bugs.PromoteStaleReady:
		// Planted bug: a learner whose snapshot is below the cut comes back
		// restoring, although its log may have replayed past the cut.
		n.replay(st)
		n.restoring = me.Role == Learner && st.Applied.Less(n.view.Cut)
	case !n.covers(n.view.Cut) && me.Role == Voter && !n.bugs.RestartGapFreeStart:
		return nil, fmt.Errorf("%w: %v holds up to %v (applied %v), its view v%d has cut %v",
			ErrLogGap, n.self, n.elog.last(), st.Applied, n.view.ID, n.view.Cut)
	case !n.covers(n.view.Cut) && me.Role == Learner:
		// A learner that never restored a snapshot: it needs one at or after
		// the cut, and buffers the entries after it.
		n.restoring = true
		n.elog.reset(n.view.Cut)
	default:
		n.replay(st)
	}
	n.persisted = n.elog.last()
	n.stable = minVS(n.stable, n.elog.last())
	n.vc.wantSince = n.now
	n.vc.jitter = n.jitter()
	n.sendRejoin()
	if n.status != StatusRemoved {
		n.resumeCommit()
		n.follower.confirming = true
	}
	return n, nil
}

// replay delivers the persisted entries up to the stable mark.
func (n *Node) replay(st RestartState) {
	n.stable = minVS(maxVS(st.StableHint, st.Applied), n.elog.last())
	n.deliverStable()
}

// restoreLog keeps the persisted entries contiguous from applied: the run
// that starts right after it and, below it, the run that ends at the
// applied entry itself (a member that lags may fetch those from this one).
// Anything else is a stale piece: a snapshot that arrived ahead of the log
// left it behind.
func (n *Node) restoreLog(log []Entry, applied Viewstamp) {
	i := sort.Search(len(log), func(i int) bool { return log[i].VS.Seq > applied.Seq })
	j := i // the run after applied is log[i:j]
	if j < len(log) && log[j].VS.Seq == applied.Seq+1 {
		for j++; j < len(log) && log[j].VS.Seq == log[j-1].VS.Seq+1; j++ {
		}
	}
	k := i // the run that ends at applied is log[k:i]
	if i > 0 && log[i-1].VS == applied {
		for k = i - 1; k > 0 && log[k-1].VS.Seq+1 == log[k].VS.Seq; k-- {
		}
	}
	base := applied
	if k < i {
		base = Viewstamp{View: log[k].VS.View, Seq: log[k].VS.Seq - 1}
	}
	n.elog.reset(base)
	for _, e := range log[k:j] {
		n.elog.append(e)
	}
}

// restoreGapFreeStart is the planted bug RestartGapFreeStart: keep the
// gap-free start of the log, and drop everything if it ends below applied.
func (n *Node) restoreGapFreeStart(log []Entry, applied Viewstamp) {
	n.elog.reset(applied)
	if len(log) == 0 || log[0].VS.Seq > applied.Seq+1 {
		return
	}
	first := log[0].VS
	n.elog.reset(Viewstamp{View: first.View, Seq: first.Seq - 1})
	for _, e := range log {
		if e.VS.Seq != n.elog.last().Seq+1 {
			break
		}
		n.elog.append(e)
	}
	if n.elog.last().Seq < applied.Seq {
		n.elog.reset(applied)
	}
}

// restoredHistory orders the persisted view records and bounds them.
func restoredHistory(h []View, installed View) []View {
	out := make([]View, 0, len(h)+1)
	for _, v := range h {
		if v.ID < installed.ID {
			out = append(out, v.Clone())
		}
	}
	slices.SortFunc(out, func(a, b View) int { return cmp.Compare(a.ID, b.ID) })
	out = slices.CompactFunc(out, func(a, b View) bool { return a.ID == b.ID })
	out = append(out, installed.Clone())
	if len(out) > maxHistory {
		out = out[len(out)-maxHistory:]
	}
	return out
}
