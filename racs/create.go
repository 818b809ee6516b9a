package racs

import (
	"fmt"
	"slices"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Creating a group is a one-time act (docs/design.md §4, S11). A node told to
// create a group (GroupConfig.Create) that holds no state for it may be
// starting for the first time, or be a memory node that restarted, or a
// node whose disk was wiped; only in the first case may it be a member of
// the first view, otherwise it would come back as an amnesiac member of
// view 1 (S4). It cannot tell these apart by itself, so it asks the other
// members of the first view and its contacts (Probe):
//
//   - a peer that has no state either is creating the group too: "absent";
//   - a peer that holds state answers "exists"; it answers "fresh" as well
//     when it started the first view in a creation round this asker took
//     part in (the asker answered "absent" to it), has heard nothing from
//     the asker's first incarnation since, and the group is still in its
//     first view.
//
// The asker starts the first view when every peer is absent or fresh. If
// none is fresh, all are creating now: it bootstraps. If some are fresh,
// the group was just created without it: it starts RECOVERING in the
// first view (as a restart with nothing persisted), with a ballot floor
// above any its first incarnation could have used, so that a view change
// re-admits it and nothing it might have done before counts (S7). If any
// peer answers "exists" without "fresh", the group lives on without this
// node's old state: it joins as a new incarnation. Until then the group
// waits and says whom it waits for (Info().WaitingFor); a node whose peers
// never answer never creates a second group.

// createState is a group this node is creating: no clone yet.
type createState struct {
	absent    map[groupcomm.NodeID]bool // peers that answered "no state"
	fresh     map[groupcomm.NodeID]bool // peers that created it just now
	ticks     uint64
	lastProbe uint64
}

// createRound is what a node that created a group remembers of the
// creation round, to answer the peers that were late: who took part, and
// whom it has heard from since (their first incarnation lived).
type createRound struct {
	with  map[groupcomm.NodeID]bool
	heard map[groupcomm.NodeID]bool
}

// probeEvery is how many ticks a creating group waits between probes.
const probeEvery = 20

// createPeers lists the nodes of the first view's other members.
func (g *Group) createPeers() []groupcomm.NodeID {
	var out []groupcomm.NodeID
	for _, m := range g.cfg.Bootstrap.Members {
		if m.ID.Node != g.host.cfg.Node && !slices.Contains(out, m.ID.Node) {
			out = append(out, m.ID.Node)
		}
	}
	return out
}

// probeTargets are the first view's other members and the contacts (nodes
// that may run the group now, such as clones added after the first view):
// any of them answering "exists" means the group lives on.
func (g *Group) probeTargets() []groupcomm.NodeID {
	out := g.createPeers()
	for _, n := range g.cfg.Contacts {
		if n != g.host.cfg.Node && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// createWaitingFor lists the peers that have not answered "absent" or
// "fresh" yet.
func (g *Group) createWaitingFor() []groupcomm.MemberID {
	var out []groupcomm.MemberID
	cs := g.creating
	for _, m := range g.cfg.Bootstrap.Members {
		if n := m.ID.Node; n != g.host.cfg.Node && !cs.absent[n] && !cs.fresh[n] {
			out = append(out, m.ID)
		}
	}
	return out
}

// sendProbes asks every peer that has not answered yet.
func (g *Group) sendProbes() {
	cs := g.creating
	cs.lastProbe = cs.ticks
	var ps []Packet
	for _, n := range g.probeTargets() {
		if !cs.absent[n] && !cs.fresh[n] {
			ps = append(ps, Packet{From: g.host.cfg.Node, To: n, Group: g.id, Probe: &Probe{GroupIncarnation: g.cfg.Incarnation}})
		}
	}
	if len(ps) > 0 {
		g.host.cfg.Transport.Send(ps)
	}
}

// tickCreate resends the probes now and then.
func (g *Group) tickCreate() {
	cs := g.creating
	cs.ticks++
	if cs.ticks-cs.lastProbe >= probeEvery {
		g.sendProbes()
		if cs.ticks%(10*probeEvery) == 0 {
			g.host.log.Info("creating group: waiting for the other members of its first view", "node", g.host.cfg.Node,
				"group", g.id, "waiting_for", fmt.Sprint(g.createWaitingFor()))
		}
	}
}

// noteHeard records that this node's clone heard from a first-view member.
func (g *Group) noteHeard(from groupcomm.MemberID) {
	if r := g.created; r != nil && from.Incarnation == 1 {
		r.heard[from.Node] = true
	}
}

// freshFor reports whether this node may tell peer it can still start as
// a member of the first view (see the top of the file).
func (g *Group) freshFor(peer groupcomm.NodeID) bool {
	r := g.created
	if r == nil || g.cl == nil || !r.with[peer] || r.heard[peer] {
		return false
	}
	// Nothing else is asked of the group: entries may have been ordered
	// and made stable, and the creator may be changing views, as long as
	// the group is still in its first view. What makes the asker's return
	// as incarnation 1 safe is that its first incarnation did nothing: it
	// needs every first-view peer to vouch for that (fresh or absent), so
	// none heard it, and it acknowledged or promised nothing that counts;
	// it comes back RECOVERING, holding nothing, above every ballot it
	// could have used. (This used to ask also that nothing be ordered and
	// the creator be NORMAL: with clients submitting at once, or a lost
	// probe making the creator suspect its peers, the two late members of
	// a 3-member first view both joined as new incarnations, and the
	// creator, alone in view 1, could never change views.)
	return g.cl.Core().Info().View == g.cfg.Bootstrap.ID
}

// onProbe answers a probe, or takes an answer to this node's.
func (w *worker) onProbe(g *Group, from groupcomm.NodeID, p *Probe) {
	if p.GroupIncarnation != g.cfg.Incarnation {
		return
	}
	if !p.Answer {
		a := &Probe{GroupIncarnation: g.cfg.Incarnation, Answer: true, Exists: g.cl != nil}
		a.Fresh = a.Exists && g.freshFor(from)
		w.host.cfg.Transport.Send([]Packet{{From: w.host.cfg.Node, To: from, Group: g.id, Probe: a}})
		return
	}
	cs := g.creating
	if cs == nil {
		return
	}
	switch {
	case p.Exists && !p.Fresh:
		w.finishCreate(g, createJoin)
		return
	case p.Fresh:
		cs.fresh[from] = true
	default:
		cs.absent[from] = true
	}
	if len(g.createWaitingFor()) > 0 {
		g.publish()
		return
	}
	if len(cs.fresh) > 0 {
		w.finishCreate(g, createLate)
	} else {
		w.finishCreate(g, createNow)
	}
}

type createHow int

const (
	createNow  createHow = iota // every peer is creating it now: the first view
	createLate                  // it was just created: RECOVERING in the first view
	createJoin                  // it exists: a new incarnation joins
)

// finishCreate starts the clone.
func (w *worker) finishCreate(g *Group, how createHow) {
	h := w.host
	cc := h.coreConfig(g.cfg)
	ccfg := h.cloneConfig(g.cfg)
	var cl *clone.Clone
	var err error
	name := ""
	switch how {
	case createNow:
		name = "bootstrap"
		cc.Self.Incarnation = 1
		h.observeAccepts(&cc, g.id)
		cl, err = clone.Bootstrap(ccfg, cc, *g.cfg.Bootstrap)
	case createLate:
		name = "restart"
		cc.Self.Incarnation = 1
		h.observeAccepts(&cc, g.id)
		v := g.cfg.Bootstrap.Clone()
		hs := groupcomm.HardState{Incarnation: 1, Installed: v,
			Promised: groupcomm.Ballot{Instance: v.ID, Round: h.newIncarnation(), Node: h.cfg.Node}}
		cl, err = clone.Restart(ccfg, cc, replica.GroupState{HardState: &hs})
	case createJoin:
		name = "join"
		cc.Self.Incarnation = h.newIncarnation()
		h.observeAccepts(&cc, g.id)
		cl, err = clone.Join(ccfg, cc, g.probeTargets())
	}
	if err != nil {
		w.stopGroup(g, fmt.Errorf("%w: create: %v", ErrStopped, err))
		return
	}
	h.log.Info("group created", "node", h.cfg.Node, "group", g.id, "as", name, "incarnation", cc.Self.Incarnation)
	if how == createNow || how == createLate {
		// A late starter vouches for its round too: the peers that
		// answered "absent" to it had no state then, and what it hears
		// from their first incarnations from now on is noted.
		g.created = &createRound{with: g.creating.absent, heard: map[groupcomm.NodeID]bool{}}
	}
	g.creating = nil
	g.cl = cl
	for n := range h.suspectedSnapshot() {
		cl.Core().SetSuspected(n, true)
	}
	g.viewRec.Store(cl.Core().View())
	h.observeStart(g, name)
	g.publish()
	w.markDirty(g)
}
