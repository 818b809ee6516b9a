package partitionmap

import (
	"fmt"
	"time"
)

// Limits. Validate enforces them, so the decoder bounds every allocation
// and a map cannot grow clone groups larger than the protocol is meant for.
const (
	MaxNameLen      = 63      // service names
	MaxZoneLen      = 255     // Node.Zone
	MaxAddrLen      = 255     // Node.Addr
	MaxKeyLen       = 4096    // a range bound
	MaxClones       = 15      // clones per partition (voters and learners)
	MaxPartitions   = 1 << 20 // partitions per service
	MaxSlots        = 1 << 24 // hash slots per service
	MaxNodeServices = 1024    // services one node offers
)

// NodeID names a node, as the rest of the project does (groupcomm.NodeID):
// a non-zero uint64, stable for the node's life.
type NodeID uint64

// NodeState is what the administration (or the failure handling above
// this package) says about a node. It is not liveness: Plan takes the live
// set separately. The zero value is NodeActive.
type NodeState uint8

const (
	// NodeActive: the node may receive clones.
	NodeActive NodeState = 0
	// NodeDraining: the node keeps serving, receives no new clones, and
	// Plan moves every clone off it.
	NodeDraining NodeState = 1
	// NodeDead: the node is declared failed at Node.DeadSince; once
	// Policy.DeadGrace has passed, Plan re-replicates its clones.
	NodeDead NodeState = 2
)

// Role of a clone in its group (the groupcomm roles). The zero value is
// Voter.
type Role uint8

const (
	// Voter: holds the state and counts in every quorum.
	Voter Role = 0
	// Learner: a joining clone receiving state; it counts in no quorum
	// until a PromoteAndRemove makes it a voter.
	Learner Role = 1
)

// PartitionKind says how a service's keys map to partitions. There is no
// default: a service must choose.
type PartitionKind uint8

const (
	// Hash: xxhash64(key) mod Service.Slots picks a slot; each partition
	// owns a contiguous range of slots.
	Hash PartitionKind = 1
	// Range: each partition owns a contiguous range [Start, End) of keys
	// in bytewise order, like the catalog's "A-C, D-F".
	Range PartitionKind = 2
)

// Durability of a service's clones. There is no default: losing a memory
// service's state on a total outage must be a choice.
type Durability uint8

const (
	// Memory: state lives in memory; a clone that restarts rejoins empty.
	Memory Durability = 1
	// Disk: state is logged and fsynced (replica.DiskStore).
	Disk Durability = 2
)

// Node is a machine that can host clones.
type Node struct {
	ID   NodeID `json:"id"`
	Zone string `json:"zone,omitempty"` // failure domain; clones spread over zones
	Addr string `json:"addr,omitempty"` // where its transport listens (informational here)
	// State and DeadSince: see NodeState. DeadSince is set iff State is
	// NodeDead, in UTC.
	State     NodeState `json:"state"`
	DeadSince time.Time `json:"dead_since,omitzero"`
	// Services the node has the code for, sorted, without duplicates. A
	// clone of a service is placed only on a node that offers it.
	Services []string `json:"services,omitempty"`
}

