package partitionmap

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"
)

// JSON, for the admin API: field names in snake_case, enums by name
// ("active", "learner", "hash", "disk", "add_learner", …), keys as
// strings. The encoding is lossless: DecodeJSON(json.Marshal(m)) equals m.

// MarshalJSON writes a key as a JSON string when it is valid UTF-8 (JSON
// strings carry any valid UTF-8 exactly) and as {"hex": "..."} otherwise.
func (k Key) MarshalJSON() ([]byte, error) {
	if utf8.Valid(k) {
		return json.Marshal(string(k))
	}
	return json.Marshal(struct {
		Hex string `json:"hex"`
	}{hex.EncodeToString(k)})
}

// UnmarshalJSON reads either form MarshalJSON writes.
func (k *Key) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var h struct {
			Hex string `json:"hex"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			return fmt.Errorf("%w: key: %v", ErrInvalidArgument, err)
		}
		v, err := hex.DecodeString(h.Hex)
		if err != nil {
			return fmt.Errorf("%w: key: bad hex: %v", ErrInvalidArgument, err)
		}
		*k = cloneKey(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: key: want a string or {\"hex\": ...}: %v", ErrInvalidArgument, err)
	}
	*k = cloneKey(Key(s))
	return nil
}

// partitionJSON shows a hash partition's slots and a range partition's
// keys, not both.
type partitionJSON struct {
	Service     string  `json:"service"`
	ID          int     `json:"id"`
	Start       Key     `json:"start,omitempty"`
	End         Key     `json:"end,omitempty"`
	SlotLo      *uint32 `json:"slot_lo,omitempty"`
	SlotHi      *uint32 `json:"slot_hi,omitempty"`
	Group       uint64  `json:"group"`
	Incarnation uint64  `json:"incarnation"`
	Clones      []Clone `json:"clones"`
}

// MarshalJSON implements json.Marshaler.
func (p Partition) MarshalJSON() ([]byte, error) {
	j := partitionJSON{Service: p.Service, ID: p.ID, Start: p.Start, End: p.End,
		Group: p.Group, Incarnation: p.Incarnation, Clones: p.Clones}
	if p.SlotHi != 0 || p.SlotLo != 0 {
		j.SlotLo, j.SlotHi = &p.SlotLo, &p.SlotHi
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Partition) UnmarshalJSON(b []byte) error {
	var j partitionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Partition{Service: j.Service, ID: j.ID, Start: j.Start, End: j.End,
		Group: j.Group, Incarnation: j.Incarnation, Clones: j.Clones}
	if j.SlotLo != nil {
		p.SlotLo = *j.SlotLo
	}
	if j.SlotHi != nil {
		p.SlotHi = *j.SlotHi
	}
	return nil
}

type mapJSON Map // without the methods, so encoding/json does the fields

// MarshalJSON writes empty lists as [] rather than null (json.Marshal of
// a *Map; a Map value marshals with the plain field encoding).
func (m *Map) MarshalJSON() ([]byte, error) {
	j := mapJSON(*m)
	if j.Nodes == nil {
		j.Nodes = []Node{}
	}
	if j.Services == nil {
		j.Services = []Service{}
	}
	if j.Partitions == nil {
		j.Partitions = []Partition{}
	}
	return json.Marshal(&j)
}

// DecodeJSON reads a map written by json.Marshal: unknown fields and
// trailing data are errors, and the map must pass Validate.
func DecodeJSON(data []byte) (*Map, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j mapJSON
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: json: %v", ErrDecode, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: json: trailing data", ErrDecode)
	}
	m := Map(j)
	// The binary decoder and the changes keep empty lists nil; so does
	// this, so that equal maps compare equal.
	if len(m.Nodes) == 0 {
		m.Nodes = nil
	}
	for i := range m.Nodes {
		if len(m.Nodes[i].Services) == 0 {
			m.Nodes[i].Services = nil
		}
		m.Nodes[i].DeadSince = normTime(m.Nodes[i].DeadSince)
	}
	if len(m.Services) == 0 {
		m.Services = nil
	}
	if len(m.Partitions) == 0 {
		m.Partitions = nil
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: json: %v", ErrDecode, err)
	}
	return &m, nil
}
