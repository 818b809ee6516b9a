package raps

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/quicksilver-go/quicksilver/replica"
)

// MgmtGroup is the group id of the management group; data groups are
// numbered from FirstDataGroup.
const (
	MgmtGroup      replica.GroupID = 1
	FirstDataGroup uint64          = 2
)

// Config of a Node.
type Config struct {
	// ID, Zone and Addr describe this node in the partition map.
	ID   groupcomm.NodeID
	Zone string
	Addr string
	// Cluster is the cluster id (the racs host's).
	Cluster uint64
	// Host runs this node's clones; Transport is the host's transport
	// (the Node sends its calls on it). The host's racs.Config.OnCall
	// must hand calls to Node.OnCall.
	Host      *racs.Host
	Transport racs.Transport
	// Services this node has the code for.
	Services []Service
	// Bootstrap lists the members of the management group's first view,
	// on empty disks (S11): every listed node must be given the same list,
	// and the first of them writes the first map. Empty on every node that
	// joins an existing cluster. A node with state never bootstraps again:
	// the group's creation is one-time (racs.GroupConfig.Create).
	Bootstrap []groupcomm.NodeID
	// Seeds are nodes to ask for the partition map (any node that has it;
	// the live nodes are asked too).
	Seeds []groupcomm.NodeID
	// Live returns the nodes the failure detector holds alive (the
	// membership layer). The placer declares the others dead.
	Live func() []groupcomm.NodeID
	// MgmtDurability of the management group: racs.Disk (the zero
	// value and the default: the map survives the restart of every node;
	// the host needs a store) or racs.Memory.
	MgmtDurability racs.Durability
	// Poll is how often the node looks for a newer map and reconciles.
	// Default 100ms.
	Poll time.Duration
	// PlaceEvery is how often the management group's sequencer plans
	// moves. Default 500ms.
	PlaceEvery time.Duration
	// DeadAfter: a node not live for this long is declared dead in the
	// map. Default 2s.
	DeadAfter time.Duration
	// Policy bounds the placer (partitionmap.Policy: MaxConcurrentMoves,
	// DeadGrace). Now is set at each plan.
	Policy partitionmap.Policy
	// OnEpoch, if set, is told each newer epoch this node takes (the
	// node gossips it: memberlist metadata), from the goroutine that took
	// it; it must not block.
	OnEpoch func(epoch uint64)
	// Load, if set, is the load a node gossips (Node.Load of that node,
	// carried by the membership layer): the Router weighs it when it
	// chooses a clone to query.
	Load func(groupcomm.NodeID) float64
	// AttemptTimeout bounds one attempt of a Router call (default
	// DefaultAttemptTimeout): past it the Router tries another clone.
	AttemptTimeout time.Duration
	// Clock is the wall clock (history times, dead-since). Default
	// time.Now.
	Clock  func() time.Time
	Logger *slog.Logger
}

// DefaultConfig returns a configuration with the timers set.
func DefaultConfig() Config {
	return Config{Poll: 100 * time.Millisecond, PlaceEvery: 500 * time.Millisecond, DeadAfter: 2 * time.Second,
		Policy: partitionmap.DefaultPolicy(time.Time{}), MgmtDurability: racs.Disk}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.ID == 0:
		return fmt.Errorf("%w: ID must be set", ErrInvalidConfig)
	case c.Host == nil || c.Transport == nil:
		return fmt.Errorf("%w: Host and Transport must be set", ErrInvalidConfig)
	case c.Poll <= 0 || c.PlaceEvery <= 0 || c.DeadAfter <= 0:
		return fmt.Errorf("%w: Poll, PlaceEvery and DeadAfter must be positive", ErrInvalidConfig)
	}
	seen := map[string]bool{}
	for _, s := range c.Services {
		if seen[s.Name] {
			return fmt.Errorf("%w: service %q listed twice", ErrInvalidConfig, s.Name)
		}
		seen[s.Name] = true
		if _, _, err := s.mapService(); err != nil {
			return err
		}
	}
	return nil
}

