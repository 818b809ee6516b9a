package mgmt

import (
	"fmt"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// change runs command c against the current map m (nil before the
// bootstrap) and returns the new map and the history's summary of it, or
// the refusal. It is a pure function of its arguments: the same command on
// the same map gives the same answer on every clone. cluster is the
// group's cluster id (0 before the bootstrap).
func change(cluster uint64, m *partitionmap.Map, c *Command) (*partitionmap.Map, string, error) {
	if c.Op == OpBootstrap {
		if m != nil {
			return nil, "", fmt.Errorf("%w: cluster %d has had a map since its bootstrap (now at epoch %d)", ErrAlreadyBootstrapped, cluster, m.Epoch)
		}
		return bootstrap(c)
	}
	if m == nil {
		return nil, "", fmt.Errorf("%w: %s needs a map; the map starts only with an explicit %s", ErrNotBootstrapped, c.Op, OpBootstrap)
	}
	if c.Cluster != 0 && c.Cluster != cluster {
		return nil, "", fmt.Errorf("%w: the command is for cluster %d, this is cluster %d", ErrWrongCluster, c.Cluster, cluster)
	}
	next, err := run(m, c)
	if err != nil {
		return nil, "", fmt.Errorf("mgmt: %s: %w", c.Op, err)
	}
	return next, summarize(m, next, c), nil
}

// run calls the partitionmap change of c's op. Each checks its whole input
// and the epoch (compare-and-set) and returns a new map or an error, the
// old map untouched either way.
func run(m *partitionmap.Map, c *Command) (*partitionmap.Map, error) {
	switch c.Op {
	case OpAddNode:
		return m.AddNode(c.Epoch, c.Node)
	case OpSetNodeState:
		return m.SetNodeState(c.Epoch, c.NodeID, c.State, c.Since)
	case OpUpdateNode:
		return m.UpdateNode(c.Epoch, c.Node)
	case OpSetNodeServices:
		return m.SetNodeServices(c.Epoch, c.NodeID, c.Services)
	case OpRemoveNode:
		return m.RemoveNode(c.Epoch, c.NodeID)
	case OpDefineService:
		return m.DefineService(c.Epoch, c.Service, c.Ranges)
	case OpRemoveService:
		return m.RemoveService(c.Epoch, c.Name)
	case OpSetClones:
		return m.SetClones(c.Epoch, c.Name, c.Clones)
	case OpMoveClone:
		return m.MoveClone(c.Epoch, c.Ref, c.From, c.To)
	case OpApplyMoves:
		// ApplyAll of nothing would publish an epoch that changes nothing.
		if len(c.Moves) == 0 {
			return nil, fmt.Errorf("%w: no moves to apply", partitionmap.ErrInvalidArgument)
		}
		return m.ApplyAll(c.Epoch, c.Moves)
	case OpLearnersReady:
		if len(c.Ready) == 0 {
			return nil, fmt.Errorf("%w: no learners named", partitionmap.ErrInvalidArgument)
		}
		return m.MarkLearnersReady(c.Epoch, c.Ready...)
	case OpReincarnate:
		return m.Reincarnate(c.Epoch, c.Ref)
	}
	// DecodeCommand lets only known ops through; this is the backstop.
	return nil, fmt.Errorf("%w: unknown op %.64q", ErrBadCommand, c.Op)
}

// bootstrap makes the first map: the cluster's nodes, at epoch 1. The
// nodes are added one by one with partitionmap's AddNode, so each is
// checked as any added node is (ids distinct and non-zero, services
// sorted and well formed, a dead node's time); the result is then
// renumbered to epoch 1, so that epoch 1 is always the bootstrap.
func bootstrap(c *Command) (*partitionmap.Map, string, error) {
	switch {
	case c.Epoch != 0:
		return nil, "", fmt.Errorf("mgmt: %s: %w: the command expects epoch %d, but there is no map yet (epoch 0)", OpBootstrap, partitionmap.ErrStaleEpoch, c.Epoch)
	case c.Cluster == 0:
		return nil, "", fmt.Errorf("mgmt: %s: %w: the cluster id must be non-zero", OpBootstrap, partitionmap.ErrInvalidArgument)
	case len(c.Nodes) == 0:
		return nil, "", fmt.Errorf("mgmt: %s: %w: no nodes (the management group's own nodes, at least)", OpBootstrap, partitionmap.ErrInvalidArgument)
	}
	m, err := partitionmap.New(c.FirstGroup)
	if err != nil {
		return nil, "", fmt.Errorf("mgmt: %s: %w", OpBootstrap, err)
	}
	for _, n := range c.Nodes {
		if m, err = m.AddNode(m.Epoch, n); err != nil {
			return nil, "", fmt.Errorf("mgmt: %s: %w", OpBootstrap, err)
		}
	}
	if c.MgmtGroup != 0 {
		voters := make([]partitionmap.NodeID, len(c.Nodes))
		for i, n := range c.Nodes {
			voters[i] = n.ID
		}
		if m, err = m.DefineMgmt(m.Epoch, c.MgmtGroup, voters, c.MgmtDurability); err != nil {
			return nil, "", fmt.Errorf("mgmt: %s: %w", OpBootstrap, err)
		}
	}
	first := *m // ours alone: no one has seen it yet
	first.Epoch = 1
	if err := first.Validate(); err != nil {
		return nil, "", fmt.Errorf("mgmt: %s: %w", OpBootstrap, err)
	}
	return &first, summarizeBootstrap(c, &first), nil
}
