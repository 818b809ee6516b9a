package raps

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// Choosing the clone of a query.
//
// Power of two choices (two random candidates, the cheaper one wins) over
// a cost that predicts the wait at each clone, the way Finagle's "peak
// EWMA" balancer does: (in-flight + gossiped load + 1) × latency. In-flight
// counts are this client's own calls; the gossiped load is the node's own
// count of calls it serves (Node.Load, carried by memberlist), so several
// front ends see each other's load. The latency is a peak EWMA of this
// client's round trips to the node: a slower sample is taken at once, a
// faster one is averaged in with a weight that grows with the time since
// the last sample (time constant ewmaTau), and a node not heard from for
// a while drifts back to the prior, so a clone that was slow is tried
// again later. A call that fails, or that a hedge overtook, counts as a
// sample of the time it took: a stalled clone costs more at once. A node
// never measured costs the prior, so new nodes get traffic.
//
// A query slower than the recent p95 of all query round trips (with a
// quarter's margin) is hedged: sent to a second clone, the first answer
// wins and the other is cancelled. Hedges draw on a budget that each
// query refills by hedgeShare, up to hedgeBurst: over time at most that
// share of queries is hedged, so a slow cluster is not flooded with
// duplicates, and a quiet one has a few hedges in hand when a clone
// stalls.

const (
	ewmaPrior  = 50 * time.Microsecond  // a node not yet measured: optimistic, so it gets tried
	ewmaTau    = time.Second            // the peak EWMA's time constant
	hedgeShare = 0.1                    // at most this share of queries are hedged
	hedgeBurst = 10                     // hedges the budget holds at most
	hedgeFloor = 200 * time.Microsecond // never hedge sooner than this
	p95Window  = 512                    // round trips the p95 is taken over
)

type peerStats struct {
	inflight atomic.Int64
	// Under picker.mu: the peak EWMA (ns; 0 until the first sample) and
	// the time of its last sample.
	ewma  float64
	stamp time.Time
}

type picker struct {
	mu    sync.Mutex
	peers map[groupcomm.NodeID]*peerStats
	rng   *rand.Rand
	// The recent query round trips (a ring) and their p95, recomputed
	// every p95Window/8 samples.
	lat     []time.Duration
	next    int
	fresh   int
	p95     atomic.Int64
	queries atomic.Int64
	hedges  atomic.Int64
	wins    atomic.Int64 // hedges that answered first
	retries atomic.Int64
	budget  float64 // hedges in hand (under mu)
}

func newPicker() picker {
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	return picker{peers: map[groupcomm.NodeID]*peerStats{},
		rng: rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))}
}

func (p *picker) stats(id groupcomm.NodeID) *peerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.peers[id]
	if !ok {
		s = new(peerStats)
		p.peers[id] = s
	}
	return s
}

// start counts a call to id in flight; done ends it.
func (p *picker) start(id groupcomm.NodeID) (done func()) {
	s := p.stats(id)
	s.inflight.Add(1)
	return func() { s.inflight.Add(-1) }
}

// observe records a round trip to id that took took (a failure's or an
// overtaken call's time too); query samples also feed the p95.
func (p *picker) observe(id groupcomm.NodeID, took time.Duration, query bool) {
	s := p.stats(id)
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch x := float64(took); {
	case s.ewma == 0 || x > s.ewma:
		s.ewma = x // a peak is believed at once
	default:
		w := math.Exp(-float64(now.Sub(s.stamp)) / float64(ewmaTau))
		s.ewma = s.ewma*w + x*(1-w)
	}
	s.stamp = now
	if !query {
		return
	}
	if len(p.lat) < p95Window {
		p.lat = append(p.lat, took)
	} else {
		p.lat[p.next] = took
		p.next = (p.next + 1) % p95Window
	}
	if p.fresh++; p.fresh >= p95Window/8 {
		p.fresh = 0
		sorted := slices.Clone(p.lat)
		slices.Sort(sorted)
		p.p95.Store(int64(sorted[len(sorted)*95/100]))
	}
}

// cost predicts the wait for a call to id.
func (p *picker) cost(id groupcomm.NodeID, load func(groupcomm.NodeID) float64) float64 {
	s := p.stats(id)
	p.mu.Lock()
	lat := s.ewma
	if lat == 0 {
		lat = float64(ewmaPrior)
	} else if idle := time.Since(s.stamp); idle > ewmaTau {
		// Not heard from for a while: drift back to the prior.
		w := math.Exp(-float64(idle-ewmaTau) / float64(ewmaTau))
		lat = lat*w + float64(ewmaPrior)*(1-w)
	}
	p.mu.Unlock()
	q := float64(s.inflight.Load()) + 1
	if load != nil {
		q += max(load(id), 0)
	}
	return q * lat
}

