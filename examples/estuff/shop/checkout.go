package shop

import (
	"context"
	"fmt"
	"strconv"

	"github.com/quicksilver-go/quicksilver/raps"
)

// MaxOrderIDLen bounds an order id (it is part of every reservation id).
const MaxOrderIDLen = 64

// reservationID names line i of an order at the catalog; the same id on
// every attempt is what makes a retried checkout reserve once.
func reservationID(order string, line int) string {
	return "order/" + order + "/line/" + strconv.Itoa(line)
}

// Checkout places user's cart as order orderID (doc.go, "Checkout").
// It is idempotent in orderID: a retry, from this process or another,
// even concurrent with the first, returns the order placed, or the same
// failure, and never reserves twice. On ErrOutOfStock (an
// *OutOfStockError naming the product) every line reserved was released.
// Any other error (the Router's 503 / 504 kinds) may leave the order
// pending, holding stock: retry with the same orderID until a definite
// answer.
func Checkout(ctx context.Context, c *raps.Client, user, orderID string) (Order, error) {
	if err := CheckUser(user); err != nil {
		return Order{}, err
	}
	if orderID == "" || len(orderID) > MaxOrderIDLen || CheckUser(orderID) != nil {
		return Order{}, fmt.Errorf("%w: order id must be 1..%d of ASCII letters, digits and -_.@", ErrBadInput, MaxOrderIDLen)
	}
	pfx := "shop/" + user + "/" + orderID + "/"
	// 1. Freeze the cart's lines under the order id (once).
	res, err := cartUpdate(ctx, c, cartOp{Op: "begin", User: user, Order: orderID}, pfx+"begin")
	if err != nil {
		return Order{}, err
	}
	if res.Status == stEmpty {
		return Order{}, ErrEmptyCart
	}
	if res.Order == nil {
		return Order{}, fmt.Errorf("%w: begin answered no order", errBadResult)
	}
	o := *res.Order
	switch o.Status {
	case OrderPlaced:
		return o, nil
	case OrderFailed: // finish the releases an earlier attempt may not have done
		return released(ctx, c, pfx, o, orderError(o))
	}
	// 2. Reserve each line at its product's partition, in line order.
	var total int64
	for i, l := range o.Lines {
		r, err := catalogUpdate(ctx, c, l.Name, catalogOp{Op: "reserve", Name: l.Name, Qty: l.Qty, ID: reservationID(orderID, i)},
			pfx+"reserve/"+strconv.Itoa(i))
		if err != nil {
			return o, err // pending: a retry resumes here
		}
		switch r.Status {
		case stOK:
			total += r.Qty * r.Price
		case stOutOfStock:
			return fail(ctx, c, user, pfx, o, l.Name, "out of stock")
		case stNotFound:
			return fail(ctx, c, user, pfx, o, l.Name, "unknown product")
		default: // cancelled: another attempt failed this order
			return fail(ctx, c, user, pfx, o, l.Name, "cancelled")
		}
	}
	// 3. The commit point: pending → placed, taking the lines out of the
	// cart, in one update of the cart's partition.
	res, err = cartUpdate(ctx, c, cartOp{Op: "place", User: user, Order: orderID, Total: total}, pfx+"place")
	if err != nil {
		return o, err
	}
	if res.Order == nil {
		return o, fmt.Errorf("%w: place answered no order", errBadResult)
	}
	if res.Status == stConflict { // another attempt failed it first
		return released(ctx, c, pfx, *res.Order, orderError(*res.Order))
	}
	return *res.Order, nil
}

// fail is the other commit point: pending → failed, then the releases. If
// another attempt placed the order first, its lines are all held and the
// placed order is the answer. The fail op names the product this attempt
// saw fail, which a concurrent attempt may see differently, so it carries
// the Router's own idempotency key (the transition happens once anyway).
func fail(ctx context.Context, c *raps.Client, user, pfx string, o Order, product, reason string) (Order, error) {
	res, err := cartUpdate(ctx, c, cartOp{Op: "fail", User: user, Order: o.ID, Product: product, Reason: reason}, "")
	if err != nil {
		return o, err // still pending: a retry decides again
	}
	if res.Order == nil {
		return o, fmt.Errorf("%w: fail answered no order", errBadResult)
	}
	if res.Status == stConflict {
		return *res.Order, nil
	}
	return released(ctx, c, pfx, *res.Order, orderError(*res.Order))
}

// released releases every line of a failed order and returns cause.
// Releasing a line never reserved leaves a tombstone, so a reserve still
// in flight cannot take stock after it; releasing twice gives back once.
func released(ctx context.Context, c *raps.Client, pfx string, o Order, cause error) (Order, error) {
	for i, l := range o.Lines {
		if _, err := catalogUpdate(ctx, c, l.Name, catalogOp{Op: "release", Name: l.Name, ID: reservationID(o.ID, i)},
			pfx+"release/"+strconv.Itoa(i)); err != nil {
			return o, fmt.Errorf("%w (the order failed but releasing its lines did not finish; retry the checkout with the same id): %w", cause, err)
		}
	}
	return o, cause
}

// orderError is the error a failed order's record stands for.
func orderError(o Order) error {
	switch o.Reason {
	case "out of stock":
		return &OutOfStockError{Product: o.Product}
	case "unknown product":
		return fmt.Errorf("%w: %s", ErrUnknownProduct, o.Product)
	}
	return fmt.Errorf("%w: order %s: %s", ErrOrderFailed, o.ID, o.Reason)
}
