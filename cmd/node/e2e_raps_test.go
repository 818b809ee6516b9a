package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startPartitioned starts node id in the partitioned mode: nodes 1–3
// bootstrap the management group, the others join through the seeds; the
// kv service (8 partitions of 3 clones, on disk) is placed by the map.
func (c *procCluster) startPartitioned(id int) {
	p := c.ports[id]
	args := []string{"-id", fmt.Sprint(id), "-kv-partitions", "8",
		"-transport", fmt.Sprintf("127.0.0.1:%d", p[0]), "-gossip", fmt.Sprintf("127.0.0.1:%d", p[1]),
		"-http", fmt.Sprintf("127.0.0.1:%d", p[2]), "-data", filepath.Join(c.dir, fmt.Sprintf("n%d", id)),
		"-label", "e2e-raps"}
	if id <= 3 {
		args = append(args, "-bootstrap", "1,2,3")
	}
	var seeds []string
	for j := 1; j <= len(c.ports); j++ {
		if j != id {
			seeds = append(seeds, fmt.Sprintf("127.0.0.1:%d", c.ports[j][1]))
		}
	}
	args = append(args, "-seeds", strings.Join(seeds, ","))
	c.launch(id, args)
}

func (c *procCluster) kvPut(id int, key, val string) bool {
	req, _ := http.NewRequest(http.MethodPut, c.url(id, "/v1/kv/"+key), strings.NewReader(val))
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kvGetRetry reads key through node id until it answers 200, for up to
// five seconds (a node just back may still be catching up).
func (c *procCluster) kvGetRetry(id int, key string) (string, int) {
	var got string
	var code int
	for try := 0; try < 50; try++ {
		if got, code = c.kvGet(id, key); code == http.StatusOK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return got, code
}

func (c *procCluster) kvGet(id int, key string) (string, int) {
	resp, err := client.Get(c.url(id, "/v1/kv/"+key+"?consistency=strict"))
	if err != nil {
		return "", 0
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b), resp.StatusCode
}

// Four qs-node processes in the partitioned mode over TCP: the map places
// the kv service's partitions, any node routes any key (the Router's
// calls travel over the transport), and under load a management member
// is SIGKILLed and restarted on its data: every acknowledged update is
// read back, through every node.
func TestPartitionedProcessesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	const nodes = 4
	c := newProcCluster(t, nodes)
	for i := 1; i <= nodes; i++ {
		c.startPartitioned(i)
	}
	c.waitReady(1, 2, 3, 4)
	deadline := time.Now().Add(60 * time.Second)
	for !c.kvPut(1, "first", "1") {
		if time.Now().After(deadline) {
			t.Fatal("the kv service never took a write")
		}
		time.Sleep(100 * time.Millisecond)
	}

	var mu sync.Mutex
	acked := map[string]string{}
	alive := map[int]bool{1: true, 2: true, 3: true, 4: true}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				var live []int
				for id := 1; id <= nodes; id++ {
					if alive[id] {
						live = append(live, id)
					}
				}
				mu.Unlock()
				key, val := fmt.Sprintf("w%d-%d", w, k), fmt.Sprintf("v%d", rng.Uint64())
				if c.kvPut(live[rng.IntN(len(live))], key, val) {
					mu.Lock()
					acked[key] = val
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(2 * time.Second)
	mu.Lock()
	alive[2] = false
	mu.Unlock()
	c.signal(2, syscall.SIGKILL)
	time.Sleep(4 * time.Second)
	c.startPartitioned(2)
	c.waitReady(2)
	mu.Lock()
	alive[2] = true
	mu.Unlock()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	if n := c.count(&mu, acked); n < 50 {
		t.Fatalf("only %d updates acknowledged", n)
	}
	for key, want := range acked {
		for id := 1; id <= nodes; id++ {
			got, code := c.kvGetRetry(id, key)
			if code != http.StatusOK || got != want {
				t.Fatalf("acknowledged %s=%s: node %d reads %q (status %d)", key, want, id, got, code)
			}
		}
	}
	t.Logf("%d acknowledged updates read back through all %d nodes", len(acked), nodes)
}
