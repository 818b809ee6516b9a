package racs

import "github.com/quicksilver-go/quicksilver/groupcomm"

// A clone that its group removed (or that left) keeps its protocol core
// for a while as a ghost: until every member of the view that excluded it
// acknowledged the decision (groupcomm's Retired), it answers whoever is
// behind with the records and resends the Commit. In a 2-voter view a
// leaver that vanished at once could leave the other voter waiting for a
// quorum of 2 forever. Meanwhile the node may run a new incarnation of the
// same group (a rejoin): messages addressed to the ghost's incarnation go
// to the ghost. A ghost persists nothing (a removed member has no durable
// duty left) and dies with the process.

// ghost is a removed member's core that still answers.
type ghost struct {
	core  *groupcomm.Node
	self  groupcomm.MemberID
	dirty bool
}

// keepGhost keeps the removed core of g answering until it retires.
func (g *Group) keepGhost(core *groupcomm.Node) {
	if core.Retired() {
		return
	}
	g.ghosts = append(g.ghosts, &ghost{core: core, self: core.Info().Self})
}

// ghostFor returns the ghost a message is addressed to, if any.
func (g *Group) ghostFor(m *groupcomm.Message) *ghost {
	for _, gh := range g.ghosts {
		if m.To == gh.self {
			return gh
		}
	}
	return nil
}

// tickGhosts ticks the ghosts (their Commit resends run on ticks).
func (g *Group) tickGhosts() {
	for _, gh := range g.ghosts {
		gh.core.Tick()
		gh.dirty = true
	}
}

// runGhosts sends what the ghosts have to say and drops the retired.
func (g *Group) runGhosts() {
	if len(g.ghosts) == 0 {
		return
	}
	h := g.host
	keep := g.ghosts[:0]
	for _, gh := range g.ghosts {
		for gh.dirty && gh.core.HasReady() {
			rd := gh.core.Ready()
			ps := make([]Packet, 0, len(rd.Messages))
			for i := range rd.Messages {
				ps = append(ps, Packet{From: h.cfg.Node, To: rd.Messages[i].To.Node, Group: g.id, Msg: &rd.Messages[i]})
			}
			if len(ps) > 0 {
				h.cfg.Transport.Send(ps)
			}
			gh.core.Advance(rd)
		}
		gh.dirty = false
		if gh.core.Retired() {
			h.log.Debug("removed clone retired", "node", h.cfg.Node, "group", g.id, "member", gh.self)
			continue
		}
		keep = append(keep, gh)
	}
	g.ghosts = keep
}
