package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// ErrInvalidConfig: a Config that cannot work. Validate's errors wrap it.
var ErrInvalidConfig = errors.New("tcp: invalid config")

// Defaults of the tunable Config fields.
const (
	DefaultMaxFrameBytes    = 16 << 20
	DefaultQueueLen         = 4096
	DefaultWriteBufferBytes = 128 << 10
	DefaultReadBufferBytes  = 64 << 10
	DefaultDialTimeout      = 5 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultBackoffMin       = 50 * time.Millisecond
	DefaultBackoffMax       = 5 * time.Second
	DefaultKeepAlive        = 15 * time.Second
	DefaultMaxHandshakes    = 64
)

// minMaxFrameBytes is the smallest MaxFrameBytes a Config may set.
const minMaxFrameBytes = 1 << 10

// Config configures a Transport. Zero tunables take the DefaultConfig
// values.
type Config struct {
	// Node is this node's id (not 0). Cluster and Label name the cluster:
	// a peer whose hello carries another cluster id or label is
	// disconnected. Label is at most MaxLabelBytes bytes.
	Node    groupcomm.NodeID
	Cluster uint64
	Label   string
	// Listen is the address Start listens on ("127.0.0.1:7000"; port 0
	// picks one, see Addr). Empty: Start does not listen, and the transport
	// only dials (peers still use its outgoing connections both ways).
	Listen string
	// Resolve returns the address of a node (membership provides it). It
	// is called before every dial, from the dialling goroutine, and must be
	// safe for concurrent use. Required.
	Resolve func(groupcomm.NodeID) (addr string, ok bool)
	// MaxFrameBytes bounds one frame (one packet). A peer announcing a
	// larger frame is disconnected before anything is allocated; a packet
	// whose encoding is larger is dropped at the sender
	// (Stats.DroppedTooLarge). Default 16 MiB.
	MaxFrameBytes int
	// QueueLen bounds the packets queued for one peer; Send drops and
	// counts (Stats.DroppedQueueFull) when the queue is full. Default 4096.
	QueueLen int
	// WriteBufferBytes and ReadBufferBytes size each connection's buffered
	// writer and reader. Defaults 128 KiB and 64 KiB.
	WriteBufferBytes int
	ReadBufferBytes  int
	// DialTimeout bounds a TCP connect (and the TLS handshake of a dial);
	// HandshakeTimeout bounds the TLS and hello exchange of a connection
	// (dialled or accepted). Defaults 5s and 5s.
	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one flush to a peer; a peer that stops reading
	// for this long is disconnected. Default 10s.
	WriteTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay before redialling a peer:
	// BackoffMin after a connection is lost, doubling after each failed
	// dial up to BackoffMax, each delay jittered to [d/2, d]. Defaults
	// 50ms and 5s.
	BackoffMin, BackoffMax time.Duration
	// KeepAlive is the TCP keep-alive idle time (probes every KeepAlive/3,
	// at least 1s, three of them), so that a connection to a vanished host
	// ends. Default 15s; negative disables keep-alives.
	KeepAlive time.Duration
	// MaxHandshakes bounds the inbound connections handshaking at once;
	// more are closed at once. Default 64.
	MaxHandshakes int
	// TLS, if set, secures every connection: the transport uses a clone as
	// the server config and, per dial, a clone with ServerName =
	// NodeName(peer) as the client config. With ClientAuth =
	// tls.RequireAndVerifyClientCert (see MutualTLSConfig) the TLS is
	// mutual and a peer must present a certificate naming the node it
	// claims to be. See the package doc.
	TLS *tls.Config
	// DecodeLimits bounds decoded groupcomm messages (zero fields take
	// groupcomm's defaults).
	DecodeLimits groupcomm.DecodeLimits
	// Logger receives connection events; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of the tunable fields; the caller sets
// Node, Cluster, Label, Listen and Resolve.
func DefaultConfig() Config {
	return Config{
		MaxFrameBytes:    DefaultMaxFrameBytes,
		QueueLen:         DefaultQueueLen,
		WriteBufferBytes: DefaultWriteBufferBytes,
		ReadBufferBytes:  DefaultReadBufferBytes,
		DialTimeout:      DefaultDialTimeout,
		HandshakeTimeout: DefaultHandshakeTimeout,
		WriteTimeout:     DefaultWriteTimeout,
		BackoffMin:       DefaultBackoffMin,
		BackoffMax:       DefaultBackoffMax,
		KeepAlive:        DefaultKeepAlive,
		MaxHandshakes:    DefaultMaxHandshakes,
	}
}

// fill replaces zero tunables with their defaults.
func (c *Config) fill() {
	d := DefaultConfig()
	setDefault(&c.MaxFrameBytes, d.MaxFrameBytes)
	setDefault(&c.QueueLen, d.QueueLen)
	setDefault(&c.WriteBufferBytes, d.WriteBufferBytes)
	setDefault(&c.ReadBufferBytes, d.ReadBufferBytes)
	setDefault(&c.DialTimeout, d.DialTimeout)
	setDefault(&c.HandshakeTimeout, d.HandshakeTimeout)
	setDefault(&c.WriteTimeout, d.WriteTimeout)
	setDefault(&c.BackoffMin, d.BackoffMin)
	setDefault(&c.BackoffMax, d.BackoffMax)
	setDefault(&c.KeepAlive, d.KeepAlive)
	setDefault(&c.MaxHandshakes, d.MaxHandshakes)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func setDefault[T comparable](p *T, d T) {
	var zero T
	if *p == zero {
		*p = d
	}
}

// Validate reports a configuration that cannot work. Zero tunables count
// as their defaults.
func (c Config) Validate() error {
	c.fill()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.Node == 0:
		return bad("Node must be set (not 0)")
	case len(c.Label) > MaxLabelBytes:
		return bad("Label of %d bytes exceeds %d", len(c.Label), MaxLabelBytes)
	case c.Resolve == nil:
		return bad("Resolve must be set")
	case c.MaxFrameBytes < minMaxFrameBytes || c.MaxFrameBytes > maxFrameLimit:
		return bad("MaxFrameBytes %d not in [%d, %d]", c.MaxFrameBytes, minMaxFrameBytes, maxFrameLimit)
	case c.QueueLen < 0 || c.WriteBufferBytes < 0 || c.ReadBufferBytes < 0 || c.MaxHandshakes < 0:
		return bad("negative size")
	case c.DialTimeout < 0 || c.HandshakeTimeout < 0 || c.WriteTimeout < 0 || c.BackoffMin < 0 || c.BackoffMax < 0:
		return bad("negative duration")
	case c.BackoffMin > c.BackoffMax:
		return bad("BackoffMin %v > BackoffMax %v", c.BackoffMin, c.BackoffMax)
	}
	if c.TLS != nil {
		if err := validateTLS(c.TLS); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// Stats counts what a Transport did since New. Frames and bytes count
// packet frames (bytes include the 4-byte length prefix), not handshakes.
type Stats struct {
	FramesSent, BytesSent         uint64
	FramesReceived, BytesReceived uint64
	// WriteSyscalls counts Write calls on the TCP sockets (handshakes and
	// TLS records included); Drains counts writer rounds, each of which
	// takes everything queued for a peer and flushes once.
	WriteSyscalls uint64
	Drains        uint64
	// ReadSyscalls counts Read calls on the TCP sockets.
	ReadSyscalls uint64
	// Loopback counts packets to this node itself, delivered without the
	// network.
	Loopback uint64
	// Drops, by cause: the peer's queue was full; the peer could not be
	// reached (packets queued when a dial failed); the encoding exceeded
	// MaxFrameBytes; the packet was invalid (not exactly one of Msg, Chunk,
	// ChunkAck; To 0; From not this node); the transport was closed.
	DroppedQueueFull   uint64
	DroppedUnreachable uint64
	DroppedTooLarge    uint64
	DroppedInvalid     uint64
	DroppedClosed      uint64
	// Dials counts dial attempts, DialFailures the failed ones; Accepted
	// counts inbound connections put in use.
	Dials, DialFailures, Accepted uint64
	// Reconnects counts connections put in use for a peer that had one
	// before.
	Reconnects uint64
	// Duplicates counts simultaneous dials resolved by refusing one of the
	// two connections (see the package doc).
	Duplicates uint64
	// HandshakeFailures counts connections refused during the handshake
	// (garbage, another cluster or label, an unexpected node id, a bad
	// certificate) on either side; BusyRefusals the inbound connections
	// closed because MaxHandshakes were in progress.
	HandshakeFailures uint64
	BusyRefusals      uint64
	// ProtocolErrors counts connections dropped for a malformed or
	// oversized frame, or a packet not from the peer to this node.
	ProtocolErrors uint64
	// Conns is the number of connections in use now (at most one per peer).
	Conns int
}

// Dropped is the total of the drop counters.
func (s Stats) Dropped() uint64 {
	return s.DroppedQueueFull + s.DroppedUnreachable + s.DroppedTooLarge + s.DroppedInvalid + s.DroppedClosed
}

type counters struct {
	framesSent, bytesSent, framesReceived, bytesReceived atomic.Uint64
	reads, writes, drains, loopback                      atomic.Uint64
	droppedFull, droppedUnreachable, droppedTooLarge     atomic.Uint64
	droppedInvalid, droppedClosed                        atomic.Uint64
	dials, dialFailures, accepted, reconnects            atomic.Uint64
	duplicates, handshakeFailures, busy, protocolErrors  atomic.Uint64
}

// ConnInfo describes a connection in use.
type ConnInfo struct {
	Node     groupcomm.NodeID
	Outbound bool // this node dialled it
	Local    string
	Remote   string
}

// Transport is the TCP racs.Transport: one connection per pair of nodes
// carries the packets of every group. Its methods are safe for concurrent
// use.
type Transport struct {
	cfg       Config
	instance  uint64 // random, sent in hellos: tells peers we restarted
	log       *slog.Logger
	deliver   func([]racs.Packet)
	dialer    net.Dialer
	serverTLS *tls.Config
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	done      chan struct{} // closed by Close
	closed    atomic.Bool
	hsSem     chan struct{} // inbound handshakes in progress
	wg        sync.WaitGroup
	stats     counters
	hooks     testHooks // tests only

	mu      sync.RWMutex
	closing bool
	started bool
	ln      net.Listener
	peers   map[groupcomm.NodeID]*peer
	pending map[*conn]struct{} // handshaking connections

	self loopback
}

var _ racs.Transport = (*Transport)(nil)

// peer is what the transport knows of one remote node: its bounded queue
// and its connection.
type peer struct {
	id groupcomm.NodeID

	mu       sync.Mutex
	q, spare []racs.Packet // spare: the writer's last batch, for reuse
	cur      *conn         // the connection in use, nil if none
	// dialing: a dial loop runs (it may be waiting out a backoff);
	// connecting: a dial attempt (connect and handshake) is in flight.
	dialing, connecting bool
	// replace: the next dial asks the peer to replace the connection it
	// believes working (it answered statusHave while we had none).
	replace   bool
	closed    bool
	connected bool // had a connection before (for Reconnects)
	nextDial  time.Time
	backoff   time.Duration
}

// New returns a transport that hands every packet it receives to deliver,
// in batches: the frames one read brought (up to maxDeliverBatch) in one
// call, so a receiver hands a whole bundle to its workers in one step
// (racs.Host.DeliverBatch). deliver is called from one goroutine per
// connection (in the order the peer sent), so calls for packets from
// different peers may run concurrently; it must not retain the slice,
// must not block for long (racs.Host.DeliverBatch does not) and must not
// call Close. Call Start to accept connections.
func New(cfg Config, deliver func([]racs.Packet)) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, fmt.Errorf("%w: nil deliver func", ErrInvalidConfig)
	}
	cfg.fill()
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:      cfg,
		instance: rand.Uint64() | 1,
		log:      cfg.Logger.With("node", cfg.Node),
		deliver:  deliver,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		hsSem:    make(chan struct{}, cfg.MaxHandshakes),
		peers:    make(map[groupcomm.NodeID]*peer),
		pending:  make(map[*conn]struct{}),
	}
	t.dialer = net.Dialer{Timeout: cfg.DialTimeout, KeepAliveConfig: keepAliveConfig(cfg.KeepAlive)}
	if cfg.KeepAlive < 0 {
		t.dialer.KeepAlive = -1
	}
	if cfg.TLS != nil {
		t.serverTLS = serverTLSConfig(cfg.TLS)
	}
	t.self.init()
	t.wg.Add(1)
	go t.self.run(t)
	return t, nil
}

