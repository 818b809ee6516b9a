package raps

import (
	"context"
	"errors"
	"fmt"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
)

// DefineService adds a service to the partition map: its partitions and
// their clone sets, placed on the nodes that offer it. The nodes start
// their clones when they see the new map. A definition that cannot work
// (unknown partitioning, gapped ranges, more clones than nodes offering
// it, …) is refused with the map's error and changes nothing.
func (n *Node) DefineService(ctx context.Context, s Service) error {
	ms, ranges, err := s.mapService()
	if err != nil {
		return err
	}
	err = n.adminCAS(ctx, func(m *partitionmap.Map) mgmt.Command {
		return mgmt.Command{Op: mgmt.OpDefineService, Epoch: m.Epoch, Service: ms, Ranges: ranges,
			Reason: fmt.Sprintf("define service %q: %d partitions × %d clones", ms.Name, ms.Partitions, ms.Clones)}
	})
	if errors.Is(err, partitionmap.ErrExists) {
		// An earlier attempt whose outcome was unknown may have defined
		// it: the same definition is a success, another one is not.
		if m := n.Map(); m != nil {
			if have, err2 := m.Service(ms.Name); err2 == nil && *have == ms {
				return nil
			}
		}
	}
	return err
}

// SetClones changes a service's clone count; the placer adds or removes
// clones gradually.
func (n *Node) SetClones(ctx context.Context, service string, clones int) error {
	return n.adminCAS(ctx, func(m *partitionmap.Map) mgmt.Command {
		return mgmt.Command{Op: mgmt.OpSetClones, Epoch: m.Epoch, Name: service, Clones: clones,
			Reason: fmt.Sprintf("service %q: %d clones per partition", service, clones)}
	})
}

// Drain marks a node draining: the placer moves its clones away.
func (n *Node) Drain(ctx context.Context, node partitionmap.NodeID) error {
	return n.adminCAS(ctx, func(m *partitionmap.Map) mgmt.Command {
		return mgmt.Command{Op: mgmt.OpSetNodeState, Epoch: m.Epoch, NodeID: node, State: partitionmap.NodeDraining,
			Reason: fmt.Sprintf("drain node %d", node)}
	})
}

// adminCAS proposes the change built for the newest map, again on a newer
// one while the epoch moved under it, until ctx ends.
func (n *Node) adminCAS(ctx context.Context, build func(*partitionmap.Map) mgmt.Command) error {
	for {
		m := n.Map()
		if m == nil {
			if err := n.waitMap(ctx, 0); err != nil {
				return err
			}
			continue
		}
		res, err := n.Admin(ctx, build(m))
		if err == nil {
			err = res.Err()
		}
		if err == nil {
			return n.waitMap(ctx, res.Epoch)
		}
		if !errors.Is(err, partitionmap.ErrStaleEpoch) && !retryable(err) {
			return err
		}
		if werr := n.waitMap(ctx, max(m.Epoch+1, res.Epoch)); werr != nil {
			return fmt.Errorf("%w (last refusal: %v)", werr, err)
		}
	}
}

// waitMap waits until this node holds a map at epoch ≥ want (any map for
// want 0).
func (n *Node) waitMap(ctx context.Context, want uint64) error {
	for {
		if m := n.Map(); m != nil && m.Epoch >= want {
			return nil
		}
		n.fetchMap()
		if !n.client.pause(ctx, 1) {
			return fmt.Errorf("%w: waiting for epoch %d: %w", ErrNoMap, want, ctx.Err())
		}
	}
}

// History returns the map's change history after epoch since (at most
// limit entries; ≤ 0 for all kept), from this node's management clone.
func (n *Node) History(since uint64, limit int) ([]mgmt.Change, error) {
	if n.mgmtSM == nil {
		return nil, fmt.Errorf("%w: node %d holds no management clone", ErrNotHosted, n.cfg.ID)
	}
	return n.mgmtSM.History(since, limit), nil
}

// MoveClone moves partition ref's clone on node from to node to (a
// learner on to first; the placer finishes the move).
func (n *Node) MoveClone(ctx context.Context, ref partitionmap.PartRef, from, to partitionmap.NodeID) error {
	return n.adminCAS(ctx, func(m *partitionmap.Map) mgmt.Command {
		return mgmt.Command{Op: mgmt.OpMoveClone, Epoch: m.Epoch, Ref: ref, From: from, To: to,
			Reason: fmt.Sprintf("move %v from node %d to node %d", ref, from, to)}
	})
}
