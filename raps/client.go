package raps

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/rpc"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
)

// Client is the Router: key → partition → group → clone. An update goes
// to the group's sequencer (as a local clone sees the installed view, else
// the map's rank-0 clone, else any clone: every member may multicast); a
// query to a clone chosen by power of two choices (choose.go) over the
// gossiped load, the client's own in-flight calls and its latency EWMA,
// hedged to a second clone when slower than the recent p95. A call to a
// clone in this process takes no hop and no encoding.
//
// Retries across view and epoch changes are always safe: an update
// carries an idempotency key (the caller's, or one the client makes), so
// a retry after an unknown outcome applies at most once (G6).
//
// A Node's client is Node.Client; a stateless front end makes its own
// with NewClient (frontend.go).
type Client struct {
	self groupcomm.NodeID
	rpc  *rpc.Endpoint
	env  clientEnv
	load func(groupcomm.NodeID) float64 // gossiped load; nil: none
	live func() []groupcomm.NodeID      // the failure detector's live nodes; nil: all
	// attemptTimeout bounds one attempt of a call, so that a dead or
	// stalled clone costs one attempt, not the caller's whole deadline.
	attemptTimeout time.Duration
	clock          func() time.Time // admin command times
	pick           picker
	pos            positions // clones' last known applied positions
	stats          callStats // per-service counters (stats.go)
	// closer stops a client made by NewClient (nil for a Node's).
	closer func()
}

func newClient(self groupcomm.NodeID, ep *rpc.Endpoint, env clientEnv, load func(groupcomm.NodeID) float64,
	live func() []groupcomm.NodeID, attemptTimeout time.Duration) *Client {
	if attemptTimeout <= 0 {
		attemptTimeout = DefaultAttemptTimeout
	}
	return &Client{self: self, rpc: ep, env: env, load: load, live: live, attemptTimeout: attemptTimeout,
		clock: time.Now, pick: newPicker()}
}

// DefaultAttemptTimeout bounds one attempt of a Router call: past it the
// Router tries another clone (an update with the same idempotency key).
const DefaultAttemptTimeout = time.Second

// errAttemptTimeout: one attempt's time ran out while the caller's had
// not; the outcome of that attempt is unknown and the Router tries again.
var errAttemptTimeout = errors.New("raps: attempt timed out")

// callAttempt is call bounded by the attempt timeout.
func (c *Client) callAttempt(ctx context.Context, to groupcomm.NodeID, req *request) (reply, error) {
	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	rep, err := c.call(actx, to, req)
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = fmt.Errorf("%w at node %d: %w", errAttemptTimeout, to, err)
	}
	return rep, err
}

// isLive: whether the failure detector holds id alive (true without one).
func (c *Client) isLive(id groupcomm.NodeID, live []groupcomm.NodeID) bool {
	return live == nil || id == c.self || slices.Contains(live, id)
}

func (c *Client) liveNow() []groupcomm.NodeID {
	if c.live == nil {
		return nil
	}
	return c.live()
}

// Map returns the newest partition map the client knows (nil before the
// first).
func (c *Client) Map() *partitionmap.Map { return c.env.Map() }

// UpdateOptions are an update's options.
type UpdateOptions struct {
	// IdempotencyKey de-duplicates retries in the group's replicated
	// state; empty makes the client use one of its own for its retries.
	IdempotencyKey string
}

// Result is an applied update's result, or a query's answer.
type Result struct {
	Data      []byte
	Partition partitionmap.PartRef
	Group     uint64
	Token     racs.Token // the freshness token: pass it to a session read
	View      uint64
	Clone     groupcomm.NodeID // the node that answered
}

// maxAttempts bounds the Router's retries of one call.
const maxAttempts = 8

// Update applies op to the partition of key in service.
func (c *Client) Update(ctx context.Context, service string, key, op []byte, opts UpdateOptions) (res Result, err error) {
	start := time.Now()
	defer func() { c.stats.record(service, callUpdate, time.Since(start), err, false) }()
	return c.update(ctx, service, key, op, opts)
}

