package partitionmap

import (
	"fmt"
	"slices"
)

// Balancing, once the repairs are planned: clones across each service's
// usable nodes, then its sequencers.

// rebalance moves clones from the most to the least loaded usable nodes
// of each service while they differ by more than one clone (a difference
// of one cannot be evened out, and chasing it would only add moves). A
// move never worsens a partition's spread over zones. Services take turns,
// one move each, so one service cannot starve the others of the budget.
func (pl *planner) rebalance() {
	active := make([]bool, len(pl.m.Services))
	for si := range active {
		active[si] = true
	}
	for more := true; more && pl.budget > 0; {
		more = false
		for si := range pl.m.Services {
			if pl.budget == 0 {
				return
			}
			if active[si] {
				active[si] = pl.rebalanceOne(si)
				more = more || active[si]
			}
		}
	}
}

func (pl *planner) usableNodes(si int) []int {
	var ns []int
	for n := range pl.m.Nodes {
		if pl.usable[si][n] {
			ns = append(ns, n)
		}
	}
	return ns
}

func (pl *planner) rebalanceOne(si int) bool {
	ns := pl.usableNodes(si)
	if len(ns) < 2 {
		return false
	}
	load := pl.load[si]
	byLoad := func(a, b int) int {
		if load[a] != load[b] {
			return load[a] - load[b]
		}
		if pl.total[a] != pl.total[b] {
			return pl.total[a] - pl.total[b]
		}
		return a - b
	}
	slices.SortFunc(ns, byLoad)
	for i := len(ns) - 1; i > 0; i-- {
		src := ns[i]
		for _, dst := range ns[:i] {
			if load[src]-load[dst] <= 1 {
				break // the rest are at least as loaded
			}
			if pi, ok := pl.movable(si, src, dst); ok {
				pl.addLearner(pi, dst, pl.m.Nodes[src].ID, fmt.Sprintf("rebalance %q: node %d holds %d clones, node %d holds %d",
					pl.m.Services[si].Name, pl.m.Nodes[src].ID, load[src], pl.m.Nodes[dst].ID, load[dst]))
				return true
			}
		}
	}
	return false
}

// movable finds a partition of service si with a voter on src that may
// move to dst: settled, able to change, not on dst already, and not
// crowding dst's zone. A moved rank-0 voter takes its sequencer role
// along, so it prefers a sequencer when src leads two or more partitions
// more than dst (one move then balances both) and a plain voter
// otherwise — but takes either rather than move nothing: a relocation
// copies a partition's state, a sequencer handoff (Lead) costs a view
// change, so clone balance comes first and Lead moves mend the rest.
//
// The answer depends only on which partitions are touched, which only
// grows during a plan: a pair found blocked stays blocked, and is not
// searched again.
func (pl *planner) movable(si, src, dst int) (int, bool) {
	key := [3]int{si, src, dst}
	if pl.blocked[key] {
		return 0, false
	}
	lists := [2][][]int{pl.followParts[si], pl.ledParts[si]}
	if pl.seq[si][src]-pl.seq[si][dst] > 1 {
		lists[0], lists[1] = lists[1], lists[0]
	}
	for _, l := range lists {
		if pi, ok := pl.firstMovable(l, src, dst); ok {
			return pi, true
		}
	}
	if pl.blocked == nil {
		pl.blocked = map[[3]int]bool{}
	}
	pl.blocked[key] = true
	return 0, false
}

// firstMovable scans lists[src] for a partition that may move to dst,
// compacting away the touched ones as it goes: they never come back.
func (pl *planner) firstMovable(lists [][]int, src, dst int) (int, bool) {
	dstID := pl.m.Nodes[dst].ID
	list := lists[src]
	w := 0
	for k, pi := range list {
		if pl.touched[pi] {
			continue
		}
		list[w] = pi
		w++
		p := &pl.m.Partitions[pi]
		if holds(p.Clones, dstID) || !pl.canChange(pi) {
			continue
		}
		if pl.zone[dst] != pl.zone[src] &&
			pl.zoneCountAt(pi, -1, pl.zone[dst]) >= pl.zoneCountAt(pi, -1, pl.zone[src]) {
			continue
		}
		w += copy(list[w:], list[k+1:])
		lists[src] = list[:w]
		return pi, true
	}
	lists[src] = list[:w]
	return 0, false
}

// balanceSequencers hands the sequencer role (rank 0) from the usable node
// leading most partitions of a service to a voter of the same partition
// that leads at least two fewer. No state moves; the group changes its
// ranks in one view change.
func (pl *planner) balanceSequencers() {
	active := make([]bool, len(pl.m.Services))
	for si := range active {
		active[si] = true
	}
	for more := true; more && pl.budget > 0; {
		more = false
		for si := range pl.m.Services {
			if pl.budget == 0 {
				return
			}
			if active[si] {
				active[si] = pl.leadOne(si)
				more = more || active[si]
			}
		}
	}
}

// leadOne plans one Lead for service si, if any helps. It waits until the
// service's clones are settled: while clones move, the sequencer counts are
// projections that later moves change again, and handoffs planned on them
// would be churn.
func (pl *planner) leadOne(si int) bool {
	if pl.moving[si] {
		return false
	}
	ns := pl.usableNodes(si)
	if len(ns) < 2 {
		return false
	}
	seq := pl.seq[si]
	slices.SortFunc(ns, func(a, b int) int {
		if seq[a] != seq[b] {
			return seq[b] - seq[a]
		}
		return a - b
	})
	lowest := seq[ns[len(ns)-1]]
	for _, src := range ns {
		if seq[src]-lowest <= 1 {
			return false
		}
		for _, pi := range pl.ledParts[si][src] {
			if pl.touched[pi] {
				continue
			}
			p := &pl.m.Partitions[pi]
			if !pl.canChange(pi) {
				continue
			}
			best := -1
			for r := 1; r < p.numVoters(); r++ {
				n := pl.cidx[pi][r]
				if !pl.usable[si][n] || seq[n] >= seq[src]-1 {
					continue
				}
				if best < 0 || seq[n] < seq[best] || seq[n] == seq[best] && pl.load[si][n] < pl.load[si][best] {
					best = n
				}
			}
			if best < 0 {
				continue
			}
			why := fmt.Sprintf("balance sequencers of %q: node %d leads %d partitions, node %d leads %d",
				pl.m.Services[si].Name, pl.m.Nodes[src].ID, seq[src], pl.m.Nodes[best].ID, seq[best])
			seq[src]--
			seq[best]++
			pl.budget--
			pl.emit(pi, Move{Kind: Lead, Node: pl.m.Nodes[best].ID, Replace: pl.m.Nodes[src].ID, Reason: why})
			return true
		}
	}
	return false
}
