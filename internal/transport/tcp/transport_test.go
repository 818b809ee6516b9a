package tcp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// testNet is the address book the test transports resolve through.
type testNet struct {
	mu    sync.Mutex
	addrs map[groupcomm.NodeID]string
}

func newTestNet() *testNet { return &testNet{addrs: make(map[groupcomm.NodeID]string)} }

func (n *testNet) resolve(id groupcomm.NodeID) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.addrs[id]
	return a, ok
}

func (n *testNet) set(id groupcomm.NodeID, addr string) {
	n.mu.Lock()
	n.addrs[id] = addr
	n.mu.Unlock()
}

// recorder collects what a node received.
type recorder struct {
	mu      sync.Mutex
	pkts    []racs.Packet
	changed chan struct{} // closed at the next delivery; nil if nobody waits
}

func (r *recorder) deliver(ps []racs.Packet) {
	r.mu.Lock()
	r.pkts = append(r.pkts, ps...)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
}

// waitLen waits until at least n packets have been delivered (woken by
// each delivery, not by polling).
func (r *recorder) waitLen(t *testing.T, n int, what string) {
	t.Helper()
	guard := hangGuard(t)
	for {
		r.mu.Lock()
		got := len(r.pkts)
		if got >= n {
			r.mu.Unlock()
			return
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-guard:
			t.Fatalf("gave up waiting for %s: %d of %d packets delivered", what, got, n)
		}
	}
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts)
}

func (r *recorder) snapshot() []racs.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]racs.Packet(nil), r.pkts...)
}

// from returns the packets received from node id.
func (r *recorder) from(id groupcomm.NodeID) []racs.Packet {
	var out []racs.Packet
	for _, p := range r.snapshot() {
		if p.From == id {
			out = append(out, p)
		}
	}
	return out
}

type testNode struct {
	id  groupcomm.NodeID
	tr  *Transport
	rec *recorder
}

// testLogger logs warnings to the test's output (seen with -v or on
// failure); QS_TEST_DEBUG=1 logs everything.
func testLogger(t testing.TB) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("QS_TEST_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: lvl}))
}

func testConfig(t testing.TB, n *testNet, id groupcomm.NodeID) Config {
	cfg := DefaultConfig()
	cfg.Node = id
	cfg.Cluster = 1
	cfg.Label = "test"
	cfg.Listen = "127.0.0.1:0"
	cfg.Resolve = n.resolve
	cfg.BackoffMin = 10 * time.Millisecond
	cfg.BackoffMax = 200 * time.Millisecond
	cfg.HandshakeTimeout = 2 * time.Second
	cfg.Logger = testLogger(t)
	return cfg
}

// startNode starts a transport with cfg, registers its address in n and
// closes it when the test ends.
func startNode(t testing.TB, n *testNet, cfg Config) *testNode {
	t.Helper()
	return startNodeWith(t, n, cfg, nil)
}

// startNodeWith is startNode calling setup (if not nil) between New and
// Start, before any of the transport's goroutines can read what it sets
// (its test hooks).
func startNodeWith(t testing.TB, n *testNet, cfg Config, setup func(*Transport)) *testNode {
	t.Helper()
	rec := &recorder{}
	tr, err := New(cfg, rec.deliver)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(tr)
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if n != nil {
		n.set(cfg.Node, tr.Addr().String())
	}
	return &testNode{id: cfg.Node, tr: tr, rec: rec}
}

func startNodes(t testing.TB, n *testNet, ids ...groupcomm.NodeID) []*testNode {
	var out []*testNode
	for _, id := range ids {
		out = append(out, startNode(t, n, testConfig(t, n, id)))
	}
	return out
}

// msgPkt is a small ORDER packet numbered seq (in Msg.Frame).
func msgPkt(from, to groupcomm.NodeID, group uint64, seq uint64) racs.Packet {
	m := orderMsg(group, seq, 1, 16)
	m.From.Node, m.To.Node = from, to
	return racs.Packet{From: from, To: to, Group: replica.GroupID(group), Msg: m}
}

// hangGuard fires shortly before the test binary's -timeout would kill it,
// so that a wait for an event that never comes fails with a message
// rather than a goroutine dump. It is not a time limit on what the test
// checks: the waits it guards end on their event, however slow the
// machine, or the test is broken.
func hangGuard(t *testing.T) <-chan time.Time {
	at := guardTime(t)
	if at.IsZero() {
		return nil // no -timeout: wait for ever
	}
	return time.After(time.Until(at))
}

// guardTime is when hangGuard fires (zero: never), for I/O deadlines.
func guardTime(t *testing.T) time.Time {
	deadline, ok := t.Deadline()
	if !ok {
		return time.Time{}
	}
	d := time.Until(deadline)
	return time.Now().Add(d - min(d/10, 30*time.Second))
}

