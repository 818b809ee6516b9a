package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/fanout"
)

// Dispatcher is the HTTP front of a raps Router: the generic service
// API, the kv routes, the map, the admin API and the health checks.
type Dispatcher struct {
	cfg    Config
	rt     *raps.Client
	log    *slog.Logger
	router *chi.Mux
	sem    chan struct{}
	// watchers bounds the open watch streams (they do not take a
	// throttle slot: each stays open for as long as its client reads).
	watchers chan struct{}
	hub      *fanout.Hub // the watches' shared upstreams
}

// New builds a Dispatcher; cfg's zero limits and timers take
// DefaultConfig's values, then cfg must pass Validate.
func New(cfg Config) (*Dispatcher, error) {
	d := DefaultConfig()
	if cfg.MaxBody == 0 {
		cfg.MaxBody = d.MaxBody
	}
	if cfg.MaxKey == 0 {
		cfg.MaxKey = d.MaxKey
	}
	if cfg.MaxOp == 0 {
		cfg.MaxOp = d.MaxOp
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = d.RequestTimeout
	}
	if cfg.TokenWait == 0 {
		cfg.TokenWait = min(d.TokenWait, cfg.RequestTimeout)
	}
	if cfg.Throttle == 0 {
		cfg.Throttle = d.Throttle
	}
	if cfg.MaxWatchers == 0 {
		cfg.MaxWatchers = d.MaxWatchers
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	x := &Dispatcher{cfg: cfg, rt: cfg.Router, log: cfg.Logger, sem: make(chan struct{}, cfg.Throttle),
		watchers: make(chan struct{}, cfg.MaxWatchers),
		hub:      fanout.New(context.Background(), cfg.Router, fanout.DefaultOptions())}
	x.router = x.routes()
	return x, nil
}

// Handler returns the dispatcher's HTTP handler.
func (x *Dispatcher) Handler() http.Handler { return x.router }

// Server returns an http.Server for addr serving Handler, with every
// timeout and the header bound set: a slow or hostile client holds a
// connection for bounded time only.
func (x *Dispatcher) Server(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           x.router,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       x.cfg.RequestTimeout + 10*time.Second,
		WriteTimeout:      x.cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(x.log.Handler(), slog.LevelWarn),
	}
}

func (x *Dispatcher) routes() *chi.Mux {
	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	if len(x.cfg.TrustedProxies) > 0 {
		r.Use(middleware.ClientIPFromXFF(x.cfg.TrustedProxies...))
	} else {
		r.Use(middleware.ClientIPFromRemoteAddr)
	}
	r.Use(x.recoverer, x.throttle)
	r.Use(middleware.GetHead) // HEAD answers as GET does, without the body
	r.Use(middleware.Compress(5, "application/json"))
	r.Use(x.cfg.Middlewares...)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, "unknown_route", "no route %s %q (see the dispatcher package's doc for the API)", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		var allow []string
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"} {
			if r.Match(chi.NewRouteContext(), m, routePath(req)) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, newError(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed on %q; allowed: %s",
			truncate(req.Method, 32), req.URL.Path, strings.Join(allow, ", ")))
	})
	r.Get("/livez", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", x.readyz)
	r.Get("/v1/map", x.getMap)
	r.Post("/v1/services/{svc}/update", x.update)
	r.Post("/v1/services/{svc}/query", x.query)
	r.Post("/v1/services/{svc}/scatter", x.scatter)
	r.Get("/v1/services/{svc}/watch", x.watch)
	r.Route("/v1/kv", func(r chi.Router) {
		r.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, badRequest("bad_key", "empty key: the route is /v1/kv/{key}"))
		})
		r.Put("/{key}", x.kvPut)
		r.Get("/{key}", x.kvGet)
		r.Delete("/{key}", x.kvDelete)
		r.Post("/{key}/cas", x.kvCAS)
		r.Post("/{key}/append", x.kvAppend)
		r.Get("/{key}/list", x.kvList)
	})
	r.Route("/v1/admin", x.adminRoutes)
	if x.cfg.Extra != nil {
		x.cfg.Extra(r)
	}
	return r
}

// isWatch: a watch stream's route (GET /v1/services/{svc}/watch).
func isWatch(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodGet && strings.HasPrefix(p, "/v1/services/") && strings.HasSuffix(p, "/watch")
}

func routePath(r *http.Request) string {
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.Path
}

// recoverer answers a panic with a JSON 500 and logs it with its stack
// (chi's Recoverer writes a bare 500 and prints to stderr).
func (x *Dispatcher) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				x.log.Error("panic serving a request", "method", r.Method, "path", r.URL.Path,
					"request_id", middleware.GetReqID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeError(w, newError(http.StatusInternalServerError, codeInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// throttle bounds the requests served at once (all but /livez); one
// beyond is answered at once with 503 busy and Retry-After (chi's Throttle answers in plain
// text; every error here is JSON).
func (x *Dispatcher) throttle(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/livez" || isWatch(r) { // alive even when busy; watches have their own bound
			next.ServeHTTP(w, r)
			return
		}
		select {
		case x.sem <- struct{}{}:
			defer func() { <-x.sem }()
			next.ServeHTTP(w, r)
		default:
			writeError(w, newError(http.StatusServiceUnavailable, "busy", "more than %d requests in progress; retry later", x.cfg.Throttle))
		}
	})
}

