package tcp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// The hello: the first frame each side sends on a new connection (framed
// like every other frame, but limited to maxHelloBytes so that a stranger
// cannot make us allocate). Layout:
//
//	4 bytes  magic "QSX1"
//	uvarint  Version: the highest protocol version the sender speaks (1)
//	uvarint  Cluster id
//	uvarint  Node id of the sender
//	uvarint  Target: the node id the dialer means to reach (0 from the
//	         acceptor)
//	uvarint  Instance: a random number drawn by each Transport at New, so
//	         that a restarted peer is recognised
//	uvarint  len(Label) (≤ MaxLabelBytes), then the Label bytes
//	byte     Status: 0 from the dialer; the acceptor's verdict (0 accepted,
//	         1 duplicate: my own dial to you is in flight and wins,
//	         2 refused, 3 duplicate: I have a working connection with you)
//	byte     Flags: bit 0 (from the dialer) Replace: I have no connection
//	         with you, replace yours; other bits zero
//
// A hello of a later version may carry more bytes after Status; a version 1
// hello must not. Both sides speak min(their versions); this implementation
// only speaks version 1, so any version ≥ 1 is accepted and 0 is refused.
const (
	helloMagic      = "QSX1"
	protocolVersion = 1
	// MaxLabelBytes bounds Config.Label.
	MaxLabelBytes = 255
	// maxHelloBytes bounds a hello frame (and so what a peer that has not
	// yet identified itself can make us allocate).
	maxHelloBytes = 512
)

// Acceptor verdicts, carried in the acceptor's hello.
const (
	statusOK        byte = 0 // the connection is in use, both directions
	statusDuplicate byte = 1 // simultaneous dial: the acceptor's own dial, in flight, wins
	statusRefused   byte = 2 // the dialer is not welcome (cluster, label, id, certificate)
	statusHave      byte = 3 // the acceptor has a working connection with the dialer
	maxStatus            = statusHave

	flagReplace byte = 1 << 0
	flagsKnown       = flagReplace
)

// ErrHandshake: a connection was refused during the handshake. The error
// says why (wrong magic or version, another cluster or label, an
// unexpected node id, a certificate for another node).
var ErrHandshake = errors.New("tcp: handshake failed")

// errDuplicate: the acceptor kept its own simultaneous dial (not a failure).
var errDuplicate = errors.New("tcp: peer is dialling us at the same time; its connection wins")

// errHave: the acceptor has a connection with us it believes working.
var errHave = errors.New("tcp: peer has a connection with us")

// hello is the handshake message.
type hello struct {
	Version  uint64
	Cluster  uint64
	Node     groupcomm.NodeID
	Target   groupcomm.NodeID
	Instance uint64
	Label    string
	Status   byte
	Flags    byte
}

func appendHello(b []byte, h hello) []byte {
	b = append(b, helloMagic...)
	b = binary.AppendUvarint(b, h.Version)
	b = binary.AppendUvarint(b, h.Cluster)
	b = binary.AppendUvarint(b, uint64(h.Node))
	b = binary.AppendUvarint(b, uint64(h.Target))
	b = binary.AppendUvarint(b, h.Instance)
	b = binary.AppendUvarint(b, uint64(len(h.Label)))
	b = append(b, h.Label...)
	return append(b, h.Status, h.Flags)
}

// decodeHello decodes a hello frame body. It never panics.
func decodeHello(b []byte) (hello, error) {
	if len(b) < len(helloMagic) || string(b[:len(helloMagic)]) != helloMagic {
		return hello{}, fmt.Errorf("%w: bad magic (not a Quicksilver node?)", ErrHandshake)
	}
	d := wireDecoder{b: b, i: len(helloMagic)}
	var h hello
	h.Version = d.uvarint("version")
	h.Cluster = d.uvarint("cluster")
	h.Node = groupcomm.NodeID(d.uvarint("node"))
	h.Target = groupcomm.NodeID(d.uvarint("target"))
	h.Instance = d.uvarint("instance")
	n := d.uvarint("label length")
	if d.err == nil && n > MaxLabelBytes {
		d.fail("label of %d bytes exceeds %d", n, MaxLabelBytes)
	}
	if d.err == nil && n > uint64(d.remaining()) {
		d.fail("label length %d exceeds the %d remaining bytes", n, d.remaining())
	}
	if d.err == nil {
		h.Label = string(b[d.i : d.i+int(n)])
		d.i += int(n)
	}
	h.Status = d.byte("status")
	h.Flags = d.byte("flags")
	switch {
	case d.err != nil:
	case h.Version == 0:
		d.fail("version 0")
	case h.Status > maxStatus:
		d.fail("unknown status %d", h.Status)
	case h.Flags&^flagsKnown != 0:
		d.fail("unknown flags %#x", h.Flags)
	}
	if d.err == nil && h.Version == protocolVersion && d.remaining() != 0 {
		d.fail("%d trailing bytes", d.remaining())
	}
	if d.err != nil {
		return hello{}, fmt.Errorf("%w: hello: %w", ErrHandshake, d.err)
	}
	return h, nil
}

