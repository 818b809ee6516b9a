package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/racs"
)

func TestCallAndReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2, echo, nil)
		defer c.close()
		got, err := c.eps[1].Call(t.Context(), 2, []byte("ping"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "2 got ping from 1"; string(got) != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
		synctest.Wait()
		if s := c.net.Stats(); s.Sent != 2 || s.Delivered != 2 {
			t.Fatalf("memnet stats %+v: want one request and one reply", s)
		}
		if s := c.eps[1].Stats(); s.Sent != 1 || s.LateReplies != 0 || s.Malformed != 0 {
			t.Fatalf("caller stats %+v", s)
		}
		if s := c.eps[2].Stats(); s.Served != 1 || s.Sent != 0 {
			t.Fatalf("callee stats %+v", s)
		}
		// An empty request and an empty reply.
		c2 := newCluster(t, 2, same(func(context.Context, groupcomm.NodeID, []byte) ([]byte, error) { return nil, nil }), nil)
		defer c2.close()
		if got, err := c2.eps[2].Call(t.Context(), 1, nil); err != nil || len(got) != 0 {
			t.Fatalf("empty call: %q %v", got, err)
		}
	})
}

// A call without a deadline gives the handler a context without one.
func TestNoDeadlineNoTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2, same(func(ctx context.Context, _ groupcomm.NodeID, _ []byte) ([]byte, error) {
			if dl, ok := ctx.Deadline(); ok {
				return nil, fmt.Errorf("handler has a deadline %v", dl)
			}
			return []byte("ok"), nil
		}), nil)
		defer c.close()
		if _, err := c.eps[1].Call(context.Background(), 2, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLocalCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 1, echo, nil)
		defer c.close()
		ep := c.eps[1]
		got, err := ep.Call(t.Context(), 1, []byte("me"))
		if err != nil || string(got) != "1 got me from 1" {
			t.Fatalf("local call: %q %v", got, err)
		}
		synctest.Wait()
		if s := c.net.Stats(); s.Sent != 0 {
			t.Fatalf("a local call sent %d packets", s.Sent)
		}
		if s := ep.Stats(); s.Local != 1 || s.Sent != 0 || s.Served != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// A local call honours ctx, MaxInFlight and Close.
func TestLocalCallBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		running := make(chan struct{}, 4)
		c := newCluster(t, 1, same(func(ctx context.Context, _ groupcomm.NodeID, _ []byte) ([]byte, error) {
			running <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}), func(cfg *Config) { cfg.MaxInFlight = 1 })
		defer c.close()
		ep := c.eps[1]

		// The handler sees the caller's deadline.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := ep.Call(ctx, 1, nil)
		<-running
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("local call past its deadline: %v after %v", err, time.Since(start))
		}

		// One call in flight: the next is busy at once.
		errc := make(chan error, 1)
		go func() {
			_, err := ep.Call(context.Background(), 1, nil)
			errc <- err
		}()
		<-running
		if _, err := ep.Call(t.Context(), 1, nil); !errors.Is(err, ErrBusy) || errors.Is(err, ErrRemote) {
			t.Fatalf("second local call: %v, want ErrBusy", err)
		}
		if s := ep.Stats(); s.Busy != 1 {
			t.Fatalf("stats %+v", s)
		}
		// Close cancels the running handler and waits for it.
		ep.Close()
		if err := <-errc; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRemote) {
			t.Fatalf("local call cut by Close: %v", err)
		}
		if _, err := ep.Call(t.Context(), 1, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("local call after Close: %v", err)
		}
	})
}