// eventually waits until cond holds, checking it every 2ms: it waits on a
// condition, not for a time, and gives up only at the hang guard.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard := hangGuard(t)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-guard:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// returns waits for f to return (guarded against a hang).
func returns(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-hangGuard(t):
		t.Fatalf("gave up waiting for %s to return", what)
	}
}

// silentListener accepts TCP connections and never answers: a dial to its
// address hangs in the handshake. stop closes it and its connections and
// waits for its goroutine; it also runs when the test ends.
func silentListener(t *testing.T) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { ln.Close(); <-done }) }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// peerOf returns tr's peer id (nil if tr has never heard of it).
func peerOf(tr *Transport, id groupcomm.NodeID) *peer {
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	return tr.peers[id]
}

// checkOneConn checks that a and b use exactly one connection between them,
// the same socket seen from both ends.
func checkOneConn(a, b *testNode) error {
	ca, cb := connTo(a.tr, b.id), connTo(b.tr, a.id)
	if ca == nil || cb == nil {
		return fmt.Errorf("nodes %d,%d: connections %v / %v", a.id, b.id, ca, cb)
	}
	if ca.Local != cb.Remote || ca.Remote != cb.Local || ca.Outbound == cb.Outbound {
		return fmt.Errorf("nodes %d,%d use different connections: %+v / %+v", a.id, b.id, *ca, *cb)
	}
	return nil
}

func connTo(tr *Transport, id groupcomm.NodeID) *ConnInfo {
	var found *ConnInfo
	for _, c := range tr.Conns() {
		if c.Node == id {
			if found != nil {
				panic("two connections to one peer")
			}
			found = &c
		}
	}
	return found
}

