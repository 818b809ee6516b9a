package raps_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

func streamingKV(retain int) raps.Service {
	s := rapstest.KVService(2, 3, partitionmap.Memory)
	s.Retain = retain
	return s
}

// collector follows a subscription in the background and keeps what it
// saw.
type collector struct {
	mu     sync.Mutex
	ups    []string // the put values, in stream order
	toks   []racs.Token
	clones map[groupcomm.NodeID]bool
	// beatClones are the clones heartbeats came from.
	beatClones map[groupcomm.NodeID]bool
	beats      int
	err        error
	done       chan struct{}
}

func follow(ctx context.Context, fe *raps.Client, target raps.Target, from racs.Token) *collector {
	col := &collector{clones: map[groupcomm.NodeID]bool{}, beatClones: map[groupcomm.NodeID]bool{}, done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for ev, err := range fe.Subscribe(ctx, raps.KVServiceName, target, from) {
			col.mu.Lock()
			switch {
			case err != nil:
				col.err = err
			case ev.Heartbeat:
				col.beats++
				col.beatClones[ev.Clone] = true
			default:
				_, _, vals, derr := kv.Decode(ev.Update)
				if derr != nil || len(vals) != 1 {
					col.err = fmt.Errorf("undecodable update %q: %v", ev.Update, derr)
					break
				}
				col.ups = append(col.ups, string(vals[0]))
				col.toks = append(col.toks, ev.Token)
				col.clones[ev.Clone] = true
			}
			col.mu.Unlock()
		}
	}()
	return col
}

func (col *collector) count() int {
	col.mu.Lock()
	defer col.mu.Unlock()
	return len(col.ups)
}

// A subscriber sees every acknowledged update of its partition once, in
// the group's order, across the crash of the clone it was attached to;
// one that resumes from a token sees exactly what follows it; heartbeats
// flow while the partition is quiet.
func TestSubscribeFollowsAcrossACloneCrash(t *testing.T) {
	c := rapstest.New(t, 3, rapstest.WithServices(streamingKV(1000)))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key := []byte("room")
	put := func(v string) racs.Token {
		t.Helper()
		for {
			res, err := fe.Update(ctx, raps.KVServiceName, key, kv.Encode(kv.OpPut, string(key), []byte(v)), raps.UpdateOptions{IdempotencyKey: "put-" + v})
			if err == nil {
				return res.Token
			}
			if ctx.Err() != nil {
				t.Fatalf("put %s: %v", v, err)
			}
		}
	}
	first := put("v0")
	col := follow(ctx, fe, raps.KeyTarget(key), first)
	var want []string
	for i := 1; i <= 20; i++ {
		want = append(want, fmt.Sprint("v", i))
		put(want[len(want)-1])
	}
	c.WaitFor("the subscriber saw 20 updates", time.Minute, func() bool { return col.count() >= 20 })
	col.mu.Lock()
	var attached groupcomm.NodeID
	for id := range col.clones {
		attached = id
	}
	col.mu.Unlock()
	c.Kill(attached)
	for i := 21; i <= 40; i++ {
		want = append(want, fmt.Sprint("v", i))
		put(want[len(want)-1])
	}
	c.WaitFor("the subscriber saw 40 updates", time.Minute, func() bool { return col.count() >= 40 })
	beatsBefore := func() int { col.mu.Lock(); defer col.mu.Unlock(); return col.beats }()
	c.WaitFor("a heartbeat on the quiet stream", 30*time.Second, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return col.beats > beatsBefore
	})
	cancel()
	<-col.done
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.err != nil {
		t.Fatalf("subscription ended with %v", col.err)
	}
	if fmt.Sprint(col.ups) != fmt.Sprint(want) {
		t.Fatalf("stream:\n got %v\nwant %v", col.ups, want)
	}
	for i := 1; i < len(col.toks); i++ {
		if col.toks[i].Seq <= col.toks[i-1].Seq {
			t.Fatalf("tokens not increasing at %d: %v then %v", i, col.toks[i-1], col.toks[i])
		}
	}
	if len(col.clones) < 2 {
		t.Fatalf("the stream never moved off the crashed clone %d: clones %v", attached, col.clones)
	}

	// Resuming from the token of the 30th update gives exactly the 10 after it.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	col2 := follow(ctx2, fe, raps.KeyTarget(key), col.toks[29])
	c.WaitFor("the resumed subscriber saw 10 updates", time.Minute, func() bool { return col2.count() >= 10 })
	cancel2()
	<-col2.done
	if fmt.Sprint(col2.ups) != fmt.Sprint(want[30:]) {
		t.Fatalf("resumed stream:\n got %v\nwant %v", col2.ups, want[30:])
	}
}

