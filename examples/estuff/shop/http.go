package shop

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// RequestTimeout bounds each HTTP request's calls to the cluster.
const RequestTimeout = 5 * time.Second

const maxBody = 64 << 10

type server struct {
	c     *raps.Client
	token string // WithAdminToken's; "" leaves PUT /product open
}

// RouteOption configures Routes.
type RouteOption func(*server)

// WithAdminToken guards the catalog's write route (PUT /product/{name},
// which sets a product's price and stock) with Authorization: Bearer
// token; a request without it is a 401 and changes nothing. Without this
// option the route is open, as a test or a private demo may want.
func WithAdminToken(token string) RouteOption { return func(s *server) { s.token = token } }

// Routes returns the shop's HTTP API and page over c, with paths relative
// to where the caller mounts it: chi's r.Mount("/shop", shop.Routes(c)),
// or mux.Handle("/shop/", http.StripPrefix("/shop", shop.Routes(c))).
// Either way "/shop/" is the page and "/shop/search?q=…" the search.
//
//	GET    /                      the shop page (HTML)
//	POST   /                      the page's forms (add, remove, checkout); 303 back
//	GET    /catalog               ?range=D-F|<n>&after=<name>&limit=<n>: a page of products
//	GET    /catalog/ranges        the catalog's partitions and their ranges
//	GET    /product/{name}        one product (404 unknown)
//	PUT    /product/{name}        upsert a product (stock included); admin token with WithAdminToken
//	GET    /search                ?q=<words>&limit=<n>: ranked hits, partial + missing
//	GET    /cart/{user}           the cart and its orders
//	POST   /cart/{user}           {"name", "qty"}: add (404 unknown product); once per Idempotency-Key
//	DELETE /cart/{user}           ?name=<product>: remove that line; without: clear
//	POST   /checkout/{user}       Idempotency-Key header or {"order_id"}: place the order
//	GET    /orders/{user}         the user's orders
//
// Reads take ?consistency=any|session|strict; carts, orders and products
// default to strict (one's own last change), catalog and search to any.
func Routes(c *raps.Client, opts ...RouteOption) http.Handler {
	s := &server{c: c}
	for _, o := range opts {
		o(s)
	}
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNoRoute) })
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) { writeError(w, errMethod) })
	r.Get("/", s.page)
	r.Post("/", s.pageForm)
	r.Get("/catalog", s.catalog)
	r.Get("/catalog/ranges", s.ranges)
	r.Get("/product/{name}", s.getProduct)
	r.Put("/product/{name}", s.putProduct)
	r.Get("/search", s.search)
	r.Get("/cart/{user}", s.getCart)
	r.Post("/cart/{user}", s.addCart)
	r.Delete("/cart/{user}", s.deleteCart)
	r.Post("/checkout/{user}", s.checkout)
	r.Get("/orders/{user}", s.orders)
	return r
}

var (
	errNoRoute = errors.New("shop: no such route")
	errMethod  = errors.New("shop: method not allowed")
	errAuth    = errors.New("shop: this route needs the admin token (Authorization: Bearer <token>)")
)

// apiError is every error answer's body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Product string `json:"product,omitempty"`
	} `json:"error"`
}

// statusOf maps an error to its HTTP status and code: the one place.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, ErrBadInput), errors.Is(err, raps.ErrBadKey), errors.Is(err, racs.ErrBadToken):
		return http.StatusBadRequest, "bad_input"
	case errors.Is(err, ErrEmptyCart):
		return http.StatusBadRequest, "empty_cart"
	case errors.Is(err, ErrUnknownProduct):
		return http.StatusNotFound, "unknown_product"
	case errors.Is(err, errNoRoute):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, errAuth):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrOutOfStock):
		return http.StatusConflict, "out_of_stock"
	case errors.Is(err, ErrOrderFailed):
		return http.StatusConflict, "order_failed"
	case errors.Is(err, racs.ErrKeyReused):
		return http.StatusUnprocessableEntity, "idempotency_key_reused"
	case errors.Is(err, raps.ErrOutcomeUnknown):
		return http.StatusGatewayTimeout, "outcome_unknown"
	case errors.Is(err, ErrUnavailable), errors.Is(err, raps.ErrNotApplied), errors.Is(err, raps.ErrNoMap),
		errors.Is(err, raps.ErrNotHosted), errors.Is(err, raps.ErrUnknownService), errors.Is(err, racs.ErrBusy),
		errors.Is(err, racs.ErrStale), errors.Is(err, racs.ErrNoQuorum), errors.Is(err, racs.ErrStopped),
		errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

func writeError(w http.ResponseWriter, err error) {
	st, code := statusOf(err)
	var body apiError
	body.Error.Code, body.Error.Message = code, err.Error()
	if oos, ok := errors.AsType[*OutOfStockError](err); ok {
		body.Error.Product = oos.Product
	}
	if st == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, st, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// answer writes v, or err through statusOf.
func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// readJSON decodes a small JSON body strictly; an empty body is allowed
// when empty is true.
func readJSON(w http.ResponseWriter, r *http.Request, v any, empty bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == io.EOF && empty {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: body: %v", ErrBadInput, err)
	}
	return nil
}

func ctxOf(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), RequestTimeout)
}

