package partitionmap

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Validate checks every invariant of the map. A map made by New and this
// package's changes, or decoded by UnmarshalBinary or DecodeJSON, is
// always valid; Validate is for maps from anywhere else, and every change
// runs it on its result as a last line of defence.
//
// The invariants:
//   - Epoch and NextGroup are non-zero.
//   - Nodes are sorted by non-zero, distinct ids; each has a known state,
//     DeadSince set iff it is dead (years 1970–9999), a zone and an
//     address of valid UTF-8 within the limits, and a sorted, duplicate-free
//     list of well-formed service names.
//   - Services are sorted by distinct, well-formed names; each has a known
//     partitioning and durability, 1..MaxPartitions partitions, a Hash
//     service Partitions ≤ Slots ≤ MaxSlots slots (a Range service none),
//     and 1 ≤ Clones ≤ the nodes that offer it (and ≤ MaxClones).
//   - Partitions are exactly each service's ids 0..Partitions-1, sorted by
//     (service, id). A Hash service's slot ranges cover [0, Slots) in
//     order with no gap or overlap; a Range service's key ranges cover the
//     whole key space in order with no gap or overlap (the first starts at
//     the empty key, each ends where the next starts, the last is
//     unbounded) and every range is non-empty.
//   - Group ids are distinct and in [1, NextGroup); incarnations ≥ 1.
//   - Each partition has 1..MaxClones clones on distinct known nodes that
//     offer its service: voters first (so Clones[0] is a voter), then at
//     most one learner. Only a learner has Ready or Replaces set, and its
//     Replaces, if set, is a voter of the same partition.
func (m *Map) Validate() error {
	if m == nil {
		return fmt.Errorf("%w: nil map", ErrInvalidMap)
	}
	if m.Epoch == 0 {
		return fmt.Errorf("%w: epoch 0", ErrInvalidMap)
	}
	if m.NextGroup == 0 {
		return fmt.Errorf("%w: next group id 0", ErrInvalidMap)
	}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if i > 0 && m.Nodes[i-1].ID >= n.ID {
			return fmt.Errorf("%w: nodes not sorted by distinct ids (%d then %d)", ErrInvalidMap, m.Nodes[i-1].ID, n.ID)
		}
		if err := checkNode(n); err != nil {
			return fmt.Errorf("%w: node %d: %v", ErrInvalidMap, n.ID, err)
		}
	}
	for i := range m.Services {
		s := &m.Services[i]
		if i > 0 && m.Services[i-1].Name >= s.Name {
			return fmt.Errorf("%w: services not sorted by distinct names (%q then %q)", ErrInvalidMap, m.Services[i-1].Name, s.Name)
		}
		if err := checkService(s); err != nil {
			return fmt.Errorf("%w: service %q: %v", ErrInvalidMap, s.Name, err)
		}
		if offering := len(m.NodesOffering(s.Name)); s.Clones > offering {
			return fmt.Errorf("%w: service %q wants %d clones but %d nodes offer it", ErrInvalidMap, s.Name, s.Clones, offering)
		}
	}
	groups := make(map[uint64]struct{}, len(m.Partitions))
	at := 0
	for si := range m.Services {
		s := &m.Services[si]
		if at+s.Partitions > len(m.Partitions) {
			return fmt.Errorf("%w: service %q has %d partitions, the map lists %d", ErrInvalidMap, s.Name, s.Partitions, len(m.Partitions)-at)
		}
		parts := m.Partitions[at : at+s.Partitions]
		for id := range parts {
			p := &parts[id]
			if p.Service != s.Name || p.ID != id {
				return fmt.Errorf("%w: expected partition %s/%d, found %s/%d", ErrInvalidMap, s.Name, id, p.Service, p.ID)
			}
			if err := m.checkPartition(s, parts, id); err != nil {
				return fmt.Errorf("%w: partition %v: %v", ErrInvalidMap, p.Ref(), err)
			}
			if _, dup := groups[p.Group]; dup {
				return fmt.Errorf("%w: partition %v: group id %d used twice", ErrInvalidMap, p.Ref(), p.Group)
			}
			groups[p.Group] = struct{}{}
		}
		at += s.Partitions
	}
	if at != len(m.Partitions) {
		p := &m.Partitions[at]
		return fmt.Errorf("%w: partition %s/%d belongs to no service in its place", ErrInvalidMap, p.Service, p.ID)
	}
	return nil
}