// TestRoundTripManyGroups: three nodes, 300 groups; every node sends a
// packet of every group to every other node; everything arrives intact,
// over exactly one connection per pair.
func TestRoundTripManyGroups(t *testing.T) {
	n := newTestNet()
	nodes := startNodes(t, n, 1, 2, 3)
	const groups = 300
	want := map[[3]uint64]racs.Packet{}
	for _, a := range nodes {
		var batch []racs.Packet
		for g := uint64(1); g <= groups; g++ {
			for _, b := range nodes {
				if a == b {
					continue
				}
				var p racs.Packet
				switch g % 3 {
				case 0:
					p = msgPkt(a.id, b.id, g, g)
				case 1:
					p = racs.Packet{From: a.id, To: b.id, Group: replica.GroupID(g), Chunk: &racs.Chunk{
						ID: racs.SnapshotID{Size: g, Digest: g * 7}, Offset: g, Data: []byte(fmt.Sprint("chunk ", g))}}
				case 2:
					p = racs.Packet{From: a.id, To: b.id, Group: replica.GroupID(g), ChunkAck: &racs.ChunkAck{Next: g, Done: g%2 == 0}}
				}
				want[[3]uint64{uint64(a.id), uint64(b.id), g}] = p
				batch = append(batch, p)
			}
		}
		a.tr.Send(batch)
	}
	for _, b := range nodes {
		eventually(t, "all packets", func() bool { return b.rec.len() >= 2*groups })
	}
	for _, b := range nodes {
		got := b.rec.snapshot()
		if len(got) != 2*groups {
			t.Fatalf("node %d got %d packets, want %d", b.id, len(got), 2*groups)
		}
		for _, p := range got {
			k := [3]uint64{uint64(p.From), uint64(p.To), uint64(p.Group)}
			w, ok := want[k]
			if !ok {
				t.Fatalf("unexpected packet %+v", p)
			}
			if !reflect.DeepEqual(p, canonical(w)) {
				t.Fatalf("packet %v differs:\n got %+v\nwant %+v", k, p, w)
			}
			delete(want, k)
		}
	}
	if len(want) != 0 {
		t.Fatalf("%d packets missing", len(want))
	}
	for i, a := range nodes {
		if s := a.tr.Stats(); s.Conns != 2 || s.Dropped() != 0 {
			t.Fatalf("node %d: %+v", a.id, s)
		}
		for _, b := range nodes[i+1:] {
			if err := checkOneConn(a, b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSimultaneousDial: two nodes that start sending to each other at the
// same instant end up on one connection, every time.
func TestSimultaneousDial(t *testing.T) {
	var races uint64
	defer func() { t.Logf("%d dials refused as duplicates in 30 rounds", races) }()
	for round := range 30 {
		n := newTestNet()
		nodes := startNodes(t, n, 1, 2)
		a, b := nodes[0], nodes[1]
		var start, wg sync.WaitGroup
		start.Add(1)
		for _, x := range nodes {
			other := a
			if x == a {
				other = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				for i := range 20 {
					x.tr.Send([]racs.Packet{msgPkt(x.id, other.id, 1, uint64(i))})
				}
			}()
		}
		start.Done()
		wg.Wait()
		// Packets queued on the losing side of a race may be dropped only if
		// a dial failed, which it must not here.
		eventually(t, "delivery both ways", func() bool { return a.rec.len() == 20 && b.rec.len() == 20 })
		eventually(t, "one connection", func() bool { return checkOneConn(a, b) == nil })
		sa, sb := a.tr.Stats(), b.tr.Stats()
		if sa.Dropped()+sb.Dropped() != 0 || sa.Reconnects+sb.Reconnects != 0 {
			t.Fatalf("round %d: drops or replaced connections: %+v / %+v", round, sa, sb)
		}
		races += sa.Duplicates + sb.Duplicates
		a.tr.Close()
		b.tr.Close()
	}
}

// TestOrderingPerPair: packets of many groups between two nodes, both ways
// at once, arrive complete and in send order.
func TestOrderingPerPair(t *testing.T) {
	n := newTestNet()
	var nodes []*testNode
	for _, id := range []groupcomm.NodeID{1, 2} {
		cfg := testConfig(t, n, id)
		cfg.QueueLen = 1 << 15
		nodes = append(nodes, startNode(t, n, cfg))
	}
	const total = 20000
	var wg sync.WaitGroup
	for i, x := range nodes {
		to := nodes[1-i].id
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]racs.Packet, 0, 100)
			for seq := uint64(0); seq < total; seq++ {
				batch = append(batch, msgPkt(x.id, to, seq%50, seq))
				if len(batch) == cap(batch) {
					x.tr.Send(batch)
					batch = batch[:0]
				}
			}
		}()
	}
	wg.Wait()
	for i, x := range nodes {
		eventually(t, "all packets", func() bool { return x.rec.len() >= total })
		got := x.rec.from(nodes[1-i].id)
		if len(got) != total {
			t.Fatalf("node %d got %d packets, want %d", x.id, len(got), total)
		}
		for k, p := range got {
			if p.Msg.Frame != uint64(k) || uint64(p.Group) != uint64(k)%50 {
				t.Fatalf("node %d: packet %d is seq %d of group %d", x.id, k, p.Msg.Frame, p.Group)
			}
		}
		if s := x.tr.Stats(); s.Dropped() != 0 || s.Conns != 1 {
			t.Fatalf("node %d: %+v", x.id, s)
		}
	}
}

// rawConn returns the TCP socket of tr's connection to peer id.
func rawConn(t *testing.T, tr *Transport, id groupcomm.NodeID) *net.TCPConn {
	t.Helper()
	tr.mu.RLock()
	p := tr.peers[id]
	tr.mu.RUnlock()
	if p == nil {
		t.Fatalf("no peer %d", id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		t.Fatalf("no connection to %d", id)
	}
	return p.cur.raw.(countingConn).Conn.(*net.TCPConn)
}

// TestReconnectAfterReset: the connection is reset under the transports
// (from either end); packets flow again after the backoff, on one new
// connection.
func TestReconnectAfterReset(t *testing.T) {
	n := newTestNet()
	nodes := startNodes(t, n, 1, 2)
	a, b := nodes[0], nodes[1]
	seq := uint64(0)
	send := func(x, y *testNode) {
		seq++
		x.tr.Send([]racs.Packet{msgPkt(x.id, y.id, 1, seq)})
	}
	send(a, b)
	eventually(t, "first packet", func() bool { return b.rec.len() == 1 })
	for round, resetter := range []*testNode{a, b, a} {
		other := a
		if resetter == a {
			other = b
		}
		raw := rawConn(t, resetter.tr, other.id)
		raw.SetLinger(0) // close with a RST
		raw.Close()
		resetAt := seq
		// Keep sending both ways until packets sent after the reset arrive.
		eventually(t, "packets after the reset", func() bool {
			send(a, b)
			send(b, a)
			time.Sleep(5 * time.Millisecond)
			okB, okA := false, false
			for _, p := range b.rec.snapshot() {
				okB = okB || p.Msg.Frame > resetAt
			}
			for _, p := range a.rec.snapshot() {
				okA = okA || p.Msg.Frame > resetAt
			}
			return okA && okB
		})
		eventually(t, "one connection", func() bool { return checkOneConn(a, b) == nil })
		if r := a.tr.Stats().Reconnects + b.tr.Stats().Reconnects; r < uint64(round+1) {
			t.Fatalf("round %d: %d reconnects", round, r)
		}
	}
	// Order still holds per direction.
	for _, x := range nodes {
		var last uint64
		for _, p := range x.rec.snapshot() {
			if p.Msg.Frame <= last {
				t.Fatalf("node %d: seq %d after %d", x.id, p.Msg.Frame, last)
			}
			last = p.Msg.Frame
		}
	}
}

// TestPeerRestart: a peer goes away and comes back on a new address with
// the same id; the other node notices and reconnects.
func TestPeerRestart(t *testing.T) {
	n := newTestNet()
	nodes := startNodes(t, n, 1, 2)
	a, b := nodes[0], nodes[1]
	a.tr.Send([]racs.Packet{msgPkt(1, 2, 1, 1)})
	eventually(t, "first packet", func() bool { return b.rec.len() == 1 })
	b.tr.Close()
	eventually(t, "a notices", func() bool { return a.tr.Stats().Conns == 0 })
	b2 := startNode(t, n, testConfig(t, n, 2))
	eventually(t, "delivery to the restarted peer", func() bool {
		a.tr.Send([]racs.Packet{msgPkt(1, 2, 1, 2)})
		time.Sleep(5 * time.Millisecond)
		return b2.rec.len() > 0
	})
	b2.tr.Send([]racs.Packet{msgPkt(2, 1, 1, 3)})
	eventually(t, "reply", func() bool { return len(a.rec.from(2)) == 1 })
	if err := checkOneConn(a, b2); err != nil {
		t.Fatal(err)
	}
}

// rawClient is a hand-made client speaking the wire protocol (or not).
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

func (r *rawClient) frame(body []byte) {
	r.write(binary.BigEndian.AppendUint32(nil, uint32(len(body))))
	r.write(body)
}

// hello sends a hello and returns the acceptor's answer.
func (r *rawClient) hello(h hello) (hello, error) {
	r.frame(appendHello(nil, h))
	r.c.SetReadDeadline(guardTime(r.t))
	body, err := readFrame(r.br, maxHelloBytes)
	if err != nil {
		return hello{}, err
	}
	return decodeHello(body)
}

// expectClosed checks that the server closes the connection (EOF or
// reset), reading and discarding whatever it sends first; it gives up at
// the hang guard.
func (r *rawClient) expectClosed() {
	r.t.Helper()
	r.c.SetReadDeadline(guardTime(r.t))
	_, err := io.Copy(io.Discard, r.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatal("the server never closed the connection")
	}
}

// TestGarbageAndOversizedFrames: clients that send garbage, an oversized
// length prefix (before or after the handshake), a malformed packet, a
// spoofed sender, or nothing at all are disconnected; the transport's
// other peers keep working on their connection.
func TestGarbageAndOversizedFrames(t *testing.T) {
	n := newTestNet()
	a := startNode(t, n, testConfig(t, n, 1))
	cfg := testConfig(t, n, 2)
	cfg.HandshakeTimeout = 300 * time.Millisecond
	cfg.MaxFrameBytes = 64 << 10
	b := startNode(t, n, cfg)
	addr := b.tr.Addr().String()

	seq := uint64(0)
	checkTraffic := func(what string) {
		t.Helper()
		seq++
		a.tr.Send([]racs.Packet{msgPkt(1, 2, 1, seq)})
		b.tr.Send([]racs.Packet{msgPkt(2, 1, 1, seq)})
		eventually(t, "traffic after "+what, func() bool {
			return len(b.rec.from(1)) == int(seq) && len(a.rec.from(2)) == int(seq)
		})
	}
	checkTraffic("start")
	before := connTo(b.tr, 1)
	good := hello{Version: 1, Cluster: 1, Node: 9, Target: 2, Label: "test"}

	cases := []struct {
		name string
		run  func(r *rawClient)
	}{
		{"http request", func(r *rawClient) { r.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) }},
		{"small garbage frame", func(r *rawClient) { r.frame([]byte("definitely not a hello")) }},
		{"oversized length before hello", func(r *rawClient) { r.write([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}) }},
		{"silence", func(r *rawClient) {}},
		{"oversized length after hello", func(r *rawClient) {
			if h, err := r.hello(good); err != nil || h.Status != statusOK {
				t.Fatalf("hello: %+v %v", h, err)
			}
			r.write([]byte{0x7f, 0xff, 0xff, 0xff})
		}},
		{"frame just above MaxFrameBytes", func(r *rawClient) {
			r.hello(good)
			r.write(binary.BigEndian.AppendUint32(nil, 64<<10+1))
		}},
		{"garbage packet", func(r *rawClient) {
			r.hello(good)
			r.frame([]byte{kindMsg, 1, 9, 2, 0xde, 0xad, 0xbe, 0xef})
		}},
		{"spoofed sender", func(r *rawClient) {
			r.hello(good)
			fr, _ := AppendFrame(nil, &racs.Packet{From: 1, To: 2, ChunkAck: &racs.ChunkAck{}}, 1<<20)
			r.write(fr)
		}},
		{"wrong target", func(r *rawClient) {
			h := good
			h.Target = 3
			if h, err := r.hello(h); err == nil && h.Status != statusRefused {
				t.Fatalf("wrong target accepted: %+v", h)
			}
		}},
	}
	for _, tc := range cases {
		r := dialRaw(t, addr)
		tc.run(r)
		r.expectClosed()
		checkTraffic(tc.name)
	}
	// A valid client sends a well-formed packet and is delivered.
	r := dialRaw(t, addr)
	r.hello(good)
	fr, _ := AppendFrame(nil, &racs.Packet{From: 9, To: 2, Group: 5, ChunkAck: &racs.ChunkAck{Next: 3}}, 1<<20)
	r.write(fr)
	eventually(t, "the raw client's packet", func() bool { return len(b.rec.from(9)) == 1 })

	if after := connTo(b.tr, 1); after == nil || *after != *before {
		t.Fatalf("the connection with node 1 changed: %+v -> %+v", before, after)
	}
	s := b.tr.Stats()
	if s.ProtocolErrors < 4 || s.HandshakeFailures < 3 {
		t.Fatalf("stats: %+v", s)
	}
}

// TestClustersIsolated: nodes of different clusters (ids or labels), or a
// node reached through a stale address, never exchange a packet.
func TestClustersIsolated(t *testing.T) {
	n := newTestNet()
	mk := func(id groupcomm.NodeID, cluster uint64, label string) *testNode {
		cfg := testConfig(t, n, id)
		cfg.Cluster, cfg.Label = cluster, label
		return startNode(t, n, cfg)
	}
	n1 := mk(1, 1, "a")
	n2 := mk(2, 1, "a")
	n3 := mk(3, 2, "a") // another cluster id
	n4 := mk(4, 1, "b") // another label
	n.set(5, n2.tr.Addr().String())
	all := []*testNode{n1, n2, n3, n4}
	// Every node keeps sending to every other (and to the stale id 5)
	// until nodes 1 and 2 have talked both ways and every node has counted
	// at least `refusals` refused handshakes (more than it has peers: dials
	// were retried after backoffs), however long that takes; no packet may
	// cross meanwhile.
	const refusals = 20
	i := uint64(0)
	eventually(t, fmt.Sprintf("nodes 1 and 2 talking, and %d refusals at every node", refusals), func() bool {
		i++
		for _, x := range all {
			var ps []racs.Packet
			for _, y := range []groupcomm.NodeID{1, 2, 3, 4, 5} {
				if y != x.id {
					ps = append(ps, msgPkt(x.id, y, 1, i))
				}
			}
			x.tr.Send(ps)
		}
		if len(n2.rec.from(1)) == 0 || len(n1.rec.from(2)) == 0 {
			return false
		}
		for _, x := range all {
			if x.tr.Stats().HandshakeFailures < refusals {
				return false
			}
		}
		return true
	})
	for _, x := range all {
		for _, p := range x.rec.snapshot() {
			if !(p.From == 1 && p.To == 2 || p.From == 2 && p.To == 1) {
				t.Fatalf("node %d received %d->%d", x.id, p.From, p.To)
			}
		}
	}
	eventually(t, "one connection between nodes 1 and 2", func() bool { return checkOneConn(n1, n2) == nil })
}

// TestWriteCoalescing: everything queued for a peer while its writer is
// busy goes out in the writer's next round, at once, in as few write
// syscalls as the write buffer allows; a lone packet on an idle
// connection goes out by itself, in one write, without waiting for more.
//
// The test holds node 1's writer after each round (the drained hook: as if
// its flush were slow) and lets it go on only when it has queued what it
// wants, so what the writer finds in the queue, and therefore every count
// checked, does not depend on scheduling; and it reads node 1's Stats only
// while the writer is held, after it has counted its round. (The old test
// raced: it read the sender's counters as soon as the receiver had the
// packets, which can be before the writer, back from its write syscall,
// has counted the frames; and the number of rounds a burst took depended
// on how often the writer ran while Send was still queueing.)
func TestWriteCoalescing(t *testing.T) {
	n := newTestNet()
	ctx := t.Context() // cancelled before the cleanups close the nodes: lets a held writer go
	drained := make(chan uint64)
	resume := make(chan struct{})
	cfg := testConfig(t, n, 1)
	cfg.WriteBufferBytes = 16 << 10 // the burst spans several buffers
	a := startNodeWith(t, n, cfg, func(tr *Transport) {
		tr.hooks.drained = func(frames uint64) {
			select {
			case drained <- frames:
			case <-ctx.Done():
				return
			}
			select {
			case <-resume:
			case <-ctx.Done():
			}
		}
	})
	b := startNode(t, n, testConfig(t, n, 2))
	guard := hangGuard(t)
	// round lets the held writer go on (unless it is the first round) and
	// waits for its next round: the writer is held again when it returns.
	first := true
	round := func(what string) uint64 {
		t.Helper()
		if !first {
			select {
			case resume <- struct{}{}:
			case <-guard:
				t.Fatalf("%s: the writer is not held", what)
			}
		}
		first = false
		select {
		case f := <-drained:
			return f
		case <-guard:
			t.Fatalf("gave up waiting for the writer's round: %s", what)
		}
		return 0
	}
	seq := uint64(0)
	send := func(k int) {
		batch := make([]racs.Packet, k)
		for i := range batch {
			seq++
			batch[i] = msgPkt(1, 2, seq%10, seq)
		}
		a.tr.Send(batch)
	}

	// Warm up: connect; the writer is held after writing the packet.
	send(1)
	if f := round("warm-up"); f != 1 {
		t.Fatalf("warm-up round wrote %d frames, want 1", f)
	}
	b.rec.waitLen(t, 1, "the warm-up packet")

	// A burst, from many Sends, queued while the writer is busy: its next
	// round takes all of it, and its writes are bounded by the buffer.
	const burst, perSend = 2000, 10
	s0 := a.tr.Stats()
	for range burst / perSend {
		send(perSend)
	}
	if f := round("burst"); f != burst {
		t.Fatalf("the writer's round after a burst of %d queued packets wrote %d frames", burst, f)
	}
	s1 := a.tr.Stats()
	frames, drains := s1.FramesSent-s0.FramesSent, s1.Drains-s0.Drains
	writes, bytes := s1.WriteSyscalls-s0.WriteSyscalls, s1.BytesSent-s0.BytesSent
	// One flush of the buffered writer is one write syscall per full
	// buffer, plus one for the rest.
	maxWrites := (bytes + uint64(cfg.WriteBufferBytes) - 1) / uint64(cfg.WriteBufferBytes)
	if frames != burst || drains != 1 || writes == 0 || writes > maxWrites {
		t.Fatalf("burst of %d: %d frames (%d bytes) in %d rounds and %d writes; want %d frames in 1 round and at most %d writes",
			burst, frames, bytes, drains, writes, burst, maxWrites)
	}
	t.Logf("burst of %d packets (%d bytes): 1 round, %d write syscalls", burst, bytes, writes)
	b.rec.waitLen(t, 1+burst, "the burst")

	// Lone packets on an idle connection: each is written alone, at once.
	for i := range 20 {
		s0 := a.tr.Stats()
		select {
		case resume <- struct{}{}: // the writer goes back to waiting for packets
		case <-guard:
			t.Fatal("the writer is not held")
		}
		send(1)
		select {
		case f := <-drained:
			if f != 1 {
				t.Fatalf("lone packet %d: the round wrote %d frames", i, f)
			}
		case <-guard:
			t.Fatalf("lone packet %d was never written", i)
		}
		s1 := a.tr.Stats()
		if w, d := s1.WriteSyscalls-s0.WriteSyscalls, s1.Drains-s0.Drains; w != 1 || d != 1 {
			t.Fatalf("lone packet %d: %d writes in %d rounds, want 1 and 1", i, w, d)
		}
		b.rec.waitLen(t, 1+burst+1+i, "a lone packet")
	}
	got := b.rec.snapshot()
	for k, p := range got {
		if p.Msg.Frame != uint64(k+1) {
			t.Fatalf("packet %d received is seq %d", k, p.Msg.Frame)
		}
	}
}

// TestQueueFullDrops: while the peer cannot be reached the queue holds at
// most QueueLen packets; the rest are dropped and counted, and Send does
// not wait for the dial.
func TestQueueFullDrops(t *testing.T) {
	// Resolve holds the dial until the test lets it go, to a listener that
	// accepts and never answers: the dial then hangs in the handshake.
	addr, _ := silentListener(t)
	n := newTestNet()
	n.set(9, addr)
	resolving, release := make(chan struct{}), make(chan struct{})
	cfg := testConfig(t, n, 1)
	cfg.QueueLen = 10
	cfg.HandshakeTimeout = 200 * time.Millisecond
	var once sync.Once
	cfg.Resolve = func(id groupcomm.NodeID) (string, bool) {
		once.Do(func() {
			close(resolving)
			<-release
		})
		return n.resolve(id)
	}
	x := startNode(t, n, cfg)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release) // let a held dial go, so that Close can end
		}
	})
	batch := make([]racs.Packet, 100)
	for i := range batch {
		batch[i] = msgPkt(1, 9, 1, uint64(i))
	}
	// Send returns while its dial is held: it does not wait for the network.
	returns(t, "Send while the dial is held", func() { x.tr.Send(batch) })
	select {
	case <-resolving:
	case <-hangGuard(t):
		t.Fatal("no dial started")
	}
	if s := x.tr.Stats(); s.DroppedQueueFull != 90 || s.Dials != 1 || s.DroppedUnreachable != 0 {
		t.Fatalf("DroppedQueueFull = %d (want 90), Dials = %d (want 1), DroppedUnreachable = %d (want 0)", s.DroppedQueueFull, s.Dials, s.DroppedUnreachable)
	}
	// The handshake times out; the queued packets are dropped as
	// unreachable.
	close(release)
	eventually(t, "dial failure", func() bool { return x.tr.Stats().DroppedUnreachable == 10 })
}

