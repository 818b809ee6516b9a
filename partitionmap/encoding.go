package partitionmap

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The binary encoding, version 2: what the management group replicates
// and persists, and what subscribers receive. All integers are uvarints
// (DeadSince's seconds a zig-zag varint); a string or key is its length
// then its bytes.
//
//	map       = version(1 byte = 1) epoch next_group
//	            count node* count service* partition*
//	node      = id zone addr state(1 byte) [seconds nanos if dead]
//	            count service_name*
//	service   = name partitioning(1) slots partitions clones durability(1)
//	            kind(1) acks(1) reads(1) retain            (version 2 only)
//	partition = (hash: width of its slot range | range: its end key, empty
//	            for the last) group incarnation count clone*
//	clone     = node flags(1: learner, ready, has replaces) [replaces]
//
// Partitions follow the services, each service's Partitions of them in
// id order, so a partition's service and id are implied. A partition's
// start is its predecessor's end, so gaps and overlaps cannot even be
// written. The decoder bounds every count by the bytes left, rejects
// truncation, unknown versions, flags or enum values, and trailing bytes,
// (it reads version 1, the encoding before service types, as services of
// the default type),
// and validates the result: it returns an error for any input, never
// panics, and allocates in proportion to the input.

const (
	encodingVersion = 2
	// oldestVersion is the oldest encoding this build reads.
	oldestVersion = 1
	// MaxEncodedSize bounds the input UnmarshalBinary accepts.
	MaxEncodedSize = 256 << 20
	// Smallest encodings, to bound counts by the bytes left.
	minNodeSize      = 5 // id, zone, addr, state, service count
	minServiceSize   = 7 // version 1 (version 2 adds 4)
	minPartitionSize = 5 // width/end, group, incarnation, count, one clone's node…
	minCloneSize     = 2
)

const (
	cloneLearner  = 1 << 0
	cloneReady    = 1 << 1
	cloneReplaces = 1 << 2
)

// MarshalBinary implements encoding.BinaryMarshaler. It refuses a map that
// fails Validate.
func (m *Map) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(nil)
}

// AppendBinary implements encoding.BinaryAppender.
func (m *Map) AppendBinary(b []byte) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b = append(b, encodingVersion)
	b = binary.AppendUvarint(b, m.Epoch)
	b = binary.AppendUvarint(b, m.NextGroup)
	b = binary.AppendUvarint(b, uint64(len(m.Nodes)))
	for i := range m.Nodes {
		n := &m.Nodes[i]
		b = binary.AppendUvarint(b, uint64(n.ID))
		b = appendString(b, n.Zone)
		b = appendString(b, n.Addr)
		b = append(b, byte(n.State))
		if n.State == NodeDead {
			b = binary.AppendVarint(b, n.DeadSince.Unix())
			b = binary.AppendUvarint(b, uint64(n.DeadSince.Nanosecond()))
		}
		b = binary.AppendUvarint(b, uint64(len(n.Services)))
		for _, s := range n.Services {
			b = appendString(b, s)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(m.Services)))
	for i := range m.Services {
		s := &m.Services[i]
		b = appendString(b, s.Name)
		b = append(b, byte(s.Partitioning))
		b = binary.AppendUvarint(b, uint64(s.Slots))
		b = binary.AppendUvarint(b, uint64(s.Partitions))
		b = binary.AppendUvarint(b, uint64(s.Clones))
		b = append(b, byte(s.Durability), byte(s.Kind), byte(s.Acks), byte(s.Reads))
		b = binary.AppendUvarint(b, uint64(s.Retain))
	}
	for pi := range m.Partitions {
		p := &m.Partitions[pi]
		if p.SlotHi != 0 { // a hash partition (Validate: SlotHi > SlotLo)
			b = binary.AppendUvarint(b, uint64(p.SlotHi-p.SlotLo))
		} else {
			b = appendString(b, string(p.End))
		}
		b = binary.AppendUvarint(b, p.Group)
		b = binary.AppendUvarint(b, p.Incarnation)
		b = binary.AppendUvarint(b, uint64(len(p.Clones)))
		for _, c := range p.Clones {
			b = binary.AppendUvarint(b, uint64(c.Node))
			var f byte
			if c.Role == Learner {
				f |= cloneLearner
			}
			if c.Ready {
				f |= cloneReady
			}
			if c.Replaces != 0 {
				f |= cloneReplaces
			}
			b = append(b, f)
			if c.Replaces != 0 {
				b = binary.AppendUvarint(b, uint64(c.Replaces))
			}
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler. On error *m is
// unchanged; on success it is a valid map that shares no memory with data.
func (m *Map) UnmarshalBinary(data []byte) error {
	if len(data) > MaxEncodedSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrDecode, len(data), MaxEncodedSize)
	}
	d := decoder{b: data}
	out, err := d.decodeMap()
	if err != nil {
		return err
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("%w: the decoded map is invalid: %v", ErrDecode, err)
	}
	*m = *out
	return nil
}

