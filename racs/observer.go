package racs

import (
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/replica"
)

// observer sees what a host's clones do as they do it: the racs
// simulation's journals (export_test.go sets Host.obs). It is nil in
// production; every call site checks.
type observer interface {
	// started: a clone began: restart (from the store), bootstrap (the
	// first view) or join (a new incarnation).
	started(g replica.GroupID, how string, self groupcomm.MemberID, applied, held groupcomm.Viewstamp, v groupcomm.View, restoring bool)
	delivered(g replica.GroupID, self groupcomm.MemberID, a clone.Applied)
	installed(g replica.GroupID, self groupcomm.MemberID, v groupcomm.View, restoring bool)
	restored(g replica.GroupID, self groupcomm.MemberID, pos groupcomm.Viewstamp)
	removed(g replica.GroupID, self groupcomm.MemberID)
	accepted(g replica.GroupID, self groupcomm.MemberID, b groupcomm.Ballot, v groupcomm.View)
	// acked: the clone acknowledged holding every entry up to vs.
	acked(g replica.GroupID, self groupcomm.MemberID, vs groupcomm.Viewstamp)
}

// observeAccepts makes the core report its acceptances to the observer.
func (h *Host) observeAccepts(cc *groupcomm.Config, g replica.GroupID) {
	if h.obs == nil {
		return
	}
	var k groupcomm.TestingKnobs
	if cc.Knobs != nil {
		k = *cc.Knobs
	}
	self, obs := cc.Self, h.obs
	k.OnAccept = func(b groupcomm.Ballot, v groupcomm.View) { obs.accepted(g, self, b, v) }
	cc.Knobs = &k
}

// observeStart reports a clone that began.
func (h *Host) observeStart(g *Group, how string) {
	if h.obs == nil {
		return
	}
	core := g.cl.Core()
	in := core.Info()
	h.obs.started(g.id, how, in.Self, g.cl.Applied(), in.Held, core.View(), in.Restoring)
}