// TestUnreachableBackoff: sending to a node that cannot be reached dials
// at most once per backoff interval.
func TestUnreachableBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // connection refused from now on
	n := newTestNet()
	n.set(9, dead)
	cfg := testConfig(t, n, 1)
	cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
	x := startNode(t, n, cfg)
	start := time.Now()
	end := start.Add(600 * time.Millisecond)
	for time.Now().Before(end) {
		x.tr.Send([]racs.Packet{msgPkt(1, 9, 1, 0)})
		time.Sleep(time.Millisecond)
	}
	// Wait for the dial loop to end (its last dial fails and drops what was
	// queued), so that no dial is in flight when the counters are read.
	p := peerOf(x.tr, 9)
	eventually(t, "the dial loop to end", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !p.dialing
	})
	elapsed := time.Since(start)
	// The most dials the backoff allows in elapsed: each waits at least
	// half the backoff (the jitter) after the last failure, and the
	// backoff doubles from BackoffMin up to BackoffMax. A slow machine
	// only dials less.
	maxDials, at := uint64(1), time.Duration(0)
	for b := cfg.BackoffMin; ; b = min(2*b, cfg.BackoffMax) {
		if at += b / 2; at > elapsed {
			break
		}
		maxDials++
	}
	s := x.tr.Stats()
	if s.Dials == 0 || s.Dials > maxDials || s.DialFailures != s.Dials {
		t.Fatalf("%d dials (at most %d allowed), %d failures in %v", s.Dials, maxDials, s.DialFailures, elapsed)
	}
	if s.DroppedUnreachable == 0 {
		t.Fatalf("nothing dropped as unreachable: %+v", s)
	}
	t.Logf("%d dials in %v (the backoff allows %d)", s.Dials, elapsed.Round(time.Millisecond), maxDials)
}

