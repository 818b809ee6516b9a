package raps

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/rpc"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
)

// ClientConfig configures a Router of a process that hosts no clones: a
// stateless front end (qs-frontend) or any Go program. It takes part in
// the nodes' transport under an id of its own, learns the map from the
// nodes, and sends every call over the transport.
type ClientConfig struct {
	// ID is this client's id on the transport: distinct from every
	// node's and every other client's (nodes answer calls to it).
	ID groupcomm.NodeID
	// Transport carries the calls; every Call packet it delivers must be
	// handed to Client.OnCall.
	Transport racs.Transport
	// Seeds are nodes to ask for the map; Live (the membership layer's
	// live nodes), if set, are asked too.
	Seeds []groupcomm.NodeID
	Live  func() []groupcomm.NodeID
	// Load, if set, is a node's gossiped load (see Config.Load).
	Load func(groupcomm.NodeID) float64
	// AttemptTimeout bounds one attempt of a call (default
	// DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// Poll is how often the client looks for a newer map. Default 200ms.
	Poll time.Duration
	// MaxInFlight bounds the calls in flight to the nodes (rpc). Default
	// rpc's.
	MaxInFlight int
	Clock       func() time.Time
	Logger      *slog.Logger
}

// DefaultClientConfig returns a configuration with the timers set.
func DefaultClientConfig() ClientConfig { return ClientConfig{Poll: 200 * time.Millisecond} }

// Validate checks the configuration.
func (c *ClientConfig) Validate() error {
	switch {
	case c.ID == 0:
		return fmt.Errorf("%w: client ID must be set", ErrInvalidConfig)
	case c.Transport == nil:
		return fmt.Errorf("%w: client Transport must be set", ErrInvalidConfig)
	case c.Poll <= 0:
		return fmt.Errorf("%w: client Poll must be positive", ErrInvalidConfig)
	case c.MaxInFlight < 0:
		return fmt.Errorf("%w: client MaxInFlight must not be negative", ErrInvalidConfig)
	}
	return nil
}

// remoteEnv is the environment of a client that hosts nothing.
type remoteEnv struct {
	cfg     ClientConfig
	c       *Client
	cur     atomic.Pointer[partitionmap.Map]
	via     atomic.Pointer[[]groupcomm.NodeID]
	noticed chan struct{}
	fetchMu sync.Mutex // one fetch at a time
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// NewClient starts a Router for a process that hosts no clones. Close it
// before its transport.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Poll == 0 {
		cfg.Poll = DefaultClientConfig().Poll
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &remoteEnv{cfg: cfg, noticed: make(chan struct{}, 1), stop: make(chan struct{})}
	e.via.Store(&[]groupcomm.NodeID{})
	rc := rpc.DefaultConfig()
	rc.Self, rc.Send, rc.Logger, rc.Errors = cfg.ID, cfg.Transport.Send, cfg.Logger, wireErrors
	if cfg.MaxInFlight > 0 {
		rc.MaxInFlight = cfg.MaxInFlight
	}
	rc.Handler = func(context.Context, groupcomm.NodeID, []byte) ([]byte, error) {
		return nil, fmt.Errorf("%w: client %d serves no calls", ErrNotHosted, cfg.ID)
	}
	ep, err := rpc.New(rc)
	if err != nil {
		return nil, err
	}
	c := newClient(cfg.ID, ep, e, cfg.Load, cfg.Live, cfg.AttemptTimeout)
	c.clock, c.closer = cfg.Clock, e.close
	e.c = c
	e.wg.Go(e.run)
	w := &watcher{c: c, self: cfg.ID, targets: e.sources, epoch: e.epochHeld, stop: e.stop, offer: e.take}
	e.wg.Go(w.run)
	return c, nil
}

// OnCall hands a call packet to the client (its replies from the nodes).
func (c *Client) OnCall(from groupcomm.NodeID, call *racs.Call) { c.rpc.Deliver(from, call) }

