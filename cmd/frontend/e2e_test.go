package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFrontEndProcessesSurviveNodeKill runs the real binaries: three
// qs-node processes (bootstrapping the management group, the kv service
// placed by the map) and two qs-frontend processes. Writers update
// through the front ends while a node is SIGKILLed; every acknowledged
// update is then read back, strictly, through both front ends; and a
// front end stops gracefully on SIGTERM.
func TestFrontEndProcessesSurviveNodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	dir := t.TempDir()
	bins := map[string]string{"node": filepath.Join(dir, "qs-node"), "frontend": filepath.Join(dir, "qs-frontend")}
	for pkg, out := range bins {
		if b, err := exec.Command("go", "build", "-o", out, "../"+pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	ports := freePorts(t, 3*3+2*3)
	gossip := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[3*(i-1)+1]) }
	seeds := strings.Join([]string{gossip(1), gossip(2), gossip(3)}, ",")
	procs := map[string]*exec.Cmd{}
	var pmu sync.Mutex
	launch := func(name, bin string, args ...string) *exec.Cmd {
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pmu.Lock()
		procs[name] = cmd
		pmu.Unlock()
		return cmd
	}
	t.Cleanup(func() {
		pmu.Lock()
		defer pmu.Unlock()
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
		if t.Failed() {
			for name := range procs {
				b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
				t.Logf("--- %s log (tail)\n%s", name, tail(string(b), 3000))
			}
		}
	})
	for i := 1; i <= 3; i++ {
		launch(fmt.Sprintf("node%d", i), bins["node"], "-id", fmt.Sprint(i), "-bootstrap", "1,2,3", "-kv-partitions", "8",
			"-transport", fmt.Sprintf("127.0.0.1:%d", ports[3*(i-1)]), "-gossip", gossip(i),
			"-http", fmt.Sprintf("127.0.0.1:%d", ports[3*(i-1)+2]), "-data", filepath.Join(dir, fmt.Sprintf("n%d", i)),
			"-label", "e2e-fe", "-seeds", seeds)
	}
	fronts := []string{}
	var feCmds []*exec.Cmd
	for f := range 2 {
		base := 9 + 3*f
		http := fmt.Sprintf("127.0.0.1:%d", ports[base+2])
		fronts = append(fronts, "http://"+http)
		feCmds = append(feCmds, launch(fmt.Sprintf("frontend%d", f+1), bins["frontend"], "-id", fmt.Sprint(100+f),
			"-transport", fmt.Sprintf("127.0.0.1:%d", ports[base]), "-gossip", fmt.Sprintf("127.0.0.1:%d", ports[base+1]),
			"-http", http, "-label", "e2e-fe", "-seeds", seeds, "-admin-token", "t"))
	}
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, url, body string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", limit, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, fe := range fronts {
		waitFor(fe+" ready", 60*time.Second, func() bool { code, _ := do("GET", fe+"/readyz", ""); return code == 200 })
	}
	waitFor("the kv service taking writes", 60*time.Second, func() bool {
		code, _ := do("PUT", fronts[0]+"/v1/kv/first", "1")
		return code == 200
	})

	var mu sync.Mutex
	acked := map[string]string{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for k := 0; ctx.Err() == nil; k++ {
				key, val := fmt.Sprintf("w%d-%d", w, k), fmt.Sprintf("v%d", rng.Uint64())
				if code, _ := do("PUT", fronts[k%2]+"/v1/kv/"+key, val); code == 200 {
					mu.Lock()
					acked[key] = val
					mu.Unlock()
				}
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor("updates before the kill", 30*time.Second, func() bool { return count() >= 100 })
	pmu.Lock()
	procs["node3"].Process.Signal(syscall.SIGKILL)
	pmu.Unlock()
	before := count()
	waitFor("updates after the kill", 60*time.Second, func() bool { return count() >= before+200 })
	cancel()
	wg.Wait()

	for key, want := range acked {
		for _, fe := range fronts {
			var code int
			var got string
			for try := 0; try < 50; try++ {
				if code, got = do("GET", fe+"/v1/kv/"+key+"?consistency=strict", ""); code == 200 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if code != 200 || got != want {
				t.Fatalf("acknowledged %s=%s: %s reads %q (status %d)", key, want, fe, got, code)
			}
		}
	}
	t.Logf("%d acknowledged updates (%d after node 3 was killed) read back strictly through both front ends", len(acked), len(acked)-before)

	if code, body := do("GET", fronts[1]+"/v1/admin/members", ""); code != http.StatusUnauthorized {
		t.Fatalf("admin without token: %d %s", code, body)
	}
	feCmds[1].Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- feCmds[1].Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("front end after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("front end did not stop within 30s of SIGTERM")
	}
	pmu.Lock()
	delete(procs, "frontend2")
	pmu.Unlock()
}

func freePorts(t *testing.T, n int) []int {
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
