package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The route label is the chi pattern, read after routing; requests no
// route matched, and non-standard methods, are "other".
func TestHTTPMetricMiddlewareRoutes(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	r := chi.NewRouter()
	r.Use(HTTPMiddleware(reg))
	r.Get("/v1/kv/{key}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(chi.URLParam(r, "key"))) })
	r.Put("/v1/kv/{key}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	r.Route("/v1/admin", func(r chi.Router) {
		r.Get("/groups/{id}", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusNotFound) })
	})
	chi.RegisterMethod("PROPFIND") // a method of its own (WebDAV): labelled "other"
	r.MethodFunc("PROPFIND", "/dav", func(w http.ResponseWriter, r *http.Request) {})
	do := func(method, path string) int {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code
	}
	for _, k := range []string{"a", "b", "c"} {
		do(http.MethodGet, "/v1/kv/"+k)
	}
	do(http.MethodPut, "/v1/kv/a")
	do(http.MethodGet, "/v1/admin/groups/7")
	if code := do(http.MethodGet, "/nope/1"); code != http.StatusNotFound {
		t.Fatalf("unknown path: %d", code)
	}
	do(http.MethodGet, "/nope/2")
	do("PROPFIND", "/dav")

	count := func(route, method, code string) uint64 {
		t.Helper()
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range fams {
			if fam.GetName() != "qs_http_request_duration_seconds" {
				continue
			}
		next:
			for _, m := range fam.Metric {
				want := map[string]string{"route": route, "method": method, "code": code}
				for _, lp := range m.Label {
					if want[lp.GetName()] != lp.GetValue() {
						continue next
					}
				}
				return m.Histogram.GetSampleCount()
			}
		}
		return 0
	}
	for _, c := range []struct {
		route, method, code string
		n                   uint64
	}{
		{"/v1/kv/{key}", "GET", "200", 3},
		{"/v1/kv/{key}", "PUT", "204", 1},
		{"/v1/admin/groups/{id}", "GET", "404", 1},
		{"other", "GET", "404", 2},
		{"/dav", "other", "200", 1},
	} {
		if n := count(c.route, c.method, c.code); n != c.n {
			t.Errorf("route=%q method=%s code=%s: %d requests, want %d", c.route, c.method, c.code, n, c.n)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "qs_http_request_duration_seconds"); err != nil || n != 5 {
		t.Errorf("%d series (%v), want 5 (no label value from a request path)", n, err)
	}
	// A second middleware on the same registry shares the histogram.
	r2 := chi.NewRouter()
	r2.Use(HTTPMiddleware(reg))
	r2.Get("/v1/kv/{key}", func(w http.ResponseWriter, r *http.Request) {})
	rec := httptest.NewRecorder()
	r2.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/kv/z", nil))
	if n := count("/v1/kv/{key}", "GET", "200"); n != 4 {
		t.Errorf("after a second middleware: %d, want 4", n)
	}
	// Wrapped around the router from outside, the middleware finds no
	// route context: that is why it must be installed with Use.
	outer := prometheus.NewPedanticRegistry()
	rec = httptest.NewRecorder()
	HTTPMiddleware(outer)(r2).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/kv/z", nil))
	fams, err := outer.Gather()
	if err != nil || len(fams) != 1 || len(fams[0].Metric) != 1 {
		t.Fatalf("outside the router: %v %v", fams, err)
	}
	for _, lp := range fams[0].Metric[0].Label {
		if lp.GetName() == "route" && lp.GetValue() != OtherLabel {
			t.Errorf("outside the router: route %q, want %q", lp.GetValue(), OtherLabel)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