func keepAliveConfig(d time.Duration) net.KeepAliveConfig {
	if d < 0 {
		return net.KeepAliveConfig{Enable: false}
	}
	return net.KeepAliveConfig{Enable: true, Idle: d, Interval: max(d/3, time.Second), Count: 3}
}

// Start listens on Config.Listen (if set) and accepts connections. It may
// be called once.
func (t *Transport) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closing:
		return net.ErrClosed
	case t.started:
		return errors.New("tcp: already started")
	}
	if t.cfg.Listen == "" {
		t.started = true
		return nil
	}
	lc := net.ListenConfig{KeepAliveConfig: keepAliveConfig(t.cfg.KeepAlive)}
	if t.cfg.KeepAlive < 0 {
		lc.KeepAlive = -1
	}
	ln, err := lc.Listen(t.ctx, "tcp", t.cfg.Listen)
	if err != nil {
		return fmt.Errorf("tcp: listen: %w", err)
	}
	t.ln = ln
	t.started = true
	t.wg.Add(1)
	go t.acceptLoop(ln)
	t.log.Info("tcp: listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the address the transport listens on, or nil before Start
// (or without Listen).
func (t *Transport) Addr() net.Addr {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Send queues each packet for its destination and returns at once: it
// never waits for the network. Packets to this node are delivered locally
// (Stats.Loopback). A packet is dropped and counted when its peer's queue
// is full, when it is invalid (not exactly one of Msg, Chunk, ChunkAck, Probe and Call,
// To 0, or From not this node) or after Close. Packets to one peer are
// written in Send order on one connection. The caller must not modify
// what a packet points to after Send (the writer encodes it later).
func (t *Transport) Send(ps []racs.Packet) {
	var p *peer
	for i := range ps {
		pk := &ps[i]
		if _, err := packetKind(pk); err != nil || pk.To == 0 || pk.From != t.cfg.Node {
			t.stats.droppedInvalid.Add(1)
			continue
		}
		if t.closed.Load() {
			t.stats.droppedClosed.Add(1)
			continue
		}
		if pk.To == t.cfg.Node {
			t.self.push(t, *pk)
			continue
		}
		if p == nil || p.id != pk.To {
			if p = t.peer(pk.To); p == nil {
				t.stats.droppedClosed.Add(1)
				continue
			}
		}
		t.push(p, *pk)
	}
}

// peer returns the peer for id, creating it; nil once closing.
func (t *Transport) peer(id groupcomm.NodeID) *peer {
	t.mu.RLock()
	p := t.peers[id]
	t.mu.RUnlock()
	if p != nil {
		return p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return nil
	}
	if p = t.peers[id]; p == nil {
		p = &peer{id: id, backoff: t.cfg.BackoffMin}
		t.peers[id] = p
	}
	return p
}

// push queues pk for p, waking its writer or starting a dial.
func (t *Transport) push(p *peer, pk racs.Packet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		t.stats.droppedClosed.Add(1)
		return
	case len(p.q) >= t.cfg.QueueLen:
		t.stats.droppedFull.Add(1)
		return
	}
	p.q = append(p.q, pk)
	if p.cur != nil {
		p.cur.signal()
	} else {
		t.startDialLocked(p)
	}
}

// startDialLocked starts p's dial loop unless one runs. p.mu is held.
func (t *Transport) startDialLocked(p *peer) {
	if p.dialing || p.closed {
		return
	}
	p.dialing = true
	t.wg.Add(1)
	go t.dialLoop(p)
}

// jitter returns a duration in [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// dialLoop dials p while packets wait and there is no connection, waiting
// out p.nextDial before each attempt. A failed dial drops the queued
// packets (the protocol resends what matters; stale packets are useless)
// and doubles the backoff; a duplicate (the peer is dialling us and its
// connection wins) keeps them and retries after BackoffMin if the peer's
// connection has not arrived by then.
func (t *Transport) dialLoop(p *peer) {
	defer t.wg.Done()
	for {
		p.mu.Lock()
		if p.closed || p.cur != nil || len(p.q) == 0 {
			p.dialing = false
			p.mu.Unlock()
			return
		}
		if wait := time.Until(p.nextDial); wait > 0 {
			p.mu.Unlock()
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-t.done:
				timer.Stop()
				p.mu.Lock()
				p.dialing = false
				p.mu.Unlock()
				return
			}
			continue
		}
		p.connecting = true
		replace := p.replace
		p.replace = false
		p.mu.Unlock()

		err := t.dial(p, replace)

		p.mu.Lock()
		p.connecting = false
		switch {
		case err == nil:
		case errors.Is(err, errDuplicate):
			p.nextDial = time.Now().Add(t.cfg.BackoffMin)
		case errors.Is(err, errHave):
			// The peer holds a connection it accepted from us or dialled
			// to us. If we have it too (a simultaneous dial), all is well
			// and the loop ends; if not, our end of it died: ask the peer
			// to replace it, at once.
			p.replace = p.cur == nil
		default:
			t.stats.dialFailures.Add(1)
			if n := len(p.q); n > 0 && p.cur == nil {
				t.stats.droppedUnreachable.Add(uint64(n))
				clear(p.q)
				p.q = p.q[:0]
			}
			p.nextDial = time.Now().Add(jitter(p.backoff))
			p.backoff = min(2*p.backoff, t.cfg.BackoffMax)
			if !t.closed.Load() {
				lvl := slog.LevelDebug
				if errors.Is(err, ErrHandshake) {
					lvl = slog.LevelWarn
				}
				t.log.Log(context.Background(), lvl, "tcp: dial failed", "peer", p.id, "err", err, "retry_in", time.Until(p.nextDial).Round(time.Millisecond))
			}
		}
		p.mu.Unlock()
	}
}

