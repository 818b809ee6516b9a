package replica

import (
	"slices"
	"sync"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// MemStore is a Store that keeps everything in memory: for tests and for
// services with memory durability. It is safe for concurrent use. It copies
// what it stores and what it returns, so callers may reuse and modify their
// slices. Like BoltStore, it returns empty slices (Log, Views, Members,
// Payload, Dedup, Data) as nil.
//
// A MemStore applies a Batch exactly as BoltStore does: the GroupWrites in
// order, each as documented on GroupWrite, with the two rules GroupWrite
// leaves open — a zero StableHint leaves the stored hint alone, and Delete
// makes the other fields of its GroupWrite moot (the group ends up gone) —
// and any other GroupWrite, even an empty one, creates its group. Since
// nothing can fail, a Write succeeds unless the store is closed.
type MemStore struct {
	mu     sync.Mutex
	closed bool
	groups map[GroupID]*memGroup
}

type memGroup struct {
	hs     *groupcomm.HardState
	log    []groupcomm.Entry // ascending by Seq, no two with the same Seq
	stable groupcomm.Viewstamp
	snap   *Snapshot
	views  []groupcomm.View // ascending by ID, no two with the same ID, at most MaxViews
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{groups: make(map[GroupID]*memGroup)}
}

// Write applies the batch atomically.
func (s *MemStore) Write(b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.writeLocked(b)
	return nil
}

func (s *MemStore) writeLocked(b *Batch) {
	if b == nil {
		return
	}
	for i := range b.Writes {
		s.applyLocked(&b.Writes[i])
	}
}

// applyLocked applies one GroupWrite in the order GroupWrite documents:
// TruncateAbove, Entries, HardState, View, StableHint (when non-zero),
// Snapshot, CompactTo. Delete removes the group and makes the other fields
// of the same GroupWrite moot.
func (s *MemStore) applyLocked(w *GroupWrite) {
	if w.Delete {
		delete(s.groups, w.Group)
		return
	}
	g := s.groups[w.Group]
	if g == nil {
		g = &memGroup{}
		s.groups[w.Group] = g
	}
	if w.TruncateAbove != nil {
		i, _ := slices.BinarySearchFunc(g.log, w.TruncateAbove.Seq, cmpEntrySeq)
		// i is the first entry with Seq ≥ TruncateAbove.Seq; keep it if equal.
		if i < len(g.log) && g.log[i].VS.Seq == w.TruncateAbove.Seq {
			i++
		}
		clear(g.log[i:])
		g.log = g.log[:i]
	}
	for _, e := range w.Entries {
		e = cloneEntry(e)
		if n := len(g.log); n == 0 || g.log[n-1].VS.Seq < e.VS.Seq {
			g.log = append(g.log, e)
			continue
		}
		i, found := slices.BinarySearchFunc(g.log, e.VS.Seq, cmpEntrySeq)
		if found {
			g.log[i] = e
		} else {
			g.log = slices.Insert(g.log, i, e)
		}
	}
	if w.HardState != nil {
		hs := cloneHardState(w.HardState)
		g.hs = &hs
	}
	if w.View != nil {
		g.putView(cloneView(*w.View))
	}
	if w.StableHint != (groupcomm.Viewstamp{}) {
		g.stable = w.StableHint
	}
	if w.Snapshot != nil {
		sn := cloneSnapshot(w.Snapshot)
		g.snap = &sn
	}
	if w.CompactTo > 0 {
		i, found := slices.BinarySearchFunc(g.log, w.CompactTo, cmpEntrySeq)
		if found {
			i++
		}
		if i > 0 {
			// Copy down so the compacted prefix does not pin memory forever.
			n := copy(g.log, g.log[i:])
			clear(g.log[n:])
			g.log = g.log[:n]
		}
	}
}

// putView stores the view record v, replacing the one with its ID, and
// keeps the MaxViews records with the highest IDs: when v is a new record
// beyond MaxViews, the lowest one goes, which is v itself when its ID is
// below every kept one. BoltStore trims the same way.
func (g *memGroup) putView(v groupcomm.View) {
	i, found := slices.BinarySearchFunc(g.views, v.ID, cmpViewID)
	switch {
	case found:
		g.views[i] = v
	case len(g.views) < MaxViews:
		g.views = slices.Insert(g.views, i, v)
	case i > 0:
		// Full and v is not the lowest: drop the lowest, g.views[0], and
		// insert v at i-1 of what remains.
		copy(g.views, g.views[1:i])
		g.views[i-1] = v
	}
}

func cmpViewID(v groupcomm.View, id uint64) int {
	switch {
	case v.ID < id:
		return -1
	case v.ID > id:
		return 1
	}
	return 0
}

func cmpEntrySeq(e groupcomm.Entry, seq uint64) int {
	switch {
	case e.VS.Seq < seq:
		return -1
	case e.VS.Seq > seq:
		return 1
	}
	return 0
}

// Load returns a copy of what the group stored; the zero GroupState when
// nothing.
func (s *MemStore) Load(g GroupID) (GroupState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return GroupState{}, ErrClosed
	}
	return s.loadLocked(g), nil
}

func (s *MemStore) loadLocked(id GroupID) GroupState {
	g := s.groups[id]
	if g == nil {
		return GroupState{}
	}
	st := GroupState{StableHint: g.stable}
	if g.hs != nil {
		hs := cloneHardState(g.hs)
		st.HardState = &hs
	}
	if len(g.log) > 0 {
		st.Log = make([]groupcomm.Entry, len(g.log))
		for i, e := range g.log {
			st.Log[i] = cloneEntry(e)
		}
	}
	if g.snap != nil {
		sn := cloneSnapshot(g.snap)
		st.Snapshot = &sn
	}
	if len(g.views) > 0 {
		st.Views = make([]groupcomm.View, len(g.views))
		for i, v := range g.views {
			st.Views[i] = cloneView(v)
		}
	}
	return st
}

// putLocked sets a group's whole state (DiskStore loading its
// checkpoint); st becomes the store's.
func (s *MemStore) putLocked(id GroupID, st GroupState) {
	g := &memGroup{hs: st.HardState, log: st.Log, stable: st.StableHint, snap: st.Snapshot, views: st.Views}
	s.groups[id] = g
}

// Groups returns the groups with stored state, ascending.
func (s *MemStore) Groups() ([]GroupID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var ids []GroupID
	for id := range s.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// Close drops everything; later calls but Close return ErrClosed.
func (s *MemStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.groups = nil
	return nil
}

// --- deep copies (shared with BoltStore's tests and FaultyStore) ---

// cloneBytes copies p; empty becomes nil (the canonical form both stores
// return).
func cloneBytes(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return slices.Clone(p)
}

func cloneView(v groupcomm.View) groupcomm.View {
	if len(v.Members) == 0 {
		v.Members = nil
	} else {
		v.Members = slices.Clone(v.Members)
	}
	return v
}

func cloneHardState(hs *groupcomm.HardState) groupcomm.HardState {
	c := *hs
	c.Installed = cloneView(hs.Installed)
	if hs.AcceptedView != nil {
		v := cloneView(*hs.AcceptedView)
		c.AcceptedView = &v
	}
	return c
}

func cloneEntry(e groupcomm.Entry) groupcomm.Entry {
	e.Payload = cloneBytes(e.Payload)
	return e
}

func cloneSnapshot(s *Snapshot) Snapshot {
	return Snapshot{Pos: s.Pos, Dedup: cloneBytes(s.Dedup), Data: cloneBytes(s.Data)}
}
