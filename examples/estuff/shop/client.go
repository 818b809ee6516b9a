package shop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// The typed calls below are what Routes and Checkout use; a Go caller can
// use them directly. Errors of the Router come back wrapped, so that
// errors.Is(err, raps.ErrNotApplied) and the like still hold.

func catalogUpdate(ctx context.Context, c *raps.Client, key string, op catalogOp, idem string) (catalogResult, error) {
	r, err := c.Update(ctx, CatalogService, []byte(key), encode(op), raps.UpdateOptions{IdempotencyKey: idem})
	if err != nil {
		return catalogResult{}, err
	}
	return decodeCatalog(r.Data)
}

func catalogQuery(ctx context.Context, c *raps.Client, key string, op catalogOp, level racs.Level) (catalogResult, error) {
	r, err := c.Query(ctx, CatalogService, []byte(key), encode(op), level, racs.Token{})
	if err != nil {
		return catalogResult{}, err
	}
	return decodeCatalog(r.Data)
}

func decodeCatalog(b []byte) (catalogResult, error) {
	var res catalogResult
	if err := json.Unmarshal(b, &res); err != nil || res.Status == "" {
		return res, fmt.Errorf("%w: %q", errBadResult, b)
	}
	if res.Status == stBadInput {
		return res, fmt.Errorf("%w: %s", ErrBadInput, res.Msg)
	}
	return res, nil
}

// GetProduct reads one product at the level asked.
func GetProduct(ctx context.Context, c *raps.Client, name string, level racs.Level) (Product, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return Product{}, err
	}
	res, err := catalogQuery(ctx, c, n, catalogOp{Op: "get", Name: n}, level)
	if err != nil {
		return Product{}, err
	}
	if res.Status == stNotFound || res.Product == nil {
		return Product{}, fmt.Errorf("%w: %s", ErrUnknownProduct, n)
	}
	return *res.Product, nil
}

// UpsertProduct writes a product (its name normalized), stock included.
func UpsertProduct(ctx context.Context, c *raps.Client, p Product) (Product, error) {
	n, err := NormalizeName(p.Name)
	if err != nil {
		return Product{}, err
	}
	p.Name = n
	if m := validProduct(&p); m != "" {
		return Product{}, fmt.Errorf("%w: %s", ErrBadInput, m)
	}
	res, err := catalogUpdate(ctx, c, n, catalogOp{Op: "upsert", Product: &p}, "")
	if err != nil {
		return Product{}, err
	}
	return *res.Product, nil
}

// Page is a page of the catalog in name order.
type Page struct {
	Products []Product `json:"products"`
	// Next is the name to pass as after for the next page; empty at the
	// end (of the range asked, or of the catalog).
	Next string `json:"next,omitempty"`
}

// ListCatalog returns up to limit products after the name after, in name
// order, crossing into the next partitions while the page is not full.
// With part ≥ 0 it stays inside that partition (a range of the lecture's
// "A-C, D-F, …").
func ListCatalog(ctx context.Context, c *raps.Client, part int, after string, limit int) (Page, error) {
	limit = clampLimit(limit)
	rs, err := Ranges(c)
	if err != nil {
		return Page{}, err
	}
	if part >= len(rs) {
		return Page{}, fmt.Errorf("%w: no catalog partition %d (0..%d)", ErrBadInput, part, len(rs)-1)
	}
	page := Page{Products: []Product{}}
	for i, r := range rs {
		if part >= 0 && i != part || r.End != "" && after >= r.End {
			continue
		}
		res, err := catalogQuery(ctx, c, r.Start, catalogOp{Op: "list", After: after, Limit: limit - len(page.Products)}, racs.Any)
		if err != nil {
			return Page{}, fmt.Errorf("%w: range %s: %w", ErrUnavailable, r.Label, err)
		}
		page.Products = append(page.Products, res.Products...)
		if len(page.Products) >= limit {
			last := page.Products[len(page.Products)-1].Name
			if res.More || part < 0 && i+1 < len(rs) {
				page.Next = last
			}
			break
		}
	}
	return page, nil
}

