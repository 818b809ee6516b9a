package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/dashboard"
	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// clusterConfig is a dashboard on an in-process cluster: members from
// the live set, the front end's map and counters, the groups from the
// nodes' hosts.
func clusterConfig(c *rapstest.Cluster, fe *raps.Client) dashboard.Config {
	cfg := dashboard.DefaultConfig()
	cfg.Interval = 100 * time.Millisecond
	cfg.Members = func() []dispatcher.Member {
		var out []dispatcher.Member
		for _, id := range c.Live() {
			out = append(out, dispatcher.Member{ID: uint64(id), State: "alive", Role: "node"})
		}
		return out
	}
	cfg.Map, cfg.History, cfg.Stats = fe.Map, fe.History, fe.ServiceStats
	cfg.Groups = func(context.Context) []dashboard.GroupView {
		var out []dashboard.GroupView
		for _, id := range c.Live() {
			h := c.Host(id)
			for _, g := range h.Groups() {
				gr, err := h.Group(g)
				if err != nil {
					continue
				}
				in, v := gr.Info(), gr.View()
				gv := dashboard.GroupView{Node: uint64(id), Group: uint64(g), View: in.View, Sequencer: in.Sequencer.String(),
					Role: in.Role.String(), Status: in.Status.String(), Applied: gr.Applied().Seq}
				for _, m := range v.Members {
					gv.Members = append(gv.Members, uint64(m.ID.Node))
				}
				out = append(out, gv)
			}
		}
		return out
	}
	return cfg
}

// readSnapshot reads the stream's events until one satisfies ok.
func readSnapshot(t *testing.T, body io.Reader, ok func(dashboard.Snapshot) bool) dashboard.Snapshot {
	t.Helper()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "snapshot":
			var s dashboard.Snapshot
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &s); err != nil {
				t.Fatalf("a snapshot that is not JSON: %v", err)
			}
			if ok(s) {
				return s
			}
		}
	}
	t.Fatalf("the stream ended before the snapshot expected: %v", sc.Err())
	return dashboard.Snapshot{}
}

// The page renders the members and the grid, and the event stream
// delivers snapshots with the members, the grid and the kv service's
// calls.
func TestPageAndEvents(t *testing.T) {
	c := rapstest.New(t, 3)
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := fe.Update(ctx, "kv", []byte("a"), kv.Encode(kv.OpPut, "a", []byte("1")), raps.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := dashboard.New(clusterConfig(c, fe))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(http.StripPrefix("/dashboard", d.Handler()))
	defer srv.Close()

	res, err := http.Get(srv.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Request.URL.Path != "/dashboard/" || res.StatusCode != 200 {
		t.Fatalf("GET /dashboard: %d at %s", res.StatusCode, res.Request.URL.Path)
	}
	for _, want := range []string{`data-node="1"`, `data-node="3"`, `id="grid"`, `data-group=`, "kv/0", `src="app.js"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for _, asset := range []string{"app.js", "style.css"} {
		if r, err := http.Get(srv.URL + "/dashboard/" + asset); err != nil || r.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", asset, r, err)
		} else {
			r.Body.Close()
		}
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/dashboard/events", nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	snap := readSnapshot(t, res.Body, func(s dashboard.Snapshot) bool {
		return len(s.Grid) > 0 && s.Grid[0].State == "serving" && len(s.Services) > 0 && len(s.Services[0].RateSeries) > 0
	})
	if len(snap.Members) != 3 {
		t.Errorf("members %+v", snap.Members)
	}
	if len(snap.Grid) != 5 || snap.Clones != 3 { // kv's 4 and the management group's
		t.Errorf("grid of %d partitions × %d clones, want 5 × 3 (kv's 4 and the management group)", len(snap.Grid), snap.Clones)
	}
	for _, g := range snap.Grid {
		if g.View == 0 || g.Sequencer == "" || len(g.Cells) != 3 || !g.Cells[0].Reported {
			t.Errorf("row %+v", g)
		}
	}
	if snap.Services[0].Name != "kv" {
		t.Errorf("services %+v", snap.Services)
	}
}

// The demo's buttons POST with the custom header; without it, 403 and
// nothing crashes.
func TestDemoButtonsNeedTheHeader(t *testing.T) {
	var crashed atomic.Uint64
	cfg := dashboard.DefaultConfig()
	cfg.Members = func() []dispatcher.Member { return nil }
	cfg.Map = func() *partitionmap.Map { return nil }
	cfg.Demo = &dashboard.Demo{Crash: func(id uint64) error { crashed.Store(id); return nil },
		Restart: func(uint64) error { return nil }, Down: func() []uint64 { return []uint64{crashed.Load()} }}
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	post := func(path string, header bool) int {
		req, _ := http.NewRequest("POST", srv.URL+path, nil)
		if header {
			req.Header.Set(dashboard.DemoHeader, "1")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("/demo/crash/2", false); code != http.StatusForbidden || crashed.Load() != 0 {
		t.Fatalf("without the header: %d, crashed %d", code, crashed.Load())
	}
	if code := post("/demo/crash/x", true); code != http.StatusBadRequest {
		t.Errorf("a bad id: %d", code)
	}
	if code := post("/demo/crash/2", true); code != http.StatusOK || crashed.Load() != 2 {
		t.Errorf("with the header: %d, crashed %d", code, crashed.Load())
	}
}

// An idle stream gets keep-alive comments; Close ends it.
func TestKeepAliveAndClose(t *testing.T) {
	cfg := dashboard.DefaultConfig()
	cfg.Members = func() []dispatcher.Member { return nil }
	cfg.Map = func() *partitionmap.Map { return nil }
	cfg.Interval, cfg.KeepAlive = time.Hour, 20*time.Millisecond // one sample (New's), then idle
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var sawSnapshot, sawKeepAlive bool
	for sc.Scan() && !(sawSnapshot && sawKeepAlive) {
		sawSnapshot = sawSnapshot || sc.Text() == "event: snapshot"
		sawKeepAlive = sawKeepAlive || sc.Text() == ": keep-alive"
	}
	if !sawSnapshot || !sawKeepAlive {
		t.Fatalf("snapshot %v, keep-alive %v: %v", sawSnapshot, sawKeepAlive, sc.Err())
	}
	d.Close()
	for sc.Scan() { // the stream ends
	}
	if res, err := http.Get(srv.URL + "/events"); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: %v %v", res, err)
	}
}