// The caller's deadline travels with the request, as a relative timeout:
// the handler's context expires that long after the request arrived (here
// one network delay after the caller's). The caller sends no cancel; the
// reply the handler sends once its context ended is late and dropped.
func TestDeadlinePropagates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type seen struct {
			deadline time.Time
			err      error
		}
		seenc := make(chan seen, 1)
		const delay = time.Millisecond
		nc := memnet.DefaultConfig()
		nc.MinDelay, nc.MaxDelay = delay, delay
		c := newClusterOn(t, nc, 2, same(func(ctx context.Context, _ groupcomm.NodeID, _ []byte) ([]byte, error) {
			dl, _ := ctx.Deadline()
			<-ctx.Done()
			seenc <- seen{dl, ctx.Err()}
			return nil, ctx.Err()
		}), nil)
		defer c.close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		want, _ := ctx.Deadline()
		want = want.Add(delay)
		_, err := c.eps[1].Call(ctx, 2, []byte("slow"))
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrRemote) {
			t.Fatalf("call past its deadline: %v", err)
		}
		s := <-seenc
		if !s.deadline.Equal(want) || !errors.Is(s.err, context.DeadlineExceeded) {
			t.Fatalf("handler saw deadline %v (want %v) and %v", s.deadline, want, s.err)
		}
		time.Sleep(delay) // the bubble's clock: the reply's trip back
		synctest.Wait()
		if st := c.eps[1].Stats(); st.CancelsSent != 0 || st.LateReplies != 1 {
			t.Fatalf("caller stats %+v: want no cancel and one late reply", st)
		}
		if st := c.eps[2].Stats(); st.CancelsReceived != 0 || st.Served != 1 {
			t.Fatalf("callee stats %+v", st)
		}
	})
}

// Cancelling the caller's context cancels the remote handler's, and the
// callee sends no reply.
func TestCancelPropagates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		running := make(chan struct{})
		seen := make(chan error, 1)
		c := newCluster(t, 2, same(func(ctx context.Context, _ groupcomm.NodeID, _ []byte) ([]byte, error) {
			close(running)
			<-ctx.Done()
			seen <- ctx.Err()
			return nil, ctx.Err()
		}), nil)
		defer c.close()
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := c.eps[1].Call(ctx, 2, []byte("long"))
			errc <- err
		}()
		<-running
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: %v", err)
		}
		if err := <-seen; !errors.Is(err, context.Canceled) {
			t.Fatalf("handler's context ended with %v, want Canceled", err)
		}
		synctest.Wait()
		if s := c.net.Stats(); s.Sent != 2 {
			t.Fatalf("memnet sent %d packets, want the request and the cancel only", s.Sent)
		}
		if s := c.eps[1].Stats(); s.CancelsSent != 1 || s.LateReplies != 0 {
			t.Fatalf("caller stats %+v", s)
		}
		if s := c.eps[2].Stats(); s.CancelsReceived != 1 || s.Served != 1 {
			t.Fatalf("callee stats %+v", s)
		}
	})
}

func TestBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		c := newCluster(t, 2, same(func(_ context.Context, _ groupcomm.NodeID, body []byte) ([]byte, error) {
			<-release
			return body, nil
		}), func(cfg *Config) { cfg.MaxInFlight = 2 })
		defer c.close()
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				body := []byte{byte(i)}
				if got, err := c.eps[1].Call(t.Context(), 2, body); err != nil || !bytes.Equal(got, body) {
					t.Errorf("held call %d: %q %v", i, got, err)
				}
			})
		}
		synctest.Wait() // both handlers hold their slots
		start := time.Now()
		_, err := c.eps[1].Call(t.Context(), 2, []byte("third"))
		var re *RemoteError
		if !errors.Is(err, ErrBusy) || !errors.Is(err, ErrRemote) || !errors.As(err, &re) || re.Code != "rpc.busy" || re.Node != 2 {
			t.Fatalf("third call: %v, want a remote ErrBusy", err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("busy answer took %v", time.Since(start))
		}
		if s := c.eps[2].Stats(); s.Busy != 1 || s.Served != 0 {
			t.Fatalf("callee stats %+v", s)
		}
		close(release)
		wg.Wait()
		if _, err := c.eps[1].Call(t.Context(), 2, []byte("again")); err != nil {
			t.Fatalf("call after the slots freed: %v", err)
		}
	})
}

var (
	errGeneral  = errors.New("test: general")
	errSpecific = fmt.Errorf("test: specific: %w", errGeneral)
	errServer   = errors.New("test: known to the callee only")
)