type decoder struct {
	b       []byte
	off     int
	version byte // of the map being read
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrDecode, d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		return 0, d.fail("%s: truncated or overlong varint", what)
	}
	d.off += n
	return v, nil
}

func (d *decoder) varint(what string) (int64, error) {
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		return 0, d.fail("%s: truncated or overlong varint", what)
	}
	d.off += n
	return v, nil
}

// bounded reads a uvarint that must not exceed max.
func (d *decoder) bounded(what string, max uint64) (uint64, error) {
	v, err := d.uvarint(what)
	if err == nil && v > max {
		return 0, d.fail("%s %d exceeds %d", what, v, max)
	}
	return v, err
}

// count reads an element count, bounded by the bytes left (each element
// takes at least minSize), so a lie cannot make the decoder allocate.
func (d *decoder) count(what string, minSize int) (int, error) {
	v, err := d.uvarint(what)
	if err != nil {
		return 0, err
	}
	if v > uint64(d.left()/minSize) {
		return 0, d.fail("%d %s cannot fit in the %d bytes left", v, what, d.left())
	}
	return int(v), nil
}

func (d *decoder) byte1(what string) (byte, error) {
	if d.left() < 1 {
		return 0, d.fail("%s: truncated", what)
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *decoder) bytes(what string, max int) ([]byte, error) {
	n, err := d.uvarint(what + " length")
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, d.fail("%s of %d bytes, at most %d", what, n, max)
	}
	if n > uint64(d.left()) {
		return nil, d.fail("%s of %d bytes: truncated", what, n)
	}
	if n == 0 {
		return nil, nil
	}
	s := d.b[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return s, nil
}

func (d *decoder) str(what string, max int) (string, error) {
	b, err := d.bytes(what, max)
	return string(b), err
}

func (d *decoder) decodeMap() (*Map, error) {
	v, err := d.byte1("version")
	if err != nil {
		return nil, err
	}
	if v < oldestVersion || v > encodingVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads versions %d to %d", ErrDecode, v, oldestVersion, encodingVersion)
	}
	d.version = v
	m := &Map{}
	if m.Epoch, err = d.uvarint("epoch"); err != nil {
		return nil, err
	}
	if m.NextGroup, err = d.uvarint("next group"); err != nil {
		return nil, err
	}
	nn, err := d.count("nodes", minNodeSize)
	if err != nil {
		return nil, err
	}
	if nn > 0 {
		m.Nodes = make([]Node, nn)
	}
	for i := range m.Nodes {
		if err := d.node(&m.Nodes[i]); err != nil {
			return nil, err
		}
	}
	ns, err := d.count("services", minServiceSize)
	if err != nil {
		return nil, err
	}
	if ns > 0 {
		m.Services = make([]Service, ns)
	}
	total := 0
	for i := range m.Services {
		if err := d.service(&m.Services[i]); err != nil {
			return nil, err
		}
		total += m.Services[i].Partitions
	}
	if total > d.left()/minPartitionSize {
		return nil, d.fail("%d partitions cannot fit in the %d bytes left", total, d.left())
	}
	if total > 0 {
		m.Partitions = make([]Partition, 0, total)
	}
	for si := range m.Services {
		s := &m.Services[si]
		var start Key
		lo := uint32(0)
		for id := 0; id < s.Partitions; id++ {
			p := Partition{Service: s.Name, ID: id}
			if s.Partitioning == Hash {
				w, err := d.bounded("slot range width", uint64(s.Slots-lo))
				if err != nil {
					return nil, err
				}
				p.SlotLo, p.SlotHi = lo, lo+uint32(w)
				lo = p.SlotHi
			} else {
				end, err := d.bytes("range end", MaxKeyLen)
				if err != nil {
					return nil, err
				}
				p.Start, p.End = cloneKey(start), cloneKey(end)
				start = p.End
			}
			if err := d.partitionRest(&p); err != nil {
				return nil, err
			}
			m.Partitions = append(m.Partitions, p)
		}
	}
	if d.left() != 0 {
		return nil, d.fail("%d trailing bytes", d.left())
	}
	return m, nil
}

