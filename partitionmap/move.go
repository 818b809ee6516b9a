package partitionmap

import (
	"fmt"
	"slices"
)

// MoveKind is one step of a clone's movement. Moving a clone is two
// steps, never one: AddLearner puts a learner on the new node (it receives
// the state); once the group reports it holds the state
// (MarkLearnerReady), PromoteAndRemove makes it a voter and removes the
// clone it replaces in the same view. A voter is never removed first, so a
// move never costs a partition a live voter.
type MoveKind uint8

const (
	// AddLearner adds Node as a learner; Replace is the voter it will
	// replace (zero: an added clone).
	AddLearner MoveKind = 1
	// PromoteAndRemove makes the ready learner on Node a voter, at the
	// rank of Replace, and removes Replace (zero: nothing is removed).
	PromoteAndRemove MoveKind = 2
	// Remove removes the clone on Node: an excess voter, or a learner
	// whose move is cancelled.
	Remove MoveKind = 3
	// Lead makes the voter on Node the preferred sequencer (rank 0),
	// swapping ranks with Replace, the current one. No state moves.
	Lead MoveKind = 4
)

// Move is one step for one partition, with the reason for it in words (the
// admin API and the log show it).
type Move struct {
	Partition PartRef  `json:"partition"`
	Kind      MoveKind `json:"kind"`
	Node      NodeID   `json:"node"`
	Replace   NodeID   `json:"replace,omitempty"`
	Reason    string   `json:"reason"`
}

func (mv Move) String() string {
	s := fmt.Sprintf("%v %v node %d", mv.Partition, mv.Kind, mv.Node)
	if mv.Replace != 0 {
		s += fmt.Sprintf(" (replacing %d)", mv.Replace)
	}
	if mv.Reason != "" {
		s += ": " + mv.Reason
	}
	return s
}

// Apply applies one move (from Plan, or from an operator) at the next
// epoch. The move is checked against the map as it is now, not as it was
// when planned, so a move that no longer fits is refused.
func (m *Map) Apply(epoch uint64, mv Move) (*Map, error) {
	return m.ApplyAll(epoch, []Move{mv})
}

// ApplyAll applies moves in order as one change (one epoch), all or
// nothing: the first move that does not fit fails the whole change. The
// moves of one Plan touch distinct partitions, so any order works.
func (m *Map) ApplyAll(epoch uint64, moves []Move) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	for i, mv := range moves {
		if err := d.apply(mv); err != nil {
			if len(moves) > 1 {
				return nil, fmt.Errorf("move %d of %d: %w", i+1, len(moves), err)
			}
			return nil, err
		}
	}
	return d.commit()
}

// MoveClone starts an operator's move of partition ref's voter on node
// from to node to: a learner on to that replaces from. Plan completes it
// once the learner is ready, like its own moves. Plan may later move
// clones again if the result is unbalanced or badly spread over zones.
func (m *Map) MoveClone(epoch uint64, ref PartRef, from, to NodeID) (*Map, error) {
	if from == 0 {
		return nil, fmt.Errorf("%w: moving a clone needs the node it moves from", ErrInvalidArgument)
	}
	return m.Apply(epoch, Move{Partition: ref, Kind: AddLearner, Node: to, Replace: from, Reason: "operator"})
}

// CloneRef names one clone: a partition and a node.
type CloneRef struct {
	Partition PartRef `json:"partition"`
	Node      NodeID  `json:"node"`
}

// MarkLearnerReady records that the learner of ref on node holds its
// state: the group reported the learner Ready (its state transfer is
// done). Only then does Plan promote it. The caller (the management
// service) calls it when the group's coordinator reports the view.
func (m *Map) MarkLearnerReady(epoch uint64, ref PartRef, node NodeID) (*Map, error) {
	return m.MarkLearnersReady(epoch, CloneRef{Partition: ref, Node: node})
}

// MarkLearnersReady is MarkLearnerReady for many learners as one change,
// all or nothing: reports come in bursts after a plan, and one epoch per
// burst keeps the management group's log short.
func (m *Map) MarkLearnersReady(epoch uint64, learners ...CloneRef) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	for _, lr := range learners {
		pi, err := d.m.partIndex(lr.Partition)
		if err != nil {
			return nil, err
		}
		p := &d.m.Partitions[pi]
		i := p.cloneIndex(lr.Node)
		switch {
		case i < 0:
			return nil, fmt.Errorf("%w: %v has no clone on node %d", ErrInvalidMove, lr.Partition, lr.Node)
		case p.Clones[i].Role != Learner:
			return nil, fmt.Errorf("%w: the clone of %v on node %d is a voter, not a learner", ErrInvalidMove, lr.Partition, lr.Node)
		case p.Clones[i].Ready:
			return nil, fmt.Errorf("%w: the learner of %v on node %d is already ready", ErrInvalidMove, lr.Partition, lr.Node)
		}
		clones := slices.Clone(p.Clones)
		clones[i].Ready = true
		d.setClones(pi, clones)
	}
	return d.commit()
}

