package rapstest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

func put(ctx context.Context, t *testing.T, c *raps.Client, k, v string) raps.Result {
	t.Helper()
	res, err := c.Update(ctx, "kv", []byte(k), kv.Encode(kv.OpPut, k, []byte(v)), raps.UpdateOptions{})
	if err != nil || len(res.Data) != 1 || res.Data[0] != kv.StatusOK {
		t.Fatalf("put %s: %v %v", k, res.Data, err)
	}
	return res
}

func get(ctx context.Context, t *testing.T, c *raps.Client, k string, lvl racs.Level, tok racs.Token) string {
	t.Helper()
	res, err := c.Query(ctx, "kv", []byte(k), kv.Encode(kv.OpGet, k), lvl, tok)
	if err != nil || len(res.Data) == 0 || res.Data[0] != kv.StatusOK {
		t.Fatalf("get %s at %v: %q %v", k, lvl, res.Data, err)
	}
	return string(res.Data[1:])
}

// A cluster serves through two front ends, survives a node's crash and
// takes it back; a session read through one front end sees a write made
// through the other.
func TestClusterServesKillsAndRestarts(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprint("disk=", disk), func(t *testing.T) {
			var opts []rapstest.Option
			if disk {
				opts = append(opts, rapstest.WithDisk())
			}
			c := rapstest.New(t, 3, opts...)
			a, b := c.FrontEnd(100), c.FrontEnd(101)
			c.WaitFrontEnd(a, 30*time.Second)
			c.WaitFrontEnd(b, 30*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for i := range 10 {
				k := fmt.Sprint("k", i)
				res := put(ctx, t, a, k, "v"+k)
				if got := get(ctx, t, b, k, racs.Session, res.Token); got != "v"+k {
					t.Fatalf("session read of %s through the other front end: %q", k, got)
				}
			}
			c.Kill(3)
			for i := range 10 {
				k := fmt.Sprint("after", i)
				put(ctx, t, a, k, "v")
				if got := get(ctx, t, b, k, racs.Strict, racs.Token{}); got != "v" {
					t.Fatalf("strict read of %s with node 3 dead: %q", k, got)
				}
			}
			c.Restart(3)
			c.WaitConverged(time.Minute)
			if got := get(ctx, t, a, "k1", racs.Strict, racs.Token{}); got != "vk1" {
				t.Fatalf("k1 after the restart: %q", got)
			}
		})
	}
}

// A cluster that was never bootstrapped holds no map: a front end's
// Router says so.
func TestWithoutBootstrapHasNoMap(t *testing.T) {
	c := rapstest.New(t, 1, rapstest.WithoutBootstrap())
	fe := c.FrontEnd(100)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := fe.Update(ctx, "kv", []byte("k"), nil, raps.UpdateOptions{}); !errors.Is(err, raps.ErrNoMap) {
		t.Fatalf("update without a map: %v, want ErrNoMap", err)
	}
}
