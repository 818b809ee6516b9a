package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
	"github.com/quicksilver-go/quicksilver/replica"
)

// The stream check: one subscriber per kv partition (raps.Client.Subscribe
// on a front end) follows the partition from its first update through the
// whole schedule — kills, power losses, splits, moves — and at the end its
// sequence must equal the partition's delivered sequence as a clone that
// kept it all holds it (racs.Group.Updates from the same start), update
// for update and token for token: no gap, no duplicate, no reordering,
// across every failover of the clone it was attached to.

// streamRetain is the kv service's Retain in the suite: more than a run
// applies to a partition, so the whole stream stays available.
const streamRetain = 1 << 16

type streamSub struct {
	part int
	from racs.Token
	mu   sync.Mutex
	got  []racs.StreamUpdate
	err  error
	last groupcomm.NodeID // the clone of the last event (heartbeats too)
	// resyncs are the floors the subscriber resynced to after
	// ErrCompacted: every clone restarted or restored a snapshot after
	// its position (the crash of every node), so the updates up to the
	// floor are in no clone's stream any more — the documented answer,
	// which a subscriber meets by reading the state and going on from
	// the floor.
	resyncs []racs.Token
}

type streamCheck struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	subs   []*streamSub
}

// startStreams subscribes to every kv partition of m, alternating front ends.
func startStreams(m *partitionmap.Map, fes []*raps.Client) (*streamCheck, error) {
	parts, err := m.ServicePartitions(raps.KVServiceName)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &streamCheck{cancel: cancel}
	for i, p := range parts {
		s := &streamSub{part: p.ID, from: racs.Token{Incarnation: p.Incarnation}} // from the first update
		sc.subs = append(sc.subs, s)
		fe := fes[i%len(fes)]
		sc.wg.Go(func() {
			from := s.from
			for ctx.Err() == nil {
				var ce *racs.CompactedError
				for ev, err := range fe.Subscribe(ctx, raps.KVServiceName, raps.PartitionTarget(s.part), from) {
					s.mu.Lock()
					switch {
					case errors.As(err, &ce):
						s.resyncs = append(s.resyncs, ce.Floor)
						from = ce.Floor
					case err != nil:
						s.err = err
					default:
						s.last, from = ev.Clone, ev.Token
						if !ev.Heartbeat {
							s.got = append(s.got, racs.StreamUpdate{Token: ev.Token, View: ev.View, Update: ev.Update, Result: ev.Result})
						}
					}
					s.mu.Unlock()
				}
				s.mu.Lock()
				failed := s.err != nil
				s.mu.Unlock()
				if failed || ce == nil {
					return
				}
			}
		})
	}
	return sc, nil
}

