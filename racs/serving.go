package racs

import (
	"errors"
	"fmt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// ErrNotServing: the clone cannot serve its group now (a readiness check's
// answer; Serving says why).
var ErrNotServing = errors.New("racs: clone not serving")

// Serving reports whether this clone can serve its group now: it has
// installed a view, is a voter of it (not a learner still receiving its
// state), runs in it normally (no view change stuck for want of a
// majority), and its group has not stopped. It is a readiness check, not a
// promise: a clone on a minority side reports an error once membership
// suspects the others and its view change cannot finish.
func (g *Group) Serving() error {
	if g.stopped.Load() {
		return fmt.Errorf("%w: group %d stopped: %v", ErrNotServing, g.id, g.stopError())
	}
	in := g.Info()
	switch {
	case in.View == 0:
		return fmt.Errorf("%w: group %d has no view yet", ErrNotServing, g.id)
	case in.Restoring || in.Role != groupcomm.Voter:
		return fmt.Errorf("%w: group %d is joining (state transfer)", ErrNotServing, g.id)
	case in.Status != groupcomm.StatusNormal:
		if len(in.WaitingFor) > 0 {
			return fmt.Errorf("%w: group %d view change waits for %v", ErrNotServing, g.id, in.WaitingFor)
		}
		return fmt.Errorf("%w: group %d is %v", ErrNotServing, g.id, in.Status)
	}
	return nil
}
