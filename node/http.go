package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/internal/metrics"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// The node's HTTP API. In the partitioned mode it is the dispatcher
// (rapsmode.go: apiRoutes), the same front door as qs-frontend's, with
// GET /status added. In the fixed-groups mode (the TCP benchmark's) it is
// the small surface below: a kv per group, the status, the probes; its
// errors map to status codes in one place (writeRacsError).

const maxBody = 1 << 20

func (n *Node) Routes() (http.Handler, error) {
	if n.cfg.rapsMode() {
		return n.apiRoutes()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/groups/{g}/kv/{key}", n.handlePut)
	mux.HandleFunc("GET /v1/groups/{g}/kv/{key}", n.handleGet)
	mux.HandleFunc("GET /status", n.handleStatus)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", n.handleReady)
	mux.Handle("GET /metrics", metrics.Handler(n.reg))
	return mux, nil
}

// adminRoutes is the admin listener's: Go's profiles (never on the API
// listener) and the node's status.
func (n *Node) AdminRoutes() http.Handler {
	return ops.AdminMux(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /status", n.handleStatus)
		mux.Handle("/metrics", metrics.Handler(n.reg))
	})
}

func (n *Node) group(w http.ResponseWriter, r *http.Request) (*racs.Group, bool) {
	id, err := strconv.ParseUint(r.PathValue("g"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_group", "group must be a number")
		return nil, false
	}
	g, err := n.host.Group(replica.GroupID(id))
	if err != nil {
		writeError(w, http.StatusNotFound, "unknown_group", err.Error())
		return nil, false
	}
	return g, true
}

func (n *Node) handlePut(w http.ResponseWriter, r *http.Request) {
	g, ok := n.group(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	res, err := g.Submit(ctx, kv.Encode(kv.OpPut, r.PathValue("key"), body), r.Header.Get("Idempotency-Key"))
	if err != nil {
		writeRacsError(w, err)
		return
	}
	w.Header().Set("QS-Token", formatToken(res.Token))
	w.Header().Set("QS-View", strconv.FormatUint(res.View, 10))
	writeJSON(w, http.StatusOK, map[string]any{"token": formatToken(res.Token), "view": res.View})
}

func (n *Node) handleGet(w http.ResponseWriter, r *http.Request) {
	g, ok := n.group(w, r)
	if !ok {
		return
	}
	level, tok, ok := parseRead(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	out, at, err := g.Query(ctx, kv.Encode(kv.OpGet, r.PathValue("key")), level, tok)
	if err != nil {
		writeRacsError(w, err)
		return
	}
	w.Header().Set("QS-Token", formatToken(at))
	if len(out) == 0 || out[0] != kv.StatusOK {
		writeError(w, http.StatusNotFound, "not_found", "no such key")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(out[1:])
}

// GroupStatus is one hosted group as this node's clone sees it: a line
// of /status, and what a dashboard samples.
type GroupStatus struct {
	Group     uint64 `json:"group"`
	Status    string `json:"status"`
	View      uint64 `json:"view"`
	Role      string `json:"role"`
	Sequencer string `json:"sequencer"`
	Self      string `json:"self"`
	Applied   uint64 `json:"applied"`
	Restoring bool   `json:"restoring"`
	// WaitingFor: the voters a view change here still waits for (after a
	// total outage: who must come back).
	WaitingFor []string `json:"waiting_for,omitempty"`
	// ViewMembers: the nodes of the installed view, in rank order.
	ViewMembers []uint64 `json:"view_members,omitempty"`
}

// groupIDs: the hosted groups (what the map placed here, the management
// group included), or the fixed groups 1..-groups.
func (n *Node) groupIDs() []replica.GroupID {
	if n.cfg.rapsMode() {
		return n.host.Groups()
	}
	var ids []replica.GroupID
	for i := 1; i <= n.cfg.Groups; i++ {
		ids = append(ids, replica.GroupID(i))
	}
	return ids
}

// GroupStatus lists the groups this node hosts, each as its clone sees
// it now.
func (n *Node) GroupStatus() []GroupStatus {
	var out []GroupStatus
	for _, i := range n.groupIDs() {
		g, err := n.host.Group(i)
		if err != nil {
			continue
		}
		in := g.Info()
		st := GroupStatus{Group: uint64(i), Status: in.Status.String(), View: in.View, Role: in.Role.String(),
			Sequencer: in.Sequencer.String(), Self: in.Self.String(), Applied: g.Applied().Seq, Restoring: in.Restoring}
		for _, w := range in.WaitingFor {
			st.WaitingFor = append(st.WaitingFor, w.String())
		}
		for _, m := range g.View().Members {
			st.ViewMembers = append(st.ViewMembers, uint64(m.ID.Node))
		}
		out = append(out, st)
	}
	return out
}

func (n *Node) handleStatus(w http.ResponseWriter, _ *http.Request) {
	out := n.GroupStatus()
	resp := map[string]any{"node": n.cfg.ID, "groups": out, "members": n.memberList()}
	if n.raps != nil {
		if m := n.raps.Map(); m != nil {
			resp["epoch"] = m.Epoch
		}
	}
	if n.store != nil {
		resp["store"] = n.storeStatus()
	}
	writeJSON(w, http.StatusOK, resp)
}

// storeStatus is what /status says of the durable store: its files, its
// fsyncs and what they carried, its checkpoints, and its failure if any.
func (n *Node) storeStatus() map[string]any {
	st := n.store.Stats()
	bp, wd := n.store.Paths()
	out := map[string]any{
		"bolt": bp, "wal": wd, "fsyncs": st.Writes, "entries": st.Entries, "wal_bytes": st.Bytes,
		"sync_seconds": st.SyncTime.Seconds(), "checkpoints": st.Checkpoints, "wal_segments": st.Segments,
	}
	if st.Writes > 0 {
		out["entries_per_fsync"] = float64(st.Entries) / float64(st.Writes)
	}
	if err := n.store.Err(); err != nil {
		out["error"] = err.Error()
	}
	return out
}

func (n *Node) handleReady(w http.ResponseWriter, _ *http.Request) {
	if err := n.ready(); err != nil {
		writeError(w, http.StatusServiceUnavailable, "not_ready", err.Error())
		return
	}
	w.Write([]byte("ok\n"))
}

// ready: this node can serve what it hosts (raps.Node.Ready in the
// partitioned mode; every group serving in the fixed-groups mode), and it
// is not draining.
func (n *Node) ready() error {
	if n.draining.Load() {
		return errors.New("draining: shutting down")
	}
	if n.raps != nil {
		return n.raps.Ready()
	}
	for _, i := range n.groupIDs() {
		g, err := n.host.Group(i)
		if err != nil {
			return fmt.Errorf("group %d: %w", i, err)
		}
		if err := g.Serving(); err != nil {
			return err
		}
	}
	return nil
}

// writeRacsError maps racs errors to HTTP status codes (docs/design.md §6).
func writeRacsError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, racs.ErrOutcomeUnknown):
		writeError(w, http.StatusGatewayTimeout, "outcome_unknown", err.Error())
	case errors.Is(err, racs.ErrNotApplied), errors.Is(err, racs.ErrBusy), errors.Is(err, racs.ErrNoQuorum),
		errors.Is(err, racs.ErrStale), errors.Is(err, racs.ErrStopped):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not_applied", err.Error())
	case errors.Is(err, racs.ErrKeyReused):
		writeError(w, http.StatusUnprocessableEntity, "idempotency_key_reused", err.Error())
	case errors.Is(err, racs.ErrBadToken):
		writeError(w, http.StatusBadRequest, "bad_token", err.Error())
	case errors.Is(err, racs.ErrUnknownGroup):
		writeError(w, http.StatusNotFound, "unknown_group", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func formatToken(t racs.Token) string { return fmt.Sprintf("%d.%d", t.Incarnation, t.Seq) }

func parseToken(s string) (racs.Token, error) {
	if s == "" {
		return racs.Token{}, nil
	}
	a, b, ok := strings.Cut(s, ".")
	inc, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return racs.Token{}, fmt.Errorf("token %q is not INCARNATION.SEQ", s)
	}
	return racs.Token{Incarnation: inc, Seq: seq}, nil
}

// parseRead reads a GET's consistency level and freshness token, or
// answers 400 saying which is wrong (the fixed-groups mode).
func parseRead(w http.ResponseWriter, r *http.Request) (racs.Level, racs.Token, bool) {
	var level racs.Level
	switch c := r.URL.Query().Get("consistency"); c {
	case "", "any":
		level = racs.Any
	case "session":
		level = racs.Session
	case "strict":
		level = racs.Strict
	default:
		writeError(w, http.StatusBadRequest, "bad_consistency", fmt.Sprintf("consistency %q: want any, session or strict", c))
		return 0, racs.Token{}, false
	}
	tok, err := parseToken(r.URL.Query().Get("token"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_token", err.Error())
		return 0, racs.Token{}, false
	}
	return level, tok, true
}