func (c *Client) update(ctx context.Context, service string, key, op []byte, opts UpdateOptions) (Result, error) {
	idem := opts.IdempotencyKey
	if idem == "" {
		idem = c.newKey()
	}
	var last error
	mayHave := false // some attempt may have been applied
	for attempt := range maxAttempts {
		p, err := c.locate(service, key)
		if err != nil {
			if mayHave {
				return Result{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
			}
			return Result{}, err
		}
		to := c.updateTarget(p, attempt)
		req := request{kind: kindUpdate, group: p.Group, incarnation: p.Incarnation, payload: op, idemKey: idem}
		rep, err := c.callAttempt(ctx, to, &req)
		if err == nil {
			c.pos.note(p.Group, to, rep.token, time.Now()) // the sequencer applied it
			return Result{Data: rep.data, Partition: p.Ref(), Group: p.Group, Token: rep.token, View: rep.view, Clone: to}, nil
		}
		last = err
		mayHave = mayHave || !certainlyNotApplied(err)
		if !retryable(err) || ctx.Err() != nil {
			break
		}
		if !c.pause(ctx, attempt) {
			break
		}
	}
	if mayHave && !errors.Is(last, ErrOutcomeUnknown) {
		// An earlier attempt may have been ordered: the retries carried
		// its idempotency key, but which happened is not known (G6).
		return Result{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, last)
	}
	return Result{}, last
}

// certainlyNotApplied: the attempt was refused before it could be ordered.
func certainlyNotApplied(err error) bool {
	return errors.Is(err, ErrNotApplied) || errors.Is(err, ErrNotHosted) || errors.Is(err, racs.ErrBusy) ||
		errors.Is(err, racs.ErrKeyReused) || errors.Is(err, ErrUnknownService) || errors.Is(err, ErrBadKey) ||
		errors.Is(err, rpc.ErrBusy) || errors.Is(err, rpc.ErrTooLarge)
}

// retryable: the update or query may be sent again (with the same
// idempotency key for an update).
func retryable(err error) bool {
	return errors.Is(err, ErrNotApplied) || errors.Is(err, ErrNotHosted) || errors.Is(err, racs.ErrBusy) ||
		errors.Is(err, racs.ErrStopped) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, racs.ErrStale) ||
		errors.Is(err, rpc.ErrBusy) || errors.Is(err, errAttemptTimeout) ||
		errors.Is(err, racs.ErrNoQuorum) // a read whose confirmation round failed (a view change): ask again
}

// pause waits before attempt+1 (a retry, counted in Stats.Retries);
// false if ctx ended first.
func (c *Client) pause(ctx context.Context, attempt int) bool {
	t := time.NewTimer(time.Duration(attempt+1) * 5 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		if attempt+1 < maxAttempts {
			c.pick.retries.Add(1)
		}
		return true
	case <-ctx.Done():
		return false
	}
}

// Query reads the partition of key at the level asked; token is the
// freshness token of a session read (zero otherwise).
func (c *Client) Query(ctx context.Context, service string, key, q []byte, level racs.Level, token racs.Token) (res Result, err error) {
	start := time.Now()
	defer func() { c.stats.record(service, callQuery, time.Since(start), err, false) }()
	p, err := c.locate(service, key)
	if err != nil {
		return Result{}, err
	}
	if err := c.checkLevel(service, level); err != nil {
		return Result{}, err
	}
	return c.queryPartition(ctx, p, q, level, token)
}

func (c *Client) queryPartition(ctx context.Context, p *partitionmap.Partition, q []byte, level racs.Level, token racs.Token) (Result, error) {
	var last error
	var tried []groupcomm.NodeID
	for attempt := range maxAttempts {
		req := request{kind: kindQuery, group: p.Group, incarnation: p.Incarnation, payload: q, level: level, token: token}
		rep, to, err := c.hedgedQuery(ctx, p, &req, &tried)
		if err == nil {
			return Result{Data: rep.data, Partition: p.Ref(), Group: p.Group, Token: rep.token, Clone: to}, nil
		}
		last = err
		if !retryable(err) || ctx.Err() != nil || !c.pause(ctx, attempt) {
			break
		}
		if m := c.env.Map(); m != nil { // the map may have moved on: choose among the latest clones
			if np, err := m.Partition(p.Ref()); err == nil {
				p = np
			}
		}
	}
	return Result{}, last
}

// PartResult is one partition's answer in a scatter.
type PartResult struct {
	Result
	Err error
}