// Node is the runtime of one node of a RAPS: it hosts exactly the clones
// the current partition map places on it, takes part in the management
// group if it is a member, runs the placer when it sequences that group,
// and serves the Router's calls.
type Node struct {
	cfg  Config
	log  *slog.Logger
	host *racs.Host
	rpc  *rpc.Endpoint
	svcs map[string]Service

	cur atomic.Pointer[partitionmap.Map] // the newest map seen
	// mgmtSM is set while this node hosts a management clone (the map
	// places it here, or its store held one at start): it comes and goes
	// as the map moves the management group.
	mgmtSM  atomic.Pointer[mgmt.StateMachine]
	observe atomic.Pointer[func(*partitionmap.Map)] // tests (ObserveMgmt)
	mgmtVia atomic.Pointer[[]groupcomm.NodeID]
	changed chan struct{} // a newer map arrived locally (capacity 1)
	noticed chan struct{} // a peer gossips a newer epoch (capacity 1)

	// Owned by run.
	bootPending bool   // a Bootstrap member without state: create once no map is found
	reconciled  uint64 // the epoch reconcile last completed with nothing to retry
	hosted      map[replica.GroupID]hostedClone
	removing    map[replica.GroupID]bool
	leadAt      map[replica.GroupID]time.Time // last sequencer hand-off asked (lead.go)
	epochs      epochSignal                   // wakes the map watchers it serves (watch.go)
	lastLive    map[groupcomm.NodeID]time.Time
	lastPlan    time.Time

	mu struct {
		sync.Mutex
		removed map[replica.GroupID]bool // RemoveGroup finished (from goroutines)
	}
	client   *Client
	stop     chan struct{}
	wg       sync.WaitGroup
	closeOne sync.Once
}

type hostedClone struct {
	ref         partitionmap.PartRef
	incarnation uint64
}

// NewNode starts a node.
func NewNode(cfg Config) (*Node, error) {
	d := DefaultConfig()
	if cfg.Poll == 0 {
		cfg.Poll = d.Poll
	}
	if cfg.PlaceEvery == 0 {
		cfg.PlaceEvery = d.PlaceEvery
	}
	if cfg.DeadAfter == 0 {
		cfg.DeadAfter = d.DeadAfter
	}
	if cfg.Policy.MaxConcurrentMoves == 0 {
		cfg.Policy = d.Policy
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
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.ID), host: cfg.Host, svcs: map[string]Service{},
		changed: make(chan struct{}, 1), noticed: make(chan struct{}, 1), hosted: map[replica.GroupID]hostedClone{}, removing: map[replica.GroupID]bool{},
		leadAt:   map[replica.GroupID]time.Time{},
		lastLive: map[groupcomm.NodeID]time.Time{}, stop: make(chan struct{})}
	n.mu.removed = map[replica.GroupID]bool{}
	for _, s := range cfg.Services {
		n.svcs[s.Name] = s
	}
	rc := rpc.DefaultConfig()
	rc.Self, rc.Send, rc.Handler, rc.Logger = cfg.ID, cfg.Transport.Send, n.serve, cfg.Logger
	rc.Errors = wireErrors
	ep, err := rpc.New(rc)
	if err != nil {
		return nil, err
	}
	n.rpc = ep
	n.client = newClient(cfg.ID, ep, n, cfg.Load, cfg.Live, cfg.AttemptTimeout)
	n.client.clock = cfg.Clock
	via := slices.Clone(cfg.Bootstrap)
	n.mgmtVia.Store(&via)
	if err := n.startAtBoot(); err != nil {
		ep.Close()
		return nil, err
	}
	n.wg.Go(n.run)
	// The watcher idles while a management clone here applies every
	// change itself.
	w := &watcher{c: n.client, self: cfg.ID, targets: n.mapSources, epoch: n.epochHeld, stop: n.stop, offer: n.take,
		idle: n.mgmtServing}
	n.wg.Go(w.run)
	return n, nil
}

// mapSources are the nodes to ask for the map: the management members
// known, the seeds, the live nodes.
func (n *Node) mapSources() []groupcomm.NodeID {
	targets := append(n.mgmtMembers(), n.cfg.Seeds...)
	if n.cfg.Live != nil {
		targets = append(targets, n.cfg.Live()...) // any node with a map will do
	}
	return targets
}

// epochHeld is the epoch of the map held (0: none).
func (n *Node) epochHeld() uint64 {
	if m := n.Map(); m != nil {
		return m.Epoch
	}
	return 0
}

// Notice tells the node that a peer holds the map at epoch (gossip): if
// that is newer than the map held, the node fetches it at once rather
// than at its next poll.
func (n *Node) Notice(epoch uint64) {
	if m := n.Map(); m != nil && m.Epoch >= epoch {
		return
	}
	select {
	case n.noticed <- struct{}{}:
	default:
	}
}

// OnCall hands a call packet to the node (wire it as racs.Config.OnCall).
func (n *Node) OnCall(from groupcomm.NodeID, c *racs.Call) { n.rpc.Deliver(from, c) }