// Handler errors come back wrapping ErrRemote and the sentinel of their
// code, for remote calls and calls to Self alike.
func TestErrorsCrossTheHop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := map[string]error{
			"racs.not_applied":     racs.ErrNotApplied,
			"racs.outcome_unknown": racs.ErrOutcomeUnknown,
			"test.general":         errGeneral,
			"test.specific":        errSpecific,
		}
		handler := func(_ context.Context, _ groupcomm.NodeID, body []byte) ([]byte, error) {
			switch string(body) {
			case "not_applied":
				return nil, fmt.Errorf("group 3: %w", racs.ErrNotApplied)
			case "unknown":
				return nil, racs.ErrOutcomeUnknown
			case "specific":
				return nil, fmt.Errorf("deep: %w", errSpecific)
			case "general":
				return nil, errGeneral
			case "server-only":
				return nil, errServer
			case "busy":
				return nil, fmt.Errorf("shedding: %w", ErrBusy)
			case "deadline":
				return nil, fmt.Errorf("store: %w", context.DeadlineExceeded)
			case "plain":
				return nil, errors.New("boom")
			}
			return body, nil
		}
		c := newCluster(t, 2, same(handler), func(cfg *Config) {
			cfg.Errors = map[string]error{}
			for k, v := range shared {
				cfg.Errors[k] = v
			}
			if cfg.Self == 2 {
				cfg.Errors["test.server_only"] = errServer
			}
		})
		defer c.close()
		cases := []struct {
			body  string
			code  string
			is    []error
			isNot []error
		}{
			{"not_applied", "racs.not_applied", []error{racs.ErrNotApplied}, []error{racs.ErrOutcomeUnknown, ErrBusy}},
			{"unknown", "racs.outcome_unknown", []error{racs.ErrOutcomeUnknown}, []error{racs.ErrNotApplied}},
			{"specific", "test.specific", []error{errSpecific, errGeneral}, nil},
			{"general", "test.general", []error{errGeneral}, []error{errSpecific}},
			{"busy", "rpc.busy", []error{ErrBusy}, nil},
			{"deadline", "rpc.deadline_exceeded", []error{context.DeadlineExceeded}, []error{context.Canceled}},
			{"plain", "", nil, []error{racs.ErrNotApplied, ErrBusy, errGeneral}},
		}
		for _, to := range []groupcomm.NodeID{2, 1} { // remote, then Self
			for _, tc := range cases {
				_, err := c.eps[1].Call(t.Context(), to, []byte(tc.body))
				var re *RemoteError
				if !errors.Is(err, ErrRemote) || !errors.As(err, &re) {
					t.Fatalf("to %d, %s: %v does not wrap ErrRemote", to, tc.body, err)
				}
				if re.Code != tc.code || re.Node != to {
					t.Errorf("to %d, %s: code %q node %d, want %q node %d", to, tc.body, re.Code, re.Node, tc.code, to)
				}
				for _, s := range tc.is {
					if !errors.Is(err, s) {
						t.Errorf("to %d, %s: %v does not wrap %v", to, tc.body, err, s)
					}
				}
				for _, s := range tc.isNot {
					if errors.Is(err, s) {
						t.Errorf("to %d, %s: %v wraps %v", to, tc.body, err, s)
					}
				}
			}
		}
		// A code the caller does not know: ErrRemote only, code and message
		// kept.
		_, err := c.eps[1].Call(t.Context(), 2, []byte("server-only"))
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != "test.server_only" || re.Message != errServer.Error() || errors.Is(err, errServer) {
			t.Fatalf("code unknown at the caller: %v (%+v)", err, re)
		}
		// The callee knows it: the other way round it crosses.
		if _, err := c.eps[2].Call(t.Context(), 2, []byte("server-only")); !errors.Is(err, errServer) {
			t.Fatalf("local: %v", err)
		}
	})
}

// A reply after the caller gave up is dropped, as is a reply to an ID
// nobody waits for.
func TestLateReplyDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		c := newCluster(t, 2, same(func(context.Context, groupcomm.NodeID, []byte) ([]byte, error) {
			<-release // ignores its context
			return []byte("too late"), nil
		}), nil)
		defer c.close()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := c.eps[1].Call(ctx, 2, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call: %v", err)
		}
		close(release)
		synctest.Wait()
		if s := c.eps[1].Stats(); s.LateReplies != 1 {
			t.Fatalf("stats %+v: want one late reply", s)
		}
		c.trs[2].Send([]racs.Packet{{From: 2, To: 1, Call: &racs.Call{ID: 12345, Reply: true, Body: newReply([]byte("x"))}}})
		synctest.Wait()
		if s := c.eps[1].Stats(); s.LateReplies != 2 || s.Malformed != 0 {
			t.Fatalf("stats %+v: want two late replies", s)
		}
	})
}