func (d *draft) apply(mv Move) error {
	m := &d.m
	pi, err := m.partIndex(mv.Partition)
	if err != nil {
		return err
	}
	p := &m.Partitions[pi]
	ref := mv.Partition
	i := p.cloneIndex(mv.Node)
	switch mv.Kind {
	case AddLearner:
		ni, found := m.nodeIndex(mv.Node)
		switch {
		case !found:
			return fmt.Errorf("%w %d (adding a learner to %v)", ErrUnknownNode, mv.Node, ref)
		case m.Nodes[ni].State != NodeActive:
			return fmt.Errorf("%w: node %d is %v and takes no new clones (%v)", ErrInvalidMove, mv.Node, m.Nodes[ni].State, ref)
		case !m.Nodes[ni].Offers(ref.Service):
			return fmt.Errorf("%w: node %d does not offer %q (moving a clone of %v there)", ErrNodeLacksService, mv.Node, ref.Service, ref)
		case i >= 0:
			return fmt.Errorf("%w: node %d already holds a clone of %v", ErrInvalidMove, mv.Node, ref)
		case len(p.Clones) >= MaxClones:
			return fmt.Errorf("%w: %v already has %d clones", ErrInvalidMove, ref, MaxClones)
		}
		if l, busy := p.Learner(); busy {
			return fmt.Errorf("%w: %v already has a learner on node %d", ErrMoveInProgress, ref, l.Node)
		}
		if mv.Replace != 0 {
			if r := p.cloneIndex(mv.Replace); r < 0 || p.Clones[r].Role != Voter {
				return fmt.Errorf("%w: %v has no voter on node %d to replace", ErrInvalidMove, ref, mv.Replace)
			}
		}
		clones := append(slices.Clone(p.Clones), Clone{Node: mv.Node, Role: Learner, Replaces: mv.Replace})
		d.setClones(pi, clones)
	case PromoteAndRemove:
		switch {
		case i < 0 || p.Clones[i].Role != Learner:
			return fmt.Errorf("%w: %v has no learner on node %d to promote", ErrInvalidMove, ref, mv.Node)
		case !p.Clones[i].Ready:
			return fmt.Errorf("%w: the learner of %v on node %d is not ready (it has no state yet)", ErrInvalidMove, ref, mv.Node)
		case p.Clones[i].Replaces != mv.Replace:
			return fmt.Errorf("%w: the learner of %v on node %d replaces node %d, the move says %d", ErrInvalidMove, ref, mv.Node, p.Clones[i].Replaces, mv.Replace)
		}
		voters := slices.Clone(p.Voters())
		promoted := Clone{Node: mv.Node, Role: Voter}
		if r := p.cloneIndex(mv.Replace); mv.Replace != 0 {
			voters[r] = promoted // takes the replaced voter's rank
		} else {
			voters = append(voters, promoted)
		}
		d.setClones(pi, voters)
	case Remove:
		switch {
		case i < 0:
			return fmt.Errorf("%w: %v has no clone on node %d to remove", ErrInvalidMove, ref, mv.Node)
		case mv.Replace != 0:
			return fmt.Errorf("%w: a removal replaces nothing", ErrInvalidMove)
		case p.Clones[i].Role == Voter && p.numVoters() == 1:
			return fmt.Errorf("%w: node %d holds the last voter of %v", ErrInvalidMove, mv.Node, ref)
		}
		if l, busy := p.Learner(); busy && p.Clones[i].Role == Voter && l.Replaces == mv.Node {
			return fmt.Errorf("%w: the learner of %v on node %d is replacing node %d; promote it or remove it instead", ErrMoveInProgress, ref, l.Node, mv.Node)
		}
		d.setClones(pi, slices.Delete(slices.Clone(p.Clones), i, i+1))
	case Lead:
		switch {
		case i < 0 || p.Clones[i].Role != Voter:
			return fmt.Errorf("%w: %v has no voter on node %d to lead", ErrInvalidMove, ref, mv.Node)
		case i == 0:
			return fmt.Errorf("%w: node %d already leads %v", ErrInvalidMove, mv.Node, ref)
		case mv.Replace != 0 && mv.Replace != p.Clones[0].Node:
			return fmt.Errorf("%w: %v is led by node %d, not %d", ErrInvalidMove, ref, p.Clones[0].Node, mv.Replace)
		}
		clones := slices.Clone(p.Clones)
		clones[0], clones[i] = clones[i], clones[0]
		d.setClones(pi, clones)
	default:
		return fmt.Errorf("%w: unknown move kind %d", ErrInvalidArgument, uint8(mv.Kind))
	}
	return nil
}
