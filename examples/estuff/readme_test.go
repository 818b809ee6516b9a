package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/node"
)

// TestREADMEFirstCommand does what the README tells a newcomer: build and
// start the first command, wait for its printed URLs, run the README's
// curl lines against it, stop it with SIGINT; then start it again on the
// same data directory and find the same data. It fails if the README and
// the program disagree.
func TestREADMEFirstCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo (-short)")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	first, curls := readmeQuickstart(t, string(readme))
	if first != "go run ./examples/estuff" {
		t.Fatalf("the README's first command is %q, not go run ./examples/estuff", first)
	}
	if len(curls) < 4 {
		t.Fatalf("the README's quickstart has %d curl lines, want the shop's and the crash", len(curls))
	}
	bin := filepath.Join(t.TempDir(), "estuff")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(t.TempDir(), "data")
	addr, base := freeAddr(t), freePortBase(t)
	run := func(check func(url string)) {
		cmd := exec.Command(bin, "-data", data, "-http", addr, "-port-base", fmt.Sprint(base), "-products", "400")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		url := waitForBanner(t, stdout, 3*time.Minute, &stderr)
		go io.Copy(io.Discard, stdout)
		check(url)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("after SIGINT: %v\n%s", err, tail(stderr.String()))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("still running 30 s after SIGINT\n%s", tail(stderr.String()))
		}
	}
	run(func(url string) {
		for _, line := range curls {
			line = strings.ReplaceAll(line, "localhost:8080", strings.TrimPrefix(url, "http://"))
			out, err := runCurl(line)
			if err != nil {
				t.Fatalf("README line %q: %v\n%s", line, err, out)
			}
			t.Logf("%s\n  → %s", line, firstLine(out))
		}
	})
	// The second run: the same catalog and the order the README placed.
	run(func(url string) {
		body := getOK(t, url+"/shop/search?q=digital+camera")
		if !strings.Contains(body, "digital camera") {
			t.Fatalf("second run: search finds no digital camera: %s", firstLine(body))
		}
		if body := getOK(t, url+"/shop/orders/ken"); !strings.Contains(body, "order-1") {
			t.Fatalf("second run: the README's order is gone: %s", firstLine(body))
		}
	})
}

// readmeQuickstart returns the first command of the README's quickstart
// and its curl lines (the fenced block after the <!-- quickstart-curl -->
// marker), with their continuation lines joined.
func readmeQuickstart(t *testing.T, readme string) (string, []string) {
	t.Helper()
	m := regexp.MustCompile("(?s)<!-- quickstart-first -->\\s*```\\w*\\n(.*?)\\n```").FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README: no <!-- quickstart-first --> block")
	}
	c := regexp.MustCompile("(?s)<!-- quickstart-curl -->\\s*```\\w*\\n(.*?)\\n```").FindStringSubmatch(readme)
	if c == nil {
		t.Fatal("README: no <!-- quickstart-curl --> block")
	}
	var lines []string
	for _, l := range strings.Split(c[1], "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if i := strings.Index(l, "  #"); i > 0 {
			l = strings.TrimSpace(l[:i])
		}
		lines = append(lines, l)
	}
	return strings.TrimSpace(m[1]), lines
}

// runCurl runs one README line with curl made strict: an HTTP error fails.
func runCurl(line string) (string, error) {
	if !strings.HasPrefix(line, "curl ") {
		return "", fmt.Errorf("not a curl line")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", "curl -sS --fail-with-body --retry 5 --retry-all-errors --retry-delay 1 "+strings.TrimPrefix(line, "curl ")).CombinedOutput()
	return string(out), err
}

func waitForBanner(t *testing.T, stdout io.Reader, limit time.Duration, stderr *strings.Builder) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`shop:\s+(http://\S+)/shop/`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				return
			}
		}
		close(found)
	}()
	select {
	case url, ok := <-found:
		if !ok {
			t.Fatalf("the program ended without printing its URLs\n%s", tail(stderr.String()))
		}
		return url
	case <-time.After(limit):
		t.Fatalf("no URLs printed within %v\n%s", limit, tail(stderr.String()))
	}
	return ""
}

func getOK(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("%s: %s", resp.Status, firstLine(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond) // polling a restarted server, not synchronizing
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// freePortBase finds a base whose demo ports (base, base+10, base+101..103,
// +201..203, +301..303) are free for TCP and UDP, below the ephemeral
// freePortBase finds a free demo port base for this test process (spread by
// pid so parallel test binaries rarely collide).
func freePortBase(t *testing.T) int {
	t.Helper()
	base, err := node.FreeDemoPortBase(3, 20000+os.Getpid()%40*250, 30000, 400)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