func (x *Dispatcher) readyz(w http.ResponseWriter, _ *http.Request) {
	ready := x.cfg.Ready
	if ready == nil {
		ready = func() error {
			if x.rt.Map() == nil {
				return raps.ErrNoMap
			}
			return nil
		}
	}
	if err := ready(); err != nil {
		writeError(w, newError(http.StatusServiceUnavailable, "not_ready", "not ready: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (x *Dispatcher) getMap(w http.ResponseWriter, _ *http.Request) {
	m := x.rt.Map()
	if m == nil {
		writeError(w, classify(raps.ErrNoMap, read))
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// ctx bounds a request's call into the cluster.
func (x *Dispatcher) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), x.cfg.RequestTimeout)
}

// readBody reads the whole body within MaxBody: 413 beyond it.
func (x *Dispatcher) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > x.cfg.MaxBody {
		return nil, x.tooLarge(r.ContentLength)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, x.cfg.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, x.tooLarge(-1)
		}
		return nil, badRequest("bad_body", "reading the body: %v", err)
	}
	return b, nil
}

func (x *Dispatcher) tooLarge(n int64) *apiError {
	if n >= 0 {
		return newError(http.StatusRequestEntityTooLarge, codeTooLarge, "body of %d bytes exceeds the limit of %d bytes", n, x.cfg.MaxBody)
	}
	return newError(http.StatusRequestEntityTooLarge, codeTooLarge, "body exceeds the limit of %d bytes", x.cfg.MaxBody)
}

// checkOp refuses an update or query that would not fit a group.
func (x *Dispatcher) checkOp(op []byte, idem string) error {
	if n := len(op) + len(idem); n > x.cfg.MaxOp {
		return newError(http.StatusRequestEntityTooLarge, codeTooLarge,
			"the encoded request (%d bytes with its key) exceeds the largest a group takes, %d bytes (MaxOp; the body limit is %d)", n, x.cfg.MaxOp, x.cfg.MaxBody)
	}
	return nil
}

// decodeJSON reads a JSON body into v: unknown fields, trailing data and
// a non-object are 400 bad_json saying where.
func (x *Dispatcher) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := x.readBody(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("bad_json", "empty body: want a JSON object")
		}
		return badRequest("bad_json", "body is not the JSON object this route takes: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("bad_json", "trailing data after the JSON object")
	}
	return nil
}

// checkKey bounds a key.
func (x *Dispatcher) checkKey(key []byte, field string) error {
	switch {
	case len(key) == 0:
		return badRequest("bad_key", "%s is empty", field)
	case len(key) > x.cfg.MaxKey:
		return badRequest("key_too_long", "%s of %d bytes exceeds the limit of %d bytes", field, len(key), x.cfg.MaxKey)
	}
	return nil
}

// pathKey is the {key} of a kv route, percent-decoded.
func (x *Dispatcher) pathKey(r *http.Request) ([]byte, error) {
	k := chi.URLParam(r, "key")
	if r.URL.RawPath != "" { // chi routed on the escaped path
		u, err := url.PathUnescape(k)
		if err != nil {
			return nil, badRequest("bad_key", "key %q is not percent-encoded correctly: %v", truncate(k, 64), err)
		}
		k = u
	}
	if err := x.checkKey([]byte(k), "key"); err != nil {
		return nil, err
	}
	return []byte(k), nil
}

