package raps

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
)

// The placer runs on the node that sequences the management group, so
// one placer works at a time and its changes are ordered with every
// other admin change; a placer that lost its role is stopped by the
// compare-and-set on the epoch (its plan was made for an older map).
//
// Each round it declares nodes that stayed unreachable for DeadAfter dead
// (and the failure's time is the grace's start), then asks
// partitionmap.Plan for the next moves and proposes them, in as few
// changes as keep every move and its reason whole in the map's history
// (a change's summary holds 2 KiB: mgmt.MovesFit). Every move carries its
// reason into the history and the log.

func (n *Node) place(ctx context.Context, m *partitionmap.Map) {
	now := n.cfg.Clock()
	if now.Sub(n.lastPlan) < n.cfg.PlaceEvery || !n.sequencesMgmt() {
		return
	}
	n.lastPlan = now
	live := map[partitionmap.NodeID]bool{}
	for _, id := range n.liveNodes() {
		live[partitionmap.NodeID(id)] = true
		n.lastLive[id] = now
	}
	for _, nd := range m.Nodes {
		id := groupcomm.NodeID(nd.ID)
		if live[nd.ID] || nd.State == partitionmap.NodeDead {
			continue
		}
		seen, ok := n.lastLive[id]
		if !ok {
			n.lastLive[id] = now // first round of this placer: start the clock
			continue
		}
		if now.Sub(seen) >= n.cfg.DeadAfter {
			n.adminLogged(ctx, mgmt.Command{Op: mgmt.OpSetNodeState, Epoch: m.Epoch, NodeID: nd.ID,
				State: partitionmap.NodeDead, Since: seen,
				Reason: fmt.Sprintf("node %d unreachable since %s", nd.ID, seen.UTC().Format("15:04:05.000"))})
			return // the next round plans on the new map
		}
	}
	pol := n.cfg.Policy
	pol.Now = now
	moves, err := partitionmap.Plan(m, live, pol)
	if err != nil {
		n.log.Warn("placement failed", "epoch", m.Epoch, "err", err)
		return
	}
	// One change per chunk that the history's summary holds whole
	// (mgmt.MovesFit), each at the epoch the previous one made: the
	// moves of a plan touch distinct partitions, so any split applies.
	// A refused chunk ends the round; the next plans on the newer map.
	for base := m.Epoch; len(moves) > 0; {
		k := mgmt.MovesFit(moves)
		chunk := moves[:k]
		moves = moves[k:]
		var why []string
		for _, mv := range chunk {
			n.log.Info("placer: move", "epoch", base, "partition", mv.Partition.String(), "kind", mv.Kind.String(),
				"node", mv.Node, "replace", mv.Replace, "reason", mv.Reason)
			why = append(why, fmt.Sprintf("%s %s", mv.Partition, mv.Kind))
		}
		reason := fmt.Sprintf("placer: %d moves (%s)", len(chunk), strings.Join(why, ", "))
		if len(reason) > 900 {
			reason = strings.ToValidUTF8(reason[:900], "") + "…"
		}
		res, err := n.Admin(ctx, mgmt.Command{Op: mgmt.OpApplyMoves, Epoch: base, Moves: chunk, Reason: reason})
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			if !errors.Is(err, partitionmap.ErrStaleEpoch) {
				n.log.Debug("admin change refused", "op", mgmt.OpApplyMoves, "err", err)
			}
			return
		}
		base = res.Epoch
	}
}

// sequencesMgmt reports whether this node's management clone is the
// management group's sequencer.
func (n *Node) sequencesMgmt() bool {
	if n.mgmtSM.Load() == nil {
		return false
	}
	g, err := n.host.Group(MgmtGroup)
	if err != nil {
		return false
	}
	in := g.Info()
	return in.Status == groupcomm.StatusNormal && in.Sequencer.Node == n.cfg.ID
}

func (n *Node) liveNodes() []groupcomm.NodeID {
	if n.cfg.Live == nil {
		var all []groupcomm.NodeID
		if m := n.Map(); m != nil {
			for _, nd := range m.Nodes {
				all = append(all, groupcomm.NodeID(nd.ID))
			}
		}
		return all
	}
	return n.cfg.Live()
}
