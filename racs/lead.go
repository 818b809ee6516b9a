package racs

import (
	"context"
	"fmt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// Handing the sequencer to another clone (the placer rebalancing
// sequencers after failures left them on few nodes): Lead asks the group for
// a view whose first member, so sequencer, is the voter on node. It is a
// groupcomm Lead change, an ordinary view change that reorders the voters;
// updates in flight are ordered as in any view change (those not ordered
// come back ErrNotApplied, to be retried at the new sequencer).

// leadReq asks a worker to propose a Lead change.
type leadReq struct {
	g    *Group
	node groupcomm.NodeID
	done chan error
}

// Lead asks the group to make the voter on node its sequencer. It returns
// once the change is queued (the view change follows); nil too when node
// already sequences the group; ErrNotServing when node is no voter of the
// view, and the group's error when the clone cannot propose.
func (g *Group) Lead(ctx context.Context, node groupcomm.NodeID) error {
	done := make(chan error, 1)
	if err := g.w.enqueue(ctx, leadReq{g: g, node: node, done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// proposeLead runs on the worker.
func (w *worker) proposeLead(r leadReq) {
	g := r.g
	if g.stopped.Load() {
		r.done <- g.stopError()
		return
	}
	if g.cl == nil {
		r.done <- fmt.Errorf("%w: group %d is being created", ErrNotApplied, g.id)
		return
	}
	core := g.cl.Core()
	v := core.View()
	m, ok := v.LookupNode(r.node)
	if !ok || m.Role != groupcomm.Voter {
		r.done <- fmt.Errorf("%w: node %d is not a voter of group %d's view %d", ErrNotServing, r.node, g.id, v.ID)
		return
	}
	g.wake()
	err := core.Propose(groupcomm.Change{Kind: groupcomm.Lead, Member: m.ID, Epoch: v.Epoch})
	w.markDirty(g)
	r.done <- err
}
