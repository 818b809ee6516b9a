package raps

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Trace is the route of one key as this Router sees it now: key → hash
// (or range) → partition → group → view → clones, with the numbers the
// query picker weighs for each clone, the clone it would favour and why,
// and where an update would go. It is a snapshot for an operator (the
// admin API's trace); the picker's real choice draws two clones at
// random, so a query may go to another candidate (Chance says how often).
type Trace struct {
	Service string `json:"service"`
	Key     []byte `json:"key"`
	// Partitioning is "hash" or "range". A hash service's key has a
	// Hash (xxhash64) and a Slot (Hash mod Slots) owned by the
	// partition's [SlotLo, SlotHi); a range service's key falls in the
	// partition's [Start, End).
	Partitioning string               `json:"partitioning"`
	Hash         uint64               `json:"hash,omitempty"`
	Slot         uint32               `json:"slot,omitempty"`
	Slots        uint32               `json:"slots,omitempty"`
	SlotLo       uint32               `json:"slot_lo,omitempty"`
	SlotHi       uint32               `json:"slot_hi,omitempty"`
	Start        partitionmap.Key     `json:"start,omitempty"`
	End          partitionmap.Key     `json:"end,omitempty"`
	Partition    partitionmap.PartRef `json:"partition"`
	Group        uint64               `json:"group"`
	Incarnation  uint64               `json:"incarnation"`
	Epoch        uint64               `json:"epoch"` // of the map the route was read from
	// View is the group's installed view as this process's clone sees it;
	// ViewKnown is false when this process hosts no clone of the group (a
	// front end), and View is then 0.
	View      uint64 `json:"view"`
	ViewKnown bool   `json:"view_known"`
	// UpdateTo is where an update would be sent first (the sequencer as
	// a local clone sees it, else the map's rank-0 clone, else another
	// live voter).
	UpdateTo groupcomm.NodeID `json:"update_to"`
	Clones   []TraceClone     `json:"clones"`
	// Chosen is the query candidate the picker favours now (the lowest
	// predicted wait; 0 if there is none) and Reason says why, in words.
	Chosen groupcomm.NodeID `json:"chosen"`
	Reason string           `json:"reason"`
	// HedgeAfter is how long a query waits before it is hedged to a second
	// clone (0: not enough samples yet), HedgeBudget the hedges in hand.
	HedgeAfter  time.Duration `json:"hedge_after_ns"`
	HedgeBudget float64       `json:"hedge_budget"`
}

// TraceClone is one clone of the traced partition and the picker's
// numbers for its node.
type TraceClone struct {
	Node  groupcomm.NodeID `json:"node"`
	Role  string           `json:"role"`            // "voter" or "learner"
	Ready bool             `json:"ready,omitempty"` // a learner that holds its state
	// Live: the failure detector holds the node alive. Candidate: a query
	// may go to it now (a voter, live — or every voter when none is).
	Live      bool `json:"live"`
	Candidate bool `json:"candidate"`
	// InFlight are this client's calls to the node now; Load its
	// gossiped load; EWMA the peak EWMA of this client's round trips to
	// it (the prior for a node never measured, drifting back to it after
	// an idle second); Cost the predicted wait, (InFlight + Load + 1) ×
	// EWMA, in nanoseconds.
	InFlight int64         `json:"in_flight"`
	Load     float64       `json:"load"`
	EWMA     time.Duration `json:"ewma_ns"`
	Measured bool          `json:"measured"`
	Cost     float64       `json:"cost"`
	// Chance is the probability that power of two choices sends a query
	// to this clone, given these costs.
	Chance float64 `json:"chance"`
}

// Trace returns the route of key in service now (ErrNoMap,
// ErrUnknownService, ErrBadKey as Update would). It sends nothing and
// changes nothing the picker decides by.
func (c *Client) Trace(service string, key []byte) (Trace, error) {
	p, err := c.locate(service, key)
	if err != nil {
		return Trace{}, err
	}
	m := c.env.Map()
	tr := Trace{Service: service, Key: slices.Clone(key), Partition: p.Ref(), Group: p.Group,
		Incarnation: p.Incarnation, Epoch: m.Epoch, UpdateTo: c.updateTarget(p, 0)}
	if s, err := m.Service(service); err == nil {
		switch s.Partitioning {
		case partitionmap.Hash:
			tr.Partitioning = "hash"
			tr.Hash = xxhash.Sum64(key)
			tr.Slots = s.Slots
			if s.Slots > 0 {
				tr.Slot = uint32(tr.Hash % uint64(s.Slots))
			}
			tr.SlotLo, tr.SlotHi = p.SlotLo, p.SlotHi
		case partitionmap.Range:
			tr.Partitioning = "range"
			tr.Start, tr.End = p.Start, p.End
		}
	}
	if n, ok := c.env.(*Node); ok {
		if g, err := n.host.Group(replica.GroupID(p.Group)); err == nil {
			tr.View, tr.ViewKnown = g.Info().View, true
		}
	}
	live := c.liveNow()
	cands := c.queryCandidates(p, nil)
	for _, cl := range p.Clones {
		id := groupcomm.NodeID(cl.Node)
		tc := TraceClone{Node: id, Role: "voter", Ready: cl.Ready, Live: c.isLive(id, live),
			Candidate: cl.Role == partitionmap.Voter && slices.Contains(cands, id)}
		if cl.Role == partitionmap.Learner {
			tc.Role = "learner"
		}
		tc.InFlight, tc.EWMA, tc.Measured = c.pick.peek(id)
		if c.load != nil {
			tc.Load = max(c.load(id), 0)
		}
		tc.Cost = c.pick.cost(id, c.load)
		tr.Clones = append(tr.Clones, tc)
	}
	tr.Chosen, tr.Reason = explainChoice(tr.Clones, c.self)
	tr.HedgeAfter, _ = c.pick.hedgeAfter()
	tr.HedgeBudget = c.pick.budgetNow()
	return tr, nil
}

