package partitionmap

import (
	"fmt"
	"slices"
	"time"
)

// Repairs: what a settled partition needs before any balancing — a
// replacement for a voter dead past the grace, a missing clone, a clone
// off a draining node, an excess voter dropped, a crowded zone relieved.

// A repair is what one partition needs, most urgent kind first.
type repairKind int

const (
	repairDead   repairKind = iota // a voter on a node dead past the grace
	repairUnder                    // fewer voters than the service wants
	repairDrain                    // a voter on a draining node
	repairExcess                   // more voters than the service wants
	repairZone                     // too many clones in one zone
)

type repair struct {
	kind   repairKind
	margin int // live voters above the majority: the most at risk first
	pi     int
	victim NodeID // the voter to replace or remove
}

// repair collects what each settled partition needs, orders it by
// urgency (kind, then how close to losing its majority, then position),
// and plans as much as the budget allows.
func (pl *planner) repair() {
	m := pl.m
	var todo []repair
	for pi := range m.Partitions {
		if pl.touched[pi] {
			continue
		}
		p := &m.Partitions[pi]
		if !pl.canChange(pi) {
			continue
		}
		if r, ok := pl.needs(pi); ok {
			r.margin = pl.liveVoters(pi, 0) - quorum(p.numVoters())
			todo = append(todo, r)
		}
	}
	slices.SortStableFunc(todo, func(a, b repair) int {
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return a.margin - b.margin
	})
	for _, r := range todo {
		if pl.budget == 0 {
			return
		}
		pl.doRepair(r)
	}
}

// needs says the one repair partition pi needs, if any.
func (pl *planner) needs(pi int) (repair, bool) {
	p := &pl.m.Partitions[pi]
	si := pl.svcOf[pi]
	svc := &pl.m.Services[si]
	voters := p.Voters()
	if len(voters) > svc.Clones {
		return repair{kind: repairExcess, pi: pi, victim: pl.excessVictim(pi)}, true
	}
	for r, v := range voters {
		if n := &pl.m.Nodes[pl.cidx[pi][r]]; n.State == NodeDead && !pl.pol.Now.Before(n.DeadSince.Add(pl.pol.DeadGrace)) {
			return repair{kind: repairDead, pi: pi, victim: v.Node}, true
		}
	}
	if len(voters) < svc.Clones {
		return repair{kind: repairUnder, pi: pi}, true
	}
	for r, v := range voters {
		if pl.m.Nodes[pl.cidx[pi][r]].State == NodeDraining {
			return repair{kind: repairDrain, pi: pi, victim: v.Node}, true
		}
	}
	if victim, ok := pl.zoneVictim(pi); ok {
		return repair{kind: repairZone, pi: pi, victim: victim}, true
	}
	return repair{}, false
}

// excessVictim: the voter to drop first — a down one, then one on a dead
// or draining node, then the most loaded; on a tie the one ranked last, so
// the sequencer goes last.
func (pl *planner) excessVictim(pi int) NodeID {
	p := &pl.m.Partitions[pi]
	si := pl.svcOf[pi]
	score := func(c Clone) [4]int {
		n := pl.nodeIdx[c.Node]
		s := [4]int{}
		if !pl.up[n] {
			s[0] = 1
		}
		if pl.m.Nodes[n].State != NodeActive {
			s[1] = 1
		}
		s[2], s[3] = pl.load[si][n], pl.total[n]
		return s
	}
	voters := p.Voters()
	best := len(voters) - 1
	for i := len(voters) - 2; i >= 0; i-- {
		if a, b := score(voters[i]), score(voters[best]); slices.Compare(a[:], b[:]) > 0 {
			best = i
		}
	}
	return voters[best].Node
}

// zoneLimit is the most clones of a partition of n voters one zone should
// hold when the service's nodes span z zones.
func zoneLimit(n, z int) int { return (n + z - 1) / z }

