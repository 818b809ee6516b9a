package racs

import (
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/clone"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Test-only access for the racs simulation (package racs_test).

// Observer sees what a host's clones do (see observer).
type Observer interface {
	Started(g replica.GroupID, how string, self groupcomm.MemberID, applied, held groupcomm.Viewstamp, v groupcomm.View, restoring bool)
	Delivered(g replica.GroupID, self groupcomm.MemberID, a clone.Applied)
	Installed(g replica.GroupID, self groupcomm.MemberID, v groupcomm.View, restoring bool)
	Restored(g replica.GroupID, self groupcomm.MemberID, pos groupcomm.Viewstamp)
	Removed(g replica.GroupID, self groupcomm.MemberID)
	Accepted(g replica.GroupID, self groupcomm.MemberID, b groupcomm.Ballot, v groupcomm.View)
	Acked(g replica.GroupID, self groupcomm.MemberID, vs groupcomm.Viewstamp)
}

type observerAdapter struct{ o Observer }

func (a observerAdapter) started(g replica.GroupID, how string, self groupcomm.MemberID, applied, held groupcomm.Viewstamp, v groupcomm.View, restoring bool) {
	a.o.Started(g, how, self, applied, held, v, restoring)
}
func (a observerAdapter) delivered(g replica.GroupID, self groupcomm.MemberID, ap clone.Applied) {
	a.o.Delivered(g, self, ap)
}
func (a observerAdapter) installed(g replica.GroupID, self groupcomm.MemberID, v groupcomm.View, restoring bool) {
	a.o.Installed(g, self, v, restoring)
}
func (a observerAdapter) restored(g replica.GroupID, self groupcomm.MemberID, pos groupcomm.Viewstamp) {
	a.o.Restored(g, self, pos)
}
func (a observerAdapter) removed(g replica.GroupID, self groupcomm.MemberID) { a.o.Removed(g, self) }
func (a observerAdapter) accepted(g replica.GroupID, self groupcomm.MemberID, b groupcomm.Ballot, v groupcomm.View) {
	a.o.Accepted(g, self, b, v)
}
func (a observerAdapter) acked(g replica.GroupID, self groupcomm.MemberID, vs groupcomm.Viewstamp) {
	a.o.Acked(g, self, vs)
}

// ManualOptions make a host deterministic for a simulation.
type ManualOptions struct {
	// Incarnations numbers new incarnations; Seeds seeds the cores.
	Incarnations func() uint64
	Seeds        func() uint64
	Observer     Observer
}

// NewManualHost builds a host whose goroutines never run: the test drives
// its workers with Step and Tick, on its own goroutine.
func NewManualHost(cfg Config, o ManualOptions) (*Host, error) {
	h, err := newHost(cfg, true)
	if err != nil {
		return nil, err
	}
	if o.Incarnations != nil {
		h.incs = o.Incarnations
	}
	if o.Seeds != nil {
		h.seedBase = o.Seeds
	}
	if o.Observer != nil {
		h.obs = observerAdapter{o.Observer}
	}
	return h, nil
}

// Step handles every event waiting at each worker, then its Readys. It
// stops at a failed write: the simulated process died there.
func (h *Host) Step() {
	for _, w := range h.workers {
		if h.failed != nil {
			return
		}
		w.drainEvents()
		w.processReady()
	}
}

// TickOnce gives every group one tick, then handles the Readys.
func (h *Host) TickOnce() {
	for _, w := range h.workers {
		if h.failed != nil {
			return
		}
		w.tick()
		w.processReady()
	}
}

// StoreFailed returns the first failed Store.Write of a manual host.
func (h *Host) StoreFailed() error { return h.failed }

// Pending is a submission handed to its group without waiting.
type Pending struct{ c chan submitResult }

// SubmitNoWait hands an update to the group's worker and returns at once.
func (g *Group) SubmitNoWait(update []byte, key string) (*Pending, error) {
	if g.stopped.Load() {
		return nil, g.stopError()
	}
	req := &request{g: g, submit: clone.NewEnvelope(key, update), resp: make(chan submitResult, 1)}
	select {
	case g.w.events <- req:
		return &Pending{req.resp}, nil
	default:
		return nil, ErrBusy
	}
}

// Result returns the submission's result once it has one (done false
// before).
func (p *Pending) Result() (res Result, err error, done bool) {
	select {
	case r := <-p.c:
		return r.res, r.err, true
	default:
		return Result{}, nil, false
	}
}

// Transfers reports whether the group sends or receives a snapshot.
func (g *Group) Transfers() bool { return len(g.outXfer) > 0 || g.inXfer != nil }

// Stopped reports whether the group stopped.
func (g *Group) Stopped() bool { return g.stopped.Load() }