// dial connects to p, runs the client handshake and puts the connection in
// use. replace asks the peer to replace the connection it has with us.
func (t *Transport) dial(p *peer, replace bool) error {
	t.stats.dials.Add(1)
	addr, ok := t.cfg.Resolve(p.id)
	if !ok {
		return fmt.Errorf("tcp: no address for node %d", p.id)
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.DialTimeout)
	defer cancel()
	raw, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c := newConn(t, t.counting(raw), true)
	c.remote = p.id
	if !t.track(c) {
		c.close()
		return net.ErrClosed
	}
	defer t.untrack(c)
	if err := t.clientHandshake(ctx, c, replace); err != nil {
		c.close()
		if errors.Is(err, ErrHandshake) {
			t.stats.handshakeFailures.Add(1)
		}
		if errors.Is(err, errDuplicate) || errors.Is(err, errHave) {
			t.stats.duplicates.Add(1)
		}
		return fmt.Errorf("%s: %w", addr, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.close()
		return net.ErrClosed
	}
	old := t.installLocked(p, c)
	p.mu.Unlock()
	t.run(c, old)
	return nil
}

// clientHandshake runs TLS (if configured) and the hello exchange of a
// dialled connection: send our hello, read the acceptor's, check it names
// our cluster, our label and the node we dialled, and read its verdict.
func (t *Transport) clientHandshake(ctx context.Context, c *conn, replace bool) error {
	if err := c.raw.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout)); err != nil {
		return err
	}
	if t.cfg.TLS != nil {
		tc := tls.Client(c.raw, clientTLSConfig(t.cfg.TLS, c.remote))
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("%w: tls: %w", ErrHandshake, err)
		}
		c.nc = tc
	}
	c.startIO()
	var flags byte
	if replace {
		flags |= flagReplace
	}
	if err := c.writeHello(t.myHello(c.remote, statusOK, flags)); err != nil {
		return err
	}
	h, err := c.readHello()
	if err != nil {
		return err
	}
	if err := t.checkHello(h, c.remote); err != nil {
		return err
	}
	c.instance = h.Instance
	switch h.Status {
	case statusOK:
	case statusDuplicate:
		return errDuplicate
	case statusHave:
		return errHave
	default:
		return fmt.Errorf("%w: node %d refused us (see its log)", ErrHandshake, h.Node)
	}
	return c.raw.SetDeadline(time.Time{})
}