// Scatter queries every partition of service in parallel, within ctx;
// partial is set when some partition did not answer (its Err says why).
func (c *Client) Scatter(ctx context.Context, service string, q []byte, level racs.Level) (out []PartResult, partial bool, err error) {
	start := time.Now()
	defer func() { c.stats.record(service, callScatter, time.Since(start), err, partial) }()
	m := c.env.Map()
	if m == nil {
		return nil, false, ErrNoMap
	}
	parts, err := m.ServicePartitions(service)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %q", ErrUnknownService, service)
	}
	if err := c.checkLevel(service, level); err != nil {
		return nil, false, err
	}
	out = make([]PartResult, len(parts))
	var wg sync.WaitGroup
	for i := range parts {
		p := &parts[i]
		wg.Go(func() {
			r, err := c.queryPartition(ctx, p, q, level, racs.Token{})
			out[i] = PartResult{Result: r, Err: err}
			if err != nil {
				out[i].Partition, out[i].Group = p.Ref(), p.Group
			}
		})
	}
	wg.Wait()
	for _, r := range out {
		if r.Err != nil {
			partial = true
		}
	}
	return out, partial, nil
}

func (c *Client) locate(service string, key []byte) (*partitionmap.Partition, error) {
	m := c.env.Map()
	if m == nil {
		return nil, ErrNoMap
	}
	p, err := m.Locate(service, key)
	switch {
	case errors.Is(err, partitionmap.ErrUnknownService):
		return nil, fmt.Errorf("%w: %q", ErrUnknownService, service)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return p, nil
}

// updateTarget: the group's sequencer as this process's clone sees it
// (the installed view), else the map's rank-0 clone; later attempts, and
// a first one whose choice the failure detector holds dead, go round the
// other live voters.
func (c *Client) updateTarget(p *partitionmap.Partition, attempt int) groupcomm.NodeID {
	live := c.liveNow()
	if attempt == 0 {
		s := c.env.sequencer(p.Group)
		if s == 0 {
			s = groupcomm.NodeID(p.Sequencer())
		}
		if c.isLive(s, live) {
			return s
		}
	}
	var cands []groupcomm.NodeID
	for _, v := range p.Voters() {
		if id := groupcomm.NodeID(v.Node); c.isLive(id, live) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		for _, v := range p.Voters() {
			cands = append(cands, groupcomm.NodeID(v.Node))
		}
	}
	return cands[attempt%len(cands)]
}

// call runs req at node to: in process if to is this node.
func (c *Client) call(ctx context.Context, to groupcomm.NodeID, req *request) (reply, error) {
	done := c.pick.start(to)
	defer done()
	if to == c.self {
		return c.env.local(ctx, req)
	}
	out, err := c.rpc.Call(ctx, to, req.encode())
	if err != nil {
		return reply{}, err
	}
	return decodeReply(out)
}

// fetchMap asks node to for its partition map, if newer than epoch
// since, and the management group's members.
func (c *Client) fetchMap(ctx context.Context, to groupcomm.NodeID, since uint64) (*partitionmap.Map, []groupcomm.NodeID, error) {
	rep, err := c.call(ctx, to, &request{kind: kindMap, incarnation: since})
	if err != nil {
		return nil, nil, err
	}
	return decodeMapReply(rep.data)
}

// adminRemote sends an encoded mgmt command to a management member.
func (c *Client) adminRemote(ctx context.Context, cmd []byte) ([]byte, error) {
	var last error = ErrNoMap
	for _, to := range c.env.mgmtMembers() {
		rep, err := c.call(ctx, to, &request{kind: kindAdmin, payload: cmd})
		if err == nil {
			return rep.data, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// historyRemote asks a management member for the map's history.
func (c *Client) historyRemote(ctx context.Context, since uint64, limit int) ([]mgmt.Change, error) {
	var last error = ErrNoMap
	for _, to := range c.env.mgmtMembers() {
		rep, err := c.call(ctx, to, &request{kind: kindHistory, group: since, incarnation: uint64(max(limit, 0))})
		if err == nil {
			var out []mgmt.Change
			if err := json.Unmarshal(rep.data, &out); err != nil {
				return nil, fmt.Errorf("%w: history: %v", errMalformed, err)
			}
			return out, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func (c *Client) newKey() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return "raps-" + hex.EncodeToString(b[:])
}