func (d *decoder) node(n *Node) error {
	id, err := d.uvarint("node id")
	if err != nil {
		return err
	}
	n.ID = NodeID(id)
	if n.Zone, err = d.str("zone", MaxZoneLen); err != nil {
		return err
	}
	if n.Addr, err = d.str("addr", MaxAddrLen); err != nil {
		return err
	}
	st, err := d.byte1("node state")
	if err != nil {
		return err
	}
	n.State = NodeState(st)
	if !n.State.valid() {
		return d.fail("node %d: unknown state %d", id, st)
	}
	if n.State == NodeDead {
		sec, err := d.varint("dead since")
		if err != nil {
			return err
		}
		nsec, err := d.bounded("dead since nanoseconds", 999_999_999)
		if err != nil {
			return err
		}
		n.DeadSince = time.Unix(sec, int64(nsec)).UTC()
	}
	k, err := d.count("node services", 1)
	if err != nil {
		return err
	}
	if k > MaxNodeServices {
		return d.fail("node %d offers %d services, at most %d", id, k, MaxNodeServices)
	}
	if k > 0 {
		n.Services = make([]string, k)
	}
	for i := range n.Services {
		if n.Services[i], err = d.str("service name", MaxNameLen); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) service(s *Service) error {
	var err error
	if s.Name, err = d.str("service name", MaxNameLen); err != nil {
		return err
	}
	k, err := d.byte1("partitioning")
	if err != nil {
		return err
	}
	s.Partitioning = PartitionKind(k)
	if !s.Partitioning.valid() {
		return d.fail("service %q: unknown partitioning %d", s.Name, k)
	}
	slots, err := d.bounded("slots", MaxSlots)
	if err != nil {
		return err
	}
	s.Slots = uint32(slots)
	parts, err := d.bounded("partitions", MaxPartitions)
	if err != nil {
		return err
	}
	s.Partitions = int(parts)
	clones, err := d.bounded("clones", MaxClones)
	if err != nil {
		return err
	}
	s.Clones = int(clones)
	dur, err := d.byte1("durability")
	if err != nil {
		return err
	}
	s.Durability = Durability(dur)
	if !s.Durability.valid() {
		return d.fail("service %q: unknown durability %d", s.Name, dur)
	}
	if d.version >= 2 {
		var t [3]byte
		for i, what := range []string{"kind", "acks", "reads"} {
			if t[i], err = d.byte1(what); err != nil {
				return err
			}
		}
		s.Kind, s.Acks, s.Reads = ServiceKind(t[0]), AckPolicy(t[1]), ReadLevels(t[2])
		retain, err := d.bounded("retain", MaxRetain)
		if err != nil {
			return err
		}
		s.Retain = uint32(retain)
		if err := checkType(s); err != nil {
			return d.fail("service %q: %v", s.Name, err)
		}
	}
	if s.Partitioning == Hash && s.Slots < uint32(s.Partitions) {
		return d.fail("service %q: %d slots for %d partitions", s.Name, s.Slots, s.Partitions)
	}
	return nil
}

func (d *decoder) partitionRest(p *Partition) error {
	var err error
	if p.Group, err = d.uvarint("group"); err != nil {
		return err
	}
	if p.Incarnation, err = d.uvarint("incarnation"); err != nil {
		return err
	}
	n, err := d.count("clones", minCloneSize)
	if err != nil {
		return err
	}
	if n == 0 || n > MaxClones {
		return d.fail("partition %v: %d clones, want 1..%d", p.Ref(), n, MaxClones)
	}
	p.Clones = make([]Clone, n)
	for i := range p.Clones {
		c := &p.Clones[i]
		id, err := d.uvarint("clone node")
		if err != nil {
			return err
		}
		c.Node = NodeID(id)
		f, err := d.byte1("clone flags")
		if err != nil {
			return err
		}
		if f&^(cloneLearner|cloneReady|cloneReplaces) != 0 {
			return d.fail("partition %v: unknown clone flags %#x", p.Ref(), f)
		}
		if f&cloneLearner != 0 {
			c.Role = Learner
		}
		c.Ready = f&cloneReady != 0
		if f&cloneReplaces != 0 {
			r, err := d.uvarint("replaces")
			if err != nil {
				return err
			}
			if r == 0 {
				return d.fail("partition %v: replaces node 0", p.Ref())
			}
			c.Replaces = NodeID(r)
		}
	}
	return nil
}
