package shop

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSweeperReleasesAbandonedOrders leaves an order pending holding
// stock, as a buyer that gave up after a 503 would, and checks that the
// Sweeper fails it only after the grace, gives the stock back, leaves a
// placed order and a young pending order alone, and that a late retry of
// the abandoned checkout gets a definite "order failed".
func TestSweeperReleasesAbandonedOrders(t *testing.T) {
	s := newTestShop(t, 20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.mustOK("PUT", "product/sweep%20lamp", Product{PriceCents: 100, Stock: 10}, nil)

	// An abandoned checkout: the order begun, its one line reserved, then
	// nothing (the buyer's process died).
	abandon := func(user, order string) {
		t.Helper()
		s.mustOK("POST", "cart/"+user, map[string]any{"name": "sweep lamp", "qty": 3}, nil)
		pfx := "shop/" + user + "/" + order + "/"
		res, err := cartUpdate(ctx, s.fe, cartOp{Op: "begin", User: user, Order: order}, pfx+"begin")
		if err != nil || res.Order == nil || res.Order.Status != OrderPending {
			t.Fatalf("begin: %+v %v", res, err)
		}
		r, err := catalogUpdate(ctx, s.fe, "sweep lamp", catalogOp{Op: "reserve", Name: "sweep lamp", Qty: 3, ID: reservationID(order, 0)},
			pfx+"reserve/0")
		if err != nil || r.Status != stOK {
			t.Fatalf("reserve: %+v %v", r, err)
		}
	}
	abandon("sam", "o-gone")
	if got := s.stock("sweep lamp"); got != 7 {
		t.Fatalf("stock %d with the abandoned order holding 3, want 7", got)
	}
	// A placed order, which the sweeper must not touch.
	s.mustOK("POST", "cart/pat", map[string]any{"name": "sweep lamp", "qty": 1}, nil)
	if st, code, o := checkout(s, "pat", "o-placed"); st != 200 || o.Status != OrderPlaced {
		t.Fatalf("checkout: %d %s %+v", st, code, o)
	}

	now := time.Unix(1_000_000, 0)
	sw := NewSweeper(s.fe, time.Minute, func() time.Time { return now })
	sweep := func() SweepReport {
		t.Helper()
		rep, err := sw.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := sweep(); rep.Pending != 1 || rep.Failed != 0 {
		t.Fatalf("first pass %+v: want 1 pending seen, none failed", rep)
	}
	now = now.Add(30 * time.Second)
	abandon("sue", "o-young") // pending, but seen for the first time now
	if rep := sweep(); rep.Pending != 2 || rep.Failed != 0 {
		t.Fatalf("within the grace %+v: want 2 pending, none failed", rep)
	}
	if got := s.stock("sweep lamp"); got != 3 {
		t.Fatalf("stock %d, want 3 (10 - 3 - 1 - 3)", got)
	}
	now = now.Add(31 * time.Second) // sam's order is past the grace, sue's not
	if rep := sweep(); rep.Failed != 1 || rep.Unreached != 0 {
		t.Fatalf("past the grace %+v: want sam's order failed", rep)
	}
	if got := s.stock("sweep lamp"); got != 6 {
		t.Fatalf("stock %d after the sweep, want 6 (sam's 3 back)", got)
	}
	var c Cart
	s.mustOK("GET", "cart/sam", nil, &c)
	if len(c.Orders) != 1 || c.Orders[0].Status != OrderFailed || c.Orders[0].Reason != "abandoned" {
		t.Fatalf("sam's orders %+v, want one failed as abandoned", c.Orders)
	}
	if len(c.Items) != 1 || c.Items[0].Qty != 3 {
		t.Fatalf("sam's cart %+v: a failed order leaves the cart's lines", c.Items)
	}
	if _, err := Checkout(ctx, s.fe, "sam", "o-gone"); !errors.Is(err, ErrOrderFailed) {
		t.Fatalf("a late retry of the abandoned checkout: %v, want ErrOrderFailed", err)
	}
	if got := s.stock("sweep lamp"); got != 6 {
		t.Fatalf("stock %d after the late retry, want 6 (released once)", got)
	}
	// pat's placed order and sue's young one are untouched.
	s.mustOK("GET", "cart/pat", nil, &c)
	if len(c.Orders) != 1 || c.Orders[0].Status != OrderPlaced {
		t.Fatalf("pat's orders %+v", c.Orders)
	}
	now = now.Add(time.Minute)
	if rep := sweep(); rep.Pending != 1 || rep.Failed != 1 {
		t.Fatalf("last pass %+v: want sue's order failed", rep)
	}
	if got := s.stock("sweep lamp"); got != 9 {
		t.Fatalf("stock %d at the end, want 9 (only pat's 1 sold)", got)
	}
}
