package racs

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Durability is a property of a group, as QuickSilver's group types are.
type Durability uint8

const (
	// Disk (the default): every member persists before it acks, promises
	// or accepts; acknowledged updates survive the crash of every node.
	Disk Durability = iota
	// Memory: nothing is written to disk; acknowledged updates survive
	// while a majority of the view lives. A restarted member is a new
	// incarnation that joins as a learner.
	Memory
)

func (d Durability) String() string {
	if d == Memory {
		return "memory"
	}
	return "disk"
}

// Config configures a Host (one node).
type Config struct {
	// Node is this node's id; Cluster fences messages of other clusters.
	Node    groupcomm.NodeID
	Cluster uint64
	// Store persists the state of every Disk group of the node.
	Store replica.Store
	// Transport carries packets to other nodes.
	Transport Transport
	// TickInterval is the length of one protocol tick. Default 10ms.
	TickInterval time.Duration
	// Workers is the number of goroutines that own groups. Default 4.
	Workers int
	// Core is the template for each group's groupcomm.Config (timers in
	// ticks, windows); identity fields are filled in per group.
	Core groupcomm.Config
	// ChunkSize is the state-transfer chunk size. Default 256 KiB.
	ChunkSize int
	// IdempotencyWindow bounds the replicated idempotency table: a key is
	// remembered for this many later updates. Default 1<<20.
	IdempotencyWindow uint64
	// SnapshotEvery: a Disk group persists a snapshot of its state after
	// this many applied updates and truncates its log. Default 10000.
	SnapshotEvery uint64
	// DisableSnapshotAmortization makes a group snapshot after every
	// SnapshotEvery updates whatever their size. By default it also waits
	// until the updates since the last snapshot carry as many bytes as
	// that snapshot (clone.Config.AmortizeSnapshots): a growing state then
	// costs no more to snapshot, per byte updated, than a small one.
	DisableSnapshotAmortization bool
	// LogTail is how many entries below a snapshot stay in the log, so a
	// lagging member can still fetch them. Default 1000.
	LogTail uint64
	// MaxLogLag bounds what the log keeps below a snapshot for a member
	// that has not acknowledged it yet (a slow or dead one): beyond it the
	// member cannot catch up from the log and joins again with a snapshot.
	// Default 10·SnapshotEvery.
	MaxLogLag uint64
	// RemoveSuspectedAfter: a node the failure detector has suspected for
	// this many ticks is proposed for removal from every group this host
	// sequences (suspect.go), so an idle group whose follower died
	// installs its next view too, not only at its next update. Default
	// 100 (1 s at the default tick); negative never proposes.
	RemoveSuspectedAfter int
	// OnCall receives every incoming Call packet (internal/rpc's frames;
	// wire rpc's Endpoint.Deliver here): Deliver and DeliverBatch hand each
	// one to it on the transport's goroutine, before they look up groups,
	// and also after Close (the rpc endpoint has a life of its own). It
	// must not block: it runs on the goroutine that reads a peer's
	// connection, and every group's packets from that peer wait behind it.
	// c is not retained by the host. Nil drops calls (uncounted).
	OnCall func(from groupcomm.NodeID, c *Call)
	// Logger receives events; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults for the tunable fields.
func DefaultConfig() Config {
	return Config{
		TickInterval:         10 * time.Millisecond,
		Workers:              4,
		Core:                 groupcomm.DefaultConfig(),
		ChunkSize:            256 << 10,
		IdempotencyWindow:    1 << 20,
		SnapshotEvery:        10000,
		LogTail:              1000,
		RemoveSuspectedAfter: 100,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.TickInterval == 0 {
		c.TickInterval = d.TickInterval
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = d.ChunkSize
	}
	if c.IdempotencyWindow == 0 {
		c.IdempotencyWindow = d.IdempotencyWindow
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = d.SnapshotEvery
	}
	if c.LogTail == 0 {
		c.LogTail = d.LogTail
	}
	if c.RemoveSuspectedAfter == 0 {
		c.RemoveSuspectedAfter = d.RemoveSuspectedAfter
	}
	if c.MaxLogLag == 0 {
		c.MaxLogLag = 10 * c.SnapshotEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Node == 0:
		return fmt.Errorf("%w: Node must be set", ErrInvalidConfig)
	case c.Transport == nil:
		return fmt.Errorf("%w: Transport must be set", ErrInvalidConfig)
	case c.TickInterval < 0 || c.Workers < 0 || c.ChunkSize < 0:
		return fmt.Errorf("%w: negative setting", ErrInvalidConfig)
	}
	return nil
}

// GroupConfig describes one group hosted by a node.
type GroupConfig struct {
	Group replica.GroupID
	// Incarnation of the group (a recreated group gets a new one).
	Incarnation uint64
	Durability  Durability
	// StateMachine is this clone's service state.
	StateMachine replica.StateMachine
	// Bootstrap is the group's first view (its partition-map entry).
	// Members of view 1 have incarnation 1.
	Bootstrap *groupcomm.View
	// Create lets this node take part in creating the group: with no
	// state for it and a place in Bootstrap, it asks the other members of
	// the first view (and Contacts) whether the group exists, and starts
	// the first view only if none holds state (create.go); otherwise it
	// joins as a new incarnation. Creating is thus a one-time act that a
	// restart cannot repeat (S4, S11): a restarted memory node or a wiped
	// disk finds the group and joins, whatever its command line says.
	// Without Create (or with state on disk) the node never bootstraps.
	Create bool
	// DropWhenRemoved stops the clone for good when its group removes it.
	// By default the host joins again as a new incarnation (a learner that
	// gets a snapshot): the partition map still places the clone here.
	DropWhenRemoved bool
	// AckAll: an update is stable (delivered and answered) only once
	// every voter persisted it, not a majority (groupcomm.Config.AckAll).
	AckAll bool
	// Retain is how many of its latest applied updates the clone keeps
	// for subscribers (Group.Updates; at most 64 MiB of them): a
	// subscriber further behind gets ErrCompacted and resyncs from a
	// query's token. Zero keeps none (the group offers no stream).
	Retain int
	// Contacts are nodes to ask for admission when this node has no state
	// for the group and is not in Bootstrap: it joins as a learner. With
	// Create they are asked too whether the group exists (its clones may
	// have moved off the first view's nodes).
	Contacts []groupcomm.NodeID
}
