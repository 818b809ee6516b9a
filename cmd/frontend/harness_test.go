package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/internal/testpki"
)

// cluster runs the real binaries: three qs-node processes bootstrapping
// the management group (the kv service in 8 partitions placed by the
// map) and front ends, on loopback. With secure, every security flag is
// on: mutual TLS on the transport, gossip encryption, HTTPS on the front
// ends, and the admin token.
type cluster struct {
	t      *testing.T
	dir    string
	bins   map[string]string
	ports  []int
	secure bool
	pki    *testpki.CA
	mu     sync.Mutex
	procs  map[string]*exec.Cmd
	fronts []string
	client *http.Client
}

const gossipKey = "000102030405060708090a0b0c0d0e0f"

func newCluster(t *testing.T, fronts int, secure bool) *cluster {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	c := &cluster{t: t, dir: t.TempDir(), secure: secure, procs: map[string]*exec.Cmd{}}
	c.bins = map[string]string{"node": filepath.Join(c.dir, "qs-node"), "frontend": filepath.Join(c.dir, "qs-frontend")}
	for pkg, out := range c.bins {
		if b, err := exec.Command("go", "build", "-o", out, "../"+pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	c.ports = freePorts(t, 3*3+fronts*3)
	c.client = &http.Client{Timeout: 10 * time.Second}
	if secure {
		c.pki = testpki.New(t, c.dir)
		c.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pki.Pool()}}
	}
	t.Cleanup(c.stopAll)
	seeds := strings.Join([]string{c.gossip(1), c.gossip(2), c.gossip(3)}, ",")
	for i := 1; i <= 3; i++ {
		args := []string{"-id", fmt.Sprint(i), "-bootstrap", "1,2,3", "-kv-partitions", "8",
			"-transport", fmt.Sprintf("127.0.0.1:%d", c.ports[3*(i-1)]), "-gossip", c.gossip(i),
			"-http", fmt.Sprintf("127.0.0.1:%d", c.ports[3*(i-1)+2]), "-data", filepath.Join(c.dir, fmt.Sprintf("n%d", i)),
			"-label", "e2e-fe", "-seeds", seeds}
		c.launch(fmt.Sprintf("node%d", i), c.bins["node"], append(args, c.securityFlags(uint64(i))...)...)
	}
	scheme := "http"
	if secure {
		scheme = "https"
	}
	for f := range fronts {
		base := 9 + 3*f
		addr := fmt.Sprintf("127.0.0.1:%d", c.ports[base+2])
		id := uint64(100 + f)
		c.fronts = append(c.fronts, fmt.Sprintf("%s://localhost:%d", scheme, c.ports[base+2]))
		args := []string{"-id", fmt.Sprint(id),
			"-transport", fmt.Sprintf("127.0.0.1:%d", c.ports[base]), "-gossip", fmt.Sprintf("127.0.0.1:%d", c.ports[base+1]),
			"-http", addr, "-label", "e2e-fe", "-seeds", seeds, "-admin-token", "t"}
		args = append(args, c.securityFlags(id)...)
		if secure {
			cert, key := c.pki.Issue(fmt.Sprintf("http-%d", id), "localhost")
			args = append(args, "-tls-cert", cert, "-tls-key", key)
		}
		c.launch(fmt.Sprintf("frontend%d", f+1), c.bins["frontend"], args...)
	}
	return c
}

// securityFlags: the transport's mutual TLS (a certificate naming
// node-<id>) and the gossip key, when secure.
func (c *cluster) securityFlags(id uint64) []string {
	if !c.secure {
		return nil
	}
	cert, key := c.pki.Issue(fmt.Sprintf("node-%d", id), fmt.Sprintf("node-%d", id))
	return []string{"-transport-ca", c.pki.File, "-transport-cert", cert, "-transport-key", key, "-gossip-key", gossipKey}
}

func (c *cluster) gossip(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.ports[3*(i-1)+1]) }

func (c *cluster) launch(name, bin string, args ...string) {
	logf, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs[name] = cmd
	c.mu.Unlock()
}

func (c *cluster) proc(name string) *exec.Cmd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

func (c *cluster) forget(name string) {
	c.mu.Lock()
	delete(c.procs, name)
	c.mu.Unlock()
}

func (c *cluster) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		p.Process.Kill()
		p.Wait()
	}
	if c.t.Failed() {
		for name := range c.procs {
			b, _ := os.ReadFile(filepath.Join(c.dir, name+".log"))
			c.t.Logf("--- %s log (tail)\n%s", name, tail(string(b), 3000))
		}
	}
}

// do sends one request and returns the status and body (status 0 and the
// error's text when the request failed).
func (c *cluster) do(method, url, body string, header ...string) (int, string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond every 100ms up to limit.
func (c *cluster) waitFor(what string, limit time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitServing waits for every front end's /readyz and a first write.
func (c *cluster) waitServing() {
	for _, fe := range c.fronts {
		c.waitFor(fe+" ready", 60*time.Second, func() bool { code, _ := c.do("GET", fe+"/readyz", ""); return code == 200 })
	}
	c.waitFor("the kv service taking writes", 60*time.Second, func() bool {
		code, _ := c.do("PUT", c.fronts[0]+"/v1/kv/first", "1")
		return code == 200
	})
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
