package racs

import "github.com/quicksilver-go/quicksilver/groupcomm"

// Removing suspected members. The failure detector's suspicions reach
// every core (SetSuspected), and a core that waits for a suspected member
// changes views around it. But an idle group waits for nobody: its dead
// follower would stay in the view until the next update, and a clone
// placed elsewhere would wait behind it. So once a node stays suspected
// for Config.RemoveSuspectedAfter ticks, the worker proposes its removal
// (groupcomm's Propose: the change is decided by the protocol like any
// other, and a member wrongly removed rejoins as a new incarnation) from
// every group this host sequences. It asks once per suspicion.

// noteSuspicion records when a node became suspected (worker goroutine).
func (w *worker) noteSuspicion(node groupcomm.NodeID, on bool) {
	if w.host.cfg.RemoveSuspectedAfter < 0 {
		return
	}
	if !on {
		delete(w.suspects, node)
		return
	}
	if _, ok := w.suspects[node]; !ok {
		w.suspects[node] = w.now()
		w.wantTicks.Store(true) // keep ticking until it is judged
		select {
		case w.host.tickWake <- struct{}{}:
		default:
		}
	}
}

// judgeSuspects proposes the removal of nodes suspected long enough.
func (w *worker) judgeSuspects() {
	after := uint64(w.host.cfg.RemoveSuspectedAfter)
	for node, since := range w.suspects {
		if w.ticks-since < after {
			continue
		}
		delete(w.suspects, node)
		for _, g := range w.order {
			if g.cl == nil || g.stopped.Load() {
				continue
			}
			core := g.cl.Core()
			in := core.Info()
			if in.Status != groupcomm.StatusNormal || in.Sequencer != in.Self {
				continue
			}
			v := g.View()
			m, ok := v.LookupNode(node)
			if !ok {
				continue
			}
			g.wake()
			if err := core.Propose(groupcomm.Change{Kind: groupcomm.Remove, Member: m.ID, Epoch: v.Epoch}); err == nil {
				w.markDirty(g)
			}
		}
	}
}