// DeliverBatch is a front end's transport deliver function: it hands the
// Call packets to OnCall and drops the rest (a front end hosts no group).
func (c *Client) DeliverBatch(ps []racs.Packet) {
	for _, p := range ps {
		if p.Call != nil {
			c.OnCall(p.From, p.Call)
		}
	}
}

// Close stops a client made by NewClient (a Node's client closes with
// its Node).
func (c *Client) Close() {
	if c.closer != nil {
		c.closer()
	}
}

// Notice tells the client that a node holds the map at epoch (gossip): a
// newer one is fetched at once.
func (c *Client) Notice(epoch uint64) {
	if e, ok := c.env.(*remoteEnv); ok {
		if m := e.Map(); m == nil || m.Epoch < epoch {
			select {
			case e.noticed <- struct{}{}:
			default:
			}
		}
		return
	}
	if n, ok := c.env.(*Node); ok {
		n.Notice(epoch)
	}
}

func (e *remoteEnv) close() {
	e.once.Do(func() {
		close(e.stop)
		e.wg.Wait()
		e.c.rpc.Close()
	})
}

func (e *remoteEnv) run() {
	t := time.NewTicker(e.cfg.Poll)
	defer t.Stop()
	for {
		e.refresh()
		select {
		case <-e.stop:
			return
		case <-t.C:
		case <-e.noticed:
		}
	}
}

func (e *remoteEnv) Map() *partitionmap.Map { return e.cur.Load() }

// sources are the nodes to ask for the map: the management members known,
// the seeds, the live nodes.
func (e *remoteEnv) sources() []groupcomm.NodeID {
	targets := append(slices.Clone(*e.via.Load()), e.cfg.Seeds...)
	if e.cfg.Live != nil {
		targets = append(targets, e.cfg.Live()...)
	}
	return targets
}

// epochHeld is the epoch of the map held (0: none).
func (e *remoteEnv) epochHeld() uint64 {
	if m := e.Map(); m != nil {
		return m.Epoch
	}
	return 0
}

// refresh asks the management members, the seeds and the live nodes in
// turn for a map newer than the one held, until one answers.
func (e *remoteEnv) refresh() {
	e.fetchMu.Lock()
	defer e.fetchMu.Unlock()
	pollMap(e.c, e.cfg.ID, e.sources(), e.epochHeld, 2*e.cfg.Poll+200*time.Millisecond, e.take)
}

// take keeps what a node answered: the management members it knows, and
// its map if newer.
func (e *remoteEnv) take(m *partitionmap.Map, via []groupcomm.NodeID) {
	if len(via) > 0 {
		e.via.Store(&via)
	}
	e.offer(m)
}

func (e *remoteEnv) offer(m *partitionmap.Map) {
	if m == nil {
		return
	}
	for {
		old := e.cur.Load()
		if old != nil && old.Epoch >= m.Epoch {
			return
		}
		if e.cur.CompareAndSwap(old, m) {
			return
		}
	}
}

func (e *remoteEnv) sequencer(uint64) groupcomm.NodeID { return 0 }

func (e *remoteEnv) local(context.Context, *request) (reply, error) {
	return reply{}, fmt.Errorf("%w: client %d hosts no clones", ErrNotHosted, e.cfg.ID)
}

func (e *remoteEnv) admin(ctx context.Context, body []byte) ([]byte, error) {
	return e.c.adminRemote(ctx, body)
}

func (e *remoteEnv) history(ctx context.Context, since uint64, limit int) ([]mgmt.Change, error) {
	return e.c.historyRemote(ctx, since, limit)
}

// mgmtMembers: the management group's clones in the map held, then the
// members the nodes said.
func (e *remoteEnv) mgmtMembers() []groupcomm.NodeID {
	var out []groupcomm.NodeID
	if m := e.cur.Load(); m != nil {
		for _, id := range m.MgmtVoters() {
			out = append(out, groupcomm.NodeID(id))
		}
	}
	for _, id := range *e.via.Load() {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