func TestLoopbackAndInvalidSends(t *testing.T) {
	n := newTestNet()
	x := startNodes(t, n, 1)[0]
	x.tr.Send([]racs.Packet{
		msgPkt(1, 1, 1, 1),
		{From: 1, To: 1, ChunkAck: &racs.ChunkAck{Next: 2}},
		{From: 2, To: 1, ChunkAck: &racs.ChunkAck{}}, // not from this node
		{From: 1, To: 0, ChunkAck: &racs.ChunkAck{}}, // to nobody
		{From: 1, To: 1}, // no payload
		{From: 1, To: 1, ChunkAck: &racs.ChunkAck{}, Msg: &groupcomm.Message{}}, // two payloads
	})
	eventually(t, "loopback", func() bool { return x.rec.len() == 2 })
	s := x.tr.Stats()
	if s.Loopback != 2 || s.DroppedInvalid != 4 || s.Conns != 0 || s.Dials != 0 {
		t.Fatalf("%+v", s)
	}
}

// TestTooLargeDropped: a packet larger than MaxFrameBytes is dropped at
// the sender; the connection stays up.
func TestTooLargeDropped(t *testing.T) {
	n := newTestNet()
	var nodes []*testNode
	for _, id := range []groupcomm.NodeID{1, 2} {
		cfg := testConfig(t, n, id)
		cfg.MaxFrameBytes = 1024
		nodes = append(nodes, startNode(t, n, cfg))
	}
	a, b := nodes[0], nodes[1]
	a.tr.Send([]racs.Packet{
		{From: 1, To: 2, Chunk: &racs.Chunk{Data: make([]byte, 2000)}},
		msgPkt(1, 2, 1, 1),
	})
	eventually(t, "small packet", func() bool { return b.rec.len() == 1 })
	if s := a.tr.Stats(); s.DroppedTooLarge != 1 || s.Reconnects != 0 {
		t.Fatalf("%+v", s)
	}
}

