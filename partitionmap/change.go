package partitionmap

import (
	"fmt"
	"slices"
	"time"
)

// Admin changes. Each is a pure function of the map: it takes the epoch
// the caller read (compare-and-set: ErrStaleEpoch if the map moved on),
// checks its whole input against the map, and returns a new map at
// Epoch+1 — or an error and no map, the old one untouched either way.

// AddNode adds a node. Its Services are sorted here (their order means
// nothing); duplicates are an error. A dead node must say since when.
func (m *Map) AddNode(epoch uint64, n Node) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	n.Services = normServices(n.Services)
	n.DeadSince = normTime(n.DeadSince)
	if err := checkNode(&n); err != nil {
		return nil, fmt.Errorf("%w: node %d: %v", ErrInvalidArgument, n.ID, err)
	}
	i, found := m.nodeIndex(n.ID)
	if found {
		return nil, fmt.Errorf("%w: node %d is already in the map", ErrExists, n.ID)
	}
	d.m.Nodes, d.ownNodes = slices.Insert(slices.Clone(m.Nodes), i, n), true
	return d.commit()
}

// SetNodeState drains a node (NodeDraining), declares it dead since a time
// (NodeDead), or returns it to service (NodeActive). since is required for
// NodeDead and ignored otherwise. Plan does the rest: moves clones off a
// draining node, re-replicates a dead one's clones after the grace.
func (m *Map) SetNodeState(epoch uint64, id NodeID, state NodeState, since time.Time) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	if !state.valid() {
		return nil, fmt.Errorf("%w: node state %d (want active, draining or dead)", ErrInvalidArgument, uint8(state))
	}
	i, found := m.nodeIndex(id)
	if !found {
		return nil, fmt.Errorf("%w %d", ErrUnknownNode, id)
	}
	n := m.Nodes[i]
	n.State, n.DeadSince = state, time.Time{}
	if state == NodeDead {
		if since.IsZero() {
			return nil, fmt.Errorf("%w: declaring node %d dead needs the time it died", ErrInvalidArgument, id)
		}
		n.DeadSince = normTime(since)
	}
	if err := checkNode(&n); err != nil {
		return nil, fmt.Errorf("%w: node %d: %v", ErrInvalidArgument, id, err)
	}
	d.nodes()[i] = n
	return d.commit()
}

// SetNodeServices replaces the list of services a node offers (after an
// upgrade, say). A node cannot stop offering a service while it holds a
// clone of it, nor when too few nodes would be left for the clone count.
func (m *Map) SetNodeServices(epoch uint64, id NodeID, services []string) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	i, found := m.nodeIndex(id)
	if !found {
		return nil, fmt.Errorf("%w %d", ErrUnknownNode, id)
	}
	n := m.Nodes[i]
	n.Services = normServices(services)
	if err := checkNode(&n); err != nil {
		return nil, fmt.Errorf("%w: node %d: %v", ErrInvalidArgument, id, err)
	}
	for si := range m.Services {
		s := &m.Services[si]
		if !m.Nodes[i].Offers(s.Name) || n.Offers(s.Name) {
			continue
		}
		if err := m.checkNodeNotNeeded(id, s); err != nil {
			return nil, err
		}
	}
	d.nodes()[i] = n
	return d.commit()
}

// RemoveNode forgets a node. It must hold no clone (drain it, or declare
// it dead and let Plan re-replicate, first), and every service must keep
// enough nodes for its clone count.
func (m *Map) RemoveNode(epoch uint64, id NodeID) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	i, found := m.nodeIndex(id)
	if !found {
		return nil, fmt.Errorf("%w %d", ErrUnknownNode, id)
	}
	for si := range m.Services {
		if s := &m.Services[si]; m.Nodes[i].Offers(s.Name) {
			if err := m.checkNodeNotNeeded(id, s); err != nil {
				return nil, err
			}
		}
	}
	d.m.Nodes, d.ownNodes = slices.Delete(slices.Clone(m.Nodes), i, i+1), true
	return d.commit()
}

