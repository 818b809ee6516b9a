package raps

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// The map subscription over the transport. A node or front end that holds
// no management clone keeps one watch call open to a node that has the
// map (a management member first): a kindWatch request naming its epoch,
// which the other side holds until its own map is newer (or watchHold
// passes) and then answers like kindMap. So a new epoch reaches the
// subscribers one transport round trip after the node they watch takes
// it; the poll (Config.Poll) and the gossiped epochs stay as the fallback
// that catches what a broken watch missed. The answering side keeps no
// subscriber list: a watch is one call in flight, bounded by its deadline.

// A watch is held a few seconds only, so that a watcher whose node died
// mid-watch (its call then waits out its deadline: a crashed node answers
// nothing) moves on soon; re-arming costs one small call per hold.
const (
	watchHold    = 3 * time.Second // the longest a node holds a watch
	watchTimeout = watchHold + 2*time.Second
	watchBackoff = 200 * time.Millisecond
)

// epochSignal is closed and replaced each time the node takes a newer map.
type epochSignal struct{ c atomic.Pointer[chan struct{}] }

func (s *epochSignal) wait() <-chan struct{} {
	for {
		if c := s.c.Load(); c != nil {
			return *c
		}
		c := make(chan struct{})
		s.c.CompareAndSwap(nil, &c)
	}
}

func (s *epochSignal) bump() {
	c := make(chan struct{})
	if old := s.c.Swap(&c); old != nil {
		close(*old)
	}
}

// waitNewerMap returns once this node's map is newer than epoch since, at
// watchHold, or when ctx ends.
func (n *Node) waitNewerMap(ctx context.Context, since uint64) {
	hold := time.NewTimer(watchHold)
	defer hold.Stop()
	for {
		c := n.epochs.wait()
		if m := n.Map(); m != nil && m.Epoch > since {
			return
		}
		select {
		case <-c:
		case <-hold.C:
			return
		case <-ctx.Done():
			return
		case <-n.stop:
			return
		}
	}
}

// watchMap is one watch call. It bypasses Client.call: a watch held on a
// node is no load of it, and must not count in the picker's in-flight
// calls to that node (the queries would shun it).
func (c *Client) watchMap(ctx context.Context, to groupcomm.NodeID, since uint64) (*partitionmap.Map, []groupcomm.NodeID, error) {
	out, err := c.rpc.Call(ctx, to, (&request{kind: kindWatch, incarnation: since}).encode())
	if err != nil {
		return nil, nil, err
	}
	rep, err := decodeReply(out)
	if err != nil {
		return nil, nil, err
	}
	return decodeMapReply(rep.data)
}

// pollMap asks the sources in turn (self skipped) for a map newer than
// epoch(), until one answers with one, or says it has none newer than a
// map already held; take gets each answer's map (nil: none newer) and
// management members.
func pollMap(c *Client, self groupcomm.NodeID, sources []groupcomm.NodeID, epoch func() uint64, timeout time.Duration,
	take func(*partitionmap.Map, []groupcomm.NodeID)) {
	for _, to := range sources {
		if to == self {
			continue
		}
		since := epoch()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		m, via, err := c.fetchMap(ctx, to, since)
		cancel()
		switch {
		case err == nil:
			take(m, via)
			return
		case errors.Is(err, errNoNewerMap):
			take(nil, via)
			if since > 0 {
				return // up to date with that node
			}
		}
	}
}

// watcher keeps a watch open, in turn to each target, until stop closes.
type watcher struct {
	c       *Client
	self    groupcomm.NodeID
	targets func() []groupcomm.NodeID
	epoch   func() uint64
	offer   func(*partitionmap.Map, []groupcomm.NodeID)
	stop    <-chan struct{}
	// idle, if set, says the watcher has nothing to do now (a node whose
	// own management clone applies every change).
	idle func() bool
}

func (w *watcher) run() {
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		if w.idle != nil && w.idle() {
			if !w.pause() {
				return
			}
			continue
		}
		var to groupcomm.NodeID
		live := w.c.liveNow()
		var ts []groupcomm.NodeID
		for _, id := range w.targets() {
			if id != w.self && w.c.isLive(id, live) {
				ts = append(ts, id)
			}
		}
		if len(ts) > 0 {
			to = ts[i%len(ts)]
		}
		if to == 0 || to == w.self {
			if !w.pause() {
				return
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), watchTimeout)
		go func() { // a stopping watcher, or one whose node died, does not wait out its call
			t := time.NewTicker(watchBackoff)
			defer t.Stop()
			for {
				select {
				case <-w.stop:
				case <-ctx.Done():
				case <-t.C:
					if w.c.isLive(to, w.c.liveNow()) {
						continue
					}
				}
				cancel()
				return
			}
		}()
		m, via, err := w.c.watchMap(ctx, to, w.epoch())
		cancel()
		switch {
		case err == nil:
			w.offer(m, via)
			i-- // the same target again
		case errors.Is(err, errNoNewerMap):
			w.offer(nil, via)
			i-- // held to its bound: watch the same node again
		default:
			if !w.pause() { // unreachable, or it has no map: try the next
				return
			}
		}
	}
}

func (w *watcher) pause() bool {
	select {
	case <-w.stop:
		return false
	case <-time.After(watchBackoff):
		return true
	}
}
