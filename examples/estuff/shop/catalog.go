package shop

import (
	"encoding/json"
	"io"
	"slices"
	"strings"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Product is one catalog entry; Name (normalized) is its key.
type Product struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	PriceCents  int64  `json:"price_cents"`
	Stock       int64  `json:"stock"`
}

// Statuses of a state machine's answer (the "status" field of every
// result). Apply has no error return (every clone must decide the same),
// so a refusal is an answer, not an error.
const (
	stOK         = "ok"
	stNotFound   = "not_found"
	stOutOfStock = "out_of_stock"
	stBadInput   = "bad_input"
	stCancelled  = "cancelled" // a reservation id already released
	stEmpty      = "empty"
	stConflict   = "conflict"
)

// catalogOp is a catalog update or query, encoded as JSON. encoding/json
// writes a struct's fields in order, so the same op is the same bytes —
// what the Router's idempotency keys require of a retry.
type catalogOp struct {
	Op       string    `json:"op"`
	Product  *Product  `json:"product,omitempty"`  // upsert
	Products []Product `json:"products,omitempty"` // create (insert if absent)
	Name     string    `json:"name,omitempty"`     // reserve, release, get
	Qty      int64     `json:"qty,omitempty"`      // reserve
	ID       string    `json:"id,omitempty"`       // reservation id
	Words    []string  `json:"words,omitempty"`    // search
	After    string    `json:"after,omitempty"`    // list
	Limit    int       `json:"limit,omitempty"`    // list, search
}

// catalogResult is every catalog answer.
type catalogResult struct {
	Status   string      `json:"status"`
	Msg      string      `json:"msg,omitempty"`
	Product  *Product    `json:"product,omitempty"`
	Products []Product   `json:"products,omitempty"`
	Hits     []SearchHit `json:"hits,omitempty"`
	Created  int         `json:"created,omitempty"`
	Qty      int64       `json:"qty,omitempty"`   // a reservation's quantity
	Price    int64       `json:"price,omitempty"` // its unit price, fixed when it was taken
	More     bool        `json:"more,omitempty"`  // list: the partition has more after this page
}

// hold is a reservation: stock taken for an order line. A released hold
// stays as a tombstone so that a reserve with its id arriving late (an
// attempt whose outcome was unknown) is refused instead of taking stock
// again. The tombstones grow with the orders; a real shop would expire
// them after the orders' retry horizon.
type hold struct {
	Name     string `json:"name"`
	Qty      int64  `json:"qty"`
	Price    int64  `json:"price"`
	Released bool   `json:"released,omitempty"`
}

// Catalog is one catalog partition's state machine. Apply runs on one
// goroutine and Query never runs with it (the replica contract), so it
// needs no lock.
type Catalog struct {
	products map[string]*Product
	holds    map[string]*hold
	// terms is each product's search words, derived from products (not
	// part of the snapshot): set where a product's text changes, so a
	// search scores without splitting every product's text again.
	terms map[string]*terms
}

// NewCatalog returns an empty catalog partition.
func NewCatalog(partitionmap.PartRef) replica.StateMachine {
	return &Catalog{products: map[string]*Product{}, holds: map[string]*hold{}, terms: map[string]*terms{}}
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are encoded here
		panic(err)
	}
	return b
}

func bad(msg string) []byte { return encode(catalogResult{Status: stBadInput, Msg: msg}) }

// validProduct checks a product as the state machine stores it.
func validProduct(p *Product) string {
	n, err := NormalizeName(p.Name)
	switch {
	case err != nil:
		return err.Error()
	case n != p.Name:
		return "product name not normalized"
	case p.PriceCents < 0 || p.Stock < 0:
		return "negative price or stock"
	case len(p.Description) > maxDescLen || len(p.Category) > MaxNameLen:
		return "description or category too long"
	}
	return ""
}

// put stores a product and its search words.
func (c *Catalog) put(p *Product) {
	c.products[p.Name] = p
	c.terms[p.Name] = termsOf(p)
}

// Apply applies one catalog update.
func (c *Catalog) Apply(u []byte) []byte {
	var op catalogOp
	if err := json.Unmarshal(u, &op); err != nil {
		return bad("malformed op")
	}
	switch op.Op {
	case "upsert": // set every field, stock included (an admin's act)
		if op.Product == nil {
			return bad("upsert without product")
		}
		if m := validProduct(op.Product); m != "" {
			return bad(m)
		}
		p := *op.Product
		c.put(&p)
		return encode(catalogResult{Status: stOK, Product: &p})
	case "create": // insert the absent ones: reloading sample data is a no-op
		for i := range op.Products {
			if m := validProduct(&op.Products[i]); m != "" {
				return bad(m)
			}
		}
		n := 0
		for _, p := range op.Products {
			if _, ok := c.products[p.Name]; !ok {
				c.put(&p)
				n++
			}
		}
		return encode(catalogResult{Status: stOK, Created: n})
	case "reserve":
		return c.reserve(op)
	case "release":
		return c.release(op)
	}
	return bad("unknown op " + op.Op)
}