// Map returns the newest partition map this node has seen (nil before
// the first).
func (n *Node) Map() *partitionmap.Map { return n.cur.Load() }

// Load is the node's load for the Routers of other processes to weigh
// (gossip it: memberlist's SetLoad): the calls it is serving now, from
// other processes and from its own Router.
func (n *Node) Load() float64 {
	return float64(n.rpc.Stats().InFlight + n.client.pick.stats(n.cfg.ID).inflight.Load())
}

// Client returns the node's Router.
func (n *Node) Client() *Client { return n.client }

// Close stops the node's loops (not its host).
func (n *Node) Close() {
	n.closeOne.Do(func() {
		close(n.stop)
		n.wg.Wait()
		n.rpc.Close()
	})
}

// The management group's clones. At start, a node whose store holds the
// group's state restarts its clone from it, whether or not Bootstrap
// lists it (the map may have moved the group anywhere). A Bootstrap
// member without state first asks around for a map (its first round):
// if some node has one, the cluster exists and the node hosts what that
// map says; only if none answers with one does it take part in creating
// the group, with Bootstrap as the first view — and racs's creation asks
// the first view's members and the contacts (the management members and
// seeds known) whether the group exists, so a wiped bootstrap member
// joins rather than create a second group. Later, reconcile starts and
// stops the clone as the map places it, like any clone.

// startAtBoot starts the management clone from its state, or marks the
// bootstrap pending (NewNode, before run).
func (n *Node) startAtBoot() error {
	listed := slices.Contains(n.cfg.Bootstrap, n.cfg.ID)
	if len(n.cfg.Bootstrap) > 0 && !listed {
		return fmt.Errorf("%w: Bootstrap does not list this node", ErrInvalidConfig)
	}
	has, err := n.host.Persisted(MgmtGroup)
	if err != nil {
		return err
	}
	switch {
	case has:
		var first *groupcomm.View
		if listed {
			v := n.bootView()
			first = &v
		}
		return n.hostMgmt(first, listed, n.mgmtContacts(nil), n.cfg.MgmtDurability, "restart from its state")
	case listed:
		n.bootPending = true
	}
	return nil
}

// bootView is the management group's first view: cfg.Bootstrap.
func (n *Node) bootView() groupcomm.View {
	v := groupcomm.View{Cluster: n.cfg.Cluster, Group: uint64(MgmtGroup), GroupIncarnation: 1, ID: 1}
	for _, id := range n.cfg.Bootstrap {
		v.Members = append(v.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: id, Incarnation: 1}, Role: groupcomm.Voter})
	}
	return v
}

// startBootstrap creates the management group with the others of
// cfg.Bootstrap once the first round found no map (run goroutine).
func (n *Node) startBootstrap() {
	if !n.bootPending {
		return
	}
	n.bootPending = false
	if n.Map() != nil {
		n.log.Info("bootstrap skipped: the cluster has a map; hosting what it places here")
		return
	}
	v := n.bootView()
	if err := n.hostMgmt(&v, true, n.mgmtContacts(nil), n.cfg.MgmtDurability, "bootstrap"); err != nil {
		n.log.Warn("cannot host the management clone", "err", err)
		n.bootPending = true
	}
}

// hostMgmt starts this node's management clone (run goroutine, or
// NewNode before run starts).
func (n *Node) hostMgmt(first *groupcomm.View, create bool, contacts []groupcomm.NodeID, dur racs.Durability, why string) error {
	sm := mgmt.New()
	sm.SetOnChange(n.mgmtApplied)
	gc := racs.GroupConfig{Group: MgmtGroup, Incarnation: 1, Durability: dur, StateMachine: sm, Contacts: contacts}
	if first != nil {
		gc.Bootstrap, gc.Create = first, create
	}
	if _, err := n.host.AddGroup(gc); err != nil {
		return err
	}
	n.mgmtSM.Store(sm)
	n.hosted[MgmtGroup] = hostedClone{ref: partitionmap.PartRef{Service: partitionmap.MgmtService}, incarnation: 1}
	n.log.Info("hosting a management clone", "why", why, "create", gc.Create)
	return nil
}

// mgmtApplied is the management clone's OnChange.
func (n *Node) mgmtApplied(m *partitionmap.Map) {
	n.offer(m)
	if f := n.observe.Load(); f != nil {
		(*f)(m)
	}
}