// checkNodeNotNeeded: node id may stop offering service s.
func (m *Map) checkNodeNotNeeded(id NodeID, s *Service) error {
	held, example := 0, PartRef{}
	parts, err := m.ServicePartitions(s.Name)
	if err != nil {
		return err
	}
	for k := range parts {
		if _, ok := parts[k].Holds(id); ok {
			if held == 0 {
				example = parts[k].Ref()
			}
			held++
		}
	}
	if held > 0 {
		return fmt.Errorf("%w: node %d holds %d clones of %q (e.g. %v); drain it first", ErrNodeInUse, id, held, s.Name, example)
	}
	if left := len(m.NodesOffering(s.Name)) - 1; left < s.Clones {
		return fmt.Errorf("%w: %q wants %d clones per partition and only %d other nodes offer it", ErrNodeInUse, s.Name, s.Clones, left)
	}
	return nil
}

// DefineService creates a service and its partitions, each with a fresh
// group id (incarnation 1) and a clone set placed on the active nodes
// that offer the service: spread over zones, balanced by clones and by
// sequencers. A Hash service gives Slots and Partitions and no ranges; the
// slots are divided evenly. A Range service gives its ranges, which must
// tile the key space (Partitions may be 0 or must equal len(ranges)).
//
// Placement here cannot know which nodes are live: it trusts NodeActive.
// A clone placed on a node that is in fact down is handled like any other
// (Plan re-replicates it once the node is declared dead).
func (m *Map) DefineService(epoch uint64, svc Service, ranges []KeyRange) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	if svc.Partitioning == Range && svc.Partitions == 0 {
		svc.Partitions = len(ranges)
	}
	if err := checkName(svc.Name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	if _, found := m.serviceIndex(svc.Name); found {
		return nil, fmt.Errorf("%w: service %q is already defined", ErrExists, svc.Name)
	}
	switch svc.Partitioning {
	case Hash:
		if ranges != nil {
			return nil, fmt.Errorf("%w: hash service %q takes no key ranges", ErrInvalidArgument, svc.Name)
		}
	case Range:
		if err := checkRanges(ranges); err != nil {
			return nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		if svc.Partitions != len(ranges) {
			return nil, fmt.Errorf("%w: service %q: %d partitions but %d ranges", ErrInvalidArgument, svc.Name, svc.Partitions, len(ranges))
		}
	}
	if err := checkService(&svc); err != nil {
		return nil, fmt.Errorf("%w: service %q: %v", ErrInvalidArgument, svc.Name, err)
	}
	if active := m.activeOffering(svc.Name); svc.Clones > len(active) {
		return nil, fmt.Errorf("%w: %q wants %d clones per partition and %d active nodes offer it %v", ErrTooFewNodes, svc.Name, svc.Clones, len(active), active)
	}
	if m.NextGroup+uint64(svc.Partitions) < m.NextGroup {
		return nil, fmt.Errorf("%w: group ids exhausted", ErrInvalidArgument)
	}

	// Place on a view of the map with the service already in it (and no
	// partitions yet), so its load counts start from zero.
	si, _ := m.serviceIndex(svc.Name)
	svcs := slices.Insert(slices.Clone(m.Services), si, svc)
	view := *m
	view.Services = slices.Clone(svcs)
	view.Services[si].Partitions = 0 // none exist yet
	c := newCluster(&view, func(*Node) bool { return true })
	parts := make([]Partition, svc.Partitions)
	sets := make([][]Clone, svc.Partitions)
	for id := range sets {
		clones, ok := c.placeNew(si, m.NextGroup+uint64(id), svc.Clones)
		if !ok {
			return nil, fmt.Errorf("%w: no node left for a clone of %s/%d", ErrTooFewNodes, svc.Name, id)
		}
		sets[id] = clones
	}
	c.evenOut(si, sets)
	for id := range parts {
		p := Partition{Service: svc.Name, ID: id, Group: m.NextGroup + uint64(id), Incarnation: 1, Clones: sets[id]}
		if svc.Partitioning == Hash {
			p.SlotLo = uint32(uint64(svc.Slots) * uint64(id) / uint64(svc.Partitions))
			p.SlotHi = uint32(uint64(svc.Slots) * uint64(id+1) / uint64(svc.Partitions))
		} else {
			p.Start, p.End = cloneKey(ranges[id].Start), cloneKey(ranges[id].End)
		}
		parts[id] = p
	}
	at := len(m.Partitions)
	if si < len(m.Services) {
		at, _, _ = m.partitionSpan(si) // the partitions of the service now after it
	}
	d.m.Services, d.ownSvcs = svcs, true
	d.m.Partitions, d.ownParts = slices.Insert(slices.Clone(m.Partitions), at, parts...), true
	d.m.NextGroup += uint64(svc.Partitions)
	return d.commit()
}

// RemoveService deletes a service and its partitions. Its group ids are
// not reused.
func (m *Map) RemoveService(epoch uint64, name string) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	si, found := m.serviceIndex(name)
	if !found {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	if IsSystem(name) {
		return nil, refuseSystem("remove service", name)
	}
	lo, hi, ok := m.partitionSpan(si)
	if !ok {
		return nil, fmt.Errorf("%w: partitions of %q are not where the service says", ErrInvalidMap, name)
	}
	d.m.Services, d.ownSvcs = slices.Delete(slices.Clone(m.Services), si, si+1), true
	d.m.Partitions, d.ownParts = slices.Delete(slices.Clone(m.Partitions), lo, hi), true
	return d.commit()
}

// SetClones changes how many voters each partition of a service should
// have. Nothing moves here: Plan adds or removes clones, a few at a time.
func (m *Map) SetClones(epoch uint64, name string, clones int) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	si, found := m.serviceIndex(name)
	if !found {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	if IsSystem(name) {
		return nil, refuseSystem("set clones", name)
	}
	if clones < 1 || clones > MaxClones {
		return nil, fmt.Errorf("%w: %d clones per partition, want 1..%d", ErrInvalidArgument, clones, MaxClones)
	}
	if active := m.activeOffering(name); clones > len(active) {
		return nil, fmt.Errorf("%w: %q would want %d clones per partition and %d active nodes offer it %v", ErrTooFewNodes, name, clones, len(active), active)
	}
	d.services()[si].Clones = clones
	return d.commit()
}

// Reincarnate re-creates a partition's group from nothing: incarnation+1,
// a fresh clone set on active nodes, empty state. It is the explicit
// admission that the data is lost (a memory service whose every clone
// died, a disk service whose disks are gone), so it is refused while any
// voter is on a node not declared dead.
func (m *Map) Reincarnate(epoch uint64, ref PartRef) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	pi, err := m.partIndex(ref)
	if err != nil {
		return nil, err
	}
	if IsSystem(ref.Service) {
		return nil, refuseSystem("reincarnate", ref.Service)
	}
	p := &m.Partitions[pi]
	for _, v := range p.Voters() {
		if n, err := m.Node(v.Node); err != nil || n.State != NodeDead {
			return nil, fmt.Errorf("%w: %v still has a voter on node %d, which is not declared dead; reincarnating would throw its state away", ErrInvalidMove, ref, v.Node)
		}
	}
	si, _ := m.serviceIndex(ref.Service)
	svc := &m.Services[si]
	if active := m.activeOffering(svc.Name); svc.Clones > len(active) {
		return nil, fmt.Errorf("%w: %q wants %d clones per partition and %d active nodes offer it %v", ErrTooFewNodes, svc.Name, svc.Clones, len(active), active)
	}
	c := newCluster(m, func(*Node) bool { return true })
	clones, ok := c.placeNew(si, p.Group+p.Incarnation<<48, svc.Clones)
	if !ok {
		return nil, fmt.Errorf("%w: no node left for a clone of %v", ErrTooFewNodes, ref)
	}
	np := *p
	np.Incarnation++
	np.Clones = clones
	d.parts()[pi] = np
	return d.commit()
}

// SplitRanges returns the key ranges cut at the given bounds, for
// DefineService: SplitRanges("D", "G") is [, D), [D, G), [G, ∞) — the
// catalog's "A-C, D-F, G-Z".
func SplitRanges(bounds ...string) []KeyRange {
	rs := make([]KeyRange, 0, len(bounds)+1)
	var start Key
	for _, b := range bounds {
		rs = append(rs, KeyRange{Start: start, End: Key(b)})
		start = Key(b)
	}
	return append(rs, KeyRange{Start: start})
}

func (m *Map) activeOffering(service string) []NodeID {
	var ids []NodeID
	for i := range m.Nodes {
		if m.Nodes[i].State == NodeActive && m.Nodes[i].Offers(service) {
			ids = append(ids, m.Nodes[i].ID)
		}
	}
	return ids
}

// normServices sorts a copy; duplicates are left for checkNode to report.
func normServices(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// normTime keeps times in UTC without a monotonic reading, so a map equals
// its own encoding's decoding.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

func cloneKey(k Key) Key {
	if len(k) == 0 {
		return nil
	}
	return slices.Clone(k)
}