// TestCloseStopsEverything: Close ends every goroutine; later Sends drop.
func TestCloseStopsEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	silent, stopSilent := silentListener(t)
	n := newTestNet()
	var nodes []*testNode
	for _, id := range []groupcomm.NodeID{1, 2, 3} {
		rec := &recorder{}
		cfg := testConfig(t, n, id)
		// A Close that waited for a dial or handshake to time out instead
		// of aborting it would hang (and fail at the hang guard).
		cfg.DialTimeout, cfg.HandshakeTimeout = time.Hour, time.Hour
		tr, err := New(cfg, rec.deliver)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Start(); err != nil {
			t.Fatal(err)
		}
		n.set(id, tr.Addr().String())
		nodes = append(nodes, &testNode{id: id, tr: tr, rec: rec})
	}
	for _, x := range nodes {
		for _, y := range nodes {
			x.tr.Send([]racs.Packet{msgPkt(x.id, y.id, 1, 1)})
		}
	}
	for _, x := range nodes {
		eventually(t, "delivery", func() bool { return x.rec.len() == 3 })
	}
	// A dial hanging in its handshake (to a node that never answers), a
	// half-done inbound handshake, and a dial to a black-holed address
	// (connecting, or already failed where that network is unreachable).
	n.set(9, silent)
	nodes[0].tr.Send([]racs.Packet{msgPkt(1, 9, 1, 1)})
	n.set(8, "10.255.255.1:9")
	nodes[2].tr.Send([]racs.Packet{msgPkt(3, 8, 1, 1)})
	hc, err := net.Dial("tcp", nodes[1].tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	// Wait until the transports hold both handshakes (not for a time).
	handshaking := func(tr *Transport, match func(c *conn) bool) func() bool {
		return func() bool {
			tr.mu.RLock()
			defer tr.mu.RUnlock()
			for c := range tr.pending {
				if match(c) {
					return true
				}
			}
			return false
		}
	}
	eventually(t, "node 1's dial to node 9 to handshake", handshaking(nodes[0].tr, func(c *conn) bool {
		return c.outbound && c.remote == 9
	}))
	eventually(t, "node 2 to accept the raw connection", handshaking(nodes[1].tr, func(c *conn) bool {
		return !c.outbound && c.raw.RemoteAddr().String() == hc.LocalAddr().String()
	}))

	for _, x := range nodes {
		returns(t, fmt.Sprintf("node %d's Close", x.id), func() {
			if err := x.tr.Close(); err != nil {
				t.Error(err)
			}
		})
		x.tr.Close() // idempotent
	}
	stopSilent()
	nodes[0].tr.Send([]racs.Packet{msgPkt(1, 2, 1, 2)})
	if s := nodes[0].tr.Stats(); s.DroppedClosed == 0 || s.Conns != 0 {
		t.Fatalf("%+v", s)
	}
	if err := nodes[0].tr.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Node = 1
	ok.Resolve = newTestNet().resolve
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	zero := Config{Node: 1, Resolve: ok.Resolve} // zero tunables mean defaults
	if err := zero.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(c *Config){
		"no node":         func(c *Config) { c.Node = 0 },
		"no resolve":      func(c *Config) { c.Resolve = nil },
		"long label":      func(c *Config) { c.Label = string(make([]byte, MaxLabelBytes+1)) },
		"tiny frames":     func(c *Config) { c.MaxFrameBytes = 10 },
		"negative queue":  func(c *Config) { c.QueueLen = -1 },
		"negative dial":   func(c *Config) { c.DialTimeout = -1 },
		"backoff min>max": func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond },
	}
	for name, mod := range bad {
		c := ok
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := New(c, func([]racs.Packet) {}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New with %s: %v", name, err)
		}
	}
	if _, err := New(ok, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil deliver: %v", err)
	}
}

