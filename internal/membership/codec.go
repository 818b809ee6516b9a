package membership

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// Wire formats. All integers are unsigned varints; nothing here is
// msgpack, so a node's metadata is about 10 bytes plus its address and
// zone, and a load message about 20 bytes.
//
//	meta (memberlist node metadata, ≤ memberlist.MetaMaxSize):
//	  version=1 | flags | node id | epoch | len(addr) addr | len(zone) zone
//	load message (memberlist user broadcast):
//	  kind=1 | node id | version | float64 bits (8 bytes, big endian)
//	load state (push/pull LocalState):
//	  kind=2 | count | count × (node id | version | float64 bits)
const (
	metaVersion  = 1
	metaLeaving  = 1 << 0 // flag: the node is leaving (Leave was called)
	metaFrontEnd = 1 << 1 // flag: a front end (routes, hosts no clone)
	msgLoad      = 1
	msgLoadState = 2
)

// nodeMeta is the decoded node metadata.
type nodeMeta struct {
	ID      groupcomm.NodeID
	Epoch   uint64
	Leaving bool
	Static
}

func (m nodeMeta) encode() []byte {
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+len(m.Addr)+len(m.Zone))
	var flags byte
	if m.Leaving {
		flags |= metaLeaving
	}
	if m.FrontEnd {
		flags |= metaFrontEnd
	}
	b = append(b, metaVersion, flags)
	b = binary.AppendUvarint(b, uint64(m.ID))
	b = binary.AppendUvarint(b, m.Epoch)
	b = binary.AppendUvarint(b, uint64(len(m.Addr)))
	b = append(b, m.Addr...)
	b = binary.AppendUvarint(b, uint64(len(m.Zone)))
	b = append(b, m.Zone...)
	return b
}

func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	if len(b) < 2 || b[0] != metaVersion {
		return m, fmt.Errorf("%w: meta version or length", ErrBadMeta)
	}
	m.Leaving = b[1]&metaLeaving != 0
	m.FrontEnd = b[1]&metaFrontEnd != 0
	r := reader{b: b[2:]}
	m.ID = groupcomm.NodeID(r.uvarint())
	m.Epoch = r.uvarint()
	m.Addr = r.str()
	m.Zone = r.str()
	if r.err != nil || len(r.b) != 0 {
		return nodeMeta{}, fmt.Errorf("%w: meta body", ErrBadMeta)
	}
	if m.ID == 0 {
		return nodeMeta{}, fmt.Errorf("%w: meta without node id", ErrBadMeta)
	}
	return m, nil
}

// loadEntry is one node's last gossiped load. Version orders the entries
// of one node: the sender's wall clock in nanoseconds, forced to grow, so
// a restarted node's loads supersede its previous life's.
type loadEntry struct {
	Version uint64
	Load    float64
}

func appendLoad(b []byte, id groupcomm.NodeID, e loadEntry) []byte {
	b = binary.AppendUvarint(b, uint64(id))
	b = binary.AppendUvarint(b, e.Version)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(e.Load))
}

func encodeLoadMsg(id groupcomm.NodeID, e loadEntry) []byte {
	return appendLoad([]byte{msgLoad}, id, e)
}

func encodeLoadState(loads map[groupcomm.NodeID]loadEntry) []byte {
	b := []byte{msgLoadState}
	b = binary.AppendUvarint(b, uint64(len(loads)))
	for id, e := range loads {
		b = appendLoad(b, id, e)
	}
	return b
}

// maxLoadState bounds the entries of a push/pull state we accept.
const maxLoadState = 1 << 16

// decodeLoads decodes a load message or a load state and calls fn for
// each entry. Nothing is applied from a malformed buffer.
func decodeLoads(b []byte, fn func(groupcomm.NodeID, loadEntry)) (kind byte, err error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty message", ErrBadMeta)
	}
	kind = b[0]
	r := reader{b: b[1:]}
	n := uint64(1)
	switch kind {
	case msgLoad:
	case msgLoadState:
		n = r.uvarint()
		if n > maxLoadState {
			return kind, fmt.Errorf("%w: %d load entries", ErrBadMeta, n)
		}
	default:
		return kind, fmt.Errorf("%w: message kind %d", ErrBadMeta, kind)
	}
	type item struct {
		id groupcomm.NodeID
		e  loadEntry
	}
	items := make([]item, 0, min(n, uint64(len(b)/10+1)))
	for range n {
		id := groupcomm.NodeID(r.uvarint())
		e := loadEntry{Version: r.uvarint()}
		e.Load = math.Float64frombits(r.u64())
		if r.err != nil {
			break
		}
		if id == 0 || math.IsNaN(e.Load) || math.IsInf(e.Load, 0) {
			return kind, fmt.Errorf("%w: load entry", ErrBadMeta)
		}
		items = append(items, item{id, e})
	}
	if r.err != nil || len(r.b) != 0 {
		return kind, fmt.Errorf("%w: load body", ErrBadMeta)
	}
	for _, it := range items {
		fn(it.id, it.e)
	}
	return kind, nil
}

// reader decodes varints and strings; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrBadMeta
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = ErrBadMeta
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = ErrBadMeta
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
