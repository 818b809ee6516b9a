package racs

import (
	"context"
	"fmt"

	"github.com/quicksilver-go/quicksilver/replica"
)

// Leaving a group for good: the partition map moved this clone elsewhere.
// RemoveGroup asks the core to leave (groupcomm's Leave: the member stays
// an acceptor until the view without it is committed), and once the group
// removed it, stops the clone and deletes its state. The Group lingers on
// its worker, stopped, while its ghost still answers (ghost.go); then the
// worker forgets it. A later AddGroup of the same id (the clone comes
// back) starts a new clone as a new incarnation.

// leaveReq asks a worker to make a clone leave its group.
type leaveReq struct {
	g    *Group
	done chan error
}

// RemoveGroup makes this node's clone of the group leave it, and forgets
// the group once the group's new view excludes the clone. It returns when
// the clone is out and its state deleted, or when ctx ends (the leave
// stays under way). A group that cannot change views (no quorum) cannot
// let the clone go.
func (h *Host) RemoveGroup(ctx context.Context, id replica.GroupID) error {
	g, err := h.Group(id)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	if err := g.w.enqueue(ctx, leaveReq{g: g, done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLeave runs on the worker.
func (w *worker) startLeave(r leaveReq) {
	g := r.g
	switch {
	case g.left.Load():
		r.done <- nil
		return
	case g.stopped.Load() || g.cl == nil:
		// Nothing to leave (stopped after a failure, or still being
		// created): drop what is stored and forget it.
		r.done <- w.forgetState(g)
		return
	}
	g.leaveDone = append(g.leaveDone, r.done)
	g.wake()
	g.cl.Core().Leave()
	w.markDirty(g)
}

// finishLeave finishes a leave once the group removed the clone (apply).
func (w *worker) finishLeave(g *Group) {
	w.stopGroup(g, fmt.Errorf("%w: %v", ErrStopped, errLeft))
	err := w.forgetState(g)
	for _, c := range g.leaveDone {
		c <- err
	}
	g.leaveDone = nil
}

// forgetState deletes the clone's stored state and marks it left.
func (w *worker) forgetState(g *Group) error {
	h := w.host
	if g.cfg.Durability == Disk && h.cfg.Store != nil {
		if err := h.commit([]replica.GroupWrite{{Group: g.id, Delete: true}}); err != nil {
			return fmt.Errorf("%w: deleting the state of group %d: %v", ErrStopped, g.id, err)
		}
	}
	w.stopGroup(g, fmt.Errorf("%w: %v", ErrStopped, errLeft))
	g.left.Store(true)
	return nil
}

// forget drops a left group whose ghosts retired from the worker and the
// host (unless a new clone of the same id replaced it there).
func (w *worker) forget(g *Group) {
	if w.groups[g.id] == g {
		delete(w.groups, g.id)
	}
	for i, o := range w.order {
		if o == g {
			w.order = append(w.order[:i], w.order[i+1:]...)
			break
		}
	}
	h := w.host
	h.mu.Lock()
	if h.mu.groups[g.id] == g {
		delete(h.mu.groups, g.id)
	}
	h.mu.Unlock()
}
