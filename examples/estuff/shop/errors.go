package shop

import (
	"errors"
)

// Sentinel errors. Routes maps them (and the Router's) to HTTP status in
// one place: statusOf in http.go.
var (
	// ErrBadInput: the request is malformed (400).
	ErrBadInput = errors.New("shop: bad input")
	// ErrUnknownProduct: no such product in the catalog (404).
	ErrUnknownProduct = errors.New("shop: unknown product")
	// ErrOutOfStock: a line asked for more than the product's stock; the
	// wrapping message names the product (409 out_of_stock).
	ErrOutOfStock = errors.New("shop: out of stock")
	// ErrEmptyCart: checkout of an empty cart (400).
	ErrEmptyCart = errors.New("shop: cart is empty")
	// ErrOrderFailed: the order id names an order that failed earlier
	// for a reason other than stock (409 order_failed): use a new id.
	ErrOrderFailed = errors.New("shop: order failed")
	// ErrUnavailable: some partition did not answer (503).
	ErrUnavailable = errors.New("shop: partition unavailable")
	// errBadResult: a state machine answered something this code cannot
	// read (a version skew or a bug; 500).
	errBadResult = errors.New("shop: malformed answer from the service")
)

// OutOfStockError is the error of a line that could not be reserved; it
// matches ErrOutOfStock with errors.Is and names the product.
type OutOfStockError struct {
	Product string
}

func (e *OutOfStockError) Error() string {
	return "shop: out of stock: " + e.Product
}

// Is makes errors.Is(err, ErrOutOfStock) hold.
func (e *OutOfStockError) Is(target error) bool { return target == ErrOutOfStock }
