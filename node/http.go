package node

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/quicksilver-go/quicksilver/internal/metrics"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Routes is the node's HTTP API: the dispatcher (rapsmode.go:
// apiRoutes), the same front door as qs-frontend's, with GET /status.
func (n *Node) Routes() (http.Handler, error) { return n.apiRoutes() }

// adminRoutes is the admin listener's: Go's profiles (never on the API
// listener) and the node's status.
func (n *Node) AdminRoutes() http.Handler {
	return ops.AdminMux(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /status", n.handleStatus)
		mux.Handle("/metrics", metrics.Handler(n.reg))
	})
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
// group included).
func (n *Node) groupIDs() []replica.GroupID { return n.host.Groups() }

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

// ready: this node can serve what it hosts (raps.Node.Ready), and it is
// not draining.
func (n *Node) ready() error {
	if n.draining.Load() {
		return errors.New("draining: shutting down")
	}
	return n.raps.Ready()
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
