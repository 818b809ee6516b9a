package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// OtherLabel is the value of a label outside its bounded set: the route
// of a request no route matched, a method that is not a standard one, a
// status code outside 100–599.
const OtherLabel = "other"

// httpBuckets suit a front end whose reads take well under a
// millisecond and whose writes wait for an fsync: 100µs to 10s.
var httpBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// HTTPMiddleware returns a chi middleware that records every request in
// qs_http_request_duration_seconds{route,method,code}, registered on reg
// (once: later calls with the same reg share the histogram).
//
// It must be installed on the chi router with router.Use (or on a
// sub-router, or with router.With): the route label is the chi route
// pattern (chi.RouteContext(ctx).RoutePattern(), e.g. /v1/kv/{key}),
// which is complete only once the router has routed the request, so it
// is read after the handler returned; wrapped around the router from
// outside it finds no route context and every request is "other". The
// labels are bounded: a request no route matched counts as route
// "other", a non-standard method as "other", a code outside 100–599 as
// "other", and a handler that wrote nothing as 200.
//
// It panics if reg refuses the histogram for another reason than its
// being registered already (a conflicting metric of the same name).
func HTTPMiddleware(reg prometheus.Registerer) func(http.Handler) http.Handler {
	hv := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "qs_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by chi route pattern, method and status code.",
		Buckets: httpBuckets,
	}, []string{"route", "method", "code"})
	if err := reg.Register(hv); err != nil {
		are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			panic(err)
		}
		hv = are.ExistingCollector.(*prometheus.HistogramVec)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t0 := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			route := OtherLabel
			if rc := chi.RouteContext(r.Context()); rc != nil {
				if p := rc.RoutePattern(); p != "" {
					route = p
				}
			}
			hv.WithLabelValues(route, methodLabel(r.Method), codeLabel(ww.Status())).Observe(time.Since(t0).Seconds())
		})
	}
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return OtherLabel
}

func codeLabel(code int) string {
	switch {
	case code == 0:
		return "200" // nothing written: net/http answers 200
	case code < 100 || code > 599:
		return OtherLabel
	}
	return strconv.Itoa(code)
}