// acceptLoop accepts connections and hands each to a handshake goroutine.
func (t *Transport) acceptLoop(ln net.Listener) {
	defer t.wg.Done()
	var delay time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient error (out of file descriptors): back off a
			// little, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("tcp: accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-t.done:
				return
			}
			continue
		}
		delay = 0
		select {
		case t.hsSem <- struct{}{}:
		default:
			t.stats.busy.Add(1)
			raw.Close()
			continue
		}
		c := newConn(t, t.counting(raw), false)
		if !t.track(c) {
			<-t.hsSem
			c.close()
			return
		}
		t.wg.Add(1)
		go t.serveHandshake(c)
	}
}

// serveHandshake runs the acceptor's side of the handshake: TLS (if
// configured), read the dialer's hello, check it (cluster, label, node id,
// certificate), decide (see the package doc), answer with our hello and
// the verdict, and put the connection in use if accepted.
func (t *Transport) serveHandshake(c *conn) {
	defer t.wg.Done()
	defer func() { <-t.hsSem }()
	defer t.untrack(c)
	refuse := func(err error) {
		if errors.Is(err, ErrHandshake) {
			t.stats.handshakeFailures.Add(1)
			t.log.Warn("tcp: refused connection", "remote", c.raw.RemoteAddr().String(), "err", err)
		} else {
			t.log.Debug("tcp: inbound handshake failed", "remote", c.raw.RemoteAddr().String(), "err", err)
		}
		c.close()
	}
	if err := c.raw.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout)); err != nil {
		refuse(err)
		return
	}
	if t.serverTLS != nil {
		tc := tls.Server(c.raw, t.serverTLS)
		if err := tc.HandshakeContext(t.ctx); err != nil {
			refuse(fmt.Errorf("%w: tls: %w", ErrHandshake, err))
			return
		}
		c.nc = tc
	}
	c.startIO()
	h, err := c.readHello()
	if err != nil {
		refuse(err)
		return
	}
	err = t.checkHello(h, 0)
	if err == nil {
		err = t.checkPeerCert(c, h.Node)
	}
	if err != nil {
		c.writeHello(t.myHello(0, statusRefused, 0)) // best effort, so the dialer can say why
		refuse(err)
		return
	}
	c.remote = h.Node
	c.instance = h.Instance
	p := t.peer(h.Node)
	if p == nil {
		c.close()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.close()
		return
	}
	if status := t.admitLocked(p, h); status != statusOK {
		p.mu.Unlock()
		t.stats.duplicates.Add(1)
		c.writeHello(t.myHello(0, status, 0))
		c.close()
		return
	}
	old := t.installLocked(p, c)
	p.mu.Unlock()
	t.stats.accepted.Add(1)
	if err := c.writeHello(t.myHello(0, statusOK, 0)); err == nil {
		err = c.raw.SetDeadline(time.Time{})
	}
	if err != nil {
		c.fail(err)
	}
	t.run(c, old)
}