// TestHalfOpenReplaced: node 2 has lost the connection node 1 dialled
// (simulated by making node 2 forget it while the socket stays open, so
// node 1 notices nothing). When node 2 dials, node 1 answers that it has a
// connection; node 2, having none, redials asking node 1 to replace it.
func TestHalfOpenReplaced(t *testing.T) {
	n := newTestNet()
	nodes := startNodes(t, n, 1, 2)
	a, b := nodes[0], nodes[1]
	a.tr.Send([]racs.Packet{msgPkt(1, 2, 1, 1)})
	eventually(t, "first packet", func() bool { return b.rec.len() == 1 })
	old := connTo(a.tr, 2)
	if !old.Outbound {
		t.Fatal("node 1 should have dialled")
	}
	b.tr.mu.RLock()
	p := b.tr.peers[1]
	b.tr.mu.RUnlock()
	p.mu.Lock()
	p.cur = nil // node 2 forgets; its reader of the orphan ends when node 1 closes it
	p.mu.Unlock()

	b.tr.Send([]racs.Packet{msgPkt(2, 1, 1, 2)})
	eventually(t, "packet over the new connection", func() bool { return a.rec.len() == 1 })
	eventually(t, "one connection", func() bool { return checkOneConn(a, b) == nil })
	if now := connTo(a.tr, 2); now.Outbound || now.Remote == old.Remote {
		t.Fatalf("node 1 kept its connection: %+v", now)
	}
	if s := b.tr.Stats(); s.Duplicates != 1 || s.Dials != 2 || s.Dropped() != 0 {
		t.Fatalf("node 2: %+v", s)
	}
}

