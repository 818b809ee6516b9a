package dashboard

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/node"
)

// DemoHeader must be on a crash or restart POST: a cross-site form
// cannot set a custom header, and a cross-site fetch that sets one needs
// a CORS preflight this handler never grants.
const DemoHeader = "X-Quicksilver-Dashboard"

//go:embed page.html app.js style.css
var assets embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"add": func(a, b int) int { return a + b },
	"iter": func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	},
	"seq": seqNode,
}).ParseFS(assets, "page.html"))

// Handler serves the page at its root, so mount it under a prefix with
// http.StripPrefix:
//
//	r.Mount("/dashboard", http.StripPrefix("/dashboard", d.Handler()))
//
// Routes: GET / (the page), GET /events (the server-sent events, one
// "snapshot" event per sample), GET /snapshot (the newest as JSON),
// POST /demo/crash/{id} and /demo/restart/{id} (with Config.Demo only,
// and the DemoHeader).
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.servePage)
	mux.HandleFunc("GET /events", d.serveEvents)
	mux.HandleFunc("GET /snapshot", d.serveSnapshot)
	static := http.FileServerFS(assets)
	mux.Handle("GET /app.js", static)
	mux.Handle("GET /style.css", static)
	mux.HandleFunc("POST /demo/{action}/{id}", d.serveDemo)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" { // the prefix without its slash: the page's relative links need it
			p, _, _ := strings.Cut(r.RequestURI, "?")
			http.Redirect(w, r, path.Base(p)+"/", http.StatusFound)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (d *Dashboard) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := page.Execute(w, d.Latest()); err != nil {
		d.log.Warn("dashboard: rendering the page", "err", err)
	}
}

func (d *Dashboard) serveSnapshot(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(d.hub.latest())
}

func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	s, ok := d.hub.join()
	if !ok {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "dashboard: closed, or too many open streams", http.StatusServiceUnavailable)
		return
	}
	defer d.hub.leave(s)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy must not hold the events back
	w.WriteHeader(http.StatusOK)
	// The server's WriteTimeout would end the stream: each write moves the
	// deadline instead, so a browser that stops reading is still cut off.
	write := func(b ...[]byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(2*d.cfg.KeepAlive + d.cfg.Interval))
		for _, p := range b {
			if _, err := w.Write(p); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n\n")) {
		return
	}
	idle := time.NewTimer(d.cfg.KeepAlive)
	defer idle.Stop()
	for {
		var ok bool
		select {
		case data := <-s.ch:
			ok = write([]byte("event: snapshot\ndata: "), data, []byte("\n\n"))
		case <-idle.C:
			ok = write([]byte(": keep-alive\n\n"))
		case <-s.done:
			return
		case <-r.Context().Done():
			return
		}
		if !ok {
			return
		}
		idle.Reset(d.cfg.KeepAlive)
	}
}

func (d *Dashboard) serveDemo(w http.ResponseWriter, r *http.Request) {
	demo := d.cfg.Demo
	if demo == nil {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get(DemoHeader) != "1" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the demo's buttons need the header " + DemoHeader + ": 1"})
		return
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad node id " + strconv.Quote(r.PathValue("id"))})
		return
	}
	var do func(uint64) error
	switch r.PathValue("action") {
	case "crash":
		do = demo.Crash
	case "restart":
		do = demo.Restart
	default:
		http.NotFound(w, r)
		return
	}
	if err := do(id); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, node.ErrDemo) {
			status = http.StatusConflict
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	d.log.Info("dashboard: demo action", "action", r.PathValue("action"), "node", id)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "down": demo.Down()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
