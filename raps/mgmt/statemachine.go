package mgmt

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// StateMachine is the management group's replicated state: the cluster
// id, the partition map and the history of changes. It implements
// replica.StateMachine. Apply, Snapshot and Restore run on one goroutine
// (racs's rules); Map, Cluster and History may be called from any
// goroutine at any time.
type StateMachine struct {
	cur      atomic.Pointer[view]
	hist     history
	onChange atomic.Pointer[func(*partitionmap.Map)]
}

// view is one published state: the cluster id and the map, swapped in
// together so no reader sees a map of one cluster with another's id. It
// is immutable except for the lazily cached encoding of the map, which
// the "map" query and Snapshot share.
type view struct {
	cluster uint64
	m       *partitionmap.Map // nil before the bootstrap

	once sync.Once
	enc  []byte // m.MarshalBinary()
	err  error
}

func (v *view) encoded() ([]byte, error) {
	v.once.Do(func() {
		if v.m != nil {
			v.enc, v.err = v.m.MarshalBinary()
		}
	})
	return v.enc, v.err
}

// New returns the state of a management group before its bootstrap: no
// map, no history, cluster id 0.
func New() *StateMachine {
	s := &StateMachine{}
	s.cur.Store(&view{})
	return s
}

// Map returns the current map, nil before the bootstrap. Maps are
// immutable values, so the caller may keep and share it (and must not
// modify it). Safe concurrently with Apply.
func (s *StateMachine) Map() *partitionmap.Map { return s.cur.Load().m }

// Cluster returns the cluster id the bootstrap set (0 before it).
func (s *StateMachine) Cluster() uint64 { return s.cur.Load().cluster }

// SetOnChange registers f, called with the new map after every applied
// change and after a Restore that installs a map. f runs on the applying
// goroutine, inside Apply: it must not block or call back into the group
// (hand the map to a channel with a buffer of one that keeps the newest,
// or store it in an atomic); every clone's Apply waits for it. nil
// unregisters.
func (s *StateMachine) SetOnChange(f func(*partitionmap.Map)) {
	if f == nil {
		s.onChange.Store(nil)
		return
	}
	s.onChange.Store(&f)
}

func (s *StateMachine) notify(m *partitionmap.Map) {
	if f := s.onChange.Load(); f != nil && m != nil {
		(*f)(m)
	}
}

// Apply applies one encoded command (EncodeCommand) and returns the
// encoded Result (DecodeResult). It is deterministic: it reads only the
// state and the command, never a clock. A refused command — undecodable,
// before the bootstrap, at a stale epoch, or invalid for the map —
// changes nothing: the map, the history and the snapshot stay as they
// were.
func (s *StateMachine) Apply(update []byte) []byte {
	cur := s.cur.Load()
	epoch := uint64(0)
	if cur.m != nil {
		epoch = cur.m.Epoch
	}
	c, err := DecodeCommand(update)
	if err != nil {
		return encodeResult(refusal(epoch, err))
	}
	next, summary, err := safeChange(cur, &c)
	if err != nil {
		return encodeResult(refusal(epoch, err))
	}
	cluster := cur.cluster
	if c.Op == OpBootstrap {
		cluster = c.Cluster
	}
	s.hist.mu.Lock()
	// The map first: a change is in the history only once Map returns its
	// map or a later one.
	s.cur.Store(&view{cluster: cluster, m: next})
	s.hist.add(Change{Epoch: next.Epoch, Time: c.Time, Op: c.Op, Reason: c.Reason, Summary: summary})
	s.hist.mu.Unlock()
	s.notify(next)
	return encodeResult(Result{Epoch: next.Epoch, Code: CodeOK})
}

// safeChange is change that turns a panic into ErrInternal. A panic would
// be the same on every clone and come back at every replay of the log, so
// one bad command would stop the management group for good; refused, it
// is only a bug to fix. Nothing is published before change returns, so a
// panic leaves the state as it was.
func safeChange(cur *view, c *Command) (next *partitionmap.Map, summary string, err error) {
	defer func() {
		if r := recover(); r != nil {
			next, summary, err = nil, "", fmt.Errorf("%w: %s panicked: %v", ErrInternal, c.Op, r)
		}
	}()
	next, summary, err = change(cur.cluster, cur.m, c)
	if err == nil && (next == nil || next.Epoch != epochOf(cur.m)+1) {
		return nil, "", fmt.Errorf("%w: %s did not produce the next epoch", ErrInternal, c.Op)
	}
	return next, summary, err
}

func epochOf(m *partitionmap.Map) uint64 {
	if m == nil {
		return 0
	}
	return m.Epoch
}
