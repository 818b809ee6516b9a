package partitionmap

import (
	"fmt"
	"slices"
)

// The management group — the replicated group that keeps the map itself —
// is placed by the map like any partition: it is the one partition of the
// reserved system service MgmtService, whose clone set is the group's
// desired membership. Plan grows, shrinks and re-replicates it with the
// same moves and safety rules as any partition (add a learner, then
// promote-and-remove; never below a live majority; within the budget).
// What sets it apart:
//
//   - every node can host it (it needs no user code): Node.Offers is true
//     for MgmtService whatever Node.Services lists;
//   - its voter count is not chosen by an administrator: every change sets
//     the service's Clones to MgmtClones of the active nodes (5 when there
//     are at least 5, else 3 when at least 3, else all of them);
//   - it is not a service to call: its name is not a valid user service
//     name (DefineService, node service lists), SetClones, RemoveService
//     and Reincarnate refuse it, and Locate does not find it.

// MgmtService is the reserved name of the system service whose one
// partition (id 0) is the management group.
const MgmtService = "_mgmt"

// IsSystem reports whether a service name is reserved for the system.
func IsSystem(service string) bool { return service == MgmtService }

// MgmtClones is the number of voters the management group should have
// with active eligible nodes: 5 when there are at least 5, else 3 when
// at least 3, else all of them (at least 1). Odd sizes tolerate the most
// failures per member.
func MgmtClones(active int) int {
	switch {
	case active >= 5:
		return 5
	case active >= 3:
		return 3
	case active >= 1:
		return active
	}
	return 1
}

// Mgmt returns the management group's partition, if the map places it.
func (m *Map) Mgmt() (*Partition, bool) {
	si, ok := m.serviceIndex(MgmtService)
	if !ok {
		return nil, false
	}
	lo, hi, ok := m.partitionSpan(si)
	if !ok || hi-lo != 1 {
		return nil, false
	}
	return &m.Partitions[lo], true
}

// MgmtVoters returns the nodes of the management group's voters in rank
// order (nil if the map does not place it).
func (m *Map) MgmtVoters() []NodeID {
	p, ok := m.Mgmt()
	if !ok {
		return nil
	}
	var out []NodeID
	for _, c := range p.Voters() {
		out = append(out, c.Node)
	}
	return out
}

// DefineMgmt records the management group in the map: the system service
// MgmtService with one partition whose group is group (incarnation 1) and
// whose voters are the given nodes, in rank order — the group's real first
// view, so that the map and the group agree from the start. The group id
// must be below NextGroup and unused (the caller keeps the ids below the
// first data group for it).
func (m *Map) DefineMgmt(epoch uint64, group uint64, voters []NodeID, dur Durability) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	if _, found := m.serviceIndex(MgmtService); found {
		return nil, fmt.Errorf("%w: the management group is already placed", ErrExists)
	}
	if !dur.valid() {
		return nil, fmt.Errorf("%w: management durability %v", ErrInvalidArgument, dur)
	}
	if group == 0 || group >= m.NextGroup {
		return nil, fmt.Errorf("%w: management group id %d not in [1, %d)", ErrInvalidArgument, group, m.NextGroup)
	}
	for i := range m.Partitions {
		if m.Partitions[i].Group == group {
			return nil, fmt.Errorf("%w: group id %d is %v's", ErrInvalidArgument, group, m.Partitions[i].Ref())
		}
	}
	if len(voters) == 0 || len(voters) > MaxClones {
		return nil, fmt.Errorf("%w: %d management voters, want 1..%d", ErrInvalidArgument, len(voters), MaxClones)
	}
	clones := make([]Clone, 0, len(voters))
	for _, v := range voters {
		if _, ok := m.nodeIndex(v); !ok {
			return nil, fmt.Errorf("%w %d (a management voter must be in the map)", ErrUnknownNode, v)
		}
		if slices.ContainsFunc(clones, func(c Clone) bool { return c.Node == v }) {
			return nil, fmt.Errorf("%w: node %d listed twice as a management voter", ErrInvalidArgument, v)
		}
		clones = append(clones, Clone{Node: v, Role: Voter})
	}
	svc := Service{Name: MgmtService, Partitioning: Hash, Slots: 1, Partitions: 1, Clones: 1, Durability: dur}
	si, _ := m.serviceIndex(MgmtService)
	at := len(m.Partitions)
	if si < len(m.Services) {
		at, _, _ = m.partitionSpan(si)
	}
	d.m.Services, d.ownSvcs = slices.Insert(slices.Clone(m.Services), si, svc), true
	d.m.Partitions, d.ownParts = slices.Insert(slices.Clone(m.Partitions), at,
		Partition{Service: MgmtService, ID: 0, SlotLo: 0, SlotHi: 1, Group: group, Incarnation: 1, Clones: clones}), true
	return d.commit()
}

// UpdateNode replaces what a node says of itself — its zone, address and
// services — keeping its state. A node listed before it ran (the
// bootstrap lists every member of the management group's first view)
// fills them in so. Services follow SetNodeServices's rules.
func (m *Map) UpdateNode(epoch uint64, n Node) (*Map, error) {
	d, err := m.begin(epoch)
	if err != nil {
		return nil, err
	}
	i, found := m.nodeIndex(n.ID)
	if !found {
		return nil, fmt.Errorf("%w %d", ErrUnknownNode, n.ID)
	}
	old := m.Nodes[i]
	nn := old
	nn.Zone, nn.Addr, nn.Services = n.Zone, n.Addr, normServices(n.Services)
	if err := checkNode(&nn); err != nil {
		return nil, fmt.Errorf("%w: node %d: %v", ErrInvalidArgument, n.ID, err)
	}
	for si := range m.Services {
		s := &m.Services[si]
		if !old.Offers(s.Name) || nn.Offers(s.Name) {
			continue
		}
		if err := m.checkNodeNotNeeded(n.ID, s); err != nil {
			return nil, err
		}
	}
	d.nodes()[i] = nn
	return d.commit()
}

// sizeMgmt sets the management service's Clones to MgmtClones of the
// active nodes (commit calls it on every change).
func (d *draft) sizeMgmt() {
	si, ok := d.m.serviceIndex(MgmtService)
	if !ok {
		return
	}
	active := 0
	for i := range d.m.Nodes {
		if d.m.Nodes[i].State == NodeActive {
			active++
		}
	}
	if want := MgmtClones(active); d.m.Services[si].Clones != want {
		d.services()[si].Clones = want
	}
}

// refuseSystem is the error of an admin change that a system service
// does not take.
func refuseSystem(what, name string) error {
	return fmt.Errorf("%w: %s: %q is the management group's system service; the map sizes and places it itself", ErrInvalidArgument, what, name)
}
