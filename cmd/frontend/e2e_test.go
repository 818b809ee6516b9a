package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFrontEndProcessesSurviveNodeKill: writers update through two front
// ends while a node is SIGKILLed; every acknowledged update is then read
// back, strictly, through both front ends; a front end stops gracefully
// on SIGTERM.
func TestFrontEndProcessesSurviveNodeKill(t *testing.T) {
	c := newCluster(t, 2, false)
	c.waitServing()
	var mu sync.Mutex
	acked := map[string]string{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for k := 0; ctx.Err() == nil; k++ {
				key, val := fmt.Sprintf("w%d-%d", w, k), fmt.Sprintf("v%d", rng.Uint64())
				if code, _ := c.do("PUT", c.fronts[k%2]+"/v1/kv/"+key, val); code == 200 {
					mu.Lock()
					acked[key] = val
					mu.Unlock()
				}
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	c.waitFor("updates before the kill", 30*time.Second, func() bool { return count() >= 100 })
	c.proc("node3").Process.Signal(syscall.SIGKILL)
	before := count()
	c.waitFor("updates after the kill", 60*time.Second, func() bool { return count() >= before+200 })
	cancel()
	wg.Wait()

	for key, want := range acked {
		for _, fe := range c.fronts {
			var code int
			var got string
			for try := 0; try < 50; try++ {
				if code, got = c.do("GET", fe+"/v1/kv/"+key+"?consistency=strict", ""); code == 200 {
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

	if code, body := c.do("GET", c.fronts[1]+"/v1/admin/members", ""); code != http.StatusUnauthorized {
		t.Fatalf("admin without token: %d %s", code, body)
	}
	fe := c.proc("frontend2")
	fe.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- fe.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("front end after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("front end did not stop within 30s of SIGTERM")
	}
	c.forget("frontend2")
}

// TestFrontEndProcessesSecure runs the cluster with every security flag
// on (mutual TLS on the transport, gossip encryption, HTTPS, the admin
// token): it serves writes and strict reads over HTTPS, the admin API
// answers with the token, and a client that does not trust the CA is
// refused.
func TestFrontEndProcessesSecure(t *testing.T) {
	c := newCluster(t, 1, true)
	c.waitServing()
	fe := c.fronts[0]
	for i := range 20 {
		if code, body := c.do("PUT", fmt.Sprintf("%s/v1/kv/s%d", fe, i), fmt.Sprint("v", i)); code != 200 {
			t.Fatalf("put s%d: %d %s", i, code, body)
		}
	}
	for i := range 20 {
		if code, got := c.do("GET", fmt.Sprintf("%s/v1/kv/s%d?consistency=strict", fe, i), ""); code != 200 || got != fmt.Sprint("v", i) {
			t.Fatalf("get s%d: %d %q", i, code, got)
		}
	}
	code, body := c.do("GET", fe+"/v1/admin/members", "", "Authorization", "Bearer t")
	if code != 200 || strings.Count(body, `"role":"node"`) != 3 {
		t.Fatalf("admin members over HTTPS: %d %s", code, body)
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(fe + "/readyz"); err == nil {
		t.Fatal("a client that does not trust the CA was served")
	}
}
