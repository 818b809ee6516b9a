package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// Sweeper fails the orders that stay pending past a grace — a checkout
// whose caller gave up after an answer that was not definite (a 503 or
// 504) and never retried — and releases the stock they hold, as a retry
// of the checkout that failed them would.
//
// It needs no clock in the state machines: a pass lists every carts
// partition's pending orders, and the Sweeper remembers when it first saw
// each; one still pending Grace later is failed with the reason
// "abandoned". Failing goes through the order's commit point, so a
// checkout that is still retrying and places the order first wins, and
// the sweep then leaves it placed; one that arrives after the sweep gets
// ErrOrderFailed ("abandoned"). A Sweeper that restarts only forgets what
// it saw (the grace starts again).
//
// Run one Sweeper per shop (more are safe: failing is decided once, and
// releases are idempotent; they only do the same work twice).
type Sweeper struct {
	c     *raps.Client
	grace time.Duration
	clock func() time.Time

	// Owned by the goroutine calling Sweep.
	first   map[orderKey]time.Time
	release map[orderKey]bool // failed here, releases not finished
}

type orderKey struct{ user, order string }

// SweepReport is what one pass did.
type SweepReport struct {
	Pending   int // pending orders listed
	Failed    int // failed as abandoned in this pass
	Placed    int // found placed when failing them (a checkout won)
	Unreached int // could not be finished this pass (retried next)
	Partial   bool
}

// NewSweeper returns a Sweeper over c that fails orders pending for
// grace. clock is nil for time.Now (tests pass their own).
func NewSweeper(c *raps.Client, grace time.Duration, clock func() time.Time) *Sweeper {
	if clock == nil {
		clock = time.Now
	}
	return &Sweeper{c: c, grace: grace, clock: clock, first: map[orderKey]time.Time{}, release: map[orderKey]bool{}}
}

// Run sweeps every interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pass, cancel := context.WithTimeout(ctx, every)
			_, _ = s.Sweep(pass)
			cancel()
		}
	}
}

// Sweep makes one pass. An error means the pending orders could not be
// listed at all; a partition that did not answer sets Partial.
func (s *Sweeper) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	out, partial, err := s.c.Scatter(ctx, CartsService, encode(cartOp{Op: "pending"}), racs.Any)
	if err != nil {
		return rep, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	rep.Partial = partial
	now := s.clock()
	seen := map[orderKey]bool{}
	for _, r := range out {
		if r.Err != nil {
			continue
		}
		var res cartResult
		if err := json.Unmarshal(r.Data, &res); err != nil || res.Status != stOK {
			rep.Partial = true
			continue
		}
		for _, p := range res.Pending {
			k := orderKey{p.User, p.Order.ID}
			seen[k] = true
			rep.Pending++
			t, ok := s.first[k]
			if !ok {
				s.first[k] = now
				continue
			}
			if now.Sub(t) < s.grace {
				continue
			}
			s.abandon(ctx, k, p.Order, &rep)
		}
	}
	for k := range s.first { // no longer pending (placed, failed, or a partition that did not answer)
		if !seen[k] && !partial {
			delete(s.first, k)
		}
	}
	for k := range s.release { // failed earlier, releases not finished
		if _, err := Checkout(ctx, s.c, k.user, k.order); definite(err) {
			delete(s.release, k)
		} else {
			rep.Unreached++
		}
	}
	return rep, nil
}

// abandon fails a pending order and releases its lines.
func (s *Sweeper) abandon(ctx context.Context, k orderKey, o Order, rep *SweepReport) {
	pfx := "shop/" + k.user + "/" + k.order + "/"
	got, err := fail(ctx, s.c, k.user, pfx, o, "", "abandoned")
	switch {
	case err == nil && got.Status == OrderPlaced:
		rep.Placed++
		delete(s.first, k)
	case got.Status == OrderFailed && definite(err):
		rep.Failed++
		delete(s.first, k)
	case got.Status == OrderFailed: // failed, some release not done
		rep.Failed++
		delete(s.first, k)
		s.release[k] = true
	default: // not decided: the next pass tries again
		rep.Unreached++
	}
}

// definite reports whether err is a checkout's definite answer (placed,
// or failed with every line released), not a failure to reach a
// partition.
func definite(err error) bool {
	return !errors.Is(err, raps.ErrNotApplied) && !errors.Is(err, raps.ErrOutcomeUnknown) &&
		!errors.Is(err, ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, errBadResult)
}