// A subscriber behind the retention gets ErrCompacted with a floor, and a
// Strict read's token is a place to resubscribe from; a service without
// retention offers no stream.
func TestSubscribeBehindRetentionIsCompacted(t *testing.T) {
	c := rapstest.New(t, 3, rapstest.WithServices(streamingKV(5)))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := []byte("k")
	var first racs.Token
	for i := range 12 {
		res, err := fe.Update(ctx, raps.KVServiceName, key, kv.Encode(kv.OpPut, "k", []byte(fmt.Sprint(i))), raps.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = res.Token
		}
	}
	var got error
	for _, err := range fe.Subscribe(ctx, raps.KVServiceName, raps.KeyTarget(key), first) {
		if err != nil {
			got = err
			break
		}
	}
	var ce *racs.CompactedError
	if !errors.Is(got, racs.ErrCompacted) || !errors.As(got, &ce) || ce.Floor.Seq <= first.Seq {
		t.Fatalf("subscribing far behind: %v, want ErrCompacted with a floor after %v", got, first)
	}
	res, err := fe.Query(ctx, raps.KVServiceName, key, kv.Encode(kv.OpGet, "k"), racs.Strict, racs.Token{})
	if err != nil {
		t.Fatal(err)
	}
	sub, stop := context.WithCancel(ctx)
	col := follow(sub, fe, raps.KeyTarget(key), res.Token)
	if _, err := fe.Update(ctx, raps.KVServiceName, key, kv.Encode(kv.OpPut, "k", []byte("after")), raps.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("the resynced subscriber saw the next update", time.Minute, func() bool { return col.count() >= 1 })
	stop()
	<-col.done
	if col.err != nil || col.ups[0] != "after" {
		t.Fatalf("after the resync: %v %v, want [after]", col.ups, col.err)
	}
	// Bad targets end the stream with a clear error.
	for _, err := range fe.Subscribe(ctx, "nope", raps.KeyTarget(key), racs.Token{}) {
		if !errors.Is(err, raps.ErrUnknownService) {
			t.Fatalf("unknown service: %v", err)
		}
	}
	for _, err := range fe.Subscribe(ctx, raps.KVServiceName, raps.PartitionTarget(99), racs.Token{}) {
		if !errors.Is(err, raps.ErrBadKey) {
			t.Fatalf("unknown partition: %v", err)
		}
	}
}

// A subscriber that stops reading holds nothing at the clones (the
// stream is pulled: no call is open while it does not ask, and the clones
// keep one ring for everyone); the others see every update meanwhile, and
// when it reads again past what the ring still holds it gets ErrCompacted,
// not a stream with a hole.
func TestStalledSubscriberGetsCompacted(t *testing.T) {
	c := rapstest.New(t, 3, rapstest.WithServices(streamingKV(20)))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := []byte("k")
	put := func(v string) racs.Token {
		t.Helper()
		res, err := fe.Update(ctx, raps.KVServiceName, key, kv.Encode(kv.OpPut, "k", []byte(v)), raps.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Token
	}
	from := put("v0")
	stalled, resume := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	go func() {
		n := 0
		for _, err := range fe.Subscribe(ctx, raps.KVServiceName, raps.KeyTarget(key), from) {
			if err != nil {
				result <- err
				return
			}
			if n++; n == 1 {
				close(stalled)
				<-resume // stops reading here
			}
		}
		result <- ctx.Err()
	}()
	put("v1")
	<-stalled
	reader := follow(ctx, fe, raps.KeyTarget(key), from)
	for i := 2; i <= 100; i++ {
		put(fmt.Sprint("v", i))
	}
	c.WaitFor("the reading subscriber saw all 100", time.Minute, func() bool { return reader.count() >= 100 })
	close(resume)
	if err := <-result; !errors.Is(err, racs.ErrCompacted) {
		t.Fatalf("the stalled subscriber, reading again: %v, want ErrCompacted", err)
	}
	reader.mu.Lock()
	defer reader.mu.Unlock()
	if reader.err != nil || len(reader.ups) != 100 || reader.ups[99] != "v100" {
		t.Fatalf("the reading subscriber: %d updates, last %q, err %v", len(reader.ups), reader.ups[len(reader.ups)-1], reader.err)
	}
}

// A clone cut off from its group's majority (but still reachable by the
// subscriber): the subscriber goes on with a clone of the majority and
// sees the updates made meanwhile, rather than waiting behind the cut-off
// clone until it heals (a heartbeat comes only from a clone that can
// confirm it is current: racs.Group.ConfirmFresh).
func TestSubscriberLeavesACutOffClone(t *testing.T) {
	c := rapstest.New(t, 3, rapstest.WithServices(streamingKV(1000)))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key := []byte("k")
	res, err := fe.Update(ctx, raps.KVServiceName, key, kv.Encode(kv.OpPut, "k", []byte("v0")), raps.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	col := follow(ctx, fe, raps.KeyTarget(key), res.Token)
	var attached groupcomm.NodeID
	c.WaitFor("a heartbeat names the clone", time.Minute, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		for id := range col.beatClones {
			attached = id
		}
		return attached != 0
	})
	_, clones := c.ClonesOf(raps.KVServiceName, key)
	for _, o := range clones {
		if o != attached {
			c.Net().Cut(attached, o)
			c.Net().Cut(o, attached)
		}
	}
	for i := 1; i <= 5; i++ {
		if _, err := fe.Update(ctx, raps.KVServiceName, key, kv.Encode(kv.OpPut, "k", []byte(fmt.Sprint("v", i))), raps.UpdateOptions{}); err != nil {
			t.Fatalf("an update with node %d cut off: %v", attached, err)
		}
	}
	c.WaitFor("the subscriber saw the 5 updates made while its clone was cut off", time.Minute, func() bool { return col.count() >= 5 })
	c.Heal()
}
