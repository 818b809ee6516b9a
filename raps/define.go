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
func (c *Client) DefineService(ctx context.Context, s Service) error {
	ms, ranges, err := s.mapService()
	if err != nil {
		return err
	}
	err = c.adminCAS(ctx, func(m *partitionmap.Map) mgmt.Command {
		return mgmt.Command{Op: mgmt.OpDefineService, Epoch: m.Epoch, Service: ms, Ranges: ranges,
			Reason: fmt.Sprintf("define service %q: %d partitions × %d clones", ms.Name, ms.Partitions, ms.Clones)}
	})
	if errors.Is(err, partitionmap.ErrExists) {
		// An earlier attempt whose outcome was unknown may have defined
		// it: the same definition is a success, another one is not.
		if m := c.env.Map(); m != nil {
			if have, err2 := m.Service(ms.Name); err2 == nil && *have == ms {
				return nil
			}
		}
	}
	return err
}

// SetClones changes a service's clone count; the placer adds or removes
// clones gradually.
func (c *Client) SetClones(ctx context.Context, service string, clones int) error {
	return c.adminCAS(ctx, func(m *partitionmap.Map) mgmt.Command {
		return mgmt.Command{Op: mgmt.OpSetClones, Epoch: m.Epoch, Name: service, Clones: clones,
			Reason: fmt.Sprintf("service %q: %d clones per partition", service, clones)}
	})
}

// Drain marks a node draining: the placer moves its clones away.
func (c *Client) Drain(ctx context.Context, node partitionmap.NodeID) error {
	return c.adminCAS(ctx, func(m *partitionmap.Map) mgmt.Command {
		return mgmt.Command{Op: mgmt.OpSetNodeState, Epoch: m.Epoch, NodeID: node, State: partitionmap.NodeDraining,
			Reason: fmt.Sprintf("drain node %d", node)}
	})
}

// adminCAS proposes the change built for the newest map, again on a newer
// one while the epoch moved under it, until ctx ends.
func (c *Client) adminCAS(ctx context.Context, build func(*partitionmap.Map) mgmt.Command) error {
	for {
		m := c.env.Map()
		if m == nil {
			if err := c.waitMap(ctx, 0); err != nil {
				return err
			}
			continue
		}
		res, err := c.Admin(ctx, build(m))
		if err == nil {
			err = res.Err()
		}
		if err == nil {
			return c.waitMap(ctx, res.Epoch)
		}
		if !errors.Is(err, partitionmap.ErrStaleEpoch) && !retryable(err) {
			return err
		}
		if werr := c.waitMap(ctx, max(m.Epoch+1, res.Epoch)); werr != nil {
			return fmt.Errorf("%w (last refusal: %v)", werr, err)
		}
	}
}

// waitMap waits until this node holds a map at epoch ≥ want (any map for
// want 0).
func (c *Client) waitMap(ctx context.Context, want uint64) error {
	for {
		if m := c.env.Map(); m != nil && m.Epoch >= want {
			return nil
		}
		c.env.refresh()
		if !c.pause(ctx, 1) {
			return fmt.Errorf("%w: waiting for epoch %d: %w", ErrNoMap, want, ctx.Err())
		}
	}
}

// History returns the map's change history after epoch since (at most
// limit entries; ≤ 0 for all kept), from a management clone (this
// process's, else a member's).
func (c *Client) History(ctx context.Context, since uint64, limit int) ([]mgmt.Change, error) {
	return c.env.history(ctx, since, limit)
}

// Admin proposes an admin change to the management group (locally if
// this process hosts a clone of it, else through a member) and returns
// its result. A command without a time gets the client's clock's.
func (c *Client) Admin(ctx context.Context, cmd mgmt.Command) (mgmt.Result, error) {
	if cmd.Time.IsZero() {
		cmd.Time = c.clock()
	}
	body, err := mgmt.EncodeCommand(cmd)
	if err != nil {
		return mgmt.Result{}, err
	}
	out, err := c.env.admin(ctx, body)
	if err != nil {
		return mgmt.Result{}, err
	}
	return mgmt.DecodeResult(out)
}

// MoveClone moves partition ref's clone on node from to node to (a
// learner on to first; the placer finishes the move).
func (c *Client) MoveClone(ctx context.Context, ref partitionmap.PartRef, from, to partitionmap.NodeID) error {
	return c.adminCAS(ctx, func(m *partitionmap.Map) mgmt.Command {
		return mgmt.Command{Op: mgmt.OpMoveClone, Epoch: m.Epoch, Ref: ref, From: from, To: to,
			Reason: fmt.Sprintf("move %v from node %d to node %d", ref, from, to)}
	})
}

// The Node's admin calls are its client's.

// DefineService: Client.DefineService.
func (n *Node) DefineService(ctx context.Context, s Service) error {
	return n.client.DefineService(ctx, s)
}

// SetClones: Client.SetClones.
func (n *Node) SetClones(ctx context.Context, service string, clones int) error {
	return n.client.SetClones(ctx, service, clones)
}

// Drain: Client.Drain.
func (n *Node) Drain(ctx context.Context, node partitionmap.NodeID) error {
	return n.client.Drain(ctx, node)
}

// MoveClone: Client.MoveClone.
func (n *Node) MoveClone(ctx context.Context, ref partitionmap.PartRef, from, to partitionmap.NodeID) error {
	return n.client.MoveClone(ctx, ref, from, to)
}

// History returns the map's change history after epoch since (at most
// limit entries; ≤ 0 for all kept), from this node's management clone.
func (n *Node) History(since uint64, limit int) ([]mgmt.Change, error) {
	return n.localHistory(since, limit)
}

// Admin: Client.Admin.
func (n *Node) Admin(ctx context.Context, cmd mgmt.Command) (mgmt.Result, error) {
	return n.client.Admin(ctx, cmd)
}