// countingConn counts Read and Write calls on the socket (one read(2) or
// write(2) each, short writes and EAGAIN aside).
type countingConn struct {
	net.Conn
	reads, writes *atomic.Uint64
}

func (c countingConn) Read(b []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(b)
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// conn is one TCP connection with a peer. Until install it is handshaking
// and owned by one goroutine; afterwards it has a reader and a writer
// goroutine and is the peer's current connection until it fails, is
// replaced or the transport closes.
type conn struct {
	t        *Transport
	remote   groupcomm.NodeID // known at dial; learnt from the hello on accept
	instance uint64           // the remote transport's instance, from its hello
	outbound bool
	raw      net.Conn // the TCP socket
	nc       net.Conn // raw, or TLS over raw
	br       *bufio.Reader
	bw       *bufio.Writer
	p        *peer         // set by install
	wake     chan struct{} // capacity 1: the peer's queue has packets
	done     chan struct{} // closed by close
	once     sync.Once
	scratch  []byte // encoding buffer for frames larger than bw's free space
}

func newConn(t *Transport, raw net.Conn, outbound bool) *conn {
	return &conn{
		t:        t,
		outbound: outbound,
		raw:      raw,
		nc:       raw,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// startIO sets up the buffered reader and writer (after TLS, if any).
func (c *conn) startIO() {
	c.br = bufio.NewReaderSize(c.nc, c.t.cfg.ReadBufferBytes)
	c.bw = bufio.NewWriterSize(c.nc, c.t.cfg.WriteBufferBytes)
}

// close closes the socket once and reports whether this call did. It
// closes the TCP socket itself, not the TLS layer, so it never blocks on a
// close_notify alert.
func (c *conn) close() bool {
	did := false
	c.once.Do(func() {
		did = true
		close(c.done)
		c.raw.Close()
	})
	return did
}

// fail closes an installed connection and tells the transport, which
// forgets it and reconnects if packets wait.
func (c *conn) fail(err error) {
	if c.close() {
		c.t.connLost(c, err)
	}
}

// signal wakes the writer (never blocks).
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) String() string {
	dir := "in"
	if c.outbound {
		dir = "out"
	}
	return fmt.Sprintf("%s %s->%s", dir, c.raw.LocalAddr(), c.raw.RemoteAddr())
}

// writeHello sends h and flushes.
func (c *conn) writeHello(h hello) error {
	b := appendHello(make([]byte, frameHeaderLen, 64), h)
	binary.BigEndian.PutUint32(b, uint32(len(b)-frameHeaderLen))
	if _, err := c.bw.Write(b); err != nil {
		return err
	}
	return c.bw.Flush()
}

// readHello reads and decodes the peer's hello.
func (c *conn) readHello() (hello, error) {
	body, err := readFrame(c.br, maxHelloBytes)
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformed) {
			return hello{}, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		return hello{}, err
	}
	return decodeHello(body)
}

// checkHello checks the peer's hello against this node's identity: same
// cluster and label, a node id that is not 0 and not ours, and, if want is
// not 0 (we dialled), the node we dialled; if want is 0 (we accepted), the
// dialer must have meant us.
func (t *Transport) checkHello(h hello, want groupcomm.NodeID) error {
	switch {
	case h.Cluster != t.cfg.Cluster:
		return fmt.Errorf("%w: peer node %d is in cluster %d, we are in %d", ErrHandshake, h.Node, h.Cluster, t.cfg.Cluster)
	case h.Label != t.cfg.Label:
		return fmt.Errorf("%w: peer node %d has cluster label %q, ours is %q", ErrHandshake, h.Node, h.Label, t.cfg.Label)
	case h.Node == 0:
		return fmt.Errorf("%w: peer sent node id 0", ErrHandshake)
	case h.Node == t.cfg.Node:
		return fmt.Errorf("%w: peer claims our own node id %d", ErrHandshake, h.Node)
	case want != 0 && h.Node != want:
		return fmt.Errorf("%w: dialled node %d but node %d answered (stale address?)", ErrHandshake, want, h.Node)
	case want == 0 && h.Target != t.cfg.Node:
		return fmt.Errorf("%w: node %d dialled us for node %d (stale address?)", ErrHandshake, h.Node, h.Target)
	}
	return nil
}

func (t *Transport) myHello(target groupcomm.NodeID, status, flags byte) hello {
	return hello{Version: protocolVersion, Cluster: t.cfg.Cluster, Node: t.cfg.Node, Target: target,
		Instance: t.instance, Label: t.cfg.Label, Status: status, Flags: flags}
}

// maxDeliverBatch bounds the packets handed to deliver in one call.
const maxDeliverBatch = 256

// readLoop reads frames and delivers packets in order until the connection
// fails. A frame that does not decode, or a packet that is not from the
// peer to us, ends the connection. The frames already buffered when a
// frame is read go with it in one deliver call (wholeFrameBuffered); a
// frame still arriving is never waited for with packets in hand.
func (c *conn) readLoop() {
	defer c.t.wg.Done()
	t := c.t
	var batch []racs.Packet
	flush := func() {
		if len(batch) > 0 {
			t.deliver(batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	for {
		body, err := readFrame(c.br, t.cfg.MaxFrameBytes)
		if err != nil {
			flush()
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrFrameTooLarge) {
				t.stats.protocolErrors.Add(1)
			}
			c.fail(err)
			return
		}
		p, err := DecodePacket(body, t.cfg.DecodeLimits)
		if err == nil && (p.From != c.remote || p.To != t.cfg.Node) {
			err = fmt.Errorf("%w: packet %d->%d on the connection with node %d", ErrMalformed, p.From, p.To, c.remote)
		}
		if err != nil {
			flush()
			t.stats.protocolErrors.Add(1)
			c.fail(err)
			return
		}
		t.stats.framesReceived.Add(1)
		t.stats.bytesReceived.Add(uint64(frameHeaderLen + len(body)))
		batch = append(batch, p)
		if len(batch) < maxDeliverBatch && wholeFrameBuffered(c.br) {
			continue
		}
		flush()
	}
}

// wholeFrameBuffered reports whether r holds a whole frame already, so
// that reading it cannot block.
func wholeFrameBuffered(r *bufio.Reader) bool {
	if r.Buffered() < frameHeaderLen {
		return false
	}
	hdr, err := r.Peek(frameHeaderLen)
	if err != nil {
		return false
	}
	return uint64(r.Buffered()) >= uint64(frameHeaderLen)+uint64(binary.BigEndian.Uint32(hdr))
}

// writeLoop waits for packets queued for the peer and writes them. Each
// round takes everything queued, encodes it into the buffered writer and
// flushes once: under load many frames go out per write syscall, and an
// idle connection writes a lone packet at once (there is no timer).
func (c *conn) writeLoop() {
	defer c.t.wg.Done()
	p := c.p
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		for {
			p.mu.Lock()
			if p.cur != c {
				p.mu.Unlock()
				return
			}
			if len(p.q) == 1 {
				// One packet waiting: let the goroutines that are about to
				// send run first (a scheduler pass, microseconds), so one
				// write carries what they add. Under many concurrent
				// callers each packet otherwise costs its own syscall.
				p.mu.Unlock()
				runtime.Gosched()
				p.mu.Lock()
				if p.cur != c {
					p.mu.Unlock()
					return
				}
			}
			batch := p.q
			if len(batch) == 0 {
				p.mu.Unlock()
				break
			}
			p.q, p.spare = p.spare, nil
			p.mu.Unlock()

			err := c.writeBatch(batch)
			clear(batch) // drop references for the GC
			p.mu.Lock()
			if p.spare == nil {
				p.spare = batch[:0]
			}
			p.mu.Unlock()
			if err != nil {
				c.fail(err)
				return
			}
		}
	}
}

// maxScratch bounds the encoding buffer a connection keeps between rounds.
const maxScratch = 1 << 20

// writeBatch encodes the packets into the buffered writer and flushes once.
func (c *conn) writeBatch(batch []racs.Packet) error {
	t := c.t
	if t.cfg.WriteTimeout > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout)); err != nil {
			return err
		}
	}
	var frames, bytes uint64
	for i := range batch {
		pk := &batch[i]
		n, err := PacketSize(pk)
		if err != nil { // Send checks this; be safe anyway
			t.stats.droppedInvalid.Add(1)
			continue
		}
		if n > t.cfg.MaxFrameBytes {
			t.stats.droppedTooLarge.Add(1)
			t.log.Warn("tcp: dropping packet larger than MaxFrameBytes", "peer", c.remote, "group", pk.Group, "bytes", n, "max", t.cfg.MaxFrameBytes)
			continue
		}
		need := frameHeaderLen + n
		// Encode in place in the writer's free space when the frame fits
		// (bufio's Write then copies nothing), else in scratch.
		buf := c.bw.AvailableBuffer()
		inScratch := cap(buf) < need
		if inScratch {
			buf = c.scratch[:0]
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(n))
		buf, _ = AppendPacket(buf, pk)
		if _, err := c.bw.Write(buf); err != nil {
			return err
		}
		if inScratch && cap(buf) <= maxScratch {
			c.scratch = buf[:0]
		}
		frames++
		bytes += uint64(need)
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	t.stats.framesSent.Add(frames)
	t.stats.bytesSent.Add(bytes)
	t.stats.drains.Add(1)
	if h := t.hooks.drained; h != nil {
		h(frames)
	}
	return nil
}

// testHooks let tests observe and pace a transport's goroutines, so that
// they synchronise on events rather than on sleeps. Every field is nil
// outside tests; a test sets them after New and before Start and Send,
// and never changes them afterwards.
type testHooks struct {
	// drained, if set, is called by a connection's writer after each round
	// that wrote to the socket, once the round is flushed and counted in
	// Stats, with the number of frames it wrote. The writer takes nothing
	// more from its peer's queue until drained returns: a test that blocks
	// in it holds the writer as a slow flush would, while Sends queue.
	drained func(frames uint64)
}