// finish waits (up to limit) until every subscriber holds its partition's
// whole delivered sequence, stops them, and returns the problems.
func (sc *streamCheck) finish(c *rapstest.Cluster, limit time.Duration) (lines, problems []string) {
	defer sc.wg.Wait()
	defer sc.cancel()
	m := anyMap(c)
	if m == nil {
		return nil, []string{"streams: no live node holds a map"}
	}
	for _, s := range sc.subs {
		p, err := m.Partition(partitionmap.PartRef{Service: raps.KVServiceName, ID: s.part})
		if err != nil {
			problems = append(problems, fmt.Sprintf("streams: %v", err))
			continue
		}
		want, from, floor, err := reference(c, p, s.from)
		if err != nil {
			problems = append(problems, fmt.Sprintf("stream kv/%d: no reference stream (%v)", s.part, err))
			continue
		}
		t0 := time.Now()
		deadline := t0.Add(limit)
		var got []racs.StreamUpdate
		var serr error
		for {
			s.mu.Lock()
			got, serr = append([]racs.StreamUpdate(nil), s.got...), s.err
			s.mu.Unlock()
			if serr != nil || afterFloor(got, floor) >= len(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling the subscriber, within limit
		}
		if serr != nil {
			problems = append(problems, fmt.Sprintf("stream kv/%d ended with %v after %d updates", s.part, serr, len(got)))
			continue
		}
		for i := 1; i < len(got); i++ {
			if got[i].Token.Seq <= got[i-1].Token.Seq {
				problems = append(problems, fmt.Sprintf("stream kv/%d: token %v after %v", s.part, got[i].Token, got[i-1].Token))
			}
		}
		s.mu.Lock()
		resyncs := slices.Clone(s.resyncs)
		s.mu.Unlock()
		all := len(got)
		if n := len(resyncs); n > 0 && resyncs[n-1].Seq > floor.Seq {
			floor = resyncs[n-1] // compare what follows the last resync
			k := 0
			for k < len(want) && want[k].Token.Seq <= floor.Seq {
				k++
			}
			want = want[k:]
		}
		if floor.Seq > 0 { // every clone restored a snapshot: compare what follows it
			k := 0
			for k < len(got) && got[k].Token.Seq <= floor.Seq {
				k++
			}
			got = got[k:]
		}
		if i, why := firstDifference(got, want); i >= 0 {
			s.mu.Lock()
			at := s.last
			s.mu.Unlock()
			state := "no host"
			if h := c.Host(at); h != nil {
				if g, err := h.Group(replica.GroupID(p.Group)); err == nil {
					lastTok := s.from
					if len(got) > 0 {
						lastTok = got[len(got)-1].Token
					}
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
					ups, next, uerr := g.Updates(ctx, lastTok, 3)
					cancel()
					var toks []racs.Token
					for _, u := range ups {
						toks = append(toks, u.Token)
					}
					state = fmt.Sprintf("%+v applied %v left %v; its Updates after %v: %v next %v err %v", g.Info(), g.Applied(), g.Left(), lastTok, toks, next, uerr)
				} else {
					state = err.Error()
				}
			}
			problems = append(problems, fmt.Sprintf("stream kv/%d differs from clone %d's delivered sequence (after %v) at update %d of %d (subscriber has %d, last heard from node %d: %s; waited %v): %s",
				s.part, from, floor, i, len(want), len(got), at, state, time.Since(t0).Round(time.Millisecond), why))
			continue
		}
		what := "its whole delivered sequence"
		if floor.Seq > 0 {
			what = fmt.Sprintf("its delivered sequence after %d (every clone restored a snapshot there)", floor.Seq)
		}
		if len(resyncs) > 0 {
			what += fmt.Sprintf("; %d resyncs after compacted answers (floors %v)", len(resyncs), resyncs)
		}
		lines = append(lines, fmt.Sprintf("kv/%d: the subscriber's %d updates match clone %d's %s", s.part, all, from, what))
	}
	return lines, problems
}

// afterFloor counts the updates after floor (all of them for a zero floor).
func afterFloor(got []racs.StreamUpdate, floor racs.Token) int {
	n := 0
	for _, u := range got {
		if u.Token.Seq > floor.Seq {
			n++
		}
	}
	return n
}

func firstDifference(got, want []racs.StreamUpdate) (int, string) {
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			return i, fmt.Sprintf("missing %v", want[i].Token)
		case i >= len(want):
			return i, fmt.Sprintf("extra %v", got[i].Token)
		case got[i].Token != want[i].Token || !bytes.Equal(got[i].Update, want[i].Update) || !bytes.Equal(got[i].Result, want[i].Result):
			return i, fmt.Sprintf("got %v %q, want %v %q", got[i].Token, got[i].Update, want[i].Token, want[i].Update)
		}
	}
	return -1, ""
}

// reference reads p's delivered sequence after from at a clone that kept
// all of it; if none did (each restored a snapshot, or restarted on one),
// the longest one a clone kept, and the floor it starts after.
func reference(c *rapstest.Cluster, p *partitionmap.Partition, from racs.Token) ([]racs.StreamUpdate, groupcomm.NodeID, racs.Token, error) {
	var last error = errors.New("no live clone")
	var best []racs.StreamUpdate
	var bestID groupcomm.NodeID
	var bestFloor racs.Token
	found := false
	for _, cl := range p.Voters() {
		id := groupcomm.NodeID(cl.Node)
		h := c.Host(id)
		if h == nil {
			continue
		}
		g, err := h.Group(replica.GroupID(p.Group))
		if err != nil {
			last = err
			continue
		}
		out, floor, err := readAll(g, from)
		var ce *racs.CompactedError
		if errors.As(err, &ce) {
			out, floor, err = readAll(g, ce.Floor)
		}
		if err != nil {
			last = fmt.Errorf("node %d: %w", id, err)
			continue
		}
		if floor == from {
			return out, id, racs.Token{}, nil
		}
		if !found || floor.Seq < bestFloor.Seq {
			best, bestID, bestFloor, found = out, id, floor, true
		}
	}
	if found {
		return best, bestID, bestFloor, nil
	}
	return nil, 0, racs.Token{}, last
}

// readAll reads a clone's stream after from to its end.
func readAll(g *racs.Group, from racs.Token) ([]racs.StreamUpdate, racs.Token, error) {
	var out []racs.StreamUpdate
	tok := from
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		ups, next, err := g.Updates(ctx, tok, 1024)
		cancel()
		if err != nil {
			return nil, from, err
		}
		if len(ups) == 0 {
			return out, from, nil
		}
		out = append(out, ups...)
		tok = next
	}
}

func anyMap(c *rapstest.Cluster) *partitionmap.Map {
	for _, id := range c.Live() {
		if m := c.Node(id).Map(); m != nil {
			return m
		}
	}
	return nil
}