// reserve takes qty of the product's stock under reservation id op.ID,
// once: the same id again answers as the first time did.
func (c *Catalog) reserve(op catalogOp) []byte {
	if op.ID == "" || op.Qty <= 0 || op.Qty > MaxQty {
		return bad("reserve needs an id and a quantity 1..1000")
	}
	if h, ok := c.holds[op.ID]; ok {
		if h.Released {
			return encode(catalogResult{Status: stCancelled, Msg: "reservation " + op.ID + " was released"})
		}
		return encode(catalogResult{Status: stOK, Qty: h.Qty, Price: h.Price, Product: c.products[h.Name]})
	}
	p, ok := c.products[op.Name]
	if !ok {
		return encode(catalogResult{Status: stNotFound, Msg: op.Name})
	}
	if p.Stock < op.Qty { // never below zero
		cp := *p
		return encode(catalogResult{Status: stOutOfStock, Product: &cp, Qty: op.Qty})
	}
	p.Stock -= op.Qty
	c.holds[op.ID] = &hold{Name: p.Name, Qty: op.Qty, Price: p.PriceCents}
	cp := *p
	return encode(catalogResult{Status: stOK, Product: &cp, Qty: op.Qty, Price: p.PriceCents})
}

// release gives back the stock of reservation op.ID, once; releasing an id
// never reserved leaves a tombstone, so that the reserve cannot happen
// after its compensation.
func (c *Catalog) release(op catalogOp) []byte {
	if op.ID == "" {
		return bad("release needs an id")
	}
	h, ok := c.holds[op.ID]
	switch {
	case !ok:
		c.holds[op.ID] = &hold{Name: op.Name, Released: true}
	case !h.Released:
		h.Released = true
		if p, ok := c.products[h.Name]; ok {
			p.Stock += h.Qty
		}
	}
	return encode(catalogResult{Status: stOK})
}

// Query answers get, list and search.
func (c *Catalog) Query(q []byte) ([]byte, error) {
	var op catalogOp
	if err := json.Unmarshal(q, &op); err != nil {
		return bad("malformed query"), nil
	}
	switch op.Op {
	case "get":
		p, ok := c.products[op.Name]
		if !ok {
			return encode(catalogResult{Status: stNotFound, Msg: op.Name}), nil
		}
		cp := *p
		return encode(catalogResult{Status: stOK, Product: &cp}), nil
	case "list":
		return encode(c.list(op.After, clampLimit(op.Limit))), nil
	case "search":
		return encode(catalogResult{Status: stOK, Hits: c.search(op.Words, clampLimit(op.Limit))}), nil
	}
	return bad("unknown query " + op.Op), nil
}

func clampLimit(n int) int {
	if n <= 0 {
		return 20
	}
	return min(n, 500)
}

// list returns up to limit products after name after, in key order.
func (c *Catalog) list(after string, limit int) catalogResult {
	names := make([]string, 0, len(c.products))
	for n := range c.products {
		if n > after {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	r := catalogResult{Status: stOK, More: len(names) > limit, Products: []Product{}}
	for _, n := range names[:min(limit, len(names))] {
		r.Products = append(r.Products, *c.products[n])
	}
	return r
}

// catalogSnapshot is the whole state; encoding/json sorts map keys, so
// every clone writes the same bytes for the same state.
type catalogSnapshot struct {
	Products map[string]*Product `json:"products"`
	Holds    map[string]*hold    `json:"holds"`
}

// Snapshot writes the whole partition.
func (c *Catalog) Snapshot(w io.Writer) error {
	return json.NewEncoder(w).Encode(catalogSnapshot{Products: c.products, Holds: c.holds})
}

// Restore replaces the partition with a snapshot's.
func (c *Catalog) Restore(r io.Reader) error {
	var s catalogSnapshot
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return err
	}
	if s.Products == nil {
		s.Products = map[string]*Product{}
	}
	if s.Holds == nil {
		s.Holds = map[string]*hold{}
	}
	c.products, c.holds, c.terms = s.Products, s.Holds, make(map[string]*terms, len(s.Products))
	for _, p := range c.products {
		c.terms[p.Name] = termsOf(p)
	}
	return nil
}

// words splits text into lower-case search words.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	})
}