// admitLocked decides whether to accept a connection dialled by peer p,
// whose hello is h (see the package doc). p.mu is held.
func (t *Transport) admitLocked(p *peer, h hello) byte {
	cur := p.cur
	switch {
	case cur != nil && cur.instance != h.Instance:
		// The peer restarted: what we hold is dead.
		return statusOK
	case h.Flags&flagReplace != 0:
		// The peer has no connection with us: ours is dead on its side.
		return statusOK
	case cur != nil && !cur.outbound:
		// The peer dialled ours too, and dials again only without it.
		return statusOK
	case cur != nil:
		// We dialled the one we hold. The peer may have dialled before it
		// accepted ours (then it has ours now), or lost it (then it
		// redials with Replace).
		return statusHave
	case p.connecting && t.cfg.Node < h.Node:
		// Simultaneous dial: the connection dialled by the lower id wins,
		// and that is ours, in flight.
		return statusDuplicate
	}
	return statusOK
}

// installLocked makes c the connection in use for p and returns the one it
// replaces (to be closed by the caller, outside p.mu). It accounts for the
// reader and writer goroutines that run will start. p.mu is held and p is
// not closed.
func (t *Transport) installLocked(p *peer, c *conn) (old *conn) {
	old = p.cur
	p.cur = c
	c.p = p
	if p.connected {
		t.stats.reconnects.Add(1)
	}
	p.connected = true
	p.replace = false
	p.backoff = t.cfg.BackoffMin
	p.nextDial = time.Time{}
	if len(p.q) > 0 {
		c.signal()
	}
	t.wg.Add(2)
	return old
}

