package raps

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/rpc"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Client is the Router: key → partition → group → clone. An update goes
// to the group's sequencer (the map's rank-0 clone, else any clone: every
// member may multicast); a query to a clone chosen by power of two
// choices over the client's own in-flight counts. A call to a clone in
// this process takes no hop and no encoding.
//
// Retries across view and epoch changes are always safe: an update
// carries an idempotency key (the caller's, or one the client makes), so
// a retry after an unknown outcome applies at most once (G6).
type Client struct {
	n        *Node
	mu       sync.Mutex
	inflight map[groupcomm.NodeID]*atomic.Int64
	rng      *rand.Rand
}

func newClient(n *Node) *Client {
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	return &Client{n: n, inflight: map[groupcomm.NodeID]*atomic.Int64{},
		rng: rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))}
}

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
func (c *Client) Update(ctx context.Context, service string, key, op []byte, opts UpdateOptions) (Result, error) {
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
		rep, err := c.call(ctx, to, &req)
		if err == nil {
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
		errors.Is(err, rpc.ErrBusy)
}

func (c *Client) pause(ctx context.Context, attempt int) bool {
	t := time.NewTimer(time.Duration(attempt+1) * 5 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Query reads the partition of key at the level asked; token is the
// freshness token of a session read (zero otherwise).
func (c *Client) Query(ctx context.Context, service string, key, q []byte, level racs.Level, token racs.Token) (Result, error) {
	p, err := c.locate(service, key)
	if err != nil {
		return Result{}, err
	}
	return c.queryPartition(ctx, p, q, level, token)
}

func (c *Client) queryPartition(ctx context.Context, p *partitionmap.Partition, q []byte, level racs.Level, token racs.Token) (Result, error) {
	var last error
	var tried []groupcomm.NodeID
	for attempt := range maxAttempts {
		to := c.queryTarget(p, tried)
		tried = append(tried, to)
		req := request{kind: kindQuery, group: p.Group, incarnation: p.Incarnation, payload: q, level: level, token: token}
		rep, err := c.call(ctx, to, &req)
		if err == nil {
			return Result{Data: rep.data, Partition: p.Ref(), Group: p.Group, Token: rep.token, Clone: to}, nil
		}
		last = err
		if !retryable(err) || ctx.Err() != nil || !c.pause(ctx, attempt) {
			break
		}
		if m := c.n.Map(); m != nil { // the map may have moved on: choose among the latest clones
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
	m := c.n.Map()
	if m == nil {
		return nil, false, ErrNoMap
	}
	parts, err := m.ServicePartitions(service)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %q", ErrUnknownService, service)
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
	m := c.n.Map()
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

// updateTarget: the group's sequencer as this node sees it (its own clone
// knows the installed view), else the map's rank-0 clone; later attempts
// go round the other clones.
func (c *Client) updateTarget(p *partitionmap.Partition, attempt int) groupcomm.NodeID {
	if attempt == 0 {
		if g, err := c.n.host.Group(replica.GroupID(p.Group)); err == nil {
			if s := g.Info().Sequencer.Node; s != 0 {
				return s
			}
		}
		return groupcomm.NodeID(p.Sequencer())
	}
	voters := p.Voters()
	return groupcomm.NodeID(voters[attempt%len(voters)].Node)
}

// queryTarget: power of two choices among the voters not yet tried, by
// this client's in-flight calls (the least loaded of two random clones).
func (c *Client) queryTarget(p *partitionmap.Partition, tried []groupcomm.NodeID) groupcomm.NodeID {
	var cands []groupcomm.NodeID
	for _, v := range p.Voters() {
		id := groupcomm.NodeID(v.Node)
		seen := false
		for _, t := range tried {
			seen = seen || t == id
		}
		if !seen {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		for _, v := range p.Voters() {
			cands = append(cands, groupcomm.NodeID(v.Node))
		}
	}
	c.mu.Lock()
	a := cands[c.rng.IntN(len(cands))]
	b := cands[c.rng.IntN(len(cands))]
	c.mu.Unlock()
	if c.counter(b).Load() < c.counter(a).Load() {
		return b
	}
	return a
}

func (c *Client) counter(id groupcomm.NodeID) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.inflight[id]
	if !ok {
		n = new(atomic.Int64)
		c.inflight[id] = n
	}
	return n
}

// call runs req at node to: in process if to is this node.
func (c *Client) call(ctx context.Context, to groupcomm.NodeID, req *request) (reply, error) {
	cnt := c.counter(to)
	cnt.Add(1)
	defer cnt.Add(-1)
	if to == c.n.cfg.ID {
		return c.n.handle(ctx, req)
	}
	out, err := c.n.rpc.Call(ctx, to, req.encode())
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
	for _, to := range *c.n.mgmtVia.Load() {
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

func (c *Client) newKey() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return "raps-" + hex.EncodeToString(b[:])
}
