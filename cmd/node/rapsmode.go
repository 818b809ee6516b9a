package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// The partitioned mode: the node hosts what the partition map gives it.
// The built-in kv service is an ordinary raps.Service (hash-partitioned,
// 3 clones, on disk); the first node of -bootstrap defines it once enough
// nodes offer it. The node API is the service/key form: /v1/kv/{key}.

// rapsMode reports whether the node runs the partitioned mode (no
// -members: the map decides what it hosts).
func (c *config) rapsMode() bool { return len(c.Members) == 0 }

func (n *node) kvService() raps.Service {
	s := raps.KVService(n.cfg.KVPartitions)
	if n.cfg.Demo > 0 && n.cfg.Demo < s.Clones {
		s.Clones = n.cfg.Demo
	}
	if n.cfg.Durability == racs.Memory {
		s.Durability = partitionmap.Memory
	}
	return s
}

// startRaps starts the partitioned-service runtime on the host.
func (n *node) startRaps(tr racs.Transport) error {
	cfg := n.cfg
	rc := raps.DefaultConfig()
	rc.ID, rc.Cluster, rc.Host, rc.Transport = groupcomm.NodeID(cfg.ID), cfg.Cluster, n.host, tr
	rc.Addr, rc.Zone = ops.Advertised(cfg.Advertise, cfg.Transport), cfg.Zone
	rc.Services = []raps.Service{n.kvService()}
	rc.Bootstrap = cfg.Bootstrap
	rc.Seeds = cfg.Bootstrap
	rc.Live = n.liveNodes
	rc.Load = func(id groupcomm.NodeID) float64 {
		if m, ok := n.ml.Lookup(id); ok {
			return m.Load
		}
		return 0
	}
	rc.Logger = n.log
	rc.OnEpoch = n.ml.SetEpoch // gossip it: a holder of an older map notices
	n.ml.Subscribe(func(e membership.Event) {
		if e.Type == membership.EventUpdate || e.Type == membership.EventJoin {
			n.rapsMu.Lock()
			rn := n.raps
			n.rapsMu.Unlock()
			if rn != nil {
				rn.Notice(e.Member.Epoch)
			}
		}
	})
	if cfg.Durability == racs.Memory {
		rc.MgmtDurability = racs.Memory
	}
	rn, err := raps.NewNode(rc)
	if err != nil {
		return err
	}
	n.rapsMu.Lock()
	n.raps = rn
	n.rapsMu.Unlock()
	go n.gossipLoad()
	if len(cfg.Bootstrap) > 0 && cfg.Bootstrap[0] == groupcomm.NodeID(cfg.ID) {
		go n.defineBuiltins()
	}
	if len(cfg.Bootstrap) == 0 && len(cfg.Seeds) == 0 {
		n.log.Warn("not bootstrapped and no seeds: waiting for a partition map (give -bootstrap on the first nodes of a new cluster, -seeds to join one)")
	}
	return nil
}

// liveNodes: the members gossip holds alive, and this node.
func (n *node) liveNodes() []groupcomm.NodeID {
	out := []groupcomm.NodeID{groupcomm.NodeID(n.cfg.ID)}
	for _, m := range n.ml.Members() {
		if m.State == membership.StateAlive && !m.FrontEnd && m.ID != groupcomm.NodeID(n.cfg.ID) {
			out = append(out, m.ID)
		}
	}
	return out
}

// gossipLoad publishes the node's load (calls in flight) for the Routers'
// choice of clones.
func (n *node) gossipLoad() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.ml.SetLoad(n.raps.Load())
		}
	}
}