// choose picks among cands by power of two choices. When self (this
// process's own node; 0 for a client that hosts nothing) is a candidate
// it is always one of the two: its clone answers without a hop, so it
// serves unless the other drawn is cheaper.
func (p *picker) choose(cands []groupcomm.NodeID, self groupcomm.NodeID, load func(groupcomm.NodeID) float64) groupcomm.NodeID {
	if len(cands) == 1 {
		return cands[0]
	}
	p.mu.Lock()
	i := p.rng.IntN(len(cands))
	j := p.rng.IntN(len(cands) - 1)
	p.mu.Unlock()
	if k := slices.Index(cands, self); self != 0 && k >= 0 {
		// self against one of the others, drawn uniformly.
		i = k
		if j >= k {
			j++
		}
	} else if j >= i {
		j++ // two distinct candidates
	}
	a, b := cands[i], cands[j]
	if p.cost(b, load) < p.cost(a, load) {
		return b
	}
	return a
}

// hedgeAfter is how long a query waits before it is hedged, and whether
// the budget allows a hedge at all.
func (p *picker) hedgeAfter() (time.Duration, bool) {
	d := time.Duration(p.p95.Load())
	if d == 0 { // not enough samples yet
		return 0, false
	}
	return max(d+d/4, hedgeFloor), true
}

// countQuery refills the hedge budget.
func (p *picker) countQuery() {
	p.queries.Add(1)
	p.mu.Lock()
	p.budget = min(p.budget+hedgeShare, hedgeBurst)
	p.mu.Unlock()
}

func (p *picker) takeHedge() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.budget < 1 {
		return false
	}
	p.budget--
	p.hedges.Add(1)
	return true
}

// queryCandidates are the partition's live voters not yet tried (all of
// them once every one was).
func (c *Client) queryCandidates(p *partitionmap.Partition, tried []groupcomm.NodeID) []groupcomm.NodeID {
	var cands []groupcomm.NodeID
	live := c.liveNow()
	for _, v := range p.Voters() {
		if id := groupcomm.NodeID(v.Node); !slices.Contains(tried, id) && c.isLive(id, live) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		for _, v := range p.Voters() {
			cands = append(cands, groupcomm.NodeID(v.Node))
		}
	}
	return cands
}

type queryAnswer struct {
	rep reply
	to  groupcomm.NodeID
	err error
}

// hedgedQuery sends req to a chosen clone and, if it has not answered
// within the recent p95 and the budget allows, to a second one; the first
// success wins (or the last failure). tried grows with the clones asked.
func (c *Client) hedgedQuery(ctx context.Context, p *partitionmap.Partition, req *request, tried *[]groupcomm.NodeID) (reply, groupcomm.NodeID, error) {
	c.pick.countQuery()
	// Every attempt runs to its end (an answer, or the attempt timeout),
	// even after another answered or the caller gave up: the clone that
	// lost to a hedge is charged its whole round trip, not the moment it
	// was overtaken, so a stalled clone's cost shows the stall and the
	// picker stops choosing it. A detached attempt is bounded by the
	// attempt timeout and holds its in-flight slot, which is true: the
	// clone is still busy with it.
	actx := context.WithoutCancel(ctx)
	answers := make(chan queryAnswer, 2)
	ask := func(to groupcomm.NodeID) {
		*tried = append(*tried, to)
		t0 := time.Now()
		go func() {
			rep, err := c.callAttempt(actx, to, req)
			c.pick.observe(to, time.Since(t0), err == nil) // a failure costs its time
			if err == nil {
				c.pos.note(req.group, to, rep.token, time.Now())
			}
			answers <- queryAnswer{rep, to, err}
		}()
	}
	ask(c.pick.choose(c.sessionCandidates(c.queryCandidates(p, *tried), req), c.self, c.load))
	first := (*tried)[len(*tried)-1]
	outstanding := 1
	var hedge <-chan time.Time
	if after, ok := c.pick.hedgeAfter(); ok && len(p.Voters()) > 1 {
		t := time.NewTimer(after)
		defer t.Stop()
		hedge = t.C
	}
	var last queryAnswer
	for outstanding > 0 {
		select {
		case a := <-answers:
			outstanding--
			if a.err == nil {
				if a.to != first {
					c.pick.wins.Add(1) // the hedge answered first
				}
				return a.rep, a.to, nil
			}
			last = a
		case <-ctx.Done():
			return reply{}, first, ctx.Err()
		case <-hedge:
			hedge = nil
			if c.pick.takeHedge() {
				ask(c.pick.choose(c.sessionCandidates(c.queryCandidates(p, *tried), req), c.self, c.load))
				outstanding++
			}
		}
	}
	return reply{}, last.to, last.err
}

// ClientStats are the Router's counters.
type ClientStats struct {
	Queries uint64 // query attempts
	Hedges  uint64 // of which were hedged to a second clone
	// HedgeWins counts the hedged queries whose answer came from the
	// hedge (the second clone answered first, or the first failed).
	HedgeWins uint64
	// Retries counts the attempts of updates and queries after the first
	// (each follows a retryable failure and a pause).
	Retries uint64
	// QueryP95 is the recent p95 of query round trips (the hedge delay).
	QueryP95 time.Duration
}

// Stats returns the Router's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{Queries: uint64(c.pick.queries.Load()), Hedges: uint64(c.pick.hedges.Load()),
		HedgeWins: uint64(c.pick.wins.Load()), Retries: uint64(c.pick.retries.Load()),
		QueryP95: time.Duration(c.pick.p95.Load())}
}