func cartUpdate(ctx context.Context, c *raps.Client, op cartOp, idem string) (cartResult, error) {
	if err := CheckUser(op.User); err != nil {
		return cartResult{}, err
	}
	r, err := c.Update(ctx, CartsService, []byte(op.User), encode(op), raps.UpdateOptions{IdempotencyKey: idem})
	if err != nil {
		return cartResult{}, err
	}
	return decodeCart(r.Data)
}

func decodeCart(b []byte) (cartResult, error) {
	var res cartResult
	if err := json.Unmarshal(b, &res); err != nil || res.Status == "" {
		return res, fmt.Errorf("%w: %q", errBadResult, b)
	}
	if res.Status == stBadInput {
		return res, fmt.Errorf("%w: %s", ErrBadInput, res.Msg)
	}
	return res, nil
}

// GetCart reads a user's cart and orders at the level asked (Strict to
// see one's own last change from any front end).
func GetCart(ctx context.Context, c *raps.Client, user string, level racs.Level) (Cart, error) {
	if err := CheckUser(user); err != nil {
		return Cart{}, err
	}
	r, err := c.Query(ctx, CartsService, []byte(user), encode(cartOp{Op: "get", User: user}), level, racs.Token{})
	if err != nil {
		return Cart{}, err
	}
	res, err := decodeCart(r.Data)
	if err != nil {
		return Cart{}, err
	}
	if res.Cart == nil {
		return Cart{}, fmt.Errorf("%w: no cart in the answer", errBadResult)
	}
	return *res.Cart, nil
}

// AddToCart adds qty of a product (which must exist) to a user's cart.
// With a key (1..MaxOrderIDLen of ASCII letters, digits and -_.@) it is
// idempotent: the same key, user, product and quantity add once however
// often they are sent (a resubmitted form, a client's retry), and the
// retry answers the cart as the first add left it. Without one, a second
// add adds again, as a second click would; the Router's own key still
// makes its internal retries safe.
func AddToCart(ctx context.Context, c *raps.Client, user, name string, qty int64, key string) (Cart, error) {
	if err := CheckUser(user); err != nil {
		return Cart{}, err
	}
	if qty <= 0 || qty > MaxQty {
		return Cart{}, fmt.Errorf("%w: quantity must be 1..%d", ErrBadInput, MaxQty)
	}
	if key != "" && (len(key) > MaxOrderIDLen || CheckUser(key) != nil) {
		return Cart{}, fmt.Errorf("%w: idempotency key must be 1..%d of ASCII letters, digits and -_.@", ErrBadInput, MaxOrderIDLen)
	}
	p, err := GetProduct(ctx, c, name, racs.Any)
	if err != nil {
		return Cart{}, err
	}
	idem := ""
	if key != "" { // the key names one add: of this product, this many
		sum := sha256.Sum256([]byte(p.Name + "\x00" + strconv.FormatInt(qty, 10)))
		idem = "shop/" + user + "/add/" + key + "/" + hex.EncodeToString(sum[:8])
	}
	res, err := cartUpdate(ctx, c, cartOp{Op: "add", User: user, Name: p.Name, Qty: qty}, idem)
	if err != nil {
		return Cart{}, err
	}
	if res.Cart == nil {
		return Cart{}, fmt.Errorf("%w: add answered no cart", errBadResult)
	}
	return *res.Cart, nil
}

// RemoveFromCart removes a product's line from a user's cart (idempotent).
func RemoveFromCart(ctx context.Context, c *raps.Client, user, name string) (Cart, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return Cart{}, err
	}
	res, err := cartUpdate(ctx, c, cartOp{Op: "remove", User: user, Name: n}, "")
	if err != nil {
		return Cart{}, err
	}
	return *res.Cart, nil
}

// ClearCart empties a user's cart (idempotent); orders stay.
func ClearCart(ctx context.Context, c *raps.Client, user string) (Cart, error) {
	res, err := cartUpdate(ctx, c, cartOp{Op: "clear", User: user}, "")
	if err != nil {
		return Cart{}, err
	}
	return *res.Cart, nil
}
