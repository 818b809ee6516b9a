package dispatcher

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
)

// The admin API, under /v1/admin/, behind Authorization: Bearer
// <AdminToken>. Every change is checked here against the current map
// first (a bad node, service or partition is a 400 naming it, and nothing
// is proposed), then proposed to the management group, which checks it
// again as a compare-and-set on the epoch.

func (x *Dispatcher) adminRoutes(r chi.Router) {
	r.Use(x.adminAuth)
	r.Get("/members", x.adminMembers)
	r.Get("/map", x.getMap)
	r.Get("/history", x.adminHistory)
	r.Get("/moves", x.adminMoves)
	r.Get("/trace", x.adminTrace)
	r.Post("/drain", x.adminDrain)
	r.Post("/move", x.adminMove)
	r.Post("/clones", x.adminClones)
	// Unknown admin routes answer after the token check, so they reveal
	// nothing to a caller without it.
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, "unknown_route", "no admin route %s %q", r.Method, r.URL.Path))
	})
}

func (x *Dispatcher) adminAuth(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(x.cfg.AdminToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if x.cfg.AdminToken == "" {
			writeError(w, newError(http.StatusNotFound, "admin_disabled", "the admin API is disabled (no admin token configured)"))
			return
		}
		h := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="quicksilver admin"`)
			writeError(w, newError(http.StatusUnauthorized, "unauthorized", "the admin API needs Authorization: Bearer <admin token>"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func nodeState(s partitionmap.NodeState) string {
	switch s {
	case partitionmap.NodeActive:
		return "active"
	case partitionmap.NodeDraining:
		return "draining"
	case partitionmap.NodeDead:
		return "dead"
	}
	return "unknown"
}

func (x *Dispatcher) members() []Member {
	if x.cfg.Members != nil {
		return x.cfg.Members()
	}
	m := x.rt.Map()
	if m == nil {
		return []Member{}
	}
	out := make([]Member, 0, len(m.Nodes))
	for _, n := range m.Nodes {
		clones := 0
		for i := range m.Partitions {
			if _, ok := m.Partitions[i].Holds(n.ID); ok {
				clones++
			}
		}
		out = append(out, Member{ID: uint64(n.ID), Addr: n.Addr, State: nodeState(n.State), Zone: n.Zone,
			Epoch: m.Epoch, Role: "clones:" + strconv.Itoa(clones)})
	}
	return out
}

func (x *Dispatcher) adminMembers(w http.ResponseWriter, _ *http.Request) {
	var epoch uint64
	if m := x.rt.Map(); m != nil {
		epoch = m.Epoch
	}
	writeJSON(w, http.StatusOK, map[string]any{"epoch": epoch, "members": x.members()})
}

// uintParam reads an optional non-negative integer query parameter.
func uintParam(r *http.Request, name string, def, maxv uint64) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > maxv {
		return 0, badRequest("bad_param", "%s=%q: want an integer from 0 to %d", name, truncate(s, 32), maxv)
	}
	return v, nil
}

func (x *Dispatcher) adminHistory(w http.ResponseWriter, r *http.Request) {
	since, err := uintParam(r, "since", 0, 1<<62)
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	limit, err := uintParam(r, "limit", 100, 10000)
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	ctx, cancel := x.ctx(r)
	defer cancel()
	h, err := x.rt.History(ctx, since, int(limit))
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	if h == nil {
		h = []mgmt.Change{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": h})
}

func (x *Dispatcher) adminMoves(w http.ResponseWriter, r *http.Request) {
	m := x.rt.Map()
	if m == nil {
		x.fail(w, r, raps.ErrNoMap, read)
		return
	}
	ctx, cancel := x.ctx(r)
	defer cancel()
	hist, err := x.rt.History(ctx, m.Epoch-min(m.Epoch, 64), 0)
	if err != nil {
		hist = nil // the moves stand without their reasons
	}
	recent := hist
	if len(recent) > 10 {
		recent = recent[len(recent)-10:]
	}
	if recent == nil {
		recent = []mgmt.Change{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"epoch": m.Epoch, "moves": MovesOf(m, hist), "recent": recent})
}

func (x *Dispatcher) adminTrace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	svc := q.Get("service")
	if svc == "" {
		x.fail(w, r, badRequest("bad_param", "service= is required"), read)
		return
	}
	key := []byte(q.Get("key"))
	if b := q.Get("key_base64"); b != "" {
		if len(key) > 0 {
			x.fail(w, r, badRequest("bad_param", "give key or key_base64, not both"), read)
			return
		}
		var err error
		if key, err = base64.StdEncoding.DecodeString(b); err != nil {
			x.fail(w, r, badRequest("bad_base64", "key_base64 is not standard base64: %v", err), read)
			return
		}
	}
	if err := x.checkKey(key, "key"); err != nil {
		x.fail(w, r, err, read)
		return
	}
	tr, err := x.rt.Trace(svc, key)
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	writeJSON(w, http.StatusOK, tr)
}

// adminChange runs a checked change and answers the map's epoch after it.
func (x *Dispatcher) adminChange(w http.ResponseWriter, r *http.Request, check func(*partitionmap.Map) error, do func(context.Context) error) {
	m := x.rt.Map()
	if m == nil {
		x.fail(w, r, raps.ErrNoMap, read)
		return
	}
	if err := check(m); err != nil {
		x.fail(w, r, err, read)
		return
	}
	ctx, cancel := x.ctx(r)
	defer cancel()
	if err := do(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// The change may have been proposed and applied.
			err = fmt.Errorf("%w: %w", racs.ErrOutcomeUnknown, err)
		}
		x.fail(w, r, err, write)
		return
	}
	var epoch uint64
	if m := x.rt.Map(); m != nil {
		epoch = m.Epoch
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "epoch": epoch})
}

func checkNode(m *partitionmap.Map, field string, id uint64) error {
	if id == 0 {
		return badRequest("bad_node", "%s is required (a node id, not 0)", field)
	}
	if _, err := m.Node(partitionmap.NodeID(id)); err != nil {
		return badRequest("unknown_node", "%s: no node %d in the map (epoch %d)", field, id, m.Epoch)
	}
	return nil
}

func (x *Dispatcher) adminDrain(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Node uint64 `json:"node"`
	}
	if err := x.decodeJSON(w, r, &req); err != nil {
		x.fail(w, r, err, read)
		return
	}
	x.adminChange(w, r, func(m *partitionmap.Map) error { return checkNode(m, "node", req.Node) },
		func(ctx context.Context) error { return x.rt.Drain(ctx, partitionmap.NodeID(req.Node)) })
}

func checkService(m *partitionmap.Map, name string) (*partitionmap.Service, error) {
	if name == "" {
		return nil, badRequest("bad_service", "service is required")
	}
	s, err := m.Service(name)
	if err != nil {
		return nil, badRequest("unknown_service", "no service %q in the map (epoch %d)", truncate(name, 80), m.Epoch)
	}
	return s, nil
}

func (x *Dispatcher) adminMove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Service   string `json:"service"`
		Partition *int   `json:"partition"`
		From      uint64 `json:"from"`
		To        uint64 `json:"to"`
	}
	if err := x.decodeJSON(w, r, &req); err != nil {
		x.fail(w, r, err, read)
		return
	}
	check := func(m *partitionmap.Map) error {
		s, err := checkService(m, req.Service)
		if err != nil {
			return err
		}
		if req.Partition == nil || *req.Partition < 0 || *req.Partition >= s.Partitions {
			return badRequest("unknown_partition", "partition must be one of 0..%d of %q", s.Partitions-1, s.Name)
		}
		if err := checkNode(m, "from", req.From); err != nil {
			return err
		}
		if err := checkNode(m, "to", req.To); err != nil {
			return err
		}
		p, err := m.Partition(partitionmap.PartRef{Service: req.Service, ID: *req.Partition})
		if err != nil {
			return badRequest("unknown_partition", "%v", err)
		}
		if c, ok := p.Holds(partitionmap.NodeID(req.From)); !ok || c.Role != partitionmap.Voter {
			return badRequest("invalid_move", "from: node %d holds no voter of %v (its voters: %v)", req.From, p.Ref(), voterIDs(p))
		}
		if _, ok := p.Holds(partitionmap.NodeID(req.To)); ok {
			return badRequest("invalid_move", "to: node %d already holds a clone of %v", req.To, p.Ref())
		}
		return nil
	}
	x.adminChange(w, r, check, func(ctx context.Context) error {
		return x.rt.MoveClone(ctx, partitionmap.PartRef{Service: req.Service, ID: *req.Partition},
			partitionmap.NodeID(req.From), partitionmap.NodeID(req.To))
	})
}

func voterIDs(p *partitionmap.Partition) []partitionmap.NodeID {
	var out []partitionmap.NodeID
	for _, v := range p.Voters() {
		out = append(out, v.Node)
	}
	return slices.Clip(out)
}

func (x *Dispatcher) adminClones(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Service string `json:"service"`
		Clones  *int   `json:"clones"`
	}
	if err := x.decodeJSON(w, r, &req); err != nil {
		x.fail(w, r, err, read)
		return
	}
	check := func(m *partitionmap.Map) error {
		if _, err := checkService(m, req.Service); err != nil {
			return err
		}
		if req.Clones == nil || *req.Clones < 1 || *req.Clones > partitionmap.MaxClones {
			return badRequest("bad_clones", "clones must be from 1 to %d", partitionmap.MaxClones)
		}
		if n := len(m.NodesOffering(req.Service)); *req.Clones > n {
			return badRequest("too_few_nodes", "%d clones asked, but only %d nodes offer %q", *req.Clones, n, req.Service)
		}
		return nil
	}
	x.adminChange(w, r, check, func(ctx context.Context) error { return x.rt.SetClones(ctx, req.Service, *req.Clones) })
}
