package dispatcher

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/raps"
)

// ErrInvalidConfig: a Config that cannot work; the error names the field.
var ErrInvalidConfig = errors.New("dispatcher: invalid config")

// Member is one node as the admin API's members route shows it.
type Member struct {
	ID    uint64  `json:"id"`
	Addr  string  `json:"addr,omitempty"`
	State string  `json:"state"` // "active", "draining", "dead", or the membership layer's word ("alive", "suspect", …)
	Zone  string  `json:"zone,omitempty"`
	Load  float64 `json:"load"`
	Epoch uint64  `json:"epoch"` // the newest map epoch the node holds (gossiped)
	Role  string  `json:"role,omitempty"`
}

// Config configures a Dispatcher.
type Config struct {
	// Router routes every call (a front end's raps.NewClient, or a
	// Node's Client). Required.
	Router *raps.Client
	// AdminToken guards /v1/admin/ (Authorization: Bearer <AdminToken>);
	// empty disables the admin API (its routes answer 404
	// admin_disabled).
	AdminToken string
	// Members lists the cluster's nodes for the admin members route (the
	// membership layer's view: state, zone, gossiped load and epoch); nil
	// derives them from the partition map (no load, the map's epoch).
	Members func() []Member
	// MaxBody bounds a request body in bytes (413 too_large beyond it).
	// Default 1 MiB.
	MaxBody int64
	// MaxKey bounds a key in bytes (400 key_too_long beyond it). Default
	// 4 KiB.
	MaxKey int
	// MaxOp bounds an encoded update or query handed to a group, with its
	// idempotency key: it must fit the groups' groupcomm MaxPayloadBytes
	// (1 MiB by default) with room for the envelope, so a body within
	// MaxBody whose update would not fit is a 413 here, never a refusal
	// by the group. Default 1 MiB − 1 KiB.
	MaxOp int
	// RequestTimeout bounds each request's call into the cluster. Default
	// 5s.
	RequestTimeout time.Duration
	// TokenWait bounds how long a session read waits for a clone to reach
	// its token before the dispatcher asks the group, by a strict read,
	// how far it has ordered (a token ahead of that is 400 token_ahead).
	// Default 1s; at most RequestTimeout.
	TokenWait time.Duration
	// Throttle bounds the requests served at once (/livez excepted);
	// beyond it a request is answered 503 busy with Retry-After at once.
	// Default 1024.
	Throttle int
	// MaxWatchers bounds the watch streams open at once (GET
	// /v1/services/{svc}/watch; they are not counted by Throttle); beyond
	// it a watch is answered 503 busy. Default 4096.
	MaxWatchers int
	// TrustedProxies are the CIDR prefixes of proxies whose
	// X-Forwarded-For names the client (chi's ClientIPFromXFF); empty
	// takes the client address from the connection.
	TrustedProxies []string
	// Logger receives one line per request that failed with a 5xx, and
	// panics. Default: discard.
	Logger *slog.Logger
	// Middlewares are added with Router.Use after the dispatcher's own,
	// on the root router, so the route pattern is known to them once the
	// next handler returns (e.g. a metrics middleware reading
	// chi.RouteContext(r.Context()).RoutePattern() after next.ServeHTTP).
	Middlewares []func(http.Handler) http.Handler
	// Ready says whether the process may take traffic (/readyz); nil
	// means ready once the Router holds a partition map.
	Ready func() error
	// Extra, if set, mounts more routes on the root router (/metrics,
	// pprof, a dashboard); they get the same middlewares.
	Extra func(chi.Router)
}

// DefaultConfig returns a Config with the limits and timers set; the
// caller sets Router (and AdminToken to enable the admin API).
func DefaultConfig() Config {
	return Config{MaxBody: 1 << 20, MaxKey: 4 << 10, MaxOp: 1<<20 - 1<<10, RequestTimeout: 5 * time.Second,
		TokenWait: time.Second, Throttle: 1024, MaxWatchers: 4096}
}

// maxIdempotencyKey bounds an idempotency key.
const maxIdempotencyKey = 128

// Validate checks the configuration; its errors wrap ErrInvalidConfig
// and name the field.
func (c *Config) Validate() error {
	bad := func(field, why string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(why, args...))
	}
	switch {
	case c.Router == nil:
		return bad("Router", "must be set")
	case c.MaxBody <= 0:
		return bad("MaxBody", "must be positive, not %d", c.MaxBody)
	case c.MaxKey <= 0:
		return bad("MaxKey", "must be positive, not %d", c.MaxKey)
	case c.MaxOp <= 0:
		return bad("MaxOp", "must be positive, not %d", c.MaxOp)
	case c.MaxKey+maxIdempotencyKey+64 > c.MaxOp:
		return bad("MaxOp", "(%d) must leave room for a key of MaxKey (%d) bytes", c.MaxOp, c.MaxKey)
	case c.RequestTimeout <= 0:
		return bad("RequestTimeout", "must be positive, not %v", c.RequestTimeout)
	case c.TokenWait <= 0 || c.TokenWait > c.RequestTimeout:
		return bad("TokenWait", "must be positive and at most RequestTimeout (%v), not %v", c.RequestTimeout, c.TokenWait)
	case c.Throttle <= 0:
		return bad("Throttle", "must be positive, not %d", c.Throttle)
	case c.MaxWatchers <= 0:
		return bad("MaxWatchers", "must be positive, not %d", c.MaxWatchers)
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			return bad("TrustedProxies", "entry %q is not a CIDR prefix: %v", p, err)
		}
	}
	for i, m := range c.Middlewares {
		if m == nil {
			return bad("Middlewares", "entry %d is nil", i)
		}
	}
	return nil
}
