package ops

import (
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/membership"
)

// LiveSet is the ids of the nodes gossip holds alive, front ends left out:
// what a Router's Live callback answers on every call, so it is kept, not
// recomputed: refreshed on every membership event, and at least every
// liveRefresh in case an event was missed.
type LiveSet struct {
	ml   *membership.Membership
	self groupcomm.NodeID // included (0: none)
	cur  atomic.Pointer[liveSnapshot]
}

type liveSnapshot struct {
	ids []groupcomm.NodeID
	at  time.Time
}

const liveRefresh = 500 * time.Millisecond

// NewLiveSet starts keeping ml's live nodes; self, if not 0, is always in.
func NewLiveSet(ml *membership.Membership, self groupcomm.NodeID) *LiveSet {
	s := &LiveSet{ml: ml, self: self}
	s.refresh()
	ml.Subscribe(func(membership.Event) { s.refresh() })
	return s
}

func (s *LiveSet) refresh() {
	var ids []groupcomm.NodeID
	if s.self != 0 {
		ids = append(ids, s.self)
	}
	for _, m := range s.ml.Members() {
		if m.State == membership.StateAlive && !m.FrontEnd && m.ID != s.self {
			ids = append(ids, m.ID)
		}
	}
	s.cur.Store(&liveSnapshot{ids: ids[:len(ids):len(ids)], at: time.Now()}) // full: an append copies
}

// IDs returns the live nodes. The slice is shared: do not modify it.
func (s *LiveSet) IDs() []groupcomm.NodeID {
	snap := s.cur.Load()
	if time.Since(snap.at) > liveRefresh {
		s.refresh()
		snap = s.cur.Load()
	}
	return snap.ids
}
