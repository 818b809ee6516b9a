package clone

import (
	"errors"
	"fmt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Config configures one clone.
type Config struct {
	// Group is the group's id on the node (the Store's key).
	Group replica.GroupID
	// Durable clones persist through the caller's Store (Disk); a memory
	// clone writes nothing and never restarts (it joins again).
	Durable bool
	// StateMachine is the clone's service state.
	StateMachine replica.StateMachine
	// SnapshotEvery: a durable clone snapshots its state after this many
	// applied updates and compacts its log below the snapshot, keeping
	// LogTail entries for laggards to fetch, and every entry some member
	// of the view is not known to hold (groupcomm.Node.Retained), up to
	// MaxLogLag entries below the snapshot: a member further behind cannot
	// catch up from the log (it joins again and gets a snapshot). Zero
	// SnapshotEvery never snapshots; zero MaxLogLag means 1<<20.
	SnapshotEvery uint64
	LogTail       uint64
	MaxLogLag     uint64
	// AmortizeSnapshots makes a durable clone also wait, before its next
	// snapshot, until the updates applied since the last one carry at
	// least as many payload bytes as that snapshot held: snapshots then
	// write at most as many bytes as the updates themselves, however
	// large the state grows (with a fixed count, a growing state made each
	// snapshot — the whole state, written in the Ready loop — cost more,
	// and with 64 clients it cut throughput by a third and tripled the
	// p99). The log since the snapshot is then up to about the state's
	// size.
	AmortizeSnapshots bool
	// IdempotencyWindow bounds the replicated idempotency table: a key is
	// remembered for this many later updates. Zero means 1<<20.
	IdempotencyWindow uint64
}

// Clone is one member of one group on one node, without threads: it owns
// the group's protocol core and drives the durable half of its Ready loop.
// It is not safe for concurrent use; see the package doc for the caller's
// loop.
type Clone struct {
	cfg       Config
	core      *groupcomm.Node
	idem      *idemTable
	applied   groupcomm.Viewstamp // the state machine covers every entry up to it
	sinceSnap uint64
	// sinceSnapBytes: payload bytes applied since the last snapshot;
	// lastSnapBytes: that snapshot's size (AmortizeSnapshots).
	sinceSnapBytes, lastSnapBytes uint64
	knobs                         groupcomm.TestingKnobs
}

// Sentinel errors.
var (
	// ErrBadSnapshot: a snapshot's data could not be decoded or restored.
	ErrBadSnapshot = errors.New("clone: snapshot failed verification")
	// ErrBadEnvelope: an update envelope could not be decoded.
	ErrBadEnvelope = errors.New("clone: bad update envelope")
	// ErrKeyReused: an idempotency key came with a different update than
	// the one applied under it; the update was not applied (G6).
	ErrKeyReused = errors.New("clone: idempotency key reused with a different update")
)

func newClone(cfg Config, cc groupcomm.Config) (*Clone, error) {
	if cfg.StateMachine == nil {
		return nil, fmt.Errorf("%w: clone needs a StateMachine", groupcomm.ErrInvalidConfig)
	}
	if cfg.IdempotencyWindow == 0 {
		cfg.IdempotencyWindow = 1 << 20
	}
	if cfg.MaxLogLag == 0 {
		cfg.MaxLogLag = 1 << 20
	}
	c := &Clone{cfg: cfg, idem: newIdemTable(cfg.IdempotencyWindow)}
	if cc.Knobs != nil {
		c.knobs = *cc.Knobs
	}
	return c, nil
}

// Bootstrap creates a member of the group's first view v (the partition
// map's entry; groupcomm.Bootstrap).
func Bootstrap(cfg Config, cc groupcomm.Config, v groupcomm.View) (*Clone, error) {
	c, err := newClone(cfg, cc)
	if err != nil {
		return nil, err
	}
	if c.core, err = groupcomm.Bootstrap(cc, v); err != nil {
		return nil, err
	}
	c.applied = v.Cut
	return c, nil
}

// Join creates a new incarnation that asks contacts to add it as a learner
// (groupcomm.Join). Its state machine is replaced by the snapshot it
// restores (InstallSnapshot) before it applies anything.
func Join(cfg Config, cc groupcomm.Config, contacts []groupcomm.NodeID) (*Clone, error) {
	c, err := newClone(cfg, cc)
	if err != nil {
		return nil, err
	}
	if c.core, err = groupcomm.Join(cc, contacts); err != nil {
		return nil, err
	}
	return c, nil
}

// Restart creates a durable clone from what its Store holds: it restores
// the state machine and the idempotency table from the last snapshot,
// hands the core the log, and the core comes back RECOVERING
// (groupcomm.Restart), replaying the stable entries after the snapshot as
// the first Ready's deliveries. cc.Self.Incarnation is taken from the
// persisted HardState.
func Restart(cfg Config, cc groupcomm.Config, st replica.GroupState) (*Clone, error) {
	if st.HardState == nil || st.HardState.Installed.ID == 0 {
		return nil, fmt.Errorf("%w: group %d has no persisted view", groupcomm.ErrInvalidConfig, cfg.Group)
	}
	c, err := newClone(cfg, cc)
	if err != nil {
		return nil, err
	}
	cc.Self.Incarnation = st.HardState.Incarnation
	rs := groupcomm.RestartState{HardState: *st.HardState, Log: st.Log, StableHint: st.StableHint, History: st.Views}
	if s := st.Snapshot; s != nil {
		if err := c.restoreData(s.Data); err != nil {
			return nil, err
		}
		rs.Applied, rs.Dedup = s.Pos, s.Dedup
		c.applied = s.Pos
	}
	if c.core, err = groupcomm.Restart(cc, rs); err != nil {
		return nil, err
	}
	return c, nil
}

// Core returns the clone's protocol core: the caller steps, ticks and
// reads it (Step, Tick, Info, ReadIndex, Propose...), and runs its Ready
// loop through the clone.
func (c *Clone) Core() *groupcomm.Node { return c.core }

// Group returns the clone's group id.
func (c *Clone) Group() replica.GroupID { return c.cfg.Group }

// Applied returns the last position the state machine covers.
func (c *Clone) Applied() groupcomm.Viewstamp { return c.applied }

// StateMachine returns the clone's service state.
func (c *Clone) StateMachine() replica.StateMachine { return c.cfg.StateMachine }

// Submit multicasts an envelope (groupcomm.Node.Multicast): the caller
// completes its future when Apply reports the delivery with the returned id.
func (c *Clone) Submit(e Envelope) (groupcomm.EntryID, error) {
	return c.core.Multicast(e)
}
