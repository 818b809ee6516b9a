package mgmt

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// Query kinds.
const (
	// QueryMap asks for the current map. The reply is the map's epoch as a
	// uvarint, then its binary encoding (partitionmap MarshalBinary):
	// a reader that only wants to know whether it is behind reads the
	// first bytes. Before the bootstrap the reply is the epoch 0 alone.
	// DecodeMapReply reads it.
	QueryMap = "map"
	// QueryHistory asks for History(Since, Limit); the reply is the JSON
	// of the []Change.
	QueryHistory = "history"
)

const (
	queryVersion = 1
	maxQuerySize = 1024
)

// Query is a read of the management group's state.
type Query struct {
	Kind  string `json:"kind"`
	Since uint64 `json:"since,omitempty"` // history: changes after this epoch
	Limit int    `json:"limit,omitempty"` // history: at most this many (≤ 0: all kept)
}

// EncodeQuery encodes q for StateMachine.Query: a version byte, then JSON.
func EncodeQuery(q Query) ([]byte, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	b := append([]byte{queryVersion}, body...)
	if _, err := decodeQuery(b); err != nil {
		return nil, err
	}
	return b, nil
}

func decodeQuery(b []byte) (Query, error) {
	switch {
	case len(b) == 0:
		return Query{}, fmt.Errorf("%w: empty", ErrBadQuery)
	case len(b) > maxQuerySize:
		return Query{}, fmt.Errorf("%w: %d bytes, at most %d", ErrBadQuery, len(b), maxQuerySize)
	case b[0] != queryVersion:
		return Query{}, fmt.Errorf("%w: unknown version %d", ErrBadQuery, b[0])
	}
	var q Query
	if err := strictUnmarshal(b[1:], &q); err != nil {
		return Query{}, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	switch q.Kind {
	case QueryMap:
		if q.Since != 0 || q.Limit != 0 {
			return Query{}, fmt.Errorf("%w: a map query takes no since or limit", ErrBadQuery)
		}
	case QueryHistory:
	default:
		return Query{}, fmt.Errorf("%w: unknown kind %.64q", ErrBadQuery, q.Kind)
	}
	return q, nil
}

// Query answers an encoded Query (EncodeQuery). A malformed query is an
// error wrapping ErrBadQuery.
func (s *StateMachine) Query(query []byte) ([]byte, error) {
	q, err := decodeQuery(query)
	if err != nil {
		return nil, err
	}
	if q.Kind == QueryHistory {
		b, err := json.Marshal(s.History(q.Since, q.Limit))
		if err != nil {
			return nil, fmt.Errorf("mgmt: encoding the history: %w", err)
		}
		return b, nil
	}
	v := s.cur.Load()
	if v.m == nil {
		return appendEpoch(nil, 0), nil
	}
	enc, err := v.encoded()
	if err != nil {
		return nil, fmt.Errorf("mgmt: encoding the map: %w", err)
	}
	// A fresh slice: the cached encoding is shared and must stay intact.
	return append(appendEpoch(make([]byte, 0, len(enc)+binary.MaxVarintLen64), v.m.Epoch), enc...), nil
}

// appendEpoch writes the leading epoch of a map reply.
func appendEpoch(b []byte, epoch uint64) []byte { return binary.AppendUvarint(b, epoch) }

// DecodeMapReply decodes the reply to a "map" query: the map, or, before
// the bootstrap, nil and an error wrapping ErrNotBootstrapped. Malformed
// input, or a leading epoch that is not the map's, gives an error wrapping
// ErrBadReply.
func DecodeMapReply(b []byte) (*partitionmap.Map, error) {
	epoch, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: map reply without an epoch", ErrBadReply)
	}
	if epoch == 0 {
		if n != len(b) {
			return nil, fmt.Errorf("%w: map reply at epoch 0 with a map", ErrBadReply)
		}
		return nil, fmt.Errorf("%w: the management group has no map yet", ErrNotBootstrapped)
	}
	m := new(partitionmap.Map)
	if err := m.UnmarshalBinary(b[n:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	if m.Epoch != epoch {
		return nil, fmt.Errorf("%w: map reply says epoch %d, its map is at %d", ErrBadReply, epoch, m.Epoch)
	}
	return m, nil
}

// DecodeHistoryReply decodes the reply to a "history" query.
func DecodeHistoryReply(b []byte) ([]Change, error) {
	var out []Change
	if err := strictUnmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%w: history reply: %v", ErrBadReply, err)
	}
	return out, nil
}
