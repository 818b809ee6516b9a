package fanout_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/fanout"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

type fixture struct {
	t    *testing.T
	c    *rapstest.Cluster
	fe   *raps.Client
	part int
	ctx  context.Context
}

func newFixture(t *testing.T) *fixture {
	svc := rapstest.KVService(1, 3, partitionmap.Memory)
	svc.Retain = 1000
	c := rapstest.New(t, 3, rapstest.WithServices(svc))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return &fixture{t: t, c: c, fe: fe, ctx: ctx}
}

func (f *fixture) put(v string) racs.Token {
	f.t.Helper()
	res, err := f.fe.Update(f.ctx, raps.KVServiceName, []byte("k"), kv.Encode(kv.OpPut, "k", []byte(v)), raps.UpdateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Token
}

// take reads n updates (skipping heartbeats) from ch.
func (f *fixture) take(ch <-chan fanout.Event, n int) []string {
	f.t.Helper()
	var out []string
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				f.t.Fatalf("closed after %v", out)
			}
			if ev.Err != nil {
				f.t.Fatalf("error after %v: %v", out, ev.Err)
			}
			if ev.Heartbeat {
				continue
			}
			_, _, vals, _ := kv.Decode(ev.Update)
			out = append(out, string(vals[0]))
		case <-f.ctx.Done():
			f.t.Fatalf("waited for %d updates, got %v", n, out)
		}
	}
	return out
}

func vals(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprint("v", i))
	}
	return out
}

// Many subscribers of one partition share one upstream and each sees the
// updates after its own token once, in order: from the shared stream's
// ring when the token is recent, from an upstream of its own when it is
// older than the ring.
func TestSubscribersShareOneUpstream(t *testing.T) {
	f := newFixture(t)
	h := fanout.New(f.ctx, f.fe, fanout.Options{Ring: 5, Buffer: 100})
	toks := map[int]racs.Token{0: f.put("v0")}
	a, stopA := h.Watch(raps.KVServiceName, 0, toks[0], nil)
	defer stopA()
	b, stopB := h.Watch(raps.KVServiceName, 0, toks[0], nil)
	defer stopB()
	for i := 1; i <= 10; i++ {
		toks[i] = f.put(fmt.Sprint("v", i))
	}
	for name, ch := range map[string]<-chan fanout.Event{"a": a, "b": b} {
		if got := f.take(ch, 10); fmt.Sprint(got) != fmt.Sprint(vals(1, 10)) {
			t.Fatalf("%s: %v", name, got)
		}
	}
	if n := h.Streams(); n != 1 {
		t.Fatalf("%d upstreams for 2 subscribers of one partition", n)
	}
	// Recent token: replayed from the ring, no new upstream.
	c, stopC := h.Watch(raps.KVServiceName, 0, toks[7], nil)
	defer stopC()
	if got := f.take(c, 3); fmt.Sprint(got) != fmt.Sprint(vals(8, 10)) {
		t.Fatalf("from v7's token: %v", got)
	}
	// Older than the ring (5 kept): an upstream of its own, the same updates.
	d, stopD := h.Watch(raps.KVServiceName, 0, toks[2], nil)
	defer stopD()
	if got := f.take(d, 8); fmt.Sprint(got) != fmt.Sprint(vals(3, 10)) {
		t.Fatalf("from v2's token: %v", got)
	}
	// From now: only what comes next.
	e, stopE := h.Watch(raps.KVServiceName, 0, racs.Token{}, nil)
	defer stopE()
	f.put("v11")
	for name, ch := range map[string]<-chan fanout.Event{"a": a, "c": c, "d": d, "e": e} {
		if got := f.take(ch, 1); got[0] != "v11" {
			t.Fatalf("%s: %v, want v11", name, got)
		}
	}
	if n := h.Streams(); n != 1 {
		t.Fatalf("%d shared upstreams, want 1", n)
	}
}

// A subscriber that does not read is dropped (its channel closes) and
// never holds back the others; a filtered subscriber gets only what it
// keeps; the upstream stops with its last subscriber.
func TestSlowSubscriberIsDroppedAndFiltersApply(t *testing.T) {
	f := newFixture(t)
	h := fanout.New(f.ctx, f.fe, fanout.Options{Ring: 50, Buffer: 2})
	from := f.put("v0")
	slow, stopSlow := h.Watch(raps.KVServiceName, 0, from, nil)
	defer stopSlow()
	even, stopEven := h.Watch(raps.KVServiceName, 0, from, func(ev raps.Event) bool {
		_, _, v, _ := kv.Decode(ev.Update)
		return len(v) == 1 && (v[0][len(v[0])-1]-'0')%2 == 0
	})
	got := make(chan []string, 1)
	go func() { got <- f.take(even, 5) }()
	for i := 1; i <= 10; i++ {
		f.put(fmt.Sprint("v", i))
	}
	if g := <-got; fmt.Sprint(g) != "[v2 v4 v6 v8 v10]" {
		t.Fatalf("filtered: %v", g)
	}
	n := 0
	for range slow { // what it had room for, then closed
		n++
	}
	if n > 3 {
		t.Fatalf("the slow subscriber got %d events with a buffer of 2", n)
	}
	stopEven()
	f.c.WaitFor("the upstream stopped", 10*time.Second, func() bool { return h.Streams() == 0 })
}
