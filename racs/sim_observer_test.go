package racs_test

import (
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
	"github.com/quicksilver-go/quicksilver/replica"
)

// simObserver journals what one host's clones do, for the checker.
type simObserver struct {
	s    *racsSim
	node groupcomm.NodeID
}

func (o *simObserver) add(g replica.GroupID, ev simcheck.Event) {
	ev.Step = o.s.step
	sg := o.s.groups[g]
	sg.journals[o.node] = append(sg.journals[o.node], ev)
}

func (o *simObserver) digest(g replica.GroupID) uint64 {
	return o.s.sms[hostGroup{o.node, g}].Digest()
}

func (o *simObserver) Started(g replica.GroupID, how string, self groupcomm.MemberID, applied, held groupcomm.Viewstamp, v groupcomm.View, restoring bool) {
	switch how {
	case "restart":
		o.add(g, simcheck.Event{Kind: simcheck.Restart, Member: self, Pos: applied, Held: held, Digest: o.digest(g), View: v, Restoring: restoring})
	case "join":
		o.add(g, simcheck.Event{Kind: simcheck.NewIncarnation, Member: self})
	case "bootstrap":
		if len(o.s.groups[g].journals[o.node]) > 0 {
			// The first view again, on a node that ran the group before: a
			// new life under the old identity (the checker sees it start
			// without state).
			o.add(g, simcheck.Event{Kind: simcheck.NewIncarnation, Member: self})
			o.add(g, simcheck.Event{Kind: simcheck.Install, Member: self, View: v, Restoring: restoring})
		}
	}
	o.s.tracef("host %d group %d: %s as %v (applied %v, %v, restoring=%v)", o.node, g, how, self, applied, v, restoring)
}

func (o *simObserver) Delivered(g replica.GroupID, self groupcomm.MemberID, a clone.Applied) {
	o.add(g, simcheck.Event{Kind: simcheck.Deliver, Member: self, Entry: a.Entry, InView: a.InView, Dup: a.Duplicate, Digest: o.digest(g)})
}

func (o *simObserver) Installed(g replica.GroupID, self groupcomm.MemberID, v groupcomm.View, restoring bool) {
	o.add(g, simcheck.Event{Kind: simcheck.Install, Member: self, View: v, Restoring: restoring})
	o.s.tracef("host %d group %d: %v installs %v", o.node, g, self, v)
}

func (o *simObserver) Restored(g replica.GroupID, self groupcomm.MemberID, pos groupcomm.Viewstamp) {
	o.add(g, simcheck.Event{Kind: simcheck.Restore, Member: self, Pos: pos, Digest: o.digest(g)})
	o.s.tracef("host %d group %d: %v restored a snapshot at %v", o.node, g, self, pos)
}

func (o *simObserver) Removed(g replica.GroupID, self groupcomm.MemberID) {
	o.add(g, simcheck.Event{Kind: simcheck.Removed, Member: self})
	o.s.tracef("host %d group %d: %v removed", o.node, g, self)
}

func (o *simObserver) Accepted(g replica.GroupID, self groupcomm.MemberID, b groupcomm.Ballot, v groupcomm.View) {
	o.add(g, simcheck.Event{Kind: simcheck.Accept, Member: self, Ballot: b, View: v})
}

func (o *simObserver) Acked(g replica.GroupID, self groupcomm.MemberID, vs groupcomm.Viewstamp) {
	o.add(g, simcheck.Event{Kind: simcheck.Ack, Member: self, Pos: vs})
}