// Many callers on three nodes, calling each other and themselves: every
// call gets its own reply.
func TestManyConcurrentCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const nodes, callers, calls = 3, 40, 25
		c := newCluster(t, nodes, same(func(_ context.Context, from groupcomm.NodeID, body []byte) ([]byte, error) {
			return fmt.Appendf(nil, "%s<%d", body, from), nil
		}), nil)
		defer c.close()
		var wg sync.WaitGroup
		var done atomic.Int64
		for n := 1; n <= nodes; n++ {
			for k := range callers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
					for i := range calls {
						to := groupcomm.NodeID(1 + rng.IntN(nodes))
						body := fmt.Appendf(nil, "%d/%d/%d", n, k, i)
						ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
						got, err := c.eps[groupcomm.NodeID(n)].Call(ctx, to, body)
						cancel()
						if want := fmt.Sprintf("%s<%d", body, n); err != nil || string(got) != want {
							t.Errorf("call %s to %d: %q %v, want %q", body, to, got, err, want)
							return
						}
						done.Add(1)
					}
				})
			}
		}
		wg.Wait()
		if got := done.Load(); got != nodes*callers*calls {
			t.Fatalf("%d calls completed", got)
		}
		var st Stats
		for _, ep := range c.eps {
			s := ep.Stats()
			st.Sent += s.Sent
			st.Local += s.Local
			st.Served += s.Served
			st.LateReplies += s.LateReplies
			st.Busy += s.Busy
		}
		if st.Sent+st.Local != nodes*callers*calls || st.Served != st.Sent || st.LateReplies != 0 || st.Busy != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// Close fails pending calls with ErrClosed; a closed callee refuses with a
// remote ErrClosed, and closing it cancels its running handlers.
func TestCloseFailsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		running := make(chan struct{}, 4)
		ended := make(chan error, 4)
		c := newCluster(t, 3, same(func(ctx context.Context, _ groupcomm.NodeID, _ []byte) ([]byte, error) {
			running <- struct{}{}
			<-ctx.Done()
			ended <- ctx.Err()
			return nil, ctx.Err()
		}), nil)
		defer c.close()
		errc := make(chan error, 1)
		go func() {
			_, err := c.eps[1].Call(context.Background(), 2, nil)
			errc <- err
		}()
		<-running
		c.eps[1].Close()
		if err := <-errc; !errors.Is(err, ErrClosed) || errors.Is(err, ErrRemote) {
			t.Fatalf("pending call at Close: %v", err)
		}
		if _, err := c.eps[1].Call(t.Context(), 2, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("call after Close: %v", err)
		}
		synctest.Wait()
		if s := c.net.Stats(); s.Sent != 1 {
			t.Fatalf("memnet sent %d packets: a call after Close must send nothing", s.Sent)
		}
		// Closing node 2 cancels the handler that still runs there.
		c.eps[2].Close()
		if err := <-ended; !errors.Is(err, context.Canceled) {
			t.Fatalf("handler at Close: %v", err)
		}
		// A closed callee refuses.
		_, err := c.eps[3].Call(t.Context(), 2, nil)
		if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrRemote) {
			t.Fatalf("call to a closed callee: %v", err)
		}
		c.eps[2].Close() // idempotent
	})
}

func TestTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2, same(func(_ context.Context, _ groupcomm.NodeID, body []byte) ([]byte, error) {
			return bytes.Repeat(body, 2), nil
		}), func(cfg *Config) { cfg.MaxBody = 10 * int(cfg.Self) })
		defer c.close()
		// Over the caller's bound: nothing sent.
		if _, err := c.eps[1].Call(t.Context(), 2, make([]byte, 11)); !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrRemote) {
			t.Fatalf("request over the caller's MaxBody: %v", err)
		}
		synctest.Wait()
		if s := c.net.Stats(); s.Sent != 0 {
			t.Fatalf("sent %d packets", s.Sent)
		}
		// Over the callee's bound (node 1 takes 10 bytes).
		if _, err := c.eps[2].Call(t.Context(), 1, make([]byte, 11)); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrRemote) {
			t.Fatalf("request over the callee's MaxBody: %v", err)
		}
		// A reply over the callee's bound, remote and local.
		for _, to := range []groupcomm.NodeID{1, 2} {
			if _, err := c.eps[2].Call(t.Context(), to, make([]byte, 6*int(to))); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrRemote) {
				t.Fatalf("reply over the callee's MaxBody (to %d): %v", to, err)
			}
		}
		if got, err := c.eps[2].Call(t.Context(), 1, make([]byte, 5)); err != nil || len(got) != 10 {
			t.Fatalf("reply at the bound: %d bytes, %v", len(got), err)
		}
	})
}

