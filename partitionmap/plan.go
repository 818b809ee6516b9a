package partitionmap

import (
	"fmt"
	"time"
)

// Policy bounds what one Plan may do.
type Policy struct {
	// MaxConcurrentMoves bounds the partitions in transition: those with
	// a learner in the map (except groups without a live majority, which
	// are stuck and move nothing) plus the new moves of the plan. ≥ 1.
	MaxConcurrentMoves int `json:"max_concurrent_moves"`
	// DeadGrace is how long a node must have been declared dead before
	// its clones are re-replicated elsewhere: a node that reboots should
	// come back to its clones rather than have them copied away.
	DeadGrace time.Duration `json:"dead_grace"`
	// Now is the time the plan is made for (this package reads no clock).
	Now time.Time `json:"now"`
}

// DefaultPolicy is 16 concurrent moves and a 10-minute grace, at now.
func DefaultPolicy(now time.Time) Policy {
	return Policy{MaxConcurrentMoves: 16, DeadGrace: 10 * time.Minute, Now: now}
}

// Validate reports a policy Plan cannot use.
func (p Policy) Validate() error {
	switch {
	case p.MaxConcurrentMoves < 1:
		return fmt.Errorf("%w: policy: MaxConcurrentMoves %d, want ≥ 1", ErrInvalidArgument, p.MaxConcurrentMoves)
	case p.DeadGrace < 0:
		return fmt.Errorf("%w: policy: negative DeadGrace %v", ErrInvalidArgument, p.DeadGrace)
	case p.Now.IsZero():
		return fmt.Errorf("%w: policy: Now is not set", ErrInvalidArgument)
	}
	return nil
}

// Plan computes the next moves that bring the map toward its goals, as a
// pure function: the same map, live set and policy always give the same
// moves, in the same order. live holds the nodes the failure detector
// currently sees (a node not in it, or mapped to false, is down; a node
// declared dead counts as down whatever live says). At most one move per
// partition, so the moves are independent and may be applied in any order
// (ApplyAll applies them as one change). See doc.go for the goals and the
// safety rules.
func Plan(m *Map, live map[NodeID]bool, pol Policy) ([]Move, error) {
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	pl := &planner{
		cluster: newCluster(m, func(n *Node) bool { return live[n.ID] }),
		pol:     pol,
		touched: make([]bool, len(m.Partitions)),
	}
	pl.buildIndexes()
	pl.finishMoves()
	pl.budget = max(pol.MaxConcurrentMoves-pl.inflight, 0)
	pl.repair()
	pl.rebalance()
	pl.balanceSequencers()
	return pl.moves, nil
}

type planner struct {
	*cluster
	pol      Policy
	touched  []bool // partition has a learner or a move in this plan
	inflight int
	budget   int
	moves    []Move
	// ledParts[s][n]: partitions of service s that node n leads;
	// followParts[s][n]: those where it is another voter. Built once; a
	// partition moved since is skipped (and dropped) through touched.
	ledParts    [][][]int
	followParts [][][]int
	// upVoters[p]: the live voters of partition p (the map does not change
	// during a plan; moves apply later).
	upVoters []int
	// blocked holds the (service, src, dst) node pairs found to have no
	// partition that may move (a map: usually empty, and an n² matrix
	// would not be, for big clusters).
	blocked map[[3]int]bool
	// moving[s]: service s has clones in flight or moved in this plan, so
	// its sequencers wait (see leadOne).
	moving []bool
}

func (pl *planner) buildIndexes() {
	m := pl.m
	pl.followParts = make([][][]int, len(m.Services))
	pl.ledParts = make([][][]int, len(m.Services))
	for si := range m.Services {
		pl.followParts[si] = make([][]int, len(m.Nodes))
		pl.ledParts[si] = make([][]int, len(m.Nodes))
	}
	pl.upVoters = make([]int, len(m.Partitions))
	pl.moving = make([]bool, len(m.Services))
	for pi := range m.Partitions {
		si := pl.svcOf[pi]
		for r := range m.Partitions[pi].Voters() {
			n := pl.cidx[pi][r]
			if pl.up[n] {
				pl.upVoters[pi]++
			}
			if r == 0 {
				pl.ledParts[si][n] = append(pl.ledParts[si][n], pi)
			} else {
				pl.followParts[si][n] = append(pl.followParts[si][n], pi)
			}
		}
	}
}

