package node

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// DemoRoutes mounts the demo's admin calls on r (a program mounts them
// under /demo): GET /nodes lists the nodes and which are down, POST
// /crash/{id} crashes one, POST /restart/{id} brings it back. The POSTs
// need Authorization: Bearer token: even a demo should not let any page
// visitor stop nodes.
func DemoRoutes(r chi.Router, ctl *DemoControl, token string) {
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Header.Get("Authorization") != "Bearer "+token {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the demo's admin calls need Authorization: Bearer " + token})
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	r.Get("/nodes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"nodes": ctl.Nodes(), "down": ctl.Down()})
	})
	do := func(f func(uint64) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := strconv.ParseUint(chi.URLParam(r, "id"), 10, 64)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad node id " + strconv.Quote(chi.URLParam(r, "id"))})
				return
			}
			if err := f(id); err != nil {
				status := http.StatusInternalServerError
				if errors.Is(err, ErrDemo) {
					status = http.StatusConflict
				}
				writeJSON(w, status, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"nodes": ctl.Nodes(), "down": ctl.Down()})
		}
	}
	r.Post("/crash/{id}", do(ctl.Crash))
	r.Post("/restart/{id}", do(ctl.Restart))
}