func (m *Map) checkPartition(s *Service, parts []Partition, id int) error {
	p := &parts[id]
	last := id == len(parts)-1
	switch s.Partitioning {
	case Hash:
		if p.Start != nil || p.End != nil {
			return errors.New("a hash partition has key bounds")
		}
		lo := uint32(0)
		if id > 0 {
			lo = parts[id-1].SlotHi
		}
		if p.SlotLo != lo {
			return fmt.Errorf("slots start at %d, want %d (gap or overlap)", p.SlotLo, lo)
		}
		if p.SlotHi <= p.SlotLo {
			return fmt.Errorf("empty slot range [%d, %d)", p.SlotLo, p.SlotHi)
		}
		if last && p.SlotHi != s.Slots {
			return fmt.Errorf("slots end at %d, the service has %d", p.SlotHi, s.Slots)
		}
	case Range:
		if p.SlotLo != 0 || p.SlotHi != 0 {
			return errors.New("a range partition has hash slots")
		}
		var want Key
		if id > 0 {
			want = parts[id-1].End
		}
		if !bytes.Equal(p.Start, want) {
			return fmt.Errorf("starts at %q, want %q (gap or overlap)", p.Start, want)
		}
		if len(p.Start) > MaxKeyLen || len(p.End) > MaxKeyLen {
			return fmt.Errorf("a bound is longer than %d bytes", MaxKeyLen)
		}
		switch {
		case last && len(p.End) != 0:
			return fmt.Errorf("the last range ends at %q, not unbounded", p.End)
		case !last && len(p.End) == 0:
			return errors.New("an unbounded range is not the last")
		case !last && bytes.Compare(p.Start, p.End) >= 0:
			return fmt.Errorf("empty range [%q, %q)", p.Start, p.End)
		}
	}
	if p.Group == 0 || p.Group >= m.NextGroup {
		return fmt.Errorf("group id %d not in [1, %d)", p.Group, m.NextGroup)
	}
	if p.Incarnation == 0 {
		return errors.New("incarnation 0")
	}
	return m.checkClones(s.Name, p.Clones)
}

func (m *Map) checkClones(service string, clones []Clone) error {
	if len(clones) == 0 || len(clones) > MaxClones {
		return fmt.Errorf("%d clones, want 1..%d", len(clones), MaxClones)
	}
	if clones[0].Role != Voter {
		return errors.New("rank 0 is not a voter")
	}
	learners := 0
	for i, c := range clones {
		if !c.Role.valid() {
			return fmt.Errorf("clone on node %d: unknown role %d", c.Node, c.Role)
		}
		ni, ok := m.nodeIndex(c.Node)
		if !ok {
			return fmt.Errorf("clone on unknown node %d", c.Node)
		}
		if !m.Nodes[ni].Offers(service) {
			return fmt.Errorf("clone on node %d, which does not offer %q", c.Node, service)
		}
		for _, d := range clones[:i] {
			if d.Node == c.Node {
				return fmt.Errorf("two clones on node %d", c.Node)
			}
		}
		switch c.Role {
		case Voter:
			if learners > 0 {
				return fmt.Errorf("voter on node %d ranked after a learner", c.Node)
			}
			if c.Ready || c.Replaces != 0 {
				return fmt.Errorf("voter on node %d has learner fields set", c.Node)
			}
		case Learner:
			learners++
			if learners > 1 {
				return errors.New("more than one learner (one move at a time)")
			}
			if c.Replaces != 0 {
				r := -1
				for j, d := range clones {
					if d.Node == c.Replaces && d.Role == Voter {
						r = j
					}
				}
				if r < 0 {
					return fmt.Errorf("learner on node %d replaces node %d, which holds no voter", c.Node, c.Replaces)
				}
			}
		}
	}
	return nil
}

func checkNode(n *Node) error {
	switch {
	case n.ID == 0:
		return errors.New("id 0")
	case !n.State.valid():
		return fmt.Errorf("unknown state %d", n.State)
	case n.State == NodeDead && n.DeadSince.IsZero():
		return errors.New("dead without a dead-since time")
	case n.State != NodeDead && !n.DeadSince.IsZero():
		return fmt.Errorf("%v with a dead-since time", n.State)
	case !n.DeadSince.IsZero() && (n.DeadSince.Year() < 1970 || n.DeadSince.Year() > 9999):
		return fmt.Errorf("dead-since year %d out of 1970..9999", n.DeadSince.Year())
	case len(n.Zone) > MaxZoneLen || !utf8.ValidString(n.Zone):
		return fmt.Errorf("zone is not UTF-8 of at most %d bytes", MaxZoneLen)
	case len(n.Addr) > MaxAddrLen || !utf8.ValidString(n.Addr):
		return fmt.Errorf("address is not UTF-8 of at most %d bytes", MaxAddrLen)
	case len(n.Services) > MaxNodeServices:
		return fmt.Errorf("offers %d services, at most %d", len(n.Services), MaxNodeServices)
	}
	for i, s := range n.Services {
		if err := checkName(s); err != nil {
			return fmt.Errorf("offers %v", err)
		}
		if i > 0 && n.Services[i-1] >= s {
			return fmt.Errorf("services not sorted and distinct (%q then %q)", n.Services[i-1], s)
		}
	}
	return nil
}