// peek reads the picker's numbers for id without recording anything:
// the calls in flight and the latency cost uses now (the peak EWMA,
// drifting back to the prior after an idle ewmaTau; the prior for a node
// never measured).
func (p *picker) peek(id groupcomm.NodeID) (inflight int64, lat time.Duration, measured bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.peers[id]
	if !ok || s.ewma == 0 {
		if ok {
			inflight = s.inflight.Load()
		}
		return inflight, ewmaPrior, false
	}
	l := s.ewma
	if idle := time.Since(s.stamp); idle > ewmaTau {
		w := math.Exp(-float64(idle-ewmaTau) / float64(ewmaTau))
		l = l*w + float64(ewmaPrior)*(1-w)
	}
	return s.inflight.Load(), time.Duration(l), true
}

func (p *picker) budgetNow() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.budget
}

// explainChoice fills each candidate's Chance under power of two choices
// (two distinct candidates drawn uniformly, or self against one other
// when self is a candidate; the cheaper wins, the first drawn on a tie)
// and names the favourite.
func explainChoice(cl []TraceClone, self groupcomm.NodeID) (groupcomm.NodeID, string) {
	var idx []int
	selfAt := -1
	for i := range cl {
		if cl[i].Candidate {
			if self != 0 && cl[i].Node == self {
				selfAt = i
			}
			idx = append(idx, i)
		}
	}
	switch len(idx) {
	case 0:
		return 0, "no voter to query"
	case 1:
		cl[idx[0]].Chance = 1
		x := &cl[idx[0]]
		return x.Node, fmt.Sprintf("node %d is the only query candidate (%s); cost %s", x.Node, aliveWord(x), costWords(x))
	}
	n := float64(len(idx))
	best := idx[0]
	for _, i := range idx {
		if cl[i].Cost < cl[best].Cost || (selfAt >= 0 && i == selfAt && !(cl[best].Cost < cl[i].Cost)) {
			best = i
		}
	}
	if selfAt >= 0 {
		// self, drawn first, against each other candidate with chance
		// 1/(n-1).
		for _, j := range idx {
			if j == selfAt {
				continue
			}
			if cl[j].Cost < cl[selfAt].Cost {
				cl[j].Chance = 1 / (n - 1)
			} else {
				cl[selfAt].Chance += 1 / (n - 1)
			}
		}
	} else {
		pairs := n * (n - 1) // ordered draws (first, second)
		for _, i := range idx {
			wins := 0.0
			for _, j := range idx {
				if i == j {
					continue
				}
				// i drawn first against j: i wins unless j is cheaper; i
				// drawn second: i wins only if cheaper.
				if !(cl[j].Cost < cl[i].Cost) {
					wins++
				}
				if cl[i].Cost < cl[j].Cost {
					wins++
				}
			}
			cl[i].Chance = wins / pairs
		}
	}
	x := &cl[best]
	var others []string
	for _, i := range idx {
		if i != best {
			others = append(others, fmt.Sprintf("node %d %s", cl[i].Node, costWords(&cl[i])))
		}
	}
	how := fmt.Sprintf("power of two choices over %d query candidates", len(idx))
	if selfAt >= 0 {
		how = fmt.Sprintf("this node's own clone (no hop) against one of the other %d drawn at random", len(idx)-1)
	}
	return x.Node, fmt.Sprintf("%s: node %d has the lowest predicted wait, %s (chance %.0f%%); others: %s",
		how, x.Node, costWords(x), 100*x.Chance, strings.Join(others, "; "))
}

func aliveWord(x *TraceClone) string {
	if x.Live {
		return "live"
	}
	return "no voter is live: tried anyway"
}

func costWords(x *TraceClone) string {
	m := "measured"
	if !x.Measured {
		m = "prior, never measured"
	}
	return fmt.Sprintf("(in-flight %d + load %.1f + 1) × EWMA %v (%s) = %v",
		x.InFlight, x.Load, x.EWMA, m, time.Duration(x.Cost))
}
