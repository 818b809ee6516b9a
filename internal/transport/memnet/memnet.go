package memnet

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// DefaultQueueLen is the default bound of each destination's queue.
const DefaultQueueLen = 1 << 16

// Config configures a Network. The zero Config is a perfect network with
// the default queue length.
type Config struct {
	// Seed seeds the generator behind drops, duplicates and delays.
	Seed uint64
	// DropRate is the probability that a packet is dropped; DupRate the
	// probability that a packet that is not dropped is delivered twice.
	// Both in [0, 1].
	DropRate float64
	DupRate  float64
	// Each packet is delivered after a random delay in [MinDelay,
	// MaxDelay]; zero delivers at once.
	MinDelay, MaxDelay time.Duration
	// QueueLen bounds the packets queued for one destination; a packet
	// that finds the queue full is dropped. Default DefaultQueueLen.
	QueueLen int
	// Logger receives fault changes (Info) and dropped packets (Debug);
	// nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a perfect network: no drops, duplicates or delay.
func DefaultConfig() Config {
	return Config{Seed: 1, QueueLen: DefaultQueueLen}
}

// Stats counts packets. Every packet passed to Send, and every duplicate,
// ends up delivered or dropped, or is still pending:
//
//	Sent + Duplicated == Delivered + Dropped() + Pending
//
// The counters are read one by one, so the equation holds exactly only
// while no packet moves (for example after synctest.Wait).
type Stats struct {
	Sent       uint64 // packets passed to Send
	Duplicated uint64 // extra copies made by DupRate
	Delivered  uint64 // packets handed to a deliver func
	// DroppedFault counts packets dropped by DropRate.
	DroppedFault uint64
	// DroppedPartition counts packets dropped by Partition, Cut or
	// Isolate.
	DroppedPartition uint64
	// DroppedDown counts packets sent to or from a crashed or unknown
	// node, or through a closed network, and the packets queued for a
	// node when it crashed or the network closed.
	DroppedDown uint64
	// DroppedFull counts packets that found their destination's queue
	// full.
	DroppedFull uint64
	// Pending counts packets queued and not yet delivered or dropped.
	Pending uint64
}

// Dropped is the total of the drop counters.
func (s Stats) Dropped() uint64 {
	return s.DroppedFault + s.DroppedPartition + s.DroppedDown + s.DroppedFull
}

// Network is an in-memory network of nodes. Its methods are safe for
// concurrent use.
type Network struct {
	log  *slog.Logger
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu       sync.Mutex
	rng      *rand.Rand
	dropRate float64
	dupRate  float64
	minDelay time.Duration
	maxDelay time.Duration
	queueLen int
	nodes    map[groupcomm.NodeID]*node
	// Link faults: group is set while partitioned (nodes not in it are in
	// group 0).
	partitioned bool
	group       map[groupcomm.NodeID]int
	cut         map[link]bool
	isolated    map[groupcomm.NodeID]bool
	closed      bool

	closing atomic.Bool // set before done is closed; read by delivery goroutines

	sent, duplicated, delivered        atomic.Uint64
	dropFault, dropPartition, dropDown atomic.Uint64
	dropFull                           atomic.Uint64
	pending                            atomic.Int64
}

type link struct{ from, to groupcomm.NodeID }

// node is one registered node: its queue and its delivery goroutine.
type node struct {
	w    *Network
	id   groupcomm.NodeID
	wake chan struct{} // capacity 1: something was queued or discarded

	// up is guarded by w.mu.
	up bool
	// inc is the node's incarnation: Crash bumps it, which kills the
	// endpoints of the old incarnation and stops the delivery of packets
	// the delivery goroutine already took off the queue. Written under
	// w.mu and mu.
	inc atomic.Uint64

	mu      sync.Mutex
	deliver func([]racs.Packet) // nil while crashed
	q       queue
	seq     uint64
}

// New returns a network configured by cfg. It panics if cfg is invalid.
func New(cfg Config) *Network {
	checkRate("DropRate", cfg.DropRate)
	checkRate("DupRate", cfg.DupRate)
	checkDelay(cfg.MinDelay, cfg.MaxDelay)
	if cfg.QueueLen < 0 {
		panic(fmt.Sprintf("memnet: QueueLen %d < 0", cfg.QueueLen))
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Network{
		log:      log,
		done:     make(chan struct{}),
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		dropRate: cfg.DropRate,
		dupRate:  cfg.DupRate,
		minDelay: cfg.MinDelay,
		maxDelay: cfg.MaxDelay,
		queueLen: cfg.QueueLen,
		nodes:    make(map[groupcomm.NodeID]*node),
	}
}

// Endpoint registers node id and returns the transport it sends with.
// Packets sent to id are handed to deliver from id's delivery goroutine,
// every packet due at that moment in one call, in due order (deliver must
// not retain the slice; Each adapts a per-packet func) (see the package doc); deliver may call Send and the
// fault controls, but not Close. Endpoint panics if id is already
// registered (use Restart) or deliver is nil. After Close it returns an
// endpoint that drops everything.
func (w *Network) Endpoint(id groupcomm.NodeID, deliver func([]racs.Packet)) racs.Transport {
	if deliver == nil {
		panic("memnet: nil deliver func")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return &endpoint{w: w, n: &node{w: w, id: id}}
	}
	if _, ok := w.nodes[id]; ok {
		panic(fmt.Sprintf("memnet: node %d already registered (use Restart)", id))
	}
	n := &node{w: w, id: id, wake: make(chan struct{}, 1), up: true, deliver: deliver}
	w.nodes[id] = n
	w.wg.Add(1)
	go n.run()
	return &endpoint{w: w, n: n, inc: n.inc.Load()}
}

// Crash stops node id: the packets queued for it are discarded, and until
// Restart everything sent to it or from any of its endpoints is dropped.
// A deliver call already in progress is not waited for (Crash may be
// called from a deliver func); at most the packets it carries reach the
// old deliver func after Crash returns. Crash of a crashed node does
// nothing; Crash panics if id was never registered.
func (w *Network) Crash(id groupcomm.NodeID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.mustNode("Crash", id)
	if !n.up {
		return
	}
	w.crashLocked(n)
	w.log.Info("memnet: crash", "node", id)
}

func (w *Network) crashLocked(n *node) {
	n.up = false
	n.mu.Lock()
	n.inc.Add(1)
	n.deliver = nil
	dropped := len(n.q)
	n.q.reset()
	n.mu.Unlock()
	w.dropDown.Add(uint64(dropped))
	w.pending.Add(-int64(dropped))
	n.signal()
}

// Restart brings node id back with a new deliver func and returns the
// endpoint of the new incarnation; endpoints of earlier incarnations stay
// dead. Restarting a node that is up crashes it first. Restart panics if
// id was never registered or deliver is nil. After Close it returns an
// endpoint that drops everything.
func (w *Network) Restart(id groupcomm.NodeID, deliver func([]racs.Packet)) racs.Transport {
	if deliver == nil {
		panic("memnet: nil deliver func")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.mustNode("Restart", id)
	if w.closed {
		return &endpoint{w: w, n: n, inc: n.inc.Load()} // Send sees the network closed
	}
	if n.up {
		w.crashLocked(n)
	}
	n.up = true
	n.mu.Lock()
	n.deliver = deliver
	n.mu.Unlock()
	w.log.Info("memnet: restart", "node", id)
	return &endpoint{w: w, n: n, inc: n.inc.Load()}
}

func (w *Network) mustNode(op string, id groupcomm.NodeID) *node {
	n, ok := w.nodes[id]
	if !ok {
		panic(fmt.Sprintf("memnet: %s of unknown node %d", op, id))
	}
	return n
}

// Partition splits the network: nodes in different groups cannot talk;
// nodes named in no group (including nodes registered later) form one
// more group. It replaces the previous partition; Partition() with no
// groups removes it. It panics if a node is named twice.
func (w *Network) Partition(groups ...[]groupcomm.NodeID) {
	m := make(map[groupcomm.NodeID]int)
	for i, g := range groups {
		for _, id := range g {
			if _, ok := m[id]; ok {
				panic(fmt.Sprintf("memnet: node %d in two partition groups", id))
			}
			m[id] = i + 1
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partitioned = len(groups) > 0
	w.group = m
	w.log.Info("memnet: partition", "groups", groups)
}

// Heal removes all link faults: the partition, every cut link and every
// isolated node. It does not restart crashed nodes or change the drop,
// duplicate and delay settings.
func (w *Network) Heal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partitioned = false
	w.group = nil
	w.cut = nil
	w.isolated = nil
	w.log.Info("memnet: heal")
}

// Cut breaks the directed link from -> to: packets from `from` to `to`
// are dropped; the other direction is untouched.
func (w *Network) Cut(from, to groupcomm.NodeID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cut == nil {
		w.cut = make(map[link]bool)
	}
	w.cut[link{from, to}] = true
	w.log.Info("memnet: cut", "from", from, "to", to)
}

// Mend repairs the directed link from -> to broken by Cut. It does not
// undo Partition or Isolate.
func (w *Network) Mend(from, to groupcomm.NodeID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.cut, link{from, to})
	w.log.Info("memnet: mend", "from", from, "to", to)
}

// Isolate cuts node id off from every other node in both directions until
// Heal. Unlike Crash, the node keeps running and can reach itself.
func (w *Network) Isolate(id groupcomm.NodeID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.isolated == nil {
		w.isolated = make(map[groupcomm.NodeID]bool)
	}
	w.isolated[id] = true
	w.log.Info("memnet: isolate", "node", id)
}

// SetDropRate sets the probability that a packet is dropped. It panics
// unless 0 <= r <= 1.
func (w *Network) SetDropRate(r float64) {
	checkRate("drop rate", r)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropRate = r
	w.log.Info("memnet: drop rate", "rate", r)
}

// SetDupRate sets the probability that a packet is delivered twice. It
// panics unless 0 <= r <= 1.
func (w *Network) SetDupRate(r float64) {
	checkRate("dup rate", r)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dupRate = r
	w.log.Info("memnet: dup rate", "rate", r)
}

// SetDelay delays each packet sent from now on by a random amount in
// [minDelay, maxDelay]; packets already queued keep their delivery time.
// It panics unless 0 <= minDelay <= maxDelay.
func (w *Network) SetDelay(minDelay, maxDelay time.Duration) {
	checkDelay(minDelay, maxDelay)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.minDelay, w.maxDelay = minDelay, maxDelay
	w.log.Info("memnet: delay", "min", minDelay, "max", maxDelay)
}

// Stats returns the packet counters.
func (w *Network) Stats() Stats {
	return Stats{
		Sent:             w.sent.Load(),
		Duplicated:       w.duplicated.Load(),
		Delivered:        w.delivered.Load(),
		DroppedFault:     w.dropFault.Load(),
		DroppedPartition: w.dropPartition.Load(),
		DroppedDown:      w.dropDown.Load(),
		DroppedFull:      w.dropFull.Load(),
		Pending:          uint64(max(w.pending.Load(), 0)),
	}
}

// Close stops the network: it stops every delivery goroutine and waits
// for it (so for a deliver call in progress), discards the queued packets
// and drops everything sent later. It must not be called from a deliver
// func. Close is idempotent.
func (w *Network) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		w.closing.Store(true)
		close(w.done)
	}
	w.mu.Unlock()
	w.wg.Wait()

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.nodes {
		n.mu.Lock()
		dropped := len(n.q)
		n.q.reset()
		n.mu.Unlock()
		w.dropDown.Add(uint64(dropped))
		w.pending.Add(-int64(dropped))
	}
}

// linkUpLocked reports whether the link faults let from reach to.
func (w *Network) linkUpLocked(from, to groupcomm.NodeID) bool {
	if from == to {
		return true
	}
	if w.cut[link{from, to}] || w.isolated[from] || w.isolated[to] {
		return false
	}
	return !w.partitioned || w.group[from] == w.group[to]
}

func (w *Network) delayLocked() time.Duration {
	if w.maxDelay <= w.minDelay {
		return w.minDelay
	}
	return w.minDelay + time.Duration(w.rng.Int64N(int64(w.maxDelay-w.minDelay)+1))
}

func (w *Network) logDrop(reason string, from, to groupcomm.NodeID) {
	if w.log.Enabled(context.Background(), slog.LevelDebug) {
		w.log.Debug("memnet: drop", "reason", reason, "from", from, "to", to)
	}
}

// endpoint is the racs.Transport of one incarnation of one node.
type endpoint struct {
	w   *Network
	n   *node
	inc uint64
}

// Send queues each packet for its destination p.To and returns without
// blocking. Faults are judged by the endpoint's node, whatever p.From
// says; the packet is delivered as sent.
func (e *endpoint) Send(ps []racs.Packet) {
	w, from := e.w, e.n.id
	w.sent.Add(uint64(len(ps)))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || !e.n.up || e.n.inc.Load() != e.inc {
		w.dropDown.Add(uint64(len(ps)))
		for _, p := range ps {
			w.logDrop("sender down", from, p.To)
		}
		return
	}
	now := time.Now()
	for _, p := range ps {
		dst := w.nodes[p.To]
		switch {
		case dst == nil || !dst.up:
			w.dropDown.Add(1)
			w.logDrop("destination down", from, p.To)
			continue
		case !w.linkUpLocked(from, p.To):
			w.dropPartition.Add(1)
			w.logDrop("partition", from, p.To)
			continue
		case w.dropRate > 0 && w.rng.Float64() < w.dropRate:
			w.dropFault.Add(1)
			w.logDrop("fault", from, p.To)
			continue
		}
		copies := 1
		if w.dupRate > 0 && w.rng.Float64() < w.dupRate {
			copies = 2
			w.duplicated.Add(1)
		}
		for range copies {
			dst.push(p, from, now.Add(w.delayLocked()), w.queueLen)
		}
	}
}

// push queues p for delivery at due (under w.mu).
func (n *node) push(p racs.Packet, from groupcomm.NodeID, due time.Time, limit int) {
	w := n.w
	n.mu.Lock()
	if len(n.q) >= limit {
		n.mu.Unlock()
		w.dropFull.Add(1)
		w.logDrop("queue full", from, n.id)
		return
	}
	n.seq++
	n.q.push(item{due: due, seq: n.seq, p: p})
	w.pending.Add(1) // before the delivery goroutine can see the item
	n.mu.Unlock()
	n.signal()
}

func (n *node) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run is the node's delivery goroutine: it takes the due packets off the
// queue and hands them to deliver, one at a time, until the network
// closes.
func (n *node) run() {
	w := n.w
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []racs.Packet
	for !w.closing.Load() {
		n.mu.Lock()
		inc := n.inc.Load()
		deliver := n.deliver
		var wait time.Duration = -1
		if len(n.q) > 0 {
			now := time.Now()
			for len(n.q) > 0 && !n.q[0].due.After(now) {
				batch = append(batch, n.q.pop().p)
			}
			if len(batch) == 0 {
				wait = n.q[0].due.Sub(now)
			}
		}
		n.mu.Unlock()

		if len(batch) > 0 {
			if w.closing.Load() || n.inc.Load() != inc {
				// Crashed or closed since the batch was taken: it is
				// lost with the node.
				w.dropDown.Add(uint64(len(batch)))
				w.pending.Add(-int64(len(batch)))
			} else {
				w.delivered.Add(uint64(len(batch)))
				w.pending.Add(-int64(len(batch)))
				deliver(batch)
			}
			clear(batch)
			batch = batch[:0]
			continue
		}

		if wait < 0 {
			select {
			case <-n.wake:
			case <-w.done:
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-n.wake:
			timer.Stop()
		case <-w.done:
			timer.Stop()
			return
		}
	}
}

// Each adapts a per-packet deliver func to Endpoint and Restart.
func Each(deliver func(racs.Packet)) func([]racs.Packet) {
	return func(ps []racs.Packet) {
		for _, p := range ps {
			deliver(p)
		}
	}
}

func checkRate(what string, r float64) {
	if !(r >= 0 && r <= 1) {
		panic(fmt.Sprintf("memnet: %s %v not in [0, 1]", what, r))
	}
}

func checkDelay(lo, hi time.Duration) {
	if lo < 0 || hi < lo {
		panic(fmt.Sprintf("memnet: delay range [%v, %v] invalid", lo, hi))
	}
}

// item is a queued packet, due for delivery at due; seq breaks ties in
// arrival order.
type item struct {
	due time.Time
	seq uint64
	p   racs.Packet
}

func (a *item) before(b *item) bool {
	if a.due.Equal(b.due) {
		return a.seq < b.seq
	}
	return a.due.Before(b.due)
}

// queue is a binary min-heap of items by (due, seq).
type queue []item

func (q *queue) push(it item) {
	*q = append(*q, it)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].before(&h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *queue) pop() item {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = item{} // drop the references to the packet's payload
	h = h[:last]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l].before(&h[m]) {
			m = l
		}
		if r < len(h) && h[r].before(&h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

func (q *queue) reset() {
	clear(*q)
	*q = (*q)[:0]
}
