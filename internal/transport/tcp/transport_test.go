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
	mu   sync.Mutex
	pkts []racs.Packet
}

func (r *recorder) deliver(p racs.Packet) {
	r.mu.Lock()
	r.pkts = append(r.pkts, p)
	r.mu.Unlock()
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
	rec := &recorder{}
	tr, err := New(cfg, rec.deliver)
	if err != nil {
		t.Fatal(err)
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

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
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
		eventually(t, 10*time.Second, "all packets", func() bool { return b.rec.len() >= 2*groups })
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
		eventually(t, 5*time.Second, "delivery both ways", func() bool { return a.rec.len() == 20 && b.rec.len() == 20 })
		eventually(t, 5*time.Second, "one connection", func() bool { return checkOneConn(a, b) == nil })
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
		eventually(t, 20*time.Second, "all packets", func() bool { return x.rec.len() >= total })
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
	eventually(t, 5*time.Second, "first packet", func() bool { return b.rec.len() == 1 })
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
		eventually(t, 10*time.Second, "packets after the reset", func() bool {
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
		eventually(t, 5*time.Second, "one connection", func() bool { return checkOneConn(a, b) == nil })
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
	eventually(t, 5*time.Second, "first packet", func() bool { return b.rec.len() == 1 })
	b.tr.Close()
	eventually(t, 5*time.Second, "a notices", func() bool { return a.tr.Stats().Conns == 0 })
	b2 := startNode(t, n, testConfig(t, n, 2))
	eventually(t, 10*time.Second, "delivery to the restarted peer", func() bool {
		a.tr.Send([]racs.Packet{msgPkt(1, 2, 1, 2)})
		time.Sleep(5 * time.Millisecond)
		return b2.rec.len() > 0
	})
	b2.tr.Send([]racs.Packet{msgPkt(2, 1, 1, 3)})
	eventually(t, 5*time.Second, "reply", func() bool { return len(a.rec.from(2)) == 1 })
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
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	body, err := readFrame(r.br, maxHelloBytes)
	if err != nil {
		return hello{}, err
	}
	return decodeHello(body)
}

// expectClosed checks that the server closes the connection (EOF or reset)
// within d, reading and discarding whatever it sends first.
func (r *rawClient) expectClosed(d time.Duration) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, r.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("connection still open after %v", d)
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
		eventually(t, 5*time.Second, "traffic after "+what, func() bool {
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
		r.expectClosed(3 * time.Second)
		checkTraffic(tc.name)
	}
	// A valid client sends a well-formed packet and is delivered.
	r := dialRaw(t, addr)
	r.hello(good)
	fr, _ := AppendFrame(nil, &racs.Packet{From: 9, To: 2, Group: 5, ChunkAck: &racs.ChunkAck{Next: 3}}, 1<<20)
	r.write(fr)
	eventually(t, 5*time.Second, "the raw client's packet", func() bool { return len(b.rec.from(9)) == 1 })

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
	deadline := time.Now().Add(500 * time.Millisecond)
	for i := uint64(0); time.Now().Before(deadline); i++ {
		for _, x := range all {
			var ps []racs.Packet
			for _, y := range []groupcomm.NodeID{1, 2, 3, 4, 5} {
				if y != x.id {
					ps = append(ps, msgPkt(x.id, y, 1, i))
				}
			}
			x.tr.Send(ps)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, x := range all {
		for _, p := range x.rec.snapshot() {
			if !(p.From == 1 && p.To == 2 || p.From == 2 && p.To == 1) {
				t.Fatalf("node %d received %d->%d", x.id, p.From, p.To)
			}
		}
	}
	if len(n2.rec.from(1)) == 0 || len(n1.rec.from(2)) == 0 {
		t.Fatal("nodes 1 and 2 of the same cluster did not talk")
	}
	for _, x := range all {
		if s := x.tr.Stats(); s.HandshakeFailures == 0 {
			t.Fatalf("node %d saw no handshake failure: %+v", x.id, s)
		}
	}
	if err := checkOneConn(n1, n2); err != nil {
		t.Fatal(err)
	}
}

// TestWriteCoalescing: a burst goes out in few write syscalls; a lone
// packet on an idle connection goes out at once, in one.
func TestWriteCoalescing(t *testing.T) {
	n := newTestNet()
	nodes := startNodes(t, n, 1, 2)
	a, b := nodes[0], nodes[1]
	a.tr.Send([]racs.Packet{msgPkt(1, 2, 1, 0)})
	eventually(t, 5*time.Second, "warm-up", func() bool { return b.rec.len() == 1 })

	s0 := a.tr.Stats()
	const burst = 2000
	batch := make([]racs.Packet, burst)
	for i := range batch {
		batch[i] = msgPkt(1, 2, uint64(i%10), uint64(i+1))
	}
	a.tr.Send(batch)
	eventually(t, 5*time.Second, "burst", func() bool { return b.rec.len() == burst+1 })
	s1 := a.tr.Stats()
	writes := s1.WriteSyscalls - s0.WriteSyscalls
	if s1.FramesSent-s0.FramesSent != burst || writes > burst/20 {
		t.Fatalf("burst of %d: %d frames in %d writes", burst, s1.FramesSent-s0.FramesSent, writes)
	}
	t.Logf("burst of %d packets: %d write syscalls", burst, writes)

	var worst time.Duration
	for i := range 20 {
		s0 := a.tr.Stats()
		start := time.Now()
		a.tr.Send([]racs.Packet{msgPkt(1, 2, 1, uint64(burst+2+i))})
		eventually(t, 5*time.Second, "lone packet", func() bool { return b.rec.len() == burst+2+i })
		worst = max(worst, time.Since(start))
		if w := a.tr.Stats().WriteSyscalls - s0.WriteSyscalls; w != 1 {
			t.Fatalf("lone packet took %d writes", w)
		}
	}
	t.Logf("idle latency, worst of 20: %v", worst)
}

// TestQueueFullDrops: while the peer cannot be reached the queue holds at
// most QueueLen packets; the rest are dropped and counted, and Send does
// not block.
func TestQueueFullDrops(t *testing.T) {
	// A listener that accepts and never answers: the dial hangs in the
	// handshake.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	n := newTestNet()
	n.set(9, ln.Addr().String())
	cfg := testConfig(t, n, 1)
	cfg.QueueLen = 10
	cfg.HandshakeTimeout = 200 * time.Millisecond
	x := startNode(t, n, cfg)
	batch := make([]racs.Packet, 100)
	for i := range batch {
		batch[i] = msgPkt(1, 9, 1, uint64(i))
	}
	start := time.Now()
	x.tr.Send(batch)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("Send blocked for %v", d)
	}
	if s := x.tr.Stats(); s.DroppedQueueFull != 90 {
		t.Fatalf("DroppedQueueFull = %d, want 90", s.DroppedQueueFull)
	}
	// The handshake times out; the queued packets are dropped as
	// unreachable.
	eventually(t, 5*time.Second, "dial failure", func() bool { return x.tr.Stats().DroppedUnreachable == 10 })
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
	end := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(end) {
		x.tr.Send([]racs.Packet{msgPkt(1, 9, 1, 0)})
		time.Sleep(time.Millisecond)
	}
	s := x.tr.Stats()
	if s.Dials == 0 || s.Dials > 20 || s.DialFailures != s.Dials {
		t.Fatalf("%d dials, %d failures in 600ms", s.Dials, s.DialFailures)
	}
	if s.DroppedUnreachable == 0 {
		t.Fatalf("nothing dropped as unreachable: %+v", s)
	}
	t.Logf("%d dials in 600ms", s.Dials)
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
	eventually(t, 5*time.Second, "loopback", func() bool { return x.rec.len() == 2 })
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
	eventually(t, 5*time.Second, "small packet", func() bool { return b.rec.len() == 1 })
	if s := a.tr.Stats(); s.DroppedTooLarge != 1 || s.Reconnects != 0 {
		t.Fatalf("%+v", s)
	}
}

// TestCloseStopsEverything: Close ends every goroutine; later Sends drop.
func TestCloseStopsEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	n := newTestNet()
	var nodes []*testNode
	for _, id := range []groupcomm.NodeID{1, 2, 3} {
		rec := &recorder{}
		tr, err := New(testConfig(t, n, id), rec.deliver)
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
		eventually(t, 5*time.Second, "delivery", func() bool { return x.rec.len() == 3 })
	}
	// A dial in progress to an unreachable node, and a half-done handshake.
	n.set(9, "10.255.255.1:9")
	nodes[0].tr.Send([]racs.Packet{msgPkt(1, 9, 1, 1)})
	hc, err := net.Dial("tcp", nodes[1].tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	time.Sleep(20 * time.Millisecond)

	for _, x := range nodes {
		start := time.Now()
		if err := x.tr.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Close took %v", d)
		}
		x.tr.Close() // idempotent
	}
	nodes[0].tr.Send([]racs.Packet{msgPkt(1, 2, 1, 2)})
	if s := nodes[0].tr.Stats(); s.DroppedClosed == 0 || s.Conns != 0 {
		t.Fatalf("%+v", s)
	}
	if err := nodes[0].tr.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	eventually(t, 5*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
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
		if _, err := New(c, func(racs.Packet) {}); !errors.Is(err, ErrInvalidConfig) {
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
	eventually(t, 5*time.Second, "first packet", func() bool { return b.rec.len() == 1 })
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
	eventually(t, 5*time.Second, "packet over the new connection", func() bool { return a.rec.len() == 1 })
	eventually(t, 5*time.Second, "one connection", func() bool { return checkOneConn(a, b) == nil })
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
	eventually(t, 5*time.Second, "first packet", func() bool { return b.rec.len() == 1 })
	old := connTo(a.tr, 2)
	// The "restarted" node 2 runs beside the old one, whose connection to
	// node 1 stays open.
	b2 := startNode(t, n, testConfig(t, n, 2))
	b2.tr.Send([]racs.Packet{msgPkt(2, 1, 1, 2)})
	eventually(t, 5*time.Second, "packet from the new instance", func() bool { return a.rec.len() == 1 })
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
