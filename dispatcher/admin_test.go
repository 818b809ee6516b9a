package dispatcher_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// The admin API: the token guards it, every route answers, bad input is
// a 400 that names the problem and changes nothing (the map's epoch and
// the history stay), and good changes move the map.
func TestAdmin(t *testing.T) {
	c := rapstest.New(t, 4)
	a := newFront(t, c, 100, nil)
	off := newFront(t, c, 101, func(cfg *dispatcher.Config) { cfg.AdminToken = "" })
	a.waitMap(c)

	t.Run("auth", func(t *testing.T) {
		a, off := a.with(t), off.with(t)
		for _, path := range []string{"/v1/admin/members", "/v1/admin/map", "/v1/admin/nope"} {
			a.want(a.do("GET", path), 401, "unauthorized")
			r := a.want(a.do("GET", path, nil, "Authorization", "Bearer wrong"), 401, "unauthorized")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			a.want(a.do("GET", path, nil, "Authorization", adminToken), 401, "unauthorized") // no "Bearer "
			off.want(off.do("GET", path, nil, admin()), 404, "admin_disabled")
		}
		a.want(a.do("POST", "/v1/admin/drain", `{"node":4}`, "Authorization", "Bearer wrong"), 401, "unauthorized")
		a.want(a.do("GET", "/v1/admin/nope", nil, admin()), 404, "unknown_route")
		a.want(a.do("DELETE", "/v1/admin/members", nil, admin()), 405, "method_not_allowed")
	})

	epoch := func() uint64 { return a.fe.Map().Epoch }
	histLen := func(t *testing.T) int {
		r := a.with(t).want(a.with(t).do("GET", "/v1/admin/history?limit=10000", nil, admin()), 200, "")
		return len(r.json(t)["changes"].([]any))
	}

	t.Run("reads", func(t *testing.T) {
		a := a.with(t)
		m := a.want(a.do("GET", "/v1/admin/members", nil, admin()), 200, "").json(t)
		ms := m["members"].([]any)
		if len(ms) != 4 {
			t.Fatalf("members: %v", m)
		}
		for _, x := range ms {
			mm := x.(map[string]any)
			if mm["state"] != "active" || mm["zone"] == "" || mm["epoch"] == 0.0 {
				t.Fatalf("member: %v", mm)
			}
		}
		// Config.Members, when given, is what the route shows.
		g := newFront(t, c, 102, func(cfg *dispatcher.Config) {
			cfg.Members = func() []dispatcher.Member {
				return []dispatcher.Member{{ID: 1, Addr: "10.0.0.1:7000", State: "alive", Zone: "z1", Load: 2.5, Epoch: 9, Role: "mgmt"}}
			}
		})
		gm := g.want(g.do("GET", "/v1/admin/members", nil, admin()), 200, "").json(t)["members"].([]any)
		if len(gm) != 1 || gm[0].(map[string]any)["load"] != 2.5 || gm[0].(map[string]any)["role"] != "mgmt" {
			t.Fatalf("members from Config.Members: %v", gm)
		}
		mp := a.want(a.do("GET", "/v1/admin/map", nil, admin()), 200, "").json(t)
		if mp["epoch"].(float64) != float64(epoch()) {
			t.Fatalf("admin map epoch %v, front end's %d", mp["epoch"], epoch())
		}
		h := a.want(a.do("GET", "/v1/admin/history?since=0&limit=3", nil, admin()), 200, "").json(t)
		if ch := h["changes"].([]any); len(ch) != 3 || ch[0].(map[string]any)["epoch"] == nil {
			t.Fatalf("history: %v", h)
		}
		mv := a.want(a.do("GET", "/v1/admin/moves", nil, admin()), 200, "").json(t)
		if mv["moves"] == nil || mv["recent"] == nil {
			t.Fatalf("moves: %v", mv)
		}
		tr := a.want(a.do("GET", "/v1/admin/trace?service=kv&key=user42", nil, admin()), 200, "").json(t)
		if tr["partition"] == nil || tr["group"] == nil || len(tr["clones"].([]any)) != 3 || !strings.Contains(tr["reason"].(string), "node") {
			t.Fatalf("trace: %v", tr)
		}
		a.want(a.do("GET", "/v1/admin/trace?service=kv&key_base64=AAE=", nil, admin()), 200, "")
		a.want(a.do("GET", "/v1/admin/trace?service=nope&key=k", nil, admin()), 404, "unknown_service")
		a.want(a.do("GET", "/v1/admin/trace?service=kv", nil, admin()), 400, "bad_key")
		a.want(a.do("GET", "/v1/admin/trace?key=k", nil, admin()), 400, "bad_param")
		a.want(a.do("GET", "/v1/admin/trace?service=kv&key_base64=@@", nil, admin()), 400, "bad_base64")
		a.want(a.do("GET", "/v1/admin/history?since=-1", nil, admin()), 400, "bad_param")
		a.want(a.do("GET", "/v1/admin/history?limit=99999999", nil, admin()), 400, "bad_param")
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		a := a.with(t)
		m := a.fe.Map()
		kvParts, err := m.ServicePartitions("kv") // not the management group's
		if err != nil {
			t.Fatal(err)
		}
		p0 := kvParts[0]
		holder := uint64(p0.Clones[0].Node)
		var nonHolder uint64
		for _, n := range m.Nodes {
			if _, ok := p0.Holds(n.ID); !ok {
				nonHolder = uint64(n.ID)
			}
		}
		e0, h0 := epoch(), histLen(t)
		cases := []struct {
			name, path string
			body       any
			status     int
			code       string
		}{
			{"drain: unknown node", "/v1/admin/drain", `{"node":99}`, 400, "unknown_node"},
			{"drain: no node", "/v1/admin/drain", `{}`, 400, "bad_node"},
			{"drain: bad json", "/v1/admin/drain", `{"node":"four"}`, 400, "bad_json"},
			{"drain: unknown field", "/v1/admin/drain", `{"node":4,"force":true}`, 400, "bad_json"},
			{"move: unknown service", "/v1/admin/move", map[string]any{"service": "nope", "partition": 0, "from": holder, "to": nonHolder}, 400, "unknown_service"},
			{"move: no partition", "/v1/admin/move", map[string]any{"service": "kv", "from": holder, "to": nonHolder}, 400, "unknown_partition"},
			{"move: partition out of range", "/v1/admin/move", map[string]any{"service": "kv", "partition": 99, "from": holder, "to": nonHolder}, 400, "unknown_partition"},
			{"move: from a non-holder", "/v1/admin/move", map[string]any{"service": "kv", "partition": 0, "from": nonHolder, "to": holder}, 400, "invalid_move"},
			{"move: to an unknown node", "/v1/admin/move", map[string]any{"service": "kv", "partition": 0, "from": holder, "to": 77}, 400, "unknown_node"},
			{"move: to a holder", "/v1/admin/move", map[string]any{"service": "kv", "partition": 0, "from": holder, "to": uint64(p0.Clones[1].Node)}, 400, "invalid_move"},
			{"clones: zero", "/v1/admin/clones", `{"service":"kv","clones":0}`, 400, "bad_clones"},
			{"clones: missing", "/v1/admin/clones", `{"service":"kv"}`, 400, "bad_clones"},
			{"clones: too many", "/v1/admin/clones", `{"service":"kv","clones":99}`, 400, "bad_clones"},
			{"clones: more than nodes", "/v1/admin/clones", `{"service":"kv","clones":5}`, 400, "too_few_nodes"},
			{"clones: unknown service", "/v1/admin/clones", `{"service":"nope","clones":2}`, 400, "unknown_service"},
			{"clones: no service", "/v1/admin/clones", `{"clones":2}`, 400, "bad_service"},
		}
		for _, tc := range cases {
			r := a.want(a.do("POST", tc.path, tc.body, admin()), tc.status, tc.code)
			t.Logf("%s: %s", tc.name, r.message(t))
		}
		if e, h := epoch(), histLen(t); e != e0 || h != h0 {
			t.Fatalf("refused changes moved the map from epoch %d to %d, history %d → %d", e0, e, h0, h)
		}
		for _, id := range c.Live() {
			if e := c.Node(id).Map().Epoch; e != e0 {
				t.Fatalf("node %d at epoch %d after refused changes, not %d", id, e, e0)
			}
		}
	})

	t.Run("changes", func(t *testing.T) {
		a := a.with(t)
		m := a.fe.Map()
		kvParts, err := m.ServicePartitions("kv") // not the management group's
		if err != nil {
			t.Fatal(err)
		}
		p0 := kvParts[0]
		from := uint64(p0.Clones[1].Node)
		var to uint64
		for _, n := range m.Nodes {
			if _, ok := p0.Holds(n.ID); !ok {
				to = uint64(n.ID)
			}
		}
		e0 := epoch()
		r := a.want(a.do("POST", "/v1/admin/move", map[string]any{"service": "kv", "partition": 0, "from": from, "to": to}, admin()), 200, "").json(t)
		if r["epoch"].(float64) <= float64(e0) {
			t.Fatalf("move answered epoch %v after %d", r["epoch"], e0)
		}
		// The move shows (with its reason) until the placer finishes it.
		seen := false
		c.WaitFor("the move done", 60*time.Second, func() bool {
			mv := a.do("GET", "/v1/admin/moves", nil, admin()).json(t)
			for _, x := range mv["moves"].([]any) {
				xm := x.(map[string]any)
				if p := xm["partition"].(map[string]any); p["id"] == 0.0 && p["service"] == "kv" {
					if !strings.Contains(fmt.Sprint(xm["reason"]), "move") || xm["progress"] == "" {
						t.Fatalf("move without reason or progress: %v", xm)
					}
					seen = true
				}
			}
			p, _ := a.fe.Map().Partition(partitionmap.PartRef{Service: "kv", ID: 0})
			_, onTo := p.Holds(partitionmap.NodeID(to))
			_, onFrom := p.Holds(partitionmap.NodeID(from))
			_, learning := p.Learner()
			return onTo && !onFrom && !learning
		})
		if !seen {
			t.Log("the move finished before /moves was read")
		}
		a.want(a.do("POST", "/v1/admin/clones", `{"service":"kv","clones":2}`, admin()), 200, "")
		c.WaitFor("two clones per partition", 60*time.Second, func() bool {
			for _, p := range a.fe.Map().Partitions {
				if p.Service == "kv" && len(p.Clones) != 2 {
					return false
				}
			}
			return true
		})
		a.want(a.do("POST", "/v1/admin/drain", `{"node":4}`, admin()), 200, "")
		c.WaitFor("node 4 drained", 60*time.Second, func() bool {
			m := a.fe.Map()
			for _, p := range m.Partitions {
				if _, ok := p.Holds(4); ok {
					return false
				}
			}
			return true
		})
		mem := a.want(a.do("GET", "/v1/admin/members", nil, admin()), 200, "").json(t)
		for _, x := range mem["members"].([]any) {
			if xm := x.(map[string]any); xm["id"] == 4.0 && xm["state"] != "draining" {
				t.Fatalf("node 4 after the drain: %v", xm)
			}
		}
		h := a.want(a.do("GET", fmt.Sprintf("/v1/admin/history?since=%d", e0), nil, admin()), 200, "").json(t)
		text := fmt.Sprint(h["changes"])
		for _, w := range []string{"move kv/0", "2 clones", "drain node 4"} {
			if !strings.Contains(text, w) {
				t.Fatalf("history since epoch %d lacks %q: %s", e0, w, text)
			}
		}
		// Data still served.
		a.want(a.do("PUT", "/v1/kv/after-admin", "ok"), 200, "")
		if g := a.want(a.do("GET", "/v1/kv/after-admin?consistency=strict"), 200, ""); string(g.body) != "ok" {
			t.Fatalf("read after admin changes: %q", g.body)
		}
	})
}
