package membership

import (
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// delegate receives memberlist's callbacks. memberlist requires them not
// to block: each takes mu briefly, updates the view and hands events over
// without waiting (emitLocked). The EventDelegate methods run under
// memberlist's node lock, one at a time, so the view sees joins, updates
// and deaths in memberlist's order.
type delegate struct{ m *Membership }

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*delegate)(nil)
	_ memberlist.PingDelegate     = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
)

// NodeMeta returns this node's metadata: ID, epoch, leaving flag,
// transport address and zone (codec.go). Validate keeps it under limit.
func (d *delegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	b := d.m.mu.self.encode()
	d.m.mu.Unlock()
	if len(b) > limit {
		d.m.log.Error("membership: node metadata too long, dropped", "len", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg receives a gossiped load; a newer one is relayed onward.
func (d *delegate) NotifyMsg(b []byte) {
	var relay []*loadBroadcast
	_, err := decodeLoads(b, func(id groupcomm.NodeID, e loadEntry) {
		if lb := d.m.applyLoad(id, e, true); lb != nil {
			relay = append(relay, lb)
		}
	})
	if err != nil {
		d.m.log.Debug("membership: bad gossip message", "err", err)
		return
	}
	for _, lb := range relay {
		d.m.bcast.QueueBroadcast(lb)
	}
}

// GetBroadcasts fills the space memberlist's own broadcasts left in a
// gossip packet with queued loads.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.bcast.GetBroadcasts(overhead, limit)
}

// LocalState sends every known load in a push/pull exchange
// (anti-entropy for loads a node missed, and the loads a joiner needs).
func (d *delegate) LocalState(join bool) []byte {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return encodeLoadState(d.m.mu.loads)
}

// MergeRemoteState takes the newer of each load from a push/pull.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	if _, err := decodeLoads(buf, func(id groupcomm.NodeID, e loadEntry) {
		d.m.applyLoad(id, e, false)
	}); err != nil {
		d.m.log.Debug("membership: bad remote state", "err", err)
	}
}

// NotifyJoin: a node became alive (new, or back from dead or left).
func (d *delegate) NotifyJoin(n *memberlist.Node) {
	meta, ok := d.meta(n)
	if !ok {
		return
	}
	m := d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recordLocked(n.Name, meta.ID)
	r.Addr, r.Zone, r.Epoch, r.FrontEnd = meta.Addr, meta.Zone, meta.Epoch, meta.FrontEnd
	r.GossipAddr = n.Address()
	r.State, r.since = StateAlive, time.Now()
	m.emitLocked(Event{Type: EventJoin, Member: m.snapshotLocked(r)})
}

// NotifyUpdate: a live node sent new metadata (epoch, leaving flag, or a
// restart with a new address).
func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	meta, ok := d.meta(n)
	if !ok {
		return
	}
	m := d.m
	m.mu.Lock()
	defer m.mu.Unlock()
	old, known := m.mu.members[n.Name]
	r := m.recordLocked(n.Name, meta.ID)
	var ch Changed
	if r.Addr != meta.Addr {
		ch |= ChangedAddr
	}
	if r.Zone != meta.Zone {
		ch |= ChangedZone
	}
	if r.Epoch != meta.Epoch {
		ch |= ChangedEpoch
	}
	r.Addr, r.Zone, r.Epoch, r.FrontEnd = meta.Addr, meta.Zone, meta.Epoch, meta.FrontEnd
	r.GossipAddr = n.Address()
	switch {
	case !known || old.State == StateDead || old.State == StateLeft:
		// Missed the join (or pruned): report it as one.
		r.State, r.since = StateAlive, time.Now()
		m.emitLocked(Event{Type: EventJoin, Member: m.snapshotLocked(r)})
		return
	case r.State == StateSuspect:
		// A new alive message from the node itself: it refuted.
		r.State, r.since = StateAlive, time.Now()
		m.emitLocked(Event{Type: EventRecovered, Member: m.snapshotLocked(r)})
	}
	if ch != 0 {
		m.emitLocked(Event{Type: EventUpdate, Member: m.snapshotLocked(r), Changed: ch})
	}
}

// NotifyLeave: memberlist declared a node dead, or it left. memberlist
// does not say which (Node.State is never filled in), so the node's last
// metadata does: Leave gossips the leaving flag before leaving.
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	m := d.m
	meta, err := decodeMeta(n.Meta)
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.mu.members[n.Name]
	if !ok {
		return
	}
	ev := Event{Type: EventFailed}
	r.State = StateDead
	if err == nil && meta.Leaving {
		ev.Type, r.State = EventLeft, StateLeft
	}
	r.since = time.Now()
	ev.Member = m.snapshotLocked(r)
	m.emitLocked(ev)
	if addr, ok := m.mu.conflicts[n.Name]; ok {
		delete(m.mu.conflicts, n.Name)
		m.reclaimLocked(addr)
	}
}

// AckPayload implements memberlist.PingDelegate.
func (d *delegate) AckPayload() []byte { return nil }

// NotifyPingComplete: this node's probe of other got a direct ack, which
// clears a suspicion this node raised.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	d.m.answered(other.Name)
}

// NotifyConflict: a node claims the name of a node known at another
// address. memberlist keeps the known one. When that one is dead (or once
// it is declared dead) and the claimant is the same node restarted at a
// new address, memberlist would accept it after DeadNodeReclaimTime, but
// only on its next alive message, which may be a push/pull 30s away; so
// reclaimLoop pulls the claimant's state then.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	m := d.m
	addr := other.Address()
	m.log.Warn("membership: node name conflict", "name", existing.Name,
		"existing", existing.Address(), "other", addr)
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.mu.members[existing.Name]; ok && (r.State == StateAlive || r.State == StateSuspect) {
		m.mu.conflicts[existing.Name] = addr // reclaim once it is dead
		return
	}
	m.reclaimLocked(addr)
}

// localSuspect is called (via the log adapter) when this node's own
// probe of name failed.
func (m *Membership) localSuspect(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.mu.members[name]; ok && r.State == StateAlive {
		r.State, r.since = StateSuspect, time.Now()
		m.emitLocked(Event{Type: EventSuspect, Member: m.snapshotLocked(r)})
	}
}

// meta decodes n's metadata; a node without ours (another program on
// the same gossip network) is ignored.
func (d *delegate) meta(n *memberlist.Node) (nodeMeta, bool) {
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		d.m.log.Warn("membership: ignoring node with foreign metadata", "name", n.Name, "err", err)
		return nodeMeta{}, false
	}
	return meta, true
}

// recordLocked returns the record for name, creating it, and indexes it
// under id. mu must be held.
func (m *Membership) recordLocked(name string, id groupcomm.NodeID) *record {
	r, ok := m.mu.members[name]
	if !ok {
		r = &record{Member: Member{Name: name}}
		m.mu.members[name] = r
		m.known.Store(int64(len(m.mu.members)))
	}
	if r.ID != id && r.ID != 0 && m.mu.byID[r.ID] == name {
		delete(m.mu.byID, r.ID)
	}
	if other, ok := m.mu.byID[id]; ok && other != name {
		m.log.Warn("membership: node id claimed by two names", "peer", uint64(id), "old", other, "new", name)
	}
	r.ID = id
	m.mu.byID[id] = name
	return r
}
