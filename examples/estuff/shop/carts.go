package shop

import (
	"encoding/json"
	"io"
	"maps"
	"slices"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Item is one cart or order line.
type Item struct {
	Name string `json:"name"`
	Qty  int64  `json:"qty"`
}

// Order statuses.
const (
	OrderPending = "pending" // lines frozen, reservations in progress
	OrderPlaced  = "placed"  // every line reserved, the cart charged
	OrderFailed  = "failed"  // compensated: every reservation released
)

// Order is a checkout's record, kept in the user's cart partition.
type Order struct {
	ID         string `json:"id"`
	Lines      []Item `json:"lines"`
	Status     string `json:"status"`
	TotalCents int64  `json:"total_cents,omitempty"`
	Product    string `json:"product,omitempty"` // failed: the line that failed
	Reason     string `json:"reason,omitempty"`  // failed: why
}

// Cart is a user's cart and orders.
type Cart struct {
	User   string  `json:"user"`
	Items  []Item  `json:"items"`
	Orders []Order `json:"orders"`
}

// cartOp is a carts update or query, JSON like catalogOp.
type cartOp struct {
	Op      string `json:"op"`
	User    string `json:"user"`
	Name    string `json:"name,omitempty"`
	Qty     int64  `json:"qty,omitempty"`
	Order   string `json:"order,omitempty"`
	Total   int64  `json:"total,omitempty"`
	Product string `json:"product,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

type cartResult struct {
	Status string `json:"status"`
	Msg    string `json:"msg,omitempty"`
	Cart   *Cart  `json:"cart,omitempty"`
	Order  *Order `json:"order,omitempty"`
	// Pending answers the "pending" query.
	Pending []PendingOrder `json:"pending,omitempty"`
}

// Carts is one carts partition's state machine: users' carts and orders.
type Carts struct {
	users map[string]*Cart
}

// NewCarts returns an empty carts partition.
func NewCarts(partitionmap.PartRef) replica.StateMachine { return &Carts{users: map[string]*Cart{}} }

func cartBad(msg string) []byte { return encode(cartResult{Status: stBadInput, Msg: msg}) }

func (c *Carts) user(u string) *Cart {
	cart, ok := c.users[u]
	if !ok {
		cart = &Cart{User: u, Items: []Item{}, Orders: []Order{}}
		c.users[u] = cart
	}
	return cart
}

func (c *Cart) order(id string) *Order {
	for i := range c.Orders {
		if c.Orders[i].ID == id {
			return &c.Orders[i]
		}
	}
	return nil
}

// Apply applies one carts update. Each op is idempotent by itself (a
// status transition, or a set), so a checkout retried by a new process
// with the same order id converges on one order.
func (c *Carts) Apply(u []byte) []byte {
	var op cartOp
	if err := json.Unmarshal(u, &op); err != nil {
		return cartBad("malformed op")
	}
	if CheckUser(op.User) != nil {
		return cartBad("bad user id")
	}
	cart := c.user(op.User)
	switch op.Op {
	case "add":
		if n, err := NormalizeName(op.Name); err != nil || n != op.Name || op.Qty <= 0 {
			return cartBad("add needs a normalized name and a quantity > 0")
		}
		i := slices.IndexFunc(cart.Items, func(it Item) bool { return it.Name == op.Name })
		switch {
		case i >= 0 && cart.Items[i].Qty+op.Qty > MaxQty, i < 0 && op.Qty > MaxQty:
			return cartBad("over 1000 of one product")
		case i >= 0:
			cart.Items[i].Qty += op.Qty
		case len(cart.Items) >= MaxCartSize:
			return cartBad("cart full")
		default:
			cart.Items = append(cart.Items, Item{Name: op.Name, Qty: op.Qty})
		}
	case "remove":
		cart.Items = slices.DeleteFunc(cart.Items, func(it Item) bool { return it.Name == op.Name })
	case "clear":
		cart.Items = []Item{}
	case "begin":
		return c.begin(cart, op)
	case "place", "fail":
		return c.finish(cart, op)
	default:
		return cartBad("unknown op " + op.Op)
	}
	return encode(cartResult{Status: stOK, Cart: cart})
}

// begin freezes the cart's lines under the order id, once: a retry gets
// the same lines, whatever the cart holds now, so its reserve ops are the
// same bytes under the same idempotency keys.
func (c *Carts) begin(cart *Cart, op cartOp) []byte {
	if op.Order == "" {
		return cartBad("begin needs an order id")
	}
	if o := cart.order(op.Order); o != nil {
		cp := *o
		return encode(cartResult{Status: stOK, Order: &cp})
	}
	if len(cart.Items) == 0 {
		return encode(cartResult{Status: stEmpty})
	}
	cart.Orders = append(cart.Orders, Order{ID: op.Order, Lines: slices.Clone(cart.Items), Status: OrderPending})
	cp := cart.Orders[len(cart.Orders)-1]
	return encode(cartResult{Status: stOK, Order: &cp})
}

// finish moves a pending order to placed (taking its lines out of the
// cart: what was added meanwhile stays) or to failed; the same move again
// is a no-op, the other one a conflict.
func (c *Carts) finish(cart *Cart, op cartOp) []byte {
	o := cart.order(op.Order)
	if o == nil {
		return encode(cartResult{Status: stNotFound, Msg: "no order " + op.Order})
	}
	want := OrderPlaced
	if op.Op == "fail" {
		want = OrderFailed
	}
	if o.Status == OrderPending {
		o.Status = want
		if want == OrderPlaced {
			o.TotalCents = op.Total
			for _, l := range o.Lines {
				if i := slices.IndexFunc(cart.Items, func(it Item) bool { return it.Name == l.Name }); i >= 0 {
					cart.Items[i].Qty -= l.Qty
				}
			}
			cart.Items = slices.DeleteFunc(cart.Items, func(it Item) bool { return it.Qty <= 0 })
		} else {
			o.Product, o.Reason = op.Product, op.Reason
		}
	}
	cp := *o
	if o.Status != want {
		return encode(cartResult{Status: stConflict, Order: &cp})
	}
	return encode(cartResult{Status: stOK, Order: &cp})
}

// PendingOrder is an order still pending in some user's cart.
type PendingOrder struct {
	User  string `json:"user"`
	Order Order  `json:"order"`
}

// maxPendingListed bounds one partition's answer to a "pending" query.
const maxPendingListed = 1000

// Query answers get (the user's cart and orders) and pending (up to
// maxPendingListed pending orders of the partition, by user).
func (c *Carts) Query(q []byte) ([]byte, error) {
	var op cartOp
	if err := json.Unmarshal(q, &op); err != nil || (op.Op != "get" && op.Op != "pending") {
		return cartBad("unknown query"), nil
	}
	if op.Op == "pending" {
		return encode(cartResult{Status: stOK, Pending: c.pending()}), nil
	}
	cart, ok := c.users[op.User]
	if !ok {
		cart = &Cart{User: op.User, Items: []Item{}, Orders: []Order{}}
	}
	return encode(cartResult{Status: stOK, Cart: cart}), nil
}

func (c *Carts) pending() []PendingOrder {
	users := slices.Sorted(maps.Keys(c.users))
	out := []PendingOrder{}
	for _, u := range users {
		for _, o := range c.users[u].Orders {
			if o.Status == OrderPending && len(out) < maxPendingListed {
				out = append(out, PendingOrder{User: u, Order: o})
			}
		}
	}
	return out
}

// Snapshot writes every user's cart (map keys sorted by encoding/json).
func (c *Carts) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(c.users) }

// Restore replaces the state with a snapshot's.
func (c *Carts) Restore(r io.Reader) error {
	users := map[string]*Cart{}
	if err := json.NewDecoder(r).Decode(&users); err != nil {
		return err
	}
	c.users = users
	return nil
}