// mgmtServing reports whether this node hosts a management clone that is
// in a normal view (it then learns every change by applying it).
func (n *Node) mgmtServing() bool {
	if n.mgmtSM.Load() == nil {
		return false
	}
	g, err := n.host.Group(MgmtGroup)
	return err == nil && g.Info().Status == groupcomm.StatusNormal
}

// mgmtMembers are the management group's members as this node knows
// them: its clone's view, and the clone set the map places; else the
// members last heard from others (at first, cfg.Bootstrap).
func (n *Node) mgmtMembers() []groupcomm.NodeID {
	var out []groupcomm.NodeID
	add := func(id groupcomm.NodeID) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if n.mgmtSM.Load() != nil {
		if g, err := n.host.Group(MgmtGroup); err == nil {
			for _, mb := range g.View().Members {
				add(mb.ID.Node)
			}
		}
	}
	if m := n.Map(); m != nil {
		if p, ok := m.Mgmt(); ok {
			for _, c := range p.Clones {
				add(groupcomm.NodeID(c.Node))
			}
		}
	}
	if len(out) == 0 {
		out = slices.Clone(*n.mgmtVia.Load())
	}
	return out
}

// mgmtContacts are the nodes a management clone without state asks
// whether the group exists, and for admission: extra, the members known,
// the seeds (self left out).
func (n *Node) mgmtContacts(extra []groupcomm.NodeID) []groupcomm.NodeID {
	var out []groupcomm.NodeID
	for _, id := range slices.Concat(extra, n.mgmtMembers(), n.cfg.Seeds) {
		if id != n.cfg.ID && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// offer keeps m if it is newer than the map held.
func (n *Node) offer(m *partitionmap.Map) {
	if m == nil {
		return
	}
	for {
		old := n.cur.Load()
		if old != nil && old.Epoch >= m.Epoch {
			return
		}
		if n.cur.CompareAndSwap(old, m) {
			n.epochs.bump()
			select {
			case n.changed <- struct{}{}:
			default:
			}
			if f := n.cfg.OnEpoch; f != nil {
				f(m.Epoch)
			}
			return
		}
	}
}

// run is the node's loop: it fetches newer maps, hosts what they place
// here, reports learners that hold their state, and places clones when
// this node sequences the management group.
func (n *Node) run() {
	t := time.NewTicker(n.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-n.changed:
		case <-n.noticed:
			n.fetchMap()
		case <-t.C:
			n.fetchMap()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*n.cfg.Poll+time.Second)
		n.startBootstrap()
		n.bootstrapMap(ctx)
		if m := n.Map(); m != nil {
			n.register(ctx, m)
			n.reconcile(m)
			n.reportReady(ctx, m)
			n.handOffSequencers(ctx, m)
			n.place(ctx, m)
		}
		cancel()
	}
}

// fetchMap asks a management member (or a seed) for its map unless this
// node hosts a management clone in a normal view.
func (n *Node) fetchMap() {
	if sm := n.mgmtSM.Load(); sm != nil {
		n.offer(sm.Map()) // also after a restart, which applies no change
		if n.mgmtServing() {
			return
		}
	}
	pollMap(n.client, n.cfg.ID, n.mapSources(), n.epochHeld, 2*n.cfg.Poll+200*time.Millisecond, n.take)
}

// take keeps what a node answered: the management members it knows, and
// its map if newer.
func (n *Node) take(m *partitionmap.Map, via []groupcomm.NodeID) {
	if len(via) > 0 {
		n.mgmtVia.Store(&via)
	}
	n.offer(m)
}

// bootstrapMap writes the first map: the first node of cfg.Bootstrap does
// it once the management group works; the others wait for it. The map
// lists every bootstrap node as it describes itself (kindNode), and
// places the management group on them, in cfg.Bootstrap's order: the
// group's real first view.
func (n *Node) bootstrapMap(ctx context.Context) {
	if n.mgmtSM.Load() == nil || n.Map() != nil || len(n.cfg.Bootstrap) == 0 || n.cfg.Bootstrap[0] != n.cfg.ID {
		return
	}
	var nodes []partitionmap.Node
	for _, id := range n.cfg.Bootstrap {
		if id == n.cfg.ID {
			nodes = append(nodes, n.self())
			continue
		}
		nd, err := n.nodeInfo(ctx, id)
		if err != nil {
			n.log.Debug("bootstrap: waiting for a member to describe itself", "member", id, "err", err)
			return
		}
		nodes = append(nodes, nd)
	}
	dur := partitionmap.Disk
	if n.cfg.MgmtDurability == racs.Memory {
		dur = partitionmap.Memory
	}
	res, err := n.Admin(ctx, mgmt.Command{Op: mgmt.OpBootstrap, Cluster: n.cfg.Cluster, FirstGroup: FirstDataGroup,
		Nodes: nodes, MgmtGroup: uint64(MgmtGroup), MgmtDurability: dur, Reason: fmt.Sprintf("bootstrap by node %d", n.cfg.ID)})
	if err != nil {
		n.log.Debug("bootstrap: not yet", "err", err)
		return
	}
	if err := res.Err(); err != nil && !errors.Is(err, mgmt.ErrAlreadyBootstrapped) {
		n.log.Warn("bootstrap refused", "err", err)
	}
}

// nodeInfo asks node id how it describes itself in the map.
func (n *Node) nodeInfo(ctx context.Context, id groupcomm.NodeID) (partitionmap.Node, error) {
	rep, err := n.client.call(ctx, id, &request{kind: kindNode})
	if err != nil {
		return partitionmap.Node{}, err
	}
	var nd partitionmap.Node
	if err := json.Unmarshal(rep.data, &nd); err != nil {
		return partitionmap.Node{}, fmt.Errorf("%w: node: %v", errMalformed, err)
	}
	if nd.ID != partitionmap.NodeID(id) || nd.State != partitionmap.NodeActive {
		return partitionmap.Node{}, fmt.Errorf("%w: node %d describes itself as %d (%v)", errMalformed, id, nd.ID, nd.State)
	}
	return nd, nil
}

// register adds this node to the map, or updates what it says of itself
// (a node the bootstrap listed, or whose configuration changed).
func (n *Node) register(ctx context.Context, m *partitionmap.Map) {
	self := n.self()
	names := self.Services
	me, err := m.Node(partitionmap.NodeID(n.cfg.ID))
	var cmd mgmt.Command
	switch {
	case err != nil:
		cmd = mgmt.Command{Op: mgmt.OpAddNode, Epoch: m.Epoch, Reason: fmt.Sprintf("node %d joined", n.cfg.ID),
			Node: self}
	case me.Zone != self.Zone || me.Addr != self.Addr:
		cmd = mgmt.Command{Op: mgmt.OpUpdateNode, Epoch: m.Epoch, Node: self,
			Reason: fmt.Sprintf("node %d is in zone %q at %q and offers %v", n.cfg.ID, self.Zone, self.Addr, names)}
	case !slices.Equal(me.Services, names):
		cmd = mgmt.Command{Op: mgmt.OpSetNodeServices, Epoch: m.Epoch, NodeID: me.ID, Services: names,
			Reason: fmt.Sprintf("node %d offers %v", n.cfg.ID, names)}
	case me.State == partitionmap.NodeDead && n.isLive(n.cfg.ID):
		cmd = mgmt.Command{Op: mgmt.OpSetNodeState, Epoch: m.Epoch, NodeID: me.ID, State: partitionmap.NodeActive,
			Reason: fmt.Sprintf("node %d is back", n.cfg.ID)}
	default:
		return
	}
	n.adminLogged(ctx, cmd)
}

// self is this node's entry for the map.
func (n *Node) self() partitionmap.Node {
	var names []string
	for name := range n.svcs {
		names = append(names, name)
	}
	slices.Sort(names)
	return partitionmap.Node{ID: partitionmap.NodeID(n.cfg.ID), Zone: n.cfg.Zone, Addr: n.cfg.Addr, Services: names}
}

// adminLogged proposes cmd and logs a refusal (a stale epoch is normal:
// the next round retries on the newer map).
func (n *Node) adminLogged(ctx context.Context, cmd mgmt.Command) {
	res, err := n.Admin(ctx, cmd)
	if err == nil {
		err = res.Err()
	}
	if err != nil && !errors.Is(err, partitionmap.ErrStaleEpoch) {
		n.log.Debug("admin change refused", "op", cmd.Op, "err", err)
	}
}

func (n *Node) isLive(id groupcomm.NodeID) bool {
	if n.cfg.Live == nil {
		return true
	}
	return slices.Contains(n.cfg.Live(), id)
}

func (n *Node) submitMgmt(ctx context.Context, body []byte) ([]byte, error) {
	g, err := n.host.Group(MgmtGroup)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotHosted, err)
	}
	res, err := g.Submit(ctx, body, "")
	if err != nil {
		return nil, err
	}
	return res.Data, nil
}
