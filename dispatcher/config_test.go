package dispatcher_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

func TestValidate(t *testing.T) {
	c := rapstest.New(t, 1, rapstest.WithoutBootstrap())
	fe := c.FrontEnd(100)
	cases := []struct {
		field  string
		adjust func(*dispatcher.Config)
	}{
		{"Router", func(c *dispatcher.Config) { c.Router = nil }},
		{"MaxBody", func(c *dispatcher.Config) { c.MaxBody = -1 }},
		{"MaxKey", func(c *dispatcher.Config) { c.MaxKey = -5 }},
		{"MaxOp", func(c *dispatcher.Config) { c.MaxOp = 100 }},
		{"RequestTimeout", func(c *dispatcher.Config) { c.RequestTimeout = -time.Second }},
		{"TokenWait", func(c *dispatcher.Config) { c.TokenWait = time.Minute }},
		{"Throttle", func(c *dispatcher.Config) { c.Throttle = -1 }},
		{"TrustedProxies", func(c *dispatcher.Config) { c.TrustedProxies = []string{"10.0.0.0/8", "not-a-cidr"} }},
		{"Middlewares", func(c *dispatcher.Config) { c.Middlewares = []func(http.Handler) http.Handler{nil} }},
	}
	for _, tc := range cases {
		cfg := dispatcher.DefaultConfig()
		cfg.Router = fe
		tc.adjust(&cfg)
		_, err := dispatcher.New(cfg)
		if !errors.Is(err, dispatcher.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
	// Zero limits take the defaults.
	d, err := dispatcher.New(dispatcher.Config{Router: fe})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Server(":0")
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 || s.Handler == nil {
		t.Fatalf("server without every bound: %+v", s)
	}
}

// Config.Middlewares see the route pattern, Config.Extra mounts routes
// that pass the same middlewares, and the throttle answers 503 busy at
// once beyond Config.Throttle requests in progress.
func TestMiddlewaresExtraThrottle(t *testing.T) {
	c := rapstest.New(t, 1)
	var mu sync.Mutex
	patterns := map[string]int{}
	entered, release := make(chan struct{}), make(chan struct{})
	a := newFront(t, c, 100, func(cfg *dispatcher.Config) {
		cfg.Throttle = 1
		cfg.Middlewares = []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/block" {
					close(entered)
					<-release
				}
				next.ServeHTTP(w, r)
				mu.Lock()
				patterns[chi.RouteContext(r.Context()).RoutePattern()]++
				mu.Unlock()
			})
		}}
		cfg.Extra = func(r chi.Router) {
			r.Get("/metrics", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("qs_up 1\n")) })
			r.Get("/block", func(w http.ResponseWriter, _ *http.Request) {})
		}
	})
	a.waitMap(c)
	a.want(a.do("PUT", "/v1/kv/m", "v"), 200, "")
	if r := a.want(a.do("GET", "/metrics"), 200, ""); string(r.body) != "qs_up 1\n" {
		t.Fatalf("/metrics: %q", r.body)
	}
	a.want(a.do("HEAD", "/livez"), 200, "")
	done := make(chan reply)
	go func() { done <- a.do("GET", "/block") }()
	<-entered
	r := a.want(a.do("GET", "/v1/map"), 503, "busy")
	a.want(a.do("GET", "/livez"), 200, "") // alive while busy
	if r.header.Get("Retry-After") == "" {
		t.Fatal("busy without Retry-After")
	}
	close(release)
	if r := <-done; r.status != 200 {
		t.Fatalf("/block: %d", r.status)
	}
	a.want(a.do("GET", "/livez"), 200, "")
	mu.Lock()
	defer mu.Unlock()
	if patterns["/v1/kv/{key}"] == 0 || patterns["/metrics"] == 0 {
		t.Fatalf("patterns seen by the middleware: %v", patterns)
	}
}