// zoneVictim: a voter in a zone holding more than its share of the
// partition's voters (doRepair then looks for a node in another zone).
func (pl *planner) zoneVictim(pi int) (NodeID, bool) {
	p := &pl.m.Partitions[pi]
	si := pl.svcOf[pi]
	z := pl.zonesOf[si]
	if z < 2 {
		return 0, false
	}
	voters := p.Voters()
	limit := zoneLimit(len(voters), z)
	var victim NodeID
	worst := -1
	for r, v := range voters {
		n := pl.cidx[pi][r]
		if k := pl.zoneCountAt(pi, -1, pl.zone[n]); k > limit {
			// Prefer the most loaded voter of the crowded zone, and not
			// the sequencer.
			if worst < 0 || pl.load[si][n] > worst || pl.load[si][n] == worst && v.Node != p.Sequencer() {
				victim, worst = v.Node, pl.load[si][n]
			}
		}
	}
	return victim, worst >= 0
}

func (pl *planner) doRepair(r repair) {
	p := &pl.m.Partitions[r.pi]
	si := pl.svcOf[r.pi]
	svc := &pl.m.Services[si]
	switch r.kind {
	case repairExcess:
		// Removing a voter shrinks the view: the old view and the new
		// one both need a live majority.
		v := p.numVoters()
		if pl.liveVoters(r.pi, r.victim) < quorum(v-1) {
			return
		}
		n := pl.nodeIdx[r.victim]
		pl.load[si][n]--
		pl.total[n]--
		if p.Sequencer() == r.victim {
			pl.seq[si][n]--
			pl.seq[si][pl.nodeIdx[p.Clones[1].Node]]++
		}
		pl.budget--
		pl.emit(r.pi, Move{Kind: Remove, Node: r.victim,
			Reason: fmt.Sprintf("remove excess clone: %q wants %d voters, %v has %d; node %d is the best to drop", svc.Name, svc.Clones, p.Ref(), v, r.victim)})
	case repairZone:
		vi := pl.nodeIdx[r.victim]
		have := pl.zoneCountAt(r.pi, -1, pl.zone[vi])
		limit := zoneLimit(p.numVoters(), pl.zonesOf[si])
		t, ok := pl.pick(si, p.Group, p.Clones, r.victim, func(n int) bool {
			return pl.zoneCountAt(r.pi, vi, pl.zone[n])+1 <= limit
		})
		if !ok {
			return
		}
		pl.addLearner(r.pi, t, r.victim, fmt.Sprintf("spread over zones: zone %q holds %d of the %d voters (at most %d); node %d is in zone %q",
			pl.node(r.victim).Zone, have, p.numVoters(), limit, pl.m.Nodes[t].ID, pl.m.Nodes[t].Zone))
	default:
		t, ok := pl.pick(si, p.Group, p.Clones, r.victim, nil)
		if !ok {
			return // no node can take it now; a later plan retries
		}
		var why string
		switch r.kind {
		case repairDead:
			dn := pl.node(r.victim)
			why = fmt.Sprintf("re-replicate: node %d has been dead since %s, past the %v grace", r.victim, dn.DeadSince.Format(time.RFC3339), pl.pol.DeadGrace)
		case repairUnder:
			why = fmt.Sprintf("add clone: %q wants %d voters, %v has %d", svc.Name, svc.Clones, p.Ref(), p.numVoters())
		case repairDrain:
			why = fmt.Sprintf("drain: node %d is draining", r.victim)
		}
		pl.addLearner(r.pi, t, r.victim, why+pl.targetWhy(si, t))
	}
}

func (pl *planner) targetWhy(si, t int) string {
	n := &pl.m.Nodes[t]
	return fmt.Sprintf("; node %d (zone %q) holds %d clones of %q", n.ID, n.Zone, pl.load[si][t], pl.m.Services[si].Name)
}

// addLearner plans a learner on node index t replacing victim (or none),
// and moves the projected loads with it.
func (pl *planner) addLearner(pi, t int, victim NodeID, why string) {
	p := &pl.m.Partitions[pi]
	si := pl.svcOf[pi]
	pl.load[si][t]++
	pl.total[t]++
	if victim != 0 {
		v := pl.nodeIdx[victim]
		pl.load[si][v]--
		pl.total[v]--
		if p.Sequencer() == victim {
			pl.seq[si][v]--
			pl.seq[si][t]++
		}
	}
	pl.budget--
	pl.emit(pi, Move{Kind: AddLearner, Node: pl.m.Nodes[t].ID, Replace: victim, Reason: why})
}