// run closes the connection c replaced and starts c's reader and writer.
func (t *Transport) run(c, old *conn) {
	if old != nil {
		old.close()
		t.log.Debug("tcp: connection replaced", "peer", c.remote, "old", old.String(), "new", c.String())
	}
	t.log.Info("tcp: connected", "peer", c.remote, "conn", c.String())
	go c.readLoop()
	go c.writeLoop()
}

// connLost forgets a failed connection and redials after a backoff if
// packets wait.
func (t *Transport) connLost(c *conn, err error) {
	p := c.p
	p.mu.Lock()
	current := p.cur == c
	if current {
		p.cur = nil
		p.nextDial = time.Now().Add(jitter(p.backoff))
		if len(p.q) > 0 {
			t.startDialLocked(p)
		}
	}
	p.mu.Unlock()
	if current && !t.closed.Load() {
		lvl := slog.LevelInfo
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrFrameTooLarge) {
			lvl = slog.LevelWarn
		}
		t.log.Log(context.Background(), lvl, "tcp: connection lost", "peer", c.remote, "conn", c.String(), "err", err)
	}
}

// counting wraps a new socket to count its syscalls.
func (t *Transport) counting(raw net.Conn) countingConn {
	return countingConn{Conn: raw, reads: &t.stats.reads, writes: &t.stats.writes}
}

