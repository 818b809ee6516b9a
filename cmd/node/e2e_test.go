package main

import (
	"bytes"
	"encoding/json"
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

// TestProcessesSurviveKillAndPause starts five qs-node processes on
// loopback, each with its own bbolt file, runs kv groups across them
// under load, SIGKILLs one and SIGSTOPs another, and checks: updates go on
// once the views change, every acknowledged update is on every survivor,
// the restarted process catches up, and the paused one (fenced while it
// was out) comes back. It logs how long the first view change after the
// SIGKILL took.
func TestProcessesSurviveKillAndPause(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	const nodes, groups = 5, 4
	c := newProcCluster(t, nodes)
	for i := 1; i <= nodes; i++ {
		c.start(i, true)
	}
	c.waitReady(1, 2, 3, 4, 5)

	// Load: unique keys, PUT to a random live node; remember what was acked.
	var mu sync.Mutex
	acked := map[string]string{}
	alive := map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
				g := 1 + rng.IntN(groups)
				key, val := fmt.Sprintf("w%d-%d", w, k), fmt.Sprintf("v%d", k)
				if c.put(id, g, key, val) {
					mu.Lock()
					acked[fmt.Sprintf("%d/%s", g, key)] = val
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)

	// SIGKILL node 1: the sequencer of group 1.
	before := c.view(2, 1)
	mu.Lock()
	alive[1] = false
	mu.Unlock()
	killed := time.Now()
	c.signal(1, syscall.SIGKILL)
	for c.view(2, 1) == before {
		if time.Since(killed) > 20*time.Second {
			t.Fatal("no view change after SIGKILL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("SIGKILL of the sequencer → next view installed at a survivor after %v (default settings, under load)", time.Since(killed).Round(time.Millisecond))
	n0 := c.count(&mu, acked)
	time.Sleep(2 * time.Second)
	if n1 := c.count(&mu, acked); n1 <= n0 {
		t.Fatalf("updates stopped after the view change: %d acked before, %d after", n0, n1)
	}

	// SIGSTOP node 2 for a while; the others go on without it.
	mu.Lock()
	alive[2] = false
	mu.Unlock()
	c.signal(2, syscall.SIGSTOP)
	n2 := c.count(&mu, acked)
	time.Sleep(4 * time.Second)
	if n3 := c.count(&mu, acked); n3 <= n2 {
		t.Fatalf("updates stopped while node 2 was paused")
	}
	c.signal(2, syscall.SIGCONT)
	c.start(1, false) // restart the killed process from its bbolt file
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	// Every acknowledged update is on every process (strict reads), and
	// every group converged.
	c.waitConverged(groups, 1, 2, 3, 4, 5)
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 100 {
		t.Fatalf("only %d updates acknowledged", len(acked))
	}
	missing := 0
	for gk, val := range acked {
		g, key, _ := strings.Cut(gk, "/")
		for id := 1; id <= nodes; id++ {
			got, ok := c.get(id, g, key)
			if !ok || got != val {
				missing++
				if missing < 5 {
					t.Errorf("node %d: group %s key %s = %q, %v; acknowledged %q", id, g, key, got, ok, val)
				}
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d acknowledged updates missing", missing)
	}
	t.Logf("%d acknowledged updates present on all 5 processes", len(acked))
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

func (c *procCluster) start(id int, create bool) {
	p := c.ports[id]
	args := []string{"-id", fmt.Sprint(id), "-members", "1,2,3,4,5", "-groups", "4",
		"-transport", fmt.Sprintf("127.0.0.1:%d", p[0]), "-gossip", fmt.Sprintf("127.0.0.1:%d", p[1]),
		"-http", fmt.Sprintf("127.0.0.1:%d", p[2]), "-data", filepath.Join(c.dir, fmt.Sprintf("n%d", id)),
		"-label", "e2e"}
	var seeds []string
	for j := 1; j <= len(c.ports); j++ {
		if j != id {
			seeds = append(seeds, fmt.Sprintf("127.0.0.1:%d", c.ports[j][1]))
		}
	}
	args = append(args, "-seeds", strings.Join(seeds, ","))
	if create {
		args = append(args, "-create")
	}
	c.launch(id, args)
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

func (c *procCluster) put(id, g int, key, val string) bool {
	req, _ := http.NewRequest(http.MethodPut, c.url(id, fmt.Sprintf("/v1/groups/%d/kv/%s", g, key)), strings.NewReader(val))
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (c *procCluster) get(id int, g, key string) (string, bool) {
	for try := 0; try < 20; try++ {
		resp, err := client.Get(c.url(id, fmt.Sprintf("/v1/groups/%s/kv/%s?consistency=strict", g, key)))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return string(b), true
			case http.StatusNotFound:
				if bytes.Contains(b, []byte("not_found")) {
					return "", false
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", false
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

func (c *procCluster) view(id, g int) uint64 {
	d, _ := c.status(id)
	for _, s := range d.Groups {
		if s.Group == g {
			return s.View
		}
	}
	return 0
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

// waitConverged waits until, for every group, every node is a NORMAL
// voter at the same applied position.
func (c *procCluster) waitConverged(groups int, ids ...int) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		applied := map[int]uint64{}
		for _, id := range ids {
			d, got := c.status(id)
			if !got || len(d.Groups) != groups {
				ok = false
				break
			}
			for _, s := range d.Groups {
				if s.Status != "NORMAL" || s.Role != "voter" || s.Restoring {
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
