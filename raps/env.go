package raps

import (
	"context"
	"fmt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
	"github.com/quicksilver-go/quicksilver/replica"
)

// clientEnv is what the Router needs of where it runs: a Node (which
// hosts clones and may hold a management clone) or a stateless front end
// (frontend.go), which hosts nothing and learns the map from the nodes.
type clientEnv interface {
	// Map is the newest map known (nil before the first).
	Map() *partitionmap.Map
	// refresh asks for a newer map now (bounded in time).
	refresh()
	// sequencer is the group's sequencer as a local clone knows it (its
	// installed view), or 0.
	sequencer(group uint64) groupcomm.NodeID
	// local serves a request in this process (only for the env's own id).
	local(ctx context.Context, req *request) (reply, error)
	// admin submits an encoded mgmt command, locally if a management
	// clone is here, else through a member.
	admin(ctx context.Context, body []byte) ([]byte, error)
	// history reads the map's change history.
	history(ctx context.Context, since uint64, limit int) ([]mgmt.Change, error)
	// mgmtMembers are the management group's members as last heard.
	mgmtMembers() []groupcomm.NodeID
}

// The Node as the Router's environment.

func (n *Node) refresh() { n.fetchMap() }

func (n *Node) sequencer(group uint64) groupcomm.NodeID {
	if g, err := n.host.Group(replica.GroupID(group)); err == nil {
		return g.Info().Sequencer.Node
	}
	return 0
}

func (n *Node) local(ctx context.Context, req *request) (reply, error) { return n.handle(ctx, req) }

func (n *Node) admin(ctx context.Context, body []byte) ([]byte, error) {
	if n.mgmtServing() {
		return n.submitMgmt(ctx, body)
	}
	return n.client.adminRemote(ctx, body)
}

func (n *Node) history(ctx context.Context, since uint64, limit int) ([]mgmt.Change, error) {
	if sm := n.mgmtSM.Load(); sm != nil {
		return sm.History(since, limit), nil
	}
	return n.client.historyRemote(ctx, since, limit)
}

// localHistory serves a kindHistory request.
func (n *Node) localHistory(since uint64, limit int) ([]mgmt.Change, error) {
	sm := n.mgmtSM.Load()
	if sm == nil {
		return nil, fmt.Errorf("%w: node %d holds no management clone", ErrNotHosted, n.cfg.ID)
	}
	return sm.History(since, limit), nil
}