// track registers a handshaking connection so that Close can abort it.
func (t *Transport) track(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.pending[c] = struct{}{}
	return true
}

func (t *Transport) untrack(c *conn) {
	t.mu.Lock()
	delete(t.pending, c)
	t.mu.Unlock()
}

// Close stops listening, closes every connection, drops what is queued
// (Stats.DroppedClosed) and waits for the transport's goroutines; after it
// returns deliver is not called again. Later Sends drop. Close must not be
// called from deliver. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closing = true
	t.closed.Store(true)
	ln := t.ln
	peers := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		peers = append(peers, p)
	}
	pending := make([]*conn, 0, len(t.pending))
	for c := range t.pending {
		pending = append(pending, c)
	}
	t.mu.Unlock()

	t.cancel()
	close(t.done)
	if ln != nil {
		ln.Close()
	}
	for _, c := range pending {
		c.close()
	}
	for _, p := range peers {
		p.mu.Lock()
		p.closed = true
		t.stats.droppedClosed.Add(uint64(len(p.q)))
		p.q, p.spare = nil, nil
		cur := p.cur
		p.cur = nil
		p.mu.Unlock()
		if cur != nil {
			cur.close()
		}
	}
	t.self.close(t)
	t.wg.Wait()
	t.log.Info("tcp: closed")
	return nil
}

