package raps

import (
	"context"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Sequencers follow the map. A group's sequencer is its view's first
// member; failures move it (the first surviving voter takes over) and
// nothing moved it back, so after a few failures every group's sequencer
// sat on one node. The map names each partition's preferred sequencer
// (its rank-0 voter, which the placer balances with Lead moves); the node
// whose clone sequences a group it should not hands it over with a Lead
// view change (racs Group.Lead), once the preferred node is live and a
// voter of the group's view. Hand-offs are paced: at most
// maxLeadsPerRound a round on a node, and one per group per leadBackoff,
// so a node back from a restart takes its groups back gradually.

const (
	maxLeadsPerRound = 8
	leadBackoff      = 10 * time.Second
)

// handOffSequencers runs on the node's loop.
func (n *Node) handOffSequencers(ctx context.Context, m *partitionmap.Map) {
	self := partitionmap.NodeID(n.cfg.ID)
	now := time.Now()
	led := 0
	for i := range m.Partitions {
		if led >= maxLeadsPerRound {
			return
		}
		p := &m.Partitions[i]
		want := p.Sequencer()
		if want == 0 || want == self {
			continue
		}
		if _, ok := p.Holds(self); !ok {
			continue
		}
		gid := replica.GroupID(p.Group)
		if t, ok := n.leadAt[gid]; ok && now.Sub(t) < leadBackoff {
			continue
		}
		g, err := n.host.Group(gid)
		if err != nil {
			continue
		}
		in := g.Info()
		if in.Status != groupcomm.StatusNormal || in.Sequencer.Node != n.cfg.ID || !n.isLive(groupcomm.NodeID(want)) {
			continue
		}
		v := g.View()
		if mm, ok := v.LookupNode(groupcomm.NodeID(want)); !ok || mm.Role != groupcomm.Voter {
			continue
		}
		n.leadAt[gid] = now
		led++
		if err := g.Lead(ctx, groupcomm.NodeID(want)); err != nil {
			n.log.Debug("sequencer hand-off not proposed", "partition", p.Ref().String(), "group", p.Group, "to", want, "err", err)
			continue
		}
		n.log.Info("handing the sequencer to the map's preferred node", "partition", p.Ref().String(), "group", p.Group,
			"view", v.ID, "from", n.cfg.ID, "to", want, "epoch", m.Epoch)
	}
}
