package ops

import (
	"net/http"
	"net/http/pprof"
)

// AdminMux is the admin listener's handler: Go's profiles, which are
// never served on an API listener, and whatever extra mounts (/metrics,
// /status).
func AdminMux(extra func(*http.ServeMux)) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if extra != nil {
		extra(mux)
	}
	return mux
}