// defineBuiltins defines the kv service once the map lists enough nodes
// offering it (its clone count), unless it exists.
func (n *node) defineBuiltins() {
	svc := n.kvService()
	for {
		select {
		case <-n.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		m := n.raps.Map()
		if m == nil {
			continue
		}
		if _, err := m.Service(svc.Name); err == nil {
			return
		}
		if len(m.NodesOffering(svc.Name)) < svc.Clones {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.raps.DefineService(ctx, svc)
		cancel()
		if err == nil || errors.Is(err, partitionmap.ErrExists) {
			n.log.Info("defined the built-in kv service", "partitions", svc.Partitions, "clones", svc.Clones)
			return
		}
		n.log.Warn("defining kv failed; retrying", "err", err)
	}
}

func (n *node) rapsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /v1/kv/{key}", n.handleKVPut)
	mux.HandleFunc("DELETE /v1/kv/{key}", n.handleKVDelete)
	mux.HandleFunc("GET /v1/kv/{key}", n.handleKVGet)
	mux.HandleFunc("GET /v1/map", n.handleMap)
}

func (n *node) kvUpdate(w http.ResponseWriter, r *http.Request, op []byte) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	key := r.PathValue("key")
	res, err := n.raps.Client().Update(ctx, raps.KVServiceName, []byte(key), op, raps.UpdateOptions{IdempotencyKey: r.Header.Get("Idempotency-Key")})
	if err != nil {
		writeRapsError(w, err)
		return
	}
	setRapsHeaders(w, res)
	if len(res.Data) > 0 && res.Data[0] == kv.StatusNotFound {
		writeError(w, http.StatusNotFound, "not_found", "no such key")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": formatToken(res.Token), "partition": res.Partition.ID, "view": res.View})
}

func (n *node) handleKVPut(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
		return
	}
	n.kvUpdate(w, r, kv.Encode(kv.OpPut, r.PathValue("key"), body))
}

func (n *node) handleKVDelete(w http.ResponseWriter, r *http.Request) {
	n.kvUpdate(w, r, kv.Encode(kv.OpDelete, r.PathValue("key")))
}

func (n *node) handleKVGet(w http.ResponseWriter, r *http.Request) {
	level, tok, ok := parseRead(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	key := r.PathValue("key")
	res, err := n.raps.Client().Query(ctx, raps.KVServiceName, []byte(key), kv.Encode(kv.OpGet, key), level, tok)
	if err != nil {
		writeRapsError(w, err)
		return
	}
	setRapsHeaders(w, res)
	if len(res.Data) == 0 || res.Data[0] != kv.StatusOK {
		writeError(w, http.StatusNotFound, "not_found", "no such key")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(res.Data[1:])
}

func (n *node) handleMap(w http.ResponseWriter, _ *http.Request) {
	m := n.raps.Map()
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, "no_map", "no partition map yet")
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// parseRead reads a GET's consistency level and freshness token, or
// answers 400 saying which is wrong.
func parseRead(w http.ResponseWriter, r *http.Request) (racs.Level, racs.Token, bool) {
	var level racs.Level
	switch r.URL.Query().Get("consistency") {
	case "", "any":
		level = racs.Any
	case "session":
		level = racs.Session
	case "strict":
		level = racs.Strict
	default:
		writeError(w, http.StatusBadRequest, "bad_consistency", "consistency must be any, session or strict")
		return 0, racs.Token{}, false
	}
	tok, err := parseToken(r.URL.Query().Get("token"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_token", err.Error())
		return 0, racs.Token{}, false
	}
	return level, tok, true
}

func setRapsHeaders(w http.ResponseWriter, res raps.Result) {
	w.Header().Set("QS-Partition", strconv.Itoa(res.Partition.ID))
	w.Header().Set("QS-Token", formatToken(res.Token))
	w.Header().Set("QS-View", strconv.FormatUint(res.View, 10))
	w.Header().Set("QS-Clone", strconv.FormatUint(uint64(res.Clone), 10))
}

// writeRapsError maps the Router's errors, then racs's (writeRacsError).
func writeRapsError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, raps.ErrUnknownService):
		writeError(w, http.StatusNotFound, "unknown_service", err.Error())
	case errors.Is(err, raps.ErrBadKey):
		writeError(w, http.StatusBadRequest, "bad_key", err.Error())
	case errors.Is(err, raps.ErrNoMap), errors.Is(err, raps.ErrNotHosted):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not_applied", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "outcome_unknown", fmt.Sprintf("deadline passed: %v", err))
	default:
		writeRacsError(w, err)
	}
}
