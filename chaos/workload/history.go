package workload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// Outcome is what a client learned of an operation.
type Outcome int8

const (
	// Pending: invoked, not completed (the run stopped first): unknown.
	Pending Outcome = iota
	// OK: acknowledged.
	OK
	// Fail: certainly not applied.
	Fail
	// Unknown: may have been applied, now or later.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Unknown:
		return "unknown"
	}
	return "pending"
}

// Op is one recorded operation.
type Op struct {
	Index    int    // position in the history (invocation order)
	Client   int    // the client, unique across workloads
	Workload string // append, register, session, bank, idem
	Kind     string // append, list, put, get, cas, transfer, read
	Key      string
	Value    string     // append token, put value, cas new value, transfer "from>to:amount"
	Expect   string     // cas expected value
	IdemKey  string     // the idempotency key sent, if the client chose one
	Level    racs.Level // of a read
	Outcome  Outcome
	Result   string     // get: the value read; cas: "true"/"false"; transfer: ok/insufficient
	List     []string   // list read: the elements; bank read: the balances
	Data     []byte     // an update's raw result
	Token    racs.Token // an acknowledged update's freshness token
	Err      string
	Call     time.Duration // since the history began (monotonic clock)
	Return   time.Duration // completion; 0 while pending
}

func (o *Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d c%d %s %s %q", o.Index, o.Client, o.Workload, o.Kind, o.Key)
	if o.Value != "" {
		fmt.Fprintf(&b, " v=%q", o.Value)
	}
	if o.Expect != "" || o.Kind == "cas" {
		fmt.Fprintf(&b, " expect=%q", o.Expect)
	}
	if o.Kind == "get" || o.Kind == "list" || o.Kind == "read" {
		fmt.Fprintf(&b, " level=%d", o.Level)
	}
	fmt.Fprintf(&b, " [%v, %v] %s", o.Call, o.Return, o.Outcome)
	if o.Result != "" {
		fmt.Fprintf(&b, " -> %q", o.Result)
	}
	if o.List != nil {
		l := o.List
		if len(l) > 8 {
			fmt.Fprintf(&b, " -> %d elements, last %q", len(l), l[len(l)-4:])
		} else {
			fmt.Fprintf(&b, " -> %q", l)
		}
	}
	if o.Err != "" {
		fmt.Fprintf(&b, " err=%s", o.Err)
	}
	return b.String()
}

// History records operations; it is safe for concurrent use.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewHistory starts a history now.
func NewHistory() *History { return &History{start: time.Now()} }

// Start is when the history began.
func (h *History) Start() time.Time { return h.start }

// Since is the monotonic time since the history began.
func (h *History) Since() time.Duration { return time.Since(h.start) }

// invoke records op as invoked now and returns its index.
func (h *History) invoke(op Op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Index = len(h.ops)
	op.Call = time.Since(h.start)
	op.Outcome = Pending
	h.ops = append(h.ops, op)
	return op.Index
}

// complete records op i's completion now; f fills in the outcome.
func (h *History) complete(i int, f func(*Op)) Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := &h.ops[i]
	f(op)
	op.Return = time.Since(h.start)
	return *op
}

// Ops returns a copy of the operations so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Summary counts operations by outcome.
type Summary struct {
	Ops, OK, Fail, Unknown, Pending int
	ByWorkload                      map[string][4]int // ok, fail, unknown, pending
}

func (s Summary) String() string {
	return fmt.Sprintf("%d operations: %d ok, %d fail, %d unknown, %d pending", s.Ops, s.OK, s.Fail, s.Unknown, s.Pending)
}

// Summarize counts ops.
func Summarize(ops []Op) Summary {
	s := Summary{Ops: len(ops), ByWorkload: map[string][4]int{}}
	for _, o := range ops {
		c := s.ByWorkload[o.Workload]
		switch o.Outcome {
		case OK:
			s.OK++
			c[0]++
		case Fail:
			s.Fail++
			c[1]++
		case Unknown:
			s.Unknown++
			c[2]++
		default:
			s.Pending++
			c[3]++
		}
		s.ByWorkload[o.Workload] = c
	}
	return s
}

// UpdateOutcome classifies an update's error: nil is OK; the refusals
// that guarantee nothing was applied (raps.ErrNotApplied, no map, not
// hosted, busy, unknown service, bad key, a reused idempotency key) are
// Fail; anything else — raps.ErrOutcomeUnknown, a deadline, a stopped
// group, an error this package does not know — is Unknown, since the
// update may have been ordered.
func UpdateOutcome(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, raps.ErrOutcomeUnknown):
		return Unknown
	case errors.Is(err, raps.ErrNotApplied), errors.Is(err, raps.ErrNoMap), errors.Is(err, raps.ErrNotHosted),
		errors.Is(err, racs.ErrBusy), errors.Is(err, raps.ErrUnknownService), errors.Is(err, raps.ErrBadKey),
		errors.Is(err, racs.ErrKeyReused):
		return Fail
	}
	return Unknown
}

// Violation is a checker's finding.
type Violation struct {
	Check  string // which property
	Detail string
	Ops    []Op // the operations involved (an excerpt)
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", v.Check, v.Detail)
	for i := range v.Ops {
		if i == 12 {
			fmt.Fprintf(&b, "\n    … %d more", len(v.Ops)-i)
			break
		}
		fmt.Fprintf(&b, "\n    %s", v.Ops[i].String())
	}
	return b.String()
}

// opsOn returns the ops of the history on key, in invocation order
// (an excerpt for a violation), at most n of them, the last ones.
func opsOn(ops []Op, workload, key string, n int) []Op {
	var out []Op
	for _, o := range ops {
		if o.Workload == workload && o.Key == key {
			out = append(out, o)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// pace waits d or until ctx ends; false if ctx ended.
func pace(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