// idempotency reads the update's idempotency key: the body's field or
// the Idempotency-Key header (both given must agree).
func idempotency(r *http.Request, field string) (string, error) {
	h := r.Header.Get("Idempotency-Key")
	if field != "" && h != "" && field != h {
		return "", badRequest("bad_idempotency_key", "idempotency_key in the body and the Idempotency-Key header differ")
	}
	k := field
	if k == "" {
		k = h
	}
	if len(k) > maxIdempotencyKey {
		return "", badRequest("bad_idempotency_key", "idempotency key of %d bytes exceeds the limit of %d bytes", len(k), maxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", badRequest("bad_idempotency_key", "idempotency key must be printable ASCII without spaces (byte %d is %#x)", i, k[i])
		}
	}
	return k, nil
}

// readLevel parses a consistency level; "" is session when a token is
// given, else any.
func readLevel(s string, haveToken bool) (racs.Level, error) {
	switch s {
	case "":
		if haveToken {
			return racs.Session, nil
		}
		return racs.Any, nil
	case "any":
		return racs.Any, nil
	case "session":
		return racs.Session, nil
	case "strict":
		return racs.Strict, nil
	}
	return 0, badRequest("bad_consistency", "consistency %q: want any, session or strict", truncate(s, 32))
}

// update applies op to key's partition and sets the headers.
func (x *Dispatcher) doUpdate(w http.ResponseWriter, r *http.Request, svc string, key, op []byte, idem string) (raps.Result, error) {
	if err := x.checkOp(op, idem); err != nil {
		return raps.Result{}, err
	}
	ctx, cancel := x.ctx(r)
	defer cancel()
	res, err := x.rt.Update(ctx, svc, key, op, raps.UpdateOptions{IdempotencyKey: idem})
	if err != nil {
		return res, classify(err, write)
	}
	setHeaders(w, res)
	return res, nil
}

// doQuery reads key's partition at the level asked. A session read
// checks its token against the partition (400 bad_token for another
// group or incarnation) and waits at most TokenWait for a clone to reach
// it; then it reads strictly: an answer at or past the token serves the
// session read (it is fresher), and a group that has not ordered the
// token's position at all proves the token was never issued (400
// token_ahead).
func (x *Dispatcher) doQuery(w http.ResponseWriter, r *http.Request, svc string, key, q []byte, level racs.Level, tok token, haveTok bool) (raps.Result, error) {
	if err := x.checkOp(q, ""); err != nil {
		return raps.Result{}, err
	}
	if level == racs.Session && !haveTok {
		return raps.Result{}, badRequest("bad_token", "a session read needs the token of an earlier answer (token=)")
	}
	var p *partitionmap.Partition
	if haveTok {
		m := x.rt.Map()
		if m == nil {
			return raps.Result{}, classify(raps.ErrNoMap, read)
		}
		var err error
		if p, err = m.Locate(svc, key); err != nil {
			if errors.Is(err, partitionmap.ErrUnknownService) {
				return raps.Result{}, classify(fmt.Errorf("%w: %q", raps.ErrUnknownService, svc), read)
			}
			return raps.Result{}, classify(fmt.Errorf("%w: %v", raps.ErrBadKey, err), read)
		}
		if tok.group != p.Group || tok.tok.Incarnation != p.Incarnation {
			return raps.Result{}, badRequest("bad_token", "token %s is of group %d incarnation %d, but the key is in partition %v: group %d incarnation %d",
				formatToken(tok.group, tok.tok), tok.group, tok.tok.Incarnation, p.Ref(), p.Group, p.Incarnation)
		}
	}
	ctx, cancel := x.ctx(r)
	defer cancel()
	if level != racs.Session {
		res, err := x.rt.Query(ctx, svc, key, q, level, racs.Token{})
		if err != nil {
			return res, classify(err, read)
		}
		setHeaders(w, res)
		return res, nil
	}
	wctx, wcancel := context.WithTimeout(ctx, x.cfg.TokenWait)
	res, err := x.rt.Query(wctx, svc, key, q, racs.Session, tok.tok)
	wcancel()
	if err == nil {
		setHeaders(w, res)
		return res, nil
	}
	if ctx.Err() != nil || wctx.Err() == nil && !errors.Is(err, racs.ErrStale) {
		return res, classify(err, read)
	}
	// No clone reached the token within TokenWait: ask the group.
	res, err = x.rt.Query(ctx, svc, key, q, racs.Strict, racs.Token{})
	if err != nil {
		return res, classify(err, read)
	}
	if res.Token.Incarnation == tok.tok.Incarnation && res.Token.Seq < tok.tok.Seq {
		return res, badRequest("token_ahead", "token %s is ahead of partition %v: its group has ordered only up to position %d, so no answer gave this token",
			formatToken(tok.group, tok.tok), p.Ref(), res.Token.Seq)
	}
	setHeaders(w, res)
	return res, nil
}

// setHeaders sets the QS-* headers an answer has.
func setHeaders(w http.ResponseWriter, res raps.Result) {
	h := w.Header()
	if res.Partition.Service != "" {
		h.Set("QS-Partition", strconv.Itoa(res.Partition.ID))
	}
	if res.View != 0 {
		h.Set("QS-View", strconv.FormatUint(res.View, 10))
	}
	if res.Clone != 0 {
		h.Set("QS-Clone", strconv.FormatUint(uint64(res.Clone), 10))
	}
	if res.Group != 0 && res.Token.Incarnation != 0 {
		h.Set("QS-Token", formatToken(res.Group, res.Token))
	}
}

func tokenOf(res raps.Result) string {
	if res.Group == 0 || res.Token.Incarnation == 0 {
		return ""
	}
	return formatToken(res.Group, res.Token)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// fail answers err (an apiError, or a cluster error of a call of kind),
// logging 5xx answers.
func (x *Dispatcher) fail(w http.ResponseWriter, r *http.Request, err error, kind callKind) {
	e := classify(err, kind)
	if e.status >= 500 {
		x.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", e.status, "code", e.code,
			"request_id", middleware.GetReqID(r.Context()), "err", e.msg)
	}
	writeError(w, e)
}