// TestRestartedPeerReplacesAtOnce: a peer restarted (a new instance) while
// the old connection still looks fine to us is accepted at once, replacing
// the old connection.
func TestRestartedPeerReplacesAtOnce(t *testing.T) {
	n := newTestNet()
	nodes := startNodes(t, n, 1, 2)
	a, b := nodes[0], nodes[1]
	a.tr.Send([]racs.Packet{msgPkt(1, 2, 1, 1)})
	eventually(t, "first packet", func() bool { return b.rec.len() == 1 })
	old := connTo(a.tr, 2)
	// The "restarted" node 2 runs beside the old one, whose connection to
	// node 1 stays open.
	b2 := startNode(t, n, testConfig(t, n, 2))
	b2.tr.Send([]racs.Packet{msgPkt(2, 1, 1, 2)})
	eventually(t, "packet from the new instance", func() bool { return a.rec.len() == 1 })
	if now := connTo(a.tr, 2); now == nil || now.Remote == old.Remote {
		t.Fatalf("node 1 kept the old connection: %+v", now)
	}
	if s := b2.tr.Stats(); s.Duplicates != 0 || s.Dials != 1 {
		t.Fatalf("new node 2: %+v", s)
	}
	if err := checkOneConn(a, b2); err != nil {
		t.Fatal(err)
	}
}
