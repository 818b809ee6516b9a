package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestProcessesSurviveKillAndPause starts five qs-node processes on
// loopback, each with its own data directory, places the kv service (8
// partitions × 3 clones, on disk) across them, and under load SIGKILLs
// one (a management member), restarts it, then SIGSTOPs another. It
// checks: updates go on once the views change and while a node is paused,
// every acknowledged update is read back (strict) through every process,
// the restarted process catches up, and the paused one (fenced while it
// was out) comes back. It logs how long the first
// view change after the SIGKILL took.
func TestProcessesSurviveKillAndPause(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	const nodes = 5
	c := newProcCluster(t, nodes)
	for i := 1; i <= nodes; i++ {
		c.startPartitioned(i)
	}
	c.waitReady(1, 2, 3, 4, 5)
	deadline := time.Now().Add(60 * time.Second)
	for !c.kvPut(1, "first", "1") {
		if time.Now().After(deadline) {
			t.Fatal("the kv service never took a write")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Load: unique keys, PUT to a random live node; remember what was acked.
	var mu sync.Mutex
	acked := map[string]string{}
	alive := map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				var live []int
				for id, ok := range alive {
					if ok {
						live = append(live, id)
					}
				}
				mu.Unlock()
				id := live[rng.IntN(len(live))]
				key, val := fmt.Sprintf("w%d-%d", w, k), fmt.Sprintf("v%d", k)
				if c.kvPut(id, key, val) {
					mu.Lock()
					acked[key] = val
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(2 * time.Second)

	// SIGKILL node 1: a management member and a clone of some partitions.
	before := c.views(2)
	mu.Lock()
	alive[1] = false
	mu.Unlock()
	killed := time.Now()
	c.signal(1, syscall.SIGKILL)
	for c.views(2) == before {
		if time.Since(killed) > 20*time.Second {
			t.Fatal("no view change after SIGKILL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("SIGKILL of node 1 → a new view installed at node 2 after %v (default settings, under load)", time.Since(killed).Round(time.Millisecond))
	n0 := c.count(&mu, acked)
	time.Sleep(2 * time.Second)
	if n1 := c.count(&mu, acked); n1 <= n0 {
		t.Fatalf("updates stopped after the view change: %d acked before, %d after", n0, n1)
	}

	// Restart the killed process on its data (a partition has 3 clones:
	// one more fault while node 1 is down could take a majority), then
	// SIGSTOP node 2 for a while; the others go on without it.
	c.startPartitioned(1)
	c.waitReady(1)
	mu.Lock()
	alive[1], alive[2] = true, false
	mu.Unlock()
	c.signal(2, syscall.SIGSTOP)
	n2 := c.count(&mu, acked)
	time.Sleep(4 * time.Second)
	if n3 := c.count(&mu, acked); n3 <= n2 {
		t.Fatalf("updates stopped while node 2 was paused")
	}
	c.signal(2, syscall.SIGCONT)
	c.waitReady(2)
	mu.Lock()
	alive[2] = true
	mu.Unlock()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	// Every group converged, and every acknowledged update is read back
	// through every process (strict reads through its Router).
	c.waitConverged(1, 2, 3, 4, 5)
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 100 {
		t.Fatalf("only %d updates acknowledged", len(acked))
	}
	missing := 0
	for key, want := range acked {
		for id := 1; id <= nodes; id++ {
			got, code := c.kvGetRetry(id, key)
			if code != http.StatusOK || got != want {
				missing++
				if missing < 5 {
					t.Errorf("node %d: key %s = %q (status %d); acknowledged %q", id, key, got, code, want)
				}
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d acknowledged updates missing", missing)
	}
	t.Logf("%d acknowledged updates read back through all 5 processes", len(acked))
	for id := 1; id <= nodes; id++ {
		d, ok := c.status(id)
		if !ok || d.Store == nil || d.Store.Fsyncs == 0 || d.Store.Error != "" {
			t.Fatalf("node %d: /status says of its store %+v (ok %v): want fsyncs and no error", id, d.Store, ok)
		}
	}
}

type procCluster struct {
	t     *testing.T
	bin   string
	dir   string
	mu    sync.Mutex
	procs map[int]*exec.Cmd
	ports map[int][3]int // transport, gossip, http
}

// newProcCluster builds qs-node and chooses ports for n processes, which
// the cleanup kills.
func newProcCluster(t *testing.T, n int) *procCluster {
	dir := t.TempDir()
	bin := filepath.Join(dir, "qs-node")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	c := &procCluster{t: t, bin: bin, dir: dir, procs: map[int]*exec.Cmd{}, ports: map[int][3]int{}}
	ports := freePorts(t, 3*n)
	for i := 1; i <= n; i++ {
		c.ports[i] = [3]int{ports[3*i-3], ports[3*i-2], ports[3*i-1]}
	}
	t.Cleanup(c.stopAll)
	return c
}

// freePorts returns n distinct free loopback ports (all held open while
// choosing, so none repeats).
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

// launch starts qs-node with args as node id, its output in log<id>.
func (c *procCluster) launch(id int, args []string) {
	cmd := exec.Command(c.bin, args...)
	logf, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("log%d", id)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs[id] = cmd
	c.mu.Unlock()
	go cmd.Wait()
}

func (c *procCluster) signal(id int, s syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.procs[id]; p != nil && p.Process != nil {
		p.Process.Signal(s)
	}
}

func (c *procCluster) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.procs {
		p.Process.Signal(syscall.SIGCONT)
		p.Process.Kill()
		if c.t.Failed() {
			b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("log%d", id)))
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			c.t.Logf("--- node %d log tail ---\n%s", id, b)
		}
	}
}

var client = &http.Client{Timeout: 6 * time.Second}

func (c *procCluster) url(id int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.ports[id][2], path)
}

type statusDoc struct {
	Groups []struct {
		Group     int    `json:"group"`
		Status    string `json:"status"`
		View      uint64 `json:"view"`
		Role      string `json:"role"`
		Applied   uint64 `json:"applied"`
		Restoring bool   `json:"restoring"`
	} `json:"groups"`
	Store *struct {
		Fsyncs uint64 `json:"fsyncs"`
		Error  string `json:"error"`
	} `json:"store"`
}

func (c *procCluster) status(id int) (statusDoc, bool) {
	var d statusDoc
	resp, err := client.Get(c.url(id, "/status"))
	if err != nil {
		return d, false
	}
	defer resp.Body.Close()
	return d, json.NewDecoder(resp.Body).Decode(&d) == nil
}

func (c *procCluster) waitReady(ids ...int) {
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			resp, err := client.Get(c.url(id, "/readyz"))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node %d not ready", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// views sums the views of every group node id hosts: it changes when
// any of them installs a new view.
func (c *procCluster) views(id int) uint64 {
	d, _ := c.status(id)
	var sum uint64
	for _, s := range d.Groups {
		sum += s.View
	}
	return sum
}

// waitConverged waits until every group each node hosts is NORMAL, with
// no transfer under way, and every group's clones are at one applied
// position.
func (c *procCluster) waitConverged(ids ...int) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		applied := map[int]uint64{}
		for _, id := range ids {
			d, got := c.status(id)
			if !got || len(d.Groups) == 0 {
				ok = false
				break
			}
			for _, s := range d.Groups {
				if s.Status != "NORMAL" || s.Restoring {
					ok = false
				}
				if a, seen := applied[s.Group]; seen && a != s.Applied {
					ok = false
				}
				applied[s.Group] = s.Applied
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, id := range ids {
				d, _ := c.status(id)
				c.t.Logf("node %d: %+v", id, d)
			}
			c.t.Fatal("processes did not converge")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *procCluster) count(mu *sync.Mutex, m map[string]string) int {
	mu.Lock()
	defer mu.Unlock()
	return len(m)
}