// Stats returns the counters.
func (t *Transport) Stats() Stats {
	s := &t.stats
	st := Stats{
		FramesSent: s.framesSent.Load(), BytesSent: s.bytesSent.Load(),
		FramesReceived: s.framesReceived.Load(), BytesReceived: s.bytesReceived.Load(),
		WriteSyscalls: s.writes.Load(), Drains: s.drains.Load(), ReadSyscalls: s.reads.Load(),
		Loopback:         s.loopback.Load(),
		DroppedQueueFull: s.droppedFull.Load(), DroppedUnreachable: s.droppedUnreachable.Load(),
		DroppedTooLarge: s.droppedTooLarge.Load(), DroppedInvalid: s.droppedInvalid.Load(),
		DroppedClosed: s.droppedClosed.Load(),
		Dials:         s.dials.Load(), DialFailures: s.dialFailures.Load(), Accepted: s.accepted.Load(),
		Reconnects: s.reconnects.Load(), Duplicates: s.duplicates.Load(),
		HandshakeFailures: s.handshakeFailures.Load(), BusyRefusals: s.busy.Load(),
		ProtocolErrors: s.protocolErrors.Load(),
	}
	st.Conns = len(t.Conns())
	return st
}

// Conns describes the connections in use, ordered by peer.
func (t *Transport) Conns() []ConnInfo {
	t.mu.RLock()
	peers := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		peers = append(peers, p)
	}
	t.mu.RUnlock()
	var out []ConnInfo
	for _, p := range peers {
		p.mu.Lock()
		if c := p.cur; c != nil {
			out = append(out, ConnInfo{Node: p.id, Outbound: c.outbound,
				Local: c.raw.LocalAddr().String(), Remote: c.raw.RemoteAddr().String()})
		}
		p.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b ConnInfo) int {
		switch {
		case a.Node < b.Node:
			return -1
		case a.Node > b.Node:
			return 1
		}
		return 0
	})
	return out
}

// loopback delivers packets a node sends to itself, in order, from one
// goroutine, through a bounded queue like a peer's.
type loopback struct {
	mu       sync.Mutex
	q, spare []racs.Packet
	wake     chan struct{}
	closed   bool
}

func (l *loopback) init() { l.wake = make(chan struct{}, 1) }

func (l *loopback) push(t *Transport, pk racs.Packet) {
	l.mu.Lock()
	switch {
	case l.closed:
		t.stats.droppedClosed.Add(1)
	case len(l.q) >= t.cfg.QueueLen:
		t.stats.droppedFull.Add(1)
	default:
		l.q = append(l.q, pk)
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
}

func (l *loopback) run(t *Transport) {
	defer t.wg.Done()
	for {
		select {
		case <-l.wake:
		case <-t.done:
			return
		}
		for {
			l.mu.Lock()
			batch := l.q
			if l.closed || len(batch) == 0 {
				l.mu.Unlock()
				break
			}
			l.q, l.spare = l.spare, nil
			l.mu.Unlock()
			for i := 0; i < len(batch); i += maxDeliverBatch {
				if t.closed.Load() {
					t.stats.droppedClosed.Add(uint64(len(batch) - i))
					break
				}
				part := batch[i:min(i+maxDeliverBatch, len(batch))]
				t.stats.loopback.Add(uint64(len(part)))
				t.deliver(part)
			}
			clear(batch)
			l.mu.Lock()
			if l.spare == nil {
				l.spare = batch[:0]
			}
			l.mu.Unlock()
		}
	}
}

func (l *loopback) close(t *Transport) {
	l.mu.Lock()
	l.closed = true
	t.stats.droppedClosed.Add(uint64(len(l.q)))
	l.q, l.spare = nil, nil
	l.mu.Unlock()
}
