package racs

import "github.com/quicksilver-go/quicksilver/groupcomm"

// logInstalled logs a view installation (worker goroutine). Operators need
// to see failures without DEBUG: a view that lost members is a WARN
// naming them, one that only gained members (a join, a promotion) is an
// INFO, and the first view or a reinstall of the same members stays at
// DEBUG, since a node of thousands of groups installs thousands of those.
func (g *Group) logInstalled(prev, next groupcomm.View) {
	log := g.host.log
	var lost, gained []groupcomm.MemberID
	for _, m := range prev.Members {
		if _, in := next.Lookup(m.ID); !in {
			lost = append(lost, m.ID)
		}
	}
	for _, m := range next.Members {
		if _, in := prev.Lookup(m.ID); !in {
			gained = append(gained, m.ID)
		}
	}
	attrs := []any{"node", g.host.cfg.Node, "group", g.id, "view", next.ID, "members", len(next.Members)}
	if len(next.Members) > 0 {
		attrs = append(attrs, "sequencer", next.Members[0].ID.String())
	}
	switch {
	case prev.ID == 0 || len(lost)+len(gained) == 0:
		log.Debug("view installed", attrs...)
	case len(lost) > 0:
		log.Warn("view installed without members", append(attrs, "lost", lost, "gained", gained)...)
	default:
		log.Info("view installed with new members", append(attrs, "gained", gained)...)
	}
}