func (pl *planner) emit(pi int, mv Move) {
	if mv.Kind != Lead {
		pl.moving[pl.svcOf[pi]] = true
	}
	mv.Partition = pl.m.Partitions[pi].Ref()
	pl.moves = append(pl.moves, mv)
	pl.touched[pi] = true
}

func (pl *planner) node(id NodeID) *Node { return &pl.m.Nodes[pl.nodeIdx[id]] }

func (pl *planner) isUp(id NodeID) bool { return pl.up[pl.nodeIdx[id]] }

// liveVoters counts partition pi's voters on live nodes, other than skip.
func (pl *planner) liveVoters(pi int, skip NodeID) int {
	k := pl.upVoters[pi]
	if skip != 0 {
		p := &pl.m.Partitions[pi]
		if i := p.cloneIndex(skip); i >= 0 && p.Clones[i].Role == Voter && pl.up[pl.cidx[pi][i]] {
			k--
		}
	}
	return k
}

// canChange: the partition's group can install a new view at all — a
// majority of its voters is live. A group without one can do nothing the
// map asks (G3); planning for it would only queue moves that cannot run.
func (pl *planner) canChange(pi int) bool {
	return pl.upVoters[pi] >= quorum(pl.m.Partitions[pi].numVoters())
}

// finishMoves handles the partitions with a learner, a move in flight:
// promote a ready one (removing the voter it replaces), cancel one that can
// no longer finish or is no longer wanted, or wait. These steps finish
// moves; they use none of the budget.
func (pl *planner) finishMoves() {
	m := pl.m
	for pi := range m.Partitions {
		p := &m.Partitions[pi]
		l, ok := p.Learner()
		if !ok {
			continue
		}
		pl.touched[pi] = true
		if pl.canChange(pi) {
			// A group without a live majority is stuck: its move makes no
			// progress and takes no resources, so it holds no place in the
			// budget (or one stuck group would stall every other move) and
			// does not keep its service's sequencers from balancing.
			pl.inflight++
			pl.moving[pl.svcOf[pi]] = true
		}
		svc := &m.Services[pl.svcOf[pi]]
		ln := pl.node(l.Node)
		switch {
		case ln.State != NodeActive:
			pl.cancel(pi, l, fmt.Sprintf("cancel move: node %d of the learner is %v", l.Node, ln.State))
		case l.Replaces == 0 && p.numVoters() >= svc.Clones:
			pl.cancel(pi, l, fmt.Sprintf("cancel move: %q wants %d voters and %v has %d", svc.Name, svc.Clones, p.Ref(), p.numVoters()))
		case !l.Ready || !pl.isUp(l.Node):
			// Wait: for the state transfer, or for the learner's node
			// to come back (or be declared dead, which cancels).
		default:
			// Promoting a live learner in place of r keeps as many live
			// voters as before, plus one if r is down: never fewer. Both
			// the old view and the new one need a live majority (S10).
			v := p.numVoters()
			after := pl.liveVoters(pi, l.Replaces) + 1
			nv := v
			if l.Replaces == 0 {
				nv++
			}
			if pl.liveVoters(pi, 0) < quorum(v) || after < quorum(nv) {
				continue
			}
			why := fmt.Sprintf("complete move: the learner on node %d holds its state", l.Node)
			if l.Replaces != 0 {
				why += fmt.Sprintf("; it replaces node %d", l.Replaces)
			}
			pl.moves = append(pl.moves, Move{Partition: p.Ref(), Kind: PromoteAndRemove, Node: l.Node, Replace: l.Replaces, Reason: why})
		}
	}
}

// cancel removes a learner. Learners count in no quorum, so this never
// costs a majority. The loads move back from the learner to its voter.
func (pl *planner) cancel(pi int, l Clone, why string) {
	si, n := pl.svcOf[pi], pl.nodeIdx[l.Node]
	pl.load[si][n]--
	pl.total[n]--
	if l.Replaces != 0 {
		r := pl.nodeIdx[l.Replaces]
		pl.load[si][r]++
		pl.total[r]++
		if pl.m.Partitions[pi].Sequencer() == l.Replaces {
			pl.seq[si][n]--
			pl.seq[si][r]++
		}
	}
	pl.moves = append(pl.moves, Move{Partition: pl.m.Partitions[pi].Ref(), Kind: Remove, Node: l.Node, Reason: why})
}
