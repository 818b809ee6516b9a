// Package kv is the built-in replicated map service every node ships
// (docs/design.md §6): put, get, delete, compare-and-set and append, as a
// replica.StateMachine. Updates and queries are small binary commands so
// that they cost little to replicate.
package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
)

// Op names an update or query.
type Op byte

const (
	OpPut    Op = 'P'
	OpDelete Op = 'D'
	OpCAS    Op = 'C'
	OpAppend Op = 'A'
	OpGet    Op = 'G'
	OpList   Op = 'L'
)

// Result statuses (the first byte of every result).
const (
	StatusOK       byte = 0
	StatusNotFound byte = 1
	StatusCASFail  byte = 2
	StatusBadInput byte = 3
)

// ErrBadCommand: a malformed command.
var ErrBadCommand = errors.New("kv: malformed command")

// Encode builds a command: op, key, then up to two values.
func Encode(op Op, key string, vals ...[]byte) []byte {
	b := []byte{byte(op)}
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// Decode reads a command Encode built (a subscriber of the kv service's
// update stream reads each update with it).
func Decode(b []byte) (op Op, key string, vals [][]byte, err error) { return decode(b) }

func decode(b []byte) (op Op, key string, vals [][]byte, err error) {
	if len(b) < 1 {
		return 0, "", nil, ErrBadCommand
	}
	op, b = Op(b[0]), b[1:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, true
	}
	kb, ok := next()
	if !ok {
		return 0, "", nil, ErrBadCommand
	}
	for len(b) > 0 {
		v, ok := next()
		if !ok {
			return 0, "", nil, ErrBadCommand
		}
		vals = append(vals, v)
	}
	return op, string(kb), vals, nil
}

// Store is the replicated map. Apply runs on one goroutine; Query never
// runs at the same time as Apply (racs guarantees it).
type Store struct {
	vals  map[string][]byte
	lists map[string][][]byte
}

// New returns an empty store.
func New() *Store { return &Store{vals: map[string][]byte{}, lists: map[string][][]byte{}} }

// Apply applies one update; the result's first byte is a status.
func (s *Store) Apply(u []byte) []byte {
	op, key, vals, err := decode(u)
	if err != nil {
		return []byte{StatusBadInput}
	}
	switch {
	case op == OpPut && len(vals) == 1:
		s.vals[key] = bytes.Clone(vals[0])
		return []byte{StatusOK}
	case op == OpDelete && len(vals) == 0:
		if _, ok := s.vals[key]; !ok {
			if _, ok := s.lists[key]; !ok {
				return []byte{StatusNotFound}
			}
		}
		delete(s.vals, key)
		delete(s.lists, key)
		return []byte{StatusOK}
	case op == OpCAS && len(vals) == 2:
		cur, ok := s.vals[key]
		if !(ok && bytes.Equal(cur, vals[0]) || !ok && len(vals[0]) == 0) {
			return []byte{StatusCASFail}
		}
		s.vals[key] = bytes.Clone(vals[1])
		return []byte{StatusOK}
	case op == OpAppend && len(vals) == 1:
		s.lists[key] = append(s.lists[key], bytes.Clone(vals[0]))
		return binary.AppendUvarint([]byte{StatusOK}, uint64(len(s.lists[key])))
	}
	return []byte{StatusBadInput}
}

// Query answers OpGet (the value) and OpList (the elements, length-prefixed).
func (s *Store) Query(q []byte) ([]byte, error) {
	op, key, _, err := decode(q)
	if err != nil {
		return nil, err
	}
	switch op {
	case OpGet:
		v, ok := s.vals[key]
		if !ok {
			return []byte{StatusNotFound}, nil
		}
		return append([]byte{StatusOK}, v...), nil
	case OpList:
		l, ok := s.lists[key]
		if !ok {
			return []byte{StatusNotFound}, nil
		}
		b := []byte{StatusOK}
		for _, e := range l {
			b = binary.AppendUvarint(b, uint64(len(e)))
			b = append(b, e...)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: query op %q", ErrBadCommand, op)
}

// DecodeList splits an OpList result's elements.
func DecodeList(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, ErrBadCommand
		}
		out = append(out, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	return out, nil
}

// Snapshot writes the whole map deterministically (keys sorted).
func (s *Store) Snapshot(w io.Writer) error {
	var b []byte
	keys := make([]string, 0, len(s.vals))
	for k := range s.vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendBytes(b, []byte(k))
		b = appendBytes(b, s.vals[k])
	}
	lkeys := make([]string, 0, len(s.lists))
	for k := range s.lists {
		lkeys = append(lkeys, k)
	}
	slices.Sort(lkeys)
	b = binary.AppendUvarint(b, uint64(len(lkeys)))
	for _, k := range lkeys {
		b = appendBytes(b, []byte(k))
		b = binary.AppendUvarint(b, uint64(len(s.lists[k])))
		for _, e := range s.lists[k] {
			b = appendBytes(b, e)
		}
	}
	_, err := w.Write(b)
	return err
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// Restore replaces the map with a snapshot's.
func (s *Store) Restore(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	bad := fmt.Errorf("%w: snapshot", ErrBadCommand)
	num := func() (uint64, bool) {
		n, k := binary.Uvarint(data)
		if k <= 0 {
			return 0, false
		}
		data = data[k:]
		return n, true
	}
	str := func() ([]byte, bool) {
		n, ok := num()
		if !ok || n > uint64(len(data)) {
			return nil, false
		}
		v := bytes.Clone(data[:n])
		data = data[n:]
		return v, true
	}
	vals, lists := map[string][]byte{}, map[string][][]byte{}
	n, ok := num()
	if !ok || n > uint64(len(data)) {
		return bad
	}
	for range n {
		k, ok1 := str()
		v, ok2 := str()
		if !ok1 || !ok2 {
			return bad
		}
		vals[string(k)] = v
	}
	n, ok = num()
	if !ok || n > uint64(len(data)) {
		return bad
	}
	for range n {
		k, ok := str()
		if !ok {
			return bad
		}
		m, ok := num()
		if !ok || m > uint64(len(data)) {
			return bad
		}
		l := make([][]byte, 0, m)
		for range m {
			e, ok := str()
			if !ok {
				return bad
			}
			l = append(l, e)
		}
		lists[string(k)] = l
	}
	if len(data) != 0 {
		return bad
	}
	s.vals, s.lists = vals, lists
	return nil
}