// Offers reports whether the node offers the service's code (every node
// offers the system service MgmtService).
func (n *Node) Offers(service string) bool {
	if IsSystem(service) {
		return true // every node can host the management group
	}
	lo, hi := 0, len(n.Services)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if n.Services[mid] < service {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < len(n.Services) && n.Services[lo] == service
}

// Service is a partitioned service's definition.
type Service struct {
	Name         string        `json:"name"`
	Partitioning PartitionKind `json:"partitioning"`
	// Slots is the fixed number of hash slots of a Hash service (≥
	// Partitions; zero for Range). Fixed so that a key's slot never
	// changes; a partition is a range of slots.
	Slots uint32 `json:"slots,omitempty"`
	// Partitions is how many partitions the service has: their ids are
	// 0..Partitions-1, in key (or slot) order.
	Partitions int `json:"partitions"`
	// Clones is the number of voters each partition should have.
	Clones     int        `json:"clones"`
	Durability Durability `json:"durability"`
	// The service's type (its properties; docs/design.md, "Typed
	// groups"): what kind of service it is, when an update is stable,
	// which read levels it serves, and how many of each partition's
	// latest updates every clone keeps for subscribers.
	Kind   ServiceKind `json:"kind"`
	Acks   AckPolicy   `json:"acks"`
	Reads  ReadLevels  `json:"reads,omitempty"` // zero: every level
	Retain uint32      `json:"retain,omitempty"`
}

// ServiceKind is what a service is for.
type ServiceKind uint8

const (
	// KindService: a replicated state machine (the default).
	KindService ServiceKind = 0
	// KindTopic: a publish-subscribe topic: in memory, each partition's
	// recent updates kept for subscribers (Retain > 0).
	KindTopic ServiceKind = 1
)

// AckPolicy says when an update is stable: delivered and answered.
type AckPolicy uint8

const (
	// AckMajority: once a majority of the voters persisted it (the default).
	AckMajority AckPolicy = 0
	// AckAll: once every voter of the view persisted it; a voter that
	// stops acking holds updates until a view change removes it.
	AckAll AckPolicy = 1
)

// ReadLevels is a set of read levels; the zero set allows every level.
type ReadLevels uint8

const (
	ReadAny ReadLevels = 1 << iota
	ReadSession
	ReadStrict
	// ReadEvery is every level.
	ReadEvery = ReadAny | ReadSession | ReadStrict
)

// Allows reports whether the set holds level (the zero set holds all).
func (r ReadLevels) Allows(level ReadLevels) bool { return r == 0 || r&level != 0 }

// MaxRetain bounds Service.Retain.
const MaxRetain = 1 << 20

// Key is a key, or a range bound, in bytewise order. In JSON it is a
// string when it is valid UTF-8 and {"hex": "..."} otherwise.
type Key []byte

// KeyRange is [Start, End) in bytewise order. An empty Start is the
// smallest key; an empty End means no upper bound.
type KeyRange struct {
	Start Key `json:"start,omitempty"`
	End   Key `json:"end,omitempty"`
}

// Clone is one member of a partition's group.
type Clone struct {
	Node NodeID `json:"node"`
	Role Role   `json:"role"`
	// Ready (learners only): the group reported that this learner holds
	// its state (groupcomm's LearnerReady), so it may be promoted.
	Ready bool `json:"ready,omitempty"`
	// Replaces (learners only): the voter this learner replaces when it
	// is promoted; zero for a clone that is added, not moved.
	Replaces NodeID `json:"replaces,omitempty"`
}

// PartRef names a partition: its service and its id within the service.
type PartRef struct {
	Service string `json:"service"`
	ID      int    `json:"id"`
}

func (r PartRef) String() string { return fmt.Sprintf("%s/%d", r.Service, r.ID) }

// Partition is one partition of a service and its clone group.
type Partition struct {
	Service string `json:"service"`
	ID      int    `json:"id"`
	// Range services: [Start, End) of keys; an empty End is unbounded.
	Start Key `json:"start,omitempty"`
	End   Key `json:"end,omitempty"`
	// Hash services: [SlotLo, SlotHi) of hash slots.
	SlotLo uint32 `json:"slot_lo"`
	SlotHi uint32 `json:"slot_hi"`
	// Group is the racs group id, unique in the cluster and never reused.
	// Incarnation counts re-creations of the group from nothing
	// (Reincarnate); a clone of an older incarnation is stale.
	Group       uint64 `json:"group"`
	Incarnation uint64 `json:"incarnation"`
	// Clones in rank order: every voter before any learner. Clones[0] is
	// a voter, the preferred coordinator and sequencer (groupcomm's rank
	// 0). At most one learner: one move in flight per partition.
	Clones []Clone `json:"clones"`
}

// Ref names the partition.
func (p *Partition) Ref() PartRef { return PartRef{Service: p.Service, ID: p.ID} }

// Sequencer is the preferred sequencer: the rank-0 voter.
func (p *Partition) Sequencer() NodeID {
	if len(p.Clones) == 0 {
		return 0
	}
	return p.Clones[0].Node
}

// Voters returns the voters, in rank order (a subslice: do not modify).
func (p *Partition) Voters() []Clone {
	return p.Clones[:p.numVoters()]
}

// Learner returns the partition's learner, if a move is in flight.
func (p *Partition) Learner() (Clone, bool) {
	for _, c := range p.Clones {
		if c.Role == Learner {
			return c, true
		}
	}
	return Clone{}, false
}

// Holds returns the clone on the node, if any.
func (p *Partition) Holds(n NodeID) (Clone, bool) {
	if i := p.cloneIndex(n); i >= 0 {
		return p.Clones[i], true
	}
	return Clone{}, false
}

func (p *Partition) numVoters() int {
	n := 0
	for n < len(p.Clones) && p.Clones[n].Role == Voter {
		n++
	}
	return n
}

func (p *Partition) cloneIndex(n NodeID) int {
	for i, c := range p.Clones {
		if c.Node == n {
			return i
		}
	}
	return -1
}

// Map is one version of the partition map. It is a value: nothing in a
// published Map is ever modified. Every change returns a new Map with
// Epoch+1 that shares the unchanged parts (copy-on-write), so readers may
// share a *Map across goroutines without locks — and must not modify it.
type Map struct {
	// Epoch numbers the versions; every change increments it.
	Epoch uint64 `json:"epoch"`
	// NextGroup is the next unused group id; ids are never reused.
	NextGroup uint64 `json:"next_group"`
	// Nodes sorted by ID; Services sorted by Name; Partitions sorted by
	// (Service, ID), so a service's partitions are contiguous and in key
	// order.
	Nodes      []Node      `json:"nodes"`
	Services   []Service   `json:"services"`
	Partitions []Partition `json:"partitions"`
}

// New returns the empty map at epoch 1. Group ids are handed out from
// firstGroup up (non-zero), so the caller can keep the ids below it for
// its own groups (the management group).
func New(firstGroup uint64) (*Map, error) {
	if firstGroup == 0 {
		return nil, fmt.Errorf("%w: first group id must be non-zero", ErrInvalidArgument)
	}
	return &Map{Epoch: 1, NextGroup: firstGroup}, nil
}

// Node returns the node with the id.
func (m *Map) Node(id NodeID) (*Node, error) {
	if i, ok := m.nodeIndex(id); ok {
		return &m.Nodes[i], nil
	}
	return nil, fmt.Errorf("%w %d", ErrUnknownNode, id)
}

// Service returns the service's definition.
func (m *Map) Service(name string) (*Service, error) {
	if i, ok := m.serviceIndex(name); ok {
		return &m.Services[i], nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
}

// ServicePartitions returns the service's partitions in key order (a
// subslice of m.Partitions: do not modify).
func (m *Map) ServicePartitions(name string) ([]Partition, error) {
	si, ok := m.serviceIndex(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	lo, hi, ok := m.partitionSpan(si)
	if !ok {
		return nil, fmt.Errorf("%w: partitions of %q are not where the service says", ErrInvalidMap, name)
	}
	return m.Partitions[lo:hi], nil
}

// Partition returns the partition named by ref.
func (m *Map) Partition(ref PartRef) (*Partition, error) {
	i, err := m.partIndex(ref)
	if err != nil {
		return nil, err
	}
	return &m.Partitions[i], nil
}

func (m *Map) partIndex(ref PartRef) (int, error) {
	si, ok := m.serviceIndex(ref.Service)
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownService, ref.Service)
	}
	lo, hi, ok := m.partitionSpan(si)
	if !ok {
		return 0, fmt.Errorf("%w: partitions of %q are not where the service says", ErrInvalidMap, ref.Service)
	}
	if ref.ID < 0 || ref.ID >= hi-lo {
		return 0, fmt.Errorf("%w %v: %q has partitions 0..%d", ErrUnknownPartition, ref, ref.Service, hi-lo-1)
	}
	return lo + ref.ID, nil
}

// NodesOffering returns the ids of the nodes that offer the service, in
// id order, whatever their state.
func (m *Map) NodesOffering(service string) []NodeID {
	var ids []NodeID
	for i := range m.Nodes {
		if m.Nodes[i].Offers(service) {
			ids = append(ids, m.Nodes[i].ID)
		}
	}
	return ids
}

func (m *Map) nodeIndex(id NodeID) (int, bool) {
	lo, hi := 0, len(m.Nodes)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.Nodes[mid].ID < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(m.Nodes) && m.Nodes[lo].ID == id
}

func (m *Map) serviceIndex(name string) (int, bool) {
	lo, hi := 0, len(m.Services)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.Services[mid].Name < name {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < len(m.Services) && m.Services[lo].Name == name
}

// partitionSpan finds the service's partitions [lo, hi) in m.Partitions:
// they follow those of the services before it (Validate's layout), so no
// index needs keeping in sync. With few services before it, adding their
// partition counts is fastest; past a handful, a binary search over the
// partitions keeps the cost O(log partitions). ok is false when the map
// is not shaped so, and readers of a bad map get an error, not a panic.
func (m *Map) partitionSpan(si int) (lo, hi int, ok bool) {
	s := &m.Services[si]
	if si <= 16 {
		for i := 0; i < si; i++ {
			if m.Services[i].Partitions < 0 {
				return 0, 0, false
			}
			lo += m.Services[i].Partitions
		}
	} else {
		l, h := 0, len(m.Partitions)
		for l < h {
			mid := int(uint(l+h) >> 1)
			if m.Partitions[mid].Service < s.Name {
				l = mid + 1
			} else {
				h = mid
			}
		}
		lo = l
	}
	n := s.Partitions
	if n <= 0 || lo < 0 || lo+n > len(m.Partitions) || lo+n < lo ||
		m.Partitions[lo].Service != s.Name || m.Partitions[lo+n-1].Service != s.Name {
		return 0, 0, false
	}
	return lo, lo + n, true
}
