package racs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

func retain(n int) func(*tcluster) { return func(c *tcluster) { c.retain = n } }

// follow reads node id's update stream after from until it holds want
// updates (or the wait ends), as a subscriber would: each call returns
// what is there, or waits for the next.
func follow(t *testing.T, c *tcluster, id groupcomm.NodeID, from racs.Token, want int) ([]racs.StreamUpdate, racs.Token) {
	t.Helper()
	var got []racs.StreamUpdate
	deadline := time.Now().Add(hangAfter)
	for len(got) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ups, next, err := c.group(id).Updates(ctx, from, min(7, want-len(got)))
		cancel()
		if err != nil {
			t.Fatalf("node %d: Updates after %v: %v", id, from, err)
		}
		if next.Seq < from.Seq {
			t.Fatalf("node %d: resume token went back from %v to %v", id, from, next)
		}
		for _, u := range ups {
			if u.Token.Seq <= from.Seq {
				t.Fatalf("node %d: update at %v not after %v", id, u.Token, from)
			}
			from = u.Token
		}
		from = next
		got = append(got, ups...)
	}
	return got, from
}

func updates(ups []racs.StreamUpdate) []string {
	var out []string
	for _, u := range ups {
		out = append(out, fmt.Sprintf("%d:%s=%s", u.Token.Seq, u.Update, u.Result))
	}
	return out
}

// Every clone's stream holds the same updates under the same tokens, in
// the order applied, without the retries an idempotency key answered;
// a subscriber can switch clones at any token and continue without a gap
// or a repeat; a durable clone restarted on its store serves the stream
// again from its log.
func TestUpdateStreamIsTheSameAtEveryClone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Disk, retain(100))
		start := c.group(1).Applied()
		for i := range 12 {
			if _, err := c.submit(groupcomm.NodeID(1+i%3), fmt.Sprint("u", i), fmt.Sprint("k", i)); err != nil {
				t.Fatal(err)
			}
			if i == 5 { // a retry of u5 under its key: applied once, streamed once
				if _, err := c.submit(2, "u5", "k5"); err != nil {
					t.Fatal(err)
				}
			}
		}
		c.waitConverged()
		var want []string
		for id := groupcomm.NodeID(1); id <= 3; id++ {
			got, _ := follow(t, c, id, start, 12)
			if len(got) != 12 {
				t.Fatalf("node %d streamed %d updates, want 12: %v", id, len(got), updates(got))
			}
			if id == 1 {
				want = updates(got)
				continue
			}
			if g := updates(got); !slices.Equal(g, want) {
				t.Fatalf("node %d's stream differs:\n got %v\nwant %v", id, g, want)
			}
		}
		// Switch clones mid-stream: the first 5 from node 1, the rest from
		// node 3, then node 2 — the same sequence.
		a, tok := follow(t, c, 1, start, 5)
		b, tok := follow(t, c, 3, tok, 4)
		d, _ := follow(t, c, 2, tok, 3)
		if g := updates(slices.Concat(a, b, d)); !slices.Equal(g, want) {
			t.Fatalf("switching clones:\n got %v\nwant %v", g, want)
		}
		// An idle stream answers at its deadline with no updates and the
		// applied position: the heartbeat.
		last := c.group(1).Applied()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		ups, next, err := c.group(1).Updates(ctx, last, 10)
		cancel()
		if err != nil || len(ups) != 0 || next != last {
			t.Fatalf("idle stream: %v %v %v, want none at %v", updates(ups), next, err, last)
		}
		// A zero token means from now: only what comes next.
		res := make(chan []racs.StreamUpdate, 1)
		go func() {
			ups, _, _ := c.group(3).Updates(context.Background(), racs.Token{}, 10)
			res <- ups
		}()
		synctest.Wait()
		if _, err := c.submit(1, "next", ""); err != nil {
			t.Fatal(err)
		}
		if g := updates(<-res); len(g) != 1 || g[0][len(g[0])-len("next=13"):] != "next=13" {
			t.Fatalf("from now: %v, want only the next update", g)
		}
		// A token of another incarnation is refused.
		if _, _, err := c.group(1).Updates(context.Background(), racs.Token{Incarnation: 9, Seq: 1}, 1); !errors.Is(err, racs.ErrBadToken) {
			t.Fatalf("foreign token: %v, want ErrBadToken", err)
		}
		// A restarted durable clone replays its log into its stream.
		c.kill(3)
		c.start(3, nil)
		c.waitConverged()
		got, _ := follow(t, c, 3, start, 13)
		if g := updates(got[:12]); !slices.Equal(g, want) {
			t.Fatalf("after a restart node 3 streams:\n got %v\nwant %v", g, want)
		}
	})
}

// A subscriber further behind than the clone keeps gets ErrCompacted with
// the token it can resume from, never a stream with a hole.
func TestUpdateStreamBehindRetentionIsCompacted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTCluster(t, 3, racs.Memory, retain(4))
		start := c.group(2).Applied()
		for i := range 10 {
			if _, err := c.submit(1, fmt.Sprint("u", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		c.waitConverged()
		_, _, err := c.group(2).Updates(context.Background(), start, 100)
		var ce *racs.CompactedError
		if !errors.Is(err, racs.ErrCompacted) || !errors.As(err, &ce) {
			t.Fatalf("Updates after %v with 4 kept: %v, want ErrCompacted", start, err)
		}
		ups, _, err := c.group(2).Updates(context.Background(), ce.Floor, 100)
		if err != nil || len(ups) != 4 || string(ups[3].Update) != "u9" {
			t.Fatalf("resuming at the floor %v: %v %v, want the last 4", ce.Floor, updates(ups), err)
		}
		// A group that keeps no stream says so.
		c2 := newTCluster(t, 1, racs.Memory)
		if _, _, err := c2.group(1).Updates(context.Background(), racs.Token{}, 1); !errors.Is(err, racs.ErrCompacted) {
			t.Fatalf("no retention: %v, want ErrCompacted", err)
		}
	})
}
