package membership

import (
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// loadBroadcast is one node's load in memberlist's broadcast queue. A
// newer load of the same node replaces it (NamedBroadcast).
type loadBroadcast struct {
	name string
	msg  []byte
}

func loadBroadcastFor(id groupcomm.NodeID, e loadEntry) *loadBroadcast {
	return &loadBroadcast{name: "load/" + strconv.FormatUint(uint64(id), 10), msg: encodeLoadMsg(id, e)}
}

func (b *loadBroadcast) Name() string    { return b.name }
func (b *loadBroadcast) Message() []byte { return b.msg }
func (b *loadBroadcast) Finished()       {}
func (b *loadBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}

// loadLoop gossips a changed load every LoadInterval and forgets members
// dead for longer than DeadRetention.
func (m *Membership) loadLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.LoadInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			if b := m.nextLoad(now); b != nil {
				m.bcast.QueueBroadcast(b)
			}
			m.prune(now)
		}
	}
}

// nextLoad versions this node's load if it changed and returns its
// broadcast, or nil.
func (m *Membership) nextLoad(now time.Time) *loadBroadcast {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.mu.loadDirty || m.mu.left || m.mu.closed {
		return nil
	}
	m.mu.loadDirty = false
	id := m.cfg.NodeID
	e := loadEntry{Version: max(uint64(now.UnixNano()), m.mu.loads[id].Version+1), Load: m.mu.load}
	m.mu.loads[id] = e
	return loadBroadcastFor(id, e)
}

// applyLoad stores a gossiped load if it is newer than the one held and
// returns the broadcast to relay it with, or nil.
func (m *Membership) applyLoad(id groupcomm.NodeID, e loadEntry, relay bool) *loadBroadcast {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.mu.loads[id]
	if ok && e.Version <= cur.Version {
		return nil
	}
	if id == m.cfg.NodeID {
		// A load of ours from a previous life that outranks the current
		// one: re-send ours with a higher version, as memberlist refutes.
		cur.Version = e.Version
		m.mu.loads[id] = cur
		m.mu.loadDirty = true
		return nil
	}
	m.mu.loads[id] = e
	if r, known := m.mu.members[m.mu.byID[id]]; m.cfg.LoadUpdates && known &&
		(r.State == StateAlive || r.State == StateSuspect) && cur.Load != e.Load {
		m.emitLocked(Event{Type: EventUpdate, Member: m.snapshotLocked(r), Changed: ChangedLoad})
	}
	if !relay {
		return nil
	}
	return loadBroadcastFor(id, e)
}

// prune forgets members dead or gone for longer than DeadRetention, and
// loads of unknown nodes gossiped longer ago than that.
func (m *Membership) prune(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, r := range m.mu.members {
		if (r.State == StateDead || r.State == StateLeft) && now.Sub(r.since) > m.cfg.DeadRetention {
			delete(m.mu.members, name)
			m.known.Store(int64(len(m.mu.members)))
			delete(m.mu.conflicts, name)
			if m.mu.byID[r.ID] == name {
				delete(m.mu.byID, r.ID)
				delete(m.mu.loads, r.ID)
			}
		}
	}
	horizon := uint64(now.Add(-m.cfg.DeadRetention).UnixNano())
	for id, e := range m.mu.loads {
		if _, known := m.mu.byID[id]; !known && id != m.cfg.NodeID && e.Version < horizon {
			delete(m.mu.loads, id)
		}
	}
}
