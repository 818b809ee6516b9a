package dashboard

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// View changes are not reported by the nodes: they are inferred from
// successive samples of the groups' reports. A group is settled when its
// newest view serves and every member of that view reports; the first
// sample that finds it otherwise (a member's report gone, as after a
// crash, or a new view not yet serving everywhere) starts the change, and
// the first that finds a newer view settled ends it. So a duration is
// measured in samples: it is at most one Interval off.

// groupObs is what one sample shows of a group.
type groupObs struct {
	view      uint64
	sequencer string
	members   []uint64 // the newest view's, sorted
	settled   bool
	serving   bool
}

// observe summarises the reports of one group.
func observe(reports []GroupView) groupObs {
	var o groupObs
	var newest *GroupView
	for i := range reports {
		if newest == nil || reports[i].View > newest.View {
			newest = &reports[i]
		}
	}
	if newest == nil {
		return o
	}
	o.view, o.sequencer = newest.View, newest.Sequencer
	o.members = slices.Sorted(slices.Values(newest.Members))
	if len(o.members) == 0 {
		return o // no view installed yet (a clone still joining): neither serving nor settled
	}
	o.serving = true
	for _, r := range reports {
		if r.Role == "voter" && slices.Contains(o.members, r.Node) && (r.View != o.view || r.Status != "NORMAL") {
			o.serving = false
		}
	}
	o.settled = o.serving
	for _, m := range o.members {
		if !slices.ContainsFunc(reports, func(r GroupView) bool { return r.Node == m }) {
			o.settled = false // a member of the view is silent: crashed, or not started
		}
	}
	return o
}

// groupTrack is a group's history across samples.
type groupTrack struct {
	stable       groupObs // the last settled observation
	hasStable    bool
	disturbed    bool
	disturbSince time.Time
}

// step takes one sample's observation; it returns the view change it
// completes, if any. down says whether a node is known to be down (for
// the cause's wording).
func (g *groupTrack) step(o groupObs, now time.Time, down func(uint64) bool) (ViewChange, bool) {
	if !o.settled {
		if !g.disturbed {
			g.disturbed, g.disturbSince = true, now
		}
		return ViewChange{}, false
	}
	since := now
	if g.disturbed {
		since = g.disturbSince
	}
	prev, had := g.stable, g.hasStable
	g.stable, g.hasStable, g.disturbed = o, true, false
	if !had || o.view == prev.view {
		return ViewChange{}, false
	}
	return ViewChange{Time: now, FromView: prev.view, ToView: o.view, Cause: cause(prev, o, down),
		Seconds: now.Sub(since).Seconds()}, true
}

// cause words the difference between two views: who left, who joined,
// and whether the sequencer moved.
func cause(prev, cur groupObs, down func(uint64) bool) string {
	var parts []string
	for _, m := range prev.members {
		if !slices.Contains(cur.members, m) {
			if down(m) {
				parts = append(parts, fmt.Sprintf("node %d down", m))
			} else {
				parts = append(parts, fmt.Sprintf("node %d left", m))
			}
		}
	}
	for _, m := range cur.members {
		if !slices.Contains(prev.members, m) {
			parts = append(parts, fmt.Sprintf("node %d joined", m))
		}
	}
	switch {
	case seqNode(prev.sequencer) != seqNode(cur.sequencer):
		parts = append(parts, fmt.Sprintf("sequencer change %s → %s", seqNode(prev.sequencer), seqNode(cur.sequencer)))
	case prev.sequencer != cur.sequencer: // the same node, a new incarnation: it restarted
		parts = append(parts, fmt.Sprintf("sequencer %s → %s (restarted)", prev.sequencer, cur.sequencer))
	}
	if len(parts) == 0 {
		return "same members"
	}
	return strings.Join(parts, "; ")
}

// seqNode is the node of a "node.incarnation" member id.
func seqNode(s string) string {
	if s == "" {
		return "none"
	}
	n, _, _ := strings.Cut(s, ".")
	return "node " + n
}