// checkName: service names appear in URLs (/v1/services/{svc}/...) and
// logs, so they are short and plain.
func checkName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return fmt.Errorf("service name %q: want 1..%d bytes", s, MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return fmt.Errorf("service name %q: want letters, digits, '-', '_' or '.', starting with a letter or digit", s)
		}
	}
	return nil
}

func checkService(s *Service) error {
	if IsSystem(s.Name) {
		if s.Partitioning != Hash || s.Slots != 1 || s.Partitions != 1 {
			return errors.New("the management service has one partition of one hash slot")
		}
	} else if err := checkName(s.Name); err != nil {
		return err
	}
	if !s.Partitioning.valid() {
		return fmt.Errorf("partitioning must be hash or range, not %v", s.Partitioning)
	}
	if !s.Durability.valid() {
		return fmt.Errorf("durability must be memory or disk, not %v", s.Durability)
	}
	if s.Partitions < 1 || s.Partitions > MaxPartitions {
		return fmt.Errorf("%d partitions, want 1..%d", s.Partitions, MaxPartitions)
	}
	switch s.Partitioning {
	case Hash:
		if s.Slots < uint32(s.Partitions) || s.Slots > MaxSlots {
			return fmt.Errorf("%d hash slots for %d partitions, want %d..%d", s.Slots, s.Partitions, s.Partitions, MaxSlots)
		}
	case Range:
		if s.Slots != 0 {
			return errors.New("a range service has hash slots")
		}
	}
	if s.Clones < 1 || s.Clones > MaxClones {
		return fmt.Errorf("%d clones per partition, want 1..%d", s.Clones, MaxClones)
	}
	return checkType(s)
}

// checkType refuses a service type the engine cannot give.
func checkType(s *Service) error {
	switch {
	case !s.Kind.valid():
		return fmt.Errorf("kind must be service or topic, not %v", s.Kind)
	case !s.Acks.valid():
		return fmt.Errorf("acks must be majority or all, not %v", s.Acks)
	case !s.Reads.valid():
		return fmt.Errorf("reads must be a set of any, session and strict, not %v", s.Reads)
	case s.Retain > MaxRetain:
		return fmt.Errorf("retain %d: a clone keeps at most %d updates for subscribers", s.Retain, MaxRetain)
	case s.Kind == KindTopic && s.Durability != Memory:
		return errors.New("a topic is a memory service (its history is the ring of recent updates); " +
			"for a durable stream, define an ordinary disk service with retain > 0")
	case s.Kind == KindTopic && s.Retain == 0:
		return errors.New("a topic keeps its recent updates for subscribers: retain must be > 0")
	}
	return nil
}

// checkRanges: a range service's key ranges, as given to DefineService,
// must tile the key space: sorted, each ending where the next starts,
// from the empty key to unbounded.
func checkRanges(rs []KeyRange) error {
	if len(rs) == 0 {
		return fmt.Errorf("%w: a range service needs at least one range", ErrBadRanges)
	}
	if len(rs) > MaxPartitions {
		return fmt.Errorf("%w: %d ranges, at most %d", ErrBadRanges, len(rs), MaxPartitions)
	}
	if len(rs[0].Start) != 0 {
		return fmt.Errorf("%w: the first range starts at %q: keys below it have no partition (it must start at the empty key)", ErrBadRanges, rs[0].Start)
	}
	for i, r := range rs {
		if len(r.Start) > MaxKeyLen || len(r.End) > MaxKeyLen {
			return fmt.Errorf("%w: range %d: a bound is longer than %d bytes", ErrBadRanges, i, MaxKeyLen)
		}
		last := i == len(rs)-1
		if len(r.End) == 0 {
			if !last {
				return fmt.Errorf("%w: range %d [%q, ∞) is unbounded but not the last: it overlaps every later range", ErrBadRanges, i, r.Start)
			}
			continue
		}
		if bytes.Compare(r.Start, r.End) >= 0 {
			return fmt.Errorf("%w: range %d [%q, %q) is empty or reversed", ErrBadRanges, i, r.Start, r.End)
		}
		if last {
			return fmt.Errorf("%w: the last range ends at %q: keys from it on have no partition (it must be unbounded)", ErrBadRanges, r.End)
		}
		switch next := rs[i+1].Start; bytes.Compare(r.End, next) {
		case -1:
			return fmt.Errorf("%w: gap between range %d ending at %q and range %d starting at %q", ErrBadRanges, i, r.End, i+1, next)
		case 1:
			return fmt.Errorf("%w: range %d ending at %q overlaps range %d starting at %q", ErrBadRanges, i, r.End, i+1, next)
		}
	}
	return nil
}
