package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicksilver-go/quicksilver/internal/browsertest"
	"github.com/quicksilver-go/quicksilver/node"
)

// pageState is what the test reads of the live page.
type pageState struct {
	Nodes   int        `json:"nodes"`
	Down    []string   `json:"down"`
	Alive   []string   `json:"alive"`
	Grid    []gridView `json:"grid"`
	Changes []string   `json:"changes"`
}

type gridView struct {
	Group string   `json:"group"`
	View  string   `json:"view"`
	State string   `json:"state"`
	Nodes []string `json:"nodes"`
}

const readPage = `(() => ({
  nodes: document.querySelectorAll('#members tbody tr[data-role="node"]').length,
  down: [...document.querySelectorAll('#members tbody tr[data-down="true"]')].map(r => r.dataset.node),
  alive: [...document.querySelectorAll('#members tbody tr[data-state="alive"]')].map(r => r.dataset.node),
  grid: [...document.querySelectorAll('#grid tbody tr')].map(r => ({group: r.dataset.group, view: r.dataset.view,
    state: r.dataset.state, nodes: [...r.querySelectorAll('td.cell')].map(c => c.dataset.node)})),
  changes: [...document.querySelectorAll('#views tbody tr')].map(r => r.textContent),
}))()`

// TestDashboardInChromium runs the demo as the first command does, in
// process, opens /dashboard/ in headless Chromium, checks the members and
// the grid, crashes node 2 with the demo's admin call and checks, without
// a reload, that the page shows it down and the views of its groups
// changing, then restarts it with the page's own button. The screenshot is kept in the test's artifact directory
// (go test -artifacts), or in $QS_ARTIFACTS.
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo cluster and a browser (-short)")
	}
	exe := browsertest.Find()
	if exe == "" {
		t.Skip(browsertest.SkipReason)
	}
	o := options{data: filepath.Join(t.TempDir(), "data"), http: freeAddr(t), products: 50, seed: 1, portBase: freePortBase(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts, closeDash := demoOptions(ctx, o)
	defer closeDash()
	infoc := make(chan node.DemoInfo, 1)
	opts.Banner = func(_ io.Writer, info node.DemoInfo) { infoc <- info }
	errc := make(chan error, 1)
	go func() { errc <- node.RunDemo(ctx, demoConfig(o), slog.New(slog.DiscardHandler), opts) }()
	var url string
	select {
	case info := <-infoc:
		url = "http://" + info.FrontEnd
	case err := <-errc:
		t.Fatalf("the demo ended before its banner: %v", err)
	case <-time.After(45 * time.Second):
		t.Fatal("the demo printed no banner within 45 s")
	}
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("the demo: %v", err)
		}
	}()

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 1000))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The first call starts the browser, for the life of its context: the
	// deadline goes on a context derived after it (chromedp.Run's rule).
	if err := chromedp.Do(bctx, chromedp.Navigate(url+"/dashboard/")); err != nil {
		t.Fatalf("opening the dashboard: %v", err)
	}
	bctx, tcancel := context.WithTimeout(bctx, 50*time.Second)
	defer tcancel()
	// poll reads the page until ok holds or the browser's deadline passes.
	poll := func(what string, ok func(pageState) bool) pageState {
		t.Helper()
		var st pageState
		for {
			var err error
			if st, err = chromedp.Run(bctx, chromedp.Evaluate[pageState](readPage)); err != nil {
				t.Fatalf("waiting for %s: %v (last seen %+v)", what, err, st)
			}
			if ok(st) {
				return st
			}
			select {
			case <-bctx.Done():
				t.Fatalf("waiting for %s: %v (last seen %+v)", what, bctx.Err(), st)
			case <-time.After(200 * time.Millisecond): // polling the page, with the deadline above
			}
		}
	}
	before := poll("3 members and the grid serving", func(s pageState) bool {
		if s.Nodes != 3 || len(s.Grid) == 0 {
			return false
		}
		for _, g := range s.Grid {
			if g.State != "serving" || g.View == "0" || g.View == "" {
				return false
			}
		}
		return true
	})
	affected := map[string]string{} // group → its view before the crash
	for _, g := range before.Grid {
		for _, n := range g.Nodes {
			if n == "2" {
				affected[g.Group] = g.View
			}
		}
	}
	if len(affected) == 0 {
		t.Fatalf("node 2 holds no clone on the page: %+v", before.Grid)
	}

	req, _ := http.NewRequest("POST", url+"/demo/crash/2", nil)
	req.Header.Set("Authorization", "Bearer demo")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /demo/crash/2: %s", res.Status)
	}
	crashedAt := time.Now()

	after := poll("node 2 down and its groups' views changed", func(s pageState) bool {
		if len(s.Down) != 1 || s.Down[0] != "2" {
			return false
		}
		for _, g := range s.Grid {
			if v, ok := affected[g.Group]; ok && (g.View == v || g.State != "serving") {
				return false
			}
		}
		return len(s.Changes) > 0
	})
	t.Logf("%d groups of node 2 changed views within %v; recent changes: %q", len(affected),
		time.Since(crashedAt).Round(100*time.Millisecond), after.Changes)

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // quality 100: a PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := browsertest.Artifact(t, "dashboard-after-crash.png", shot)
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))

	// The page's own restart button (a POST with the dashboard's header)
	// brings node 2 back.
	clicked, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
	  const b = document.querySelector('#members button[data-action="restart"][data-node="2"]');
	  if (b) b.click();
	  return !!b; })()`))
	if err != nil || !clicked {
		t.Fatalf("clicking node 2's restart button: %v (found %v)", err, clicked)
	}
	poll("node 2 restarted and alive", func(s pageState) bool {
		return len(s.Down) == 0 && slices.Contains(s.Alive, "2")
	})
}
