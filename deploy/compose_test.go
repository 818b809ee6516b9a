package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCompose brings up deploy/docker-compose.yml (three nodes and a front
// end) under a project of its own, writes keys through the front end,
// stops node3, keeps writing, and reads back every acknowledged key with
// ?consistency=strict: nothing acknowledged may be lost (QS_COMPOSE_STOP=kill
// kills node3 instead of stopping it). It builds the
// binaries and the image with deploy/build-image.sh ($QS_IMAGE, default
// quicksilver:dev). Skipped with -short, or without Docker or
// docker-compose.
func TestCompose(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Docker Compose test is skipped")
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose not found:", err)
	}
	if out, err := run(t, 30*time.Second, nil, "docker", "info"); err != nil {
		t.Skipf("docker info failed (no Docker engine?): %v\n%s", err, tail(out, 20))
	}

	image := os.Getenv("QS_IMAGE")
	if image == "" {
		image = "quicksilver:dev"
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if out, err := run(t, 8*time.Minute, []string{"QS_IMAGE=" + image}, filepath.Join(root, "deploy", "build-image.sh")); err != nil {
		t.Fatalf("build-image.sh: %v\n%s", err, tail(out, 40))
	}
	t.Logf("binaries and image %s built in %s", image, time.Since(start).Round(time.Millisecond))

	c := upCluster(t, root, image)
	base := "http://" + c.addr

	// The front end is ready once it has joined gossip and knows the map.
	waitReady(t, base+"/readyz", 2*time.Minute)
	t.Logf("front end ready at %s after %s", base, time.Since(start).Round(time.Millisecond))

	client := &http.Client{Timeout: 10 * time.Second}
	acked := map[string]string{}
	retries := 0
	write := func(phase string, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			key, val := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d-%s", i, c.project)
			r, err := putRetry(client, base, key, val, 40)
			retries += r
			if err != nil {
				t.Fatalf("%s: PUT %s: %v", phase, key, err)
			}
			acked[key] = val
		}
	}

	const n = 50
	// The first write waits for the built-in kv service to be defined.
	write("before stop", 0, n)
	t.Logf("%d keys written with three nodes (%d retries)", n, retries)

	// QS_COMPOSE_STOP=kill: SIGKILL instead of a graceful stop (SIGTERM,
	// the node drains and leaves gossip).
	how := []string{"stop", "-t", "10", "node3"}
	if os.Getenv("QS_COMPOSE_STOP") == "kill" {
		how = []string{"kill", "node3"}
	}
	if out, err := c.compose(time.Minute, how...); err != nil {
		t.Fatalf("docker-compose %s: %v\n%s", strings.Join(how, " "), err, tail(out, 20))
	}
	t.Logf("node3 stopped (docker-compose %s)", strings.Join(how, " "))

	// Keep writing for a while after the stop, past the failure detection
	// and the view changes that exclude node3, not only right after it.
	stopped := time.Now()
	i := n
	for i < 2*n || time.Since(stopped) < 8*time.Second {
		if i >= 10*n {
			break
		}
		write("after stop", i, i+1)
		i++
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d more keys written with node3 stopped, in %s (%d retries so far)", i-n, time.Since(stopped).Round(time.Millisecond), retries)

	for key, want := range acked {
		got, err := getStrict(client, base, key, 40)
		if err != nil {
			t.Fatalf("GET %s?consistency=strict: %v", key, err)
		}
		if got != want {
			t.Fatalf("GET %s?consistency=strict = %q, want %q (acknowledged write lost)", key, got, want)
		}
	}
	t.Logf("all %d acknowledged keys read back with strict consistency; total %s", len(acked), time.Since(start).Round(time.Millisecond))
}

// cluster is one Compose project of the test.
type cluster struct {
	t       *testing.T
	dir     string
	project string
	env     []string
	addr    string // the front end's published 127.0.0.1:port
}

func (c *cluster) compose(timeout time.Duration, args ...string) ([]byte, error) {
	args = append([]string{"-f", filepath.Join(c.dir, "docker-compose.yml"), "-p", c.project}, args...)
	return run(c.t, timeout, c.env, "docker-compose", args...)
}

// upCluster starts the Compose project on a free loopback port and a /24
// picked at random (another try if Docker says the pool overlaps an
// existing network); t.Cleanup logs the containers' output if the test
// failed, then removes containers, network and volumes.
func upCluster(t *testing.T, root, image string) *cluster {
	var last []byte
	for try := 0; try < 4; try++ {
		port := freePort(t)
		c := &cluster{
			t:       t,
			dir:     filepath.Join(root, "deploy"),
			project: "qs-test-" + randHex(t, 4),
			addr:    fmt.Sprintf("127.0.0.1:%d", port),
		}
		prefix := fmt.Sprintf("172.29.%d", randInt(t, 256))
		c.env = []string{
			"QS_IMAGE=" + image,
			fmt.Sprintf("QS_HTTP_PORT=%d", port),
			"QS_SUBNET_PREFIX=" + prefix,
		}
		out, err := c.compose(3*time.Minute, "up", "-d", "--no-build")
		if err == nil {
			t.Cleanup(func() {
				if t.Failed() {
					logs, _ := c.compose(time.Minute, "logs", "--no-color", "--tail", "300")
					t.Logf("docker-compose logs:\n%s", logs)
				}
				if out, err := c.compose(2*time.Minute, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
					t.Errorf("docker-compose down: %v\n%s", err, tail(out, 20))
				}
			})
			t.Logf("project %s up: subnet %s.0/24, front end on %s", c.project, prefix, c.addr)
			if pub, err := c.compose(30*time.Second, "port", "frontend", "8080"); err != nil || strings.TrimSpace(string(pub)) != c.addr {
				t.Fatalf("front end published on %q (%v), want %s only", strings.TrimSpace(string(pub)), err, c.addr)
			}
			return c
		}
		last = out
		c.compose(2*time.Minute, "down", "-v", "--remove-orphans", "-t", "5")
		if !bytes.Contains(out, []byte("overlaps")) && !bytes.Contains(out, []byte("address already in use")) {
			break
		}
		t.Logf("up failed (%s), trying another subnet and port", lastLine(out))
	}
	t.Fatalf("docker-compose up failed:\n%s", tail(last, 40))
	return nil
}

// putRetry PUTs val at key, retrying 503 and 504 answers and transport
// errors (the cluster changing its views), at most tries times; it
// returns how many retries it made.
func putRetry(client *http.Client, base, key, val string, tries int) (int, error) {
	var last string
	for i := 0; i < tries; i++ {
		req, err := http.NewRequest(http.MethodPut, base+"/v1/kv/"+key, strings.NewReader(val))
		if err != nil {
			return i, err
		}
		code, body, err := do(client, req)
		switch {
		case err != nil:
			last = err.Error()
		case code/100 == 2:
			return i, nil
		case code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
			last = fmt.Sprintf("%d %s", code, body)
		default:
			return i, fmt.Errorf("status %d: %s", code, body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return tries, fmt.Errorf("no success in %d tries, last: %s", tries, last)
}

// getStrict reads key with ?consistency=strict, retrying 503 and 504.
func getStrict(client *http.Client, base, key string, tries int) (string, error) {
	var last string
	for i := 0; i < tries; i++ {
		req, err := http.NewRequest(http.MethodGet, base+"/v1/kv/"+key+"?consistency=strict", nil)
		if err != nil {
			return "", err
		}
		code, body, err := do(client, req)
		switch {
		case err != nil:
			last = err.Error()
		case code == http.StatusOK:
			return body, nil
		case code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
			last = fmt.Sprintf("%d %s", code, body)
		default:
			return "", fmt.Errorf("status %d: %s", code, body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return "", fmt.Errorf("no success in %d tries, last: %s", tries, last)
}

func do(client *http.Client, req *http.Request) (int, string, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, string(b), nil
}

// waitReady polls url until it answers 200, for at most d.
func waitReady(t *testing.T, url string, d time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		code, body, err := do(client, req)
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %s, last: %s", url, d, last)
}

// run runs a command with a bound, extra environment on top of the
// test's, and returns its combined output.
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: timed out after %s: %w", name, timeout, err)
	}
	return out, err
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func randInt(t *testing.T, n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		t.Fatal(err)
	}
	return v.Int64()
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func lastLine(out []byte) string { return tail(out, 1) }