// level parses ?consistency=, with def when absent.
func level(r *http.Request, def racs.Level) (racs.Level, error) {
	switch v := r.URL.Query().Get("consistency"); v {
	case "":
		return def, nil
	case "any":
		return racs.Any, nil
	case "session":
		return racs.Session, nil
	case "strict":
		return racs.Strict, nil
	default:
		return 0, fmt.Errorf("%w: consistency %q (any, session or strict)", ErrBadInput, v)
	}
}

// intParam parses an optional non-negative integer query parameter.
func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer", ErrBadInput, name)
	}
	return n, nil
}

func (s *server) catalog(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 20)
	if err != nil {
		writeError(w, err)
		return
	}
	part := -1
	if rg := r.URL.Query().Get("range"); rg != "" {
		if part, err = s.rangeIndex(rg); err != nil {
			writeError(w, err)
			return
		}
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	p, err := ListCatalog(ctx, s.c, part, r.URL.Query().Get("after"), limit)
	answer(w, p, err)
}

// rangeIndex resolves ?range= given as a label ("D-F") or a partition id.
func (s *server) rangeIndex(rg string) (int, error) {
	rs, err := Ranges(s.c)
	if err != nil {
		return 0, err
	}
	for _, x := range rs {
		if strings.EqualFold(x.Label, rg) || strconv.Itoa(x.Partition) == rg {
			return x.Partition, nil
		}
	}
	return 0, fmt.Errorf("%w: no catalog range %q", ErrBadInput, rg)
}

func (s *server) ranges(w http.ResponseWriter, _ *http.Request) {
	rs, err := Ranges(s.c)
	answer(w, map[string]any{"ranges": rs}, err)
}

func (s *server) getProduct(w http.ResponseWriter, r *http.Request) {
	lv, err := level(r, racs.Strict)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	p, err := GetProduct(ctx, s.c, chi.URLParam(r, "name"), lv)
	answer(w, p, err)
}

func (s *server) putProduct(w http.ResponseWriter, r *http.Request) {
	if s.token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+s.token)) != 1 {
		writeError(w, errAuth)
		return
	}
	var p Product
	if err := readJSON(w, r, &p, false); err != nil {
		writeError(w, err)
		return
	}
	if p.Name != "" {
		a, err1 := NormalizeName(p.Name)
		b, err2 := NormalizeName(chi.URLParam(r, "name"))
		if err1 != nil || err2 != nil || a != b {
			writeError(w, fmt.Errorf("%w: the body's name is not the path's", ErrBadInput))
			return
		}
	}
	p.Name = chi.URLParam(r, "name")
	ctx, cancel := ctxOf(r)
	defer cancel()
	out, err := UpsertProduct(ctx, s.c, p)
	answer(w, out, err)
}

func (s *server) search(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 20)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	res, err := Search(ctx, s.c, r.URL.Query().Get("q"), limit)
	answer(w, res, err)
}

func (s *server) getCart(w http.ResponseWriter, r *http.Request) {
	lv, err := level(r, racs.Strict)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	c, err := GetCart(ctx, s.c, chi.URLParam(r, "user"), lv)
	answer(w, c, err)
}

func (s *server) addCart(w http.ResponseWriter, r *http.Request) {
	var in Item
	if err := readJSON(w, r, &in, false); err != nil {
		writeError(w, err)
		return
	}
	if in.Qty == 0 {
		in.Qty = 1
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	c, err := AddToCart(ctx, s.c, chi.URLParam(r, "user"), in.Name, in.Qty, r.Header.Get("Idempotency-Key"))
	answer(w, c, err)
}

func (s *server) deleteCart(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := ctxOf(r)
	defer cancel()
	user := chi.URLParam(r, "user")
	var c Cart
	var err error
	if name := r.URL.Query().Get("name"); name != "" {
		c, err = RemoveFromCart(ctx, s.c, user, name)
	} else {
		c, err = ClearCart(ctx, s.c, user)
	}
	answer(w, c, err)
}

// checkoutBody is POST /checkout/{user}'s optional body.
type checkoutBody struct {
	OrderID string `json:"order_id"`
}

// checkout needs an order id (the Idempotency-Key header, else the body's
// order_id): without one a retried request could not be recognised.
func (s *server) checkout(w http.ResponseWriter, r *http.Request) {
	var in checkoutBody
	if err := readJSON(w, r, &in, true); err != nil {
		writeError(w, err)
		return
	}
	id := r.Header.Get("Idempotency-Key")
	switch {
	case id == "":
		id = in.OrderID
	case in.OrderID != "" && in.OrderID != id:
		writeError(w, fmt.Errorf("%w: Idempotency-Key and order_id differ", ErrBadInput))
		return
	}
	if id == "" {
		writeError(w, fmt.Errorf("%w: an Idempotency-Key header or an order_id field is required", ErrBadInput))
		return
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	o, err := Checkout(ctx, s.c, chi.URLParam(r, "user"), id)
	answer(w, map[string]any{"order": o}, err)
}

func (s *server) orders(w http.ResponseWriter, r *http.Request) {
	lv, err := level(r, racs.Strict)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := ctxOf(r)
	defer cancel()
	c, err := GetCart(ctx, s.c, chi.URLParam(r, "user"), lv)
	answer(w, map[string]any{"user": c.User, "orders": c.Orders}, err)
}
