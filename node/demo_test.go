package node_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/frontend"
	"github.com/quicksilver-go/quicksilver/node"
)

// freeBase finds a port base whose demo ports are free (TCP and UDP),
// freeBase finds a free demo port base for this test process (spread by
// pid so parallel test binaries rarely collide).
func freeBase(t *testing.T) int {
	t.Helper()
	base, err := node.FreeDemoPortBase(3, 30000+os.Getpid()%40*250, 40000, 400)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// waitFor re-checks cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond) // polling, with the deadline above
	}
}

// The demo's control reports each running node's groups, and a crashed
// node is down and silent until it restarts.
func TestDemoControlGroupStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node demo on loopback (-short)")
	}
	cfg := node.DefaultConfig()
	cfg.Demo, cfg.KVPartitions, cfg.FrontEndHTTP = 3, 2, "127.0.0.1:0"
	ctlc := make(chan *node.DemoControl, 1)
	started := make(chan struct{})
	opts := node.DemoOptions{
		PortBase: freeBase(t),
		FrontEnd: func(_ chi.Router, _ *frontend.FrontEnd, ctl *node.DemoControl) { ctlc <- ctl },
		Banner:   func(io.Writer, node.DemoInfo) { close(started) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- node.RunDemo(ctx, cfg, slog.New(slog.DiscardHandler), opts) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("RunDemo: %v", err)
		}
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("RunDemo ended: %v", err)
	case <-time.After(45 * time.Second):
		t.Fatal("no banner within 45 s")
	}
	ctl := <-ctlc
	// Every node hosts a clone of each kv partition: once placed, each
	// reports groups in views of three members.
	waitFor(t, "every node reporting views of 3 members", 30*time.Second, func() bool {
		st := ctl.GroupStatus()
		if len(st) != 3 {
			return false
		}
		for _, gs := range st {
			full := 0
			for _, g := range gs {
				if g.View > 0 && g.Status == "NORMAL" && len(g.ViewMembers) == 3 {
					full++
				}
			}
			if full < cfg.KVPartitions {
				return false
			}
		}
		return true
	})
	if err := ctl.Crash(2); err != nil {
		t.Fatal(err)
	}
	if _, ok := ctl.GroupStatus()[2]; ok || !slices.Equal(ctl.Down(), []uint64{2}) || !slices.Equal(ctl.Nodes(), []uint64{1, 2, 3}) {
		t.Fatalf("after the crash: reports from %v, down %v, nodes %v", ctl.GroupStatus(), ctl.Down(), ctl.Nodes())
	}
	if err := ctl.Crash(2); !errors.Is(err, node.ErrDemo) {
		t.Errorf("a second crash: %v", err)
	}
	if err := ctl.Restart(2); err != nil {
		t.Fatal(err)
	}
	if _, ok := ctl.GroupStatus()[2]; !ok || len(ctl.Down()) != 0 {
		t.Errorf("after the restart: down %v", ctl.Down())
	}
}
