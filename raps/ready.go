package raps

import (
	"errors"
	"fmt"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// ErrNotReady: the node cannot serve what it hosts now (Ready says why).
var ErrNotReady = errors.New("raps: node not ready")

// Ready reports whether this node can serve what the map gives it: it
// holds a map that lists it, it is not draining, it sees a majority of the
// map's live nodes alive (a node cut off on a minority side is not
// ready, even before its groups notice), and every clone the map places
// here is a voter whose group has installed a view and runs in it (no
// state transfer left, no view change stuck for want of a majority); so
// is the management group, where this node holds a member of it. It is a
// readiness probe's answer (/readyz), cheap enough to call often.
func (n *Node) Ready() error {
	if g, err := n.host.Group(MgmtGroup); err == nil && n.mgmtSM.Load() != nil {
		if err := g.Serving(); err != nil {
			return fmt.Errorf("%w: management group: %w", ErrNotReady, err)
		}
	}
	m := n.Map()
	if m == nil {
		return fmt.Errorf("%w: no partition map yet", ErrNotReady)
	}
	self := partitionmap.NodeID(n.cfg.ID)
	me, err := m.Node(self)
	switch {
	case err != nil:
		return fmt.Errorf("%w: not in the partition map (epoch %d) yet", ErrNotReady, m.Epoch)
	case me.State == partitionmap.NodeDraining:
		return fmt.Errorf("%w: draining", ErrNotReady)
	case me.State == partitionmap.NodeDead:
		return fmt.Errorf("%w: the map holds this node dead (epoch %d)", ErrNotReady, m.Epoch)
	}
	if err := n.seesMajority(m); err != nil {
		return err
	}
	for i := range m.Partitions {
		p := &m.Partitions[i]
		for _, c := range p.Clones {
			if c.Node != self {
				continue
			}
			if c.Role != partitionmap.Voter {
				return fmt.Errorf("%w: partition %s is joining here (learner)", ErrNotReady, p.Ref())
			}
			g, err := n.host.Group(replica.GroupID(p.Group))
			if err != nil {
				return fmt.Errorf("%w: partition %s not hosted yet", ErrNotReady, p.Ref())
			}
			if err := g.Serving(); err != nil {
				return fmt.Errorf("%w: partition %s: %w", ErrNotReady, p.Ref(), err)
			}
		}
	}
	return nil
}

// seesMajority: of the nodes the map does not hold dead, a majority is
// live (Config.Live; this node counts).
func (n *Node) seesMajority(m *partitionmap.Map) error {
	if n.cfg.Live == nil {
		return nil
	}
	live := map[partitionmap.NodeID]bool{}
	for _, id := range n.cfg.Live() {
		live[partitionmap.NodeID(id)] = true
	}
	live[partitionmap.NodeID(n.cfg.ID)] = true
	total, up := 0, 0
	for i := range m.Nodes {
		if m.Nodes[i].State == partitionmap.NodeDead {
			continue
		}
		total++
		if live[m.Nodes[i].ID] {
			up++
		}
	}
	if total > 0 && 2*up <= total {
		return fmt.Errorf("%w: sees %d of the map's %d nodes alive (no majority)", ErrNotReady, up, total)
	}
	return nil
}