// Malformed frames are dropped and counted, never answered.
func TestMalformedDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2, echo, nil)
		defer c.close()
		bad := []racs.Call{
			{ID: 1, Body: nil},
			{ID: 2, Body: []byte{9, 0}},                        // unknown kind
			{ID: 3, Body: []byte{kindRequest, 2}},              // unknown flag
			{ID: 4, Body: []byte{kindReply, 0}},                // reply without the Reply bit
			{ID: 5, Reply: true, Body: []byte{kindRequest, 0}}, // request with it
			{ID: 6, Body: []byte{kindRequest, flagDeadline, 0}},
			{ID: 7, Body: []byte{kindCancel, 0, 0}},
		}
		for i := range bad {
			c.trs[1].Send([]racs.Packet{{From: 1, To: 2, Call: &bad[i]}})
		}
		synctest.Wait()
		if s := c.eps[2].Stats(); s.Malformed != uint64(len(bad)) || s.Served != 0 {
			t.Fatalf("stats %+v", s)
		}
		if s := c.net.Stats(); s.Sent != uint64(len(bad)) {
			t.Fatalf("memnet sent %d packets: malformed frames were answered", s.Sent)
		}
		// A cancel for nothing is harmless.
		c.trs[1].Send([]racs.Packet{{From: 1, To: 2, Call: &racs.Call{ID: 99, Body: cancelFrame}}})
		synctest.Wait()
		if s := c.eps[2].Stats(); s.CancelsReceived != 1 || s.Malformed != uint64(len(bad)) {
			t.Fatalf("stats %+v", s)
		}
	})
}

// A request that arrives twice while it is served runs once.
func TestDuplicateRequestDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		release := make(chan struct{})
		c := newCluster(t, 2, same(func(context.Context, groupcomm.NodeID, []byte) ([]byte, error) {
			runs.Add(1)
			<-release
			return []byte("once"), nil
		}), nil)
		defer c.close()
		req := racs.Packet{From: 1, To: 2, Call: &racs.Call{ID: 7, Body: newRequest(0, []byte("x"))}}
		c.trs[1].Send([]racs.Packet{req, req})
		synctest.Wait()
		close(release)
		synctest.Wait()
		if s := c.eps[2].Stats(); runs.Load() != 1 || s.Duplicates != 1 || s.Served != 1 {
			t.Fatalf("%d runs, stats %+v", runs.Load(), s)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Self, ok.Send, ok.Handler = 1, func([]racs.Packet) {}, echo(1)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Config){
		"no self":        func(c *Config) { c.Self = 0 },
		"no send":        func(c *Config) { c.Send = nil },
		"no handler":     func(c *Config) { c.Handler = nil },
		"negative":       func(c *Config) { c.MaxInFlight = -1 },
		"reserved code":  func(c *Config) { c.Errors = map[string]error{"rpc.x": errGeneral} },
		"empty code":     func(c *Config) { c.Errors = map[string]error{"": errGeneral} },
		"long code":      func(c *Config) { c.Errors = map[string]error{string(make([]byte, 65)): errGeneral} },
		"nil error":      func(c *Config) { c.Errors = map[string]error{"x": nil} },
		"same error x 2": func(c *Config) { c.Errors = map[string]error{"x": errGeneral, "y": errGeneral} },
	}
	for name, f := range bad {
		c := ok
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	ep, err := New(Config{Self: 1, Send: ok.Send, Handler: ok.Handler})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if ep.cfg.MaxInFlight != DefaultMaxInFlight || ep.cfg.MaxBody != DefaultMaxBody {
		t.Fatalf("zero tunables not defaulted: %+v", ep.cfg)
	}
}
