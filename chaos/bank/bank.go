// Package bank is a tiny replicated bank, defined as any user of raps
// would define a service: one partition holding a fixed set of accounts,
// a transfer update that moves money between two of them (refused when
// the source lacks the funds) and a query that reads every balance. The
// fault suite (package chaos) runs it under faults: whatever happens, the
// total never changes and no balance goes negative, on every clone.
package bank

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Name is the service's name; Key is the key every call routes by (the
// service has one partition).
const (
	Name = "bank"
	Key  = "bank"
)

// Commands and results.
const (
	opTransfer byte = 'T'
	opRead     byte = 'R'

	// StatusOK: the transfer was applied.
	StatusOK byte = 0
	// StatusInsufficient: the source account lacks the funds; nothing moved.
	StatusInsufficient byte = 1
	// StatusBadInput: a malformed command.
	StatusBadInput byte = 2
)

// ErrBadCommand: a malformed query or snapshot.
var ErrBadCommand = errors.New("bank: malformed command")

// Service is the bank as a raps.Service: one partition of `clones` clones
// whose accounts each start with `initial`.
func Service(accounts int, initial uint64, clones int, dur partitionmap.Durability) raps.Service {
	return raps.Service{Name: Name, Partitioning: partitionmap.Hash, Partitions: 1, Clones: clones, Durability: dur,
		New: func(partitionmap.PartRef) replica.StateMachine { return New(accounts, initial) }}
}

// Transfer encodes a transfer of amount from one account to another.
func Transfer(from, to int, amount uint64) []byte {
	b := []byte{opTransfer}
	b = binary.AppendUvarint(b, uint64(from))
	b = binary.AppendUvarint(b, uint64(to))
	return binary.AppendUvarint(b, amount)
}

// Read encodes the query of every balance.
func Read() []byte { return []byte{opRead} }

// DecodeBalances decodes a Read answer.
func DecodeBalances(b []byte) ([]uint64, error) {
	var out []uint64
	for len(b) > 0 {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, ErrBadCommand
		}
		out = append(out, v)
		b = b[k:]
	}
	return out, nil
}

// State is the bank's replica.StateMachine.
type State struct{ bal []uint64 }

// New returns a bank of n accounts holding initial each.
func New(n int, initial uint64) *State {
	s := &State{bal: make([]uint64, n)}
	for i := range s.bal {
		s.bal[i] = initial
	}
	return s
}

// Apply applies a transfer.
func (s *State) Apply(u []byte) []byte {
	if len(u) < 1 || u[0] != opTransfer {
		return []byte{StatusBadInput}
	}
	b := u[1:]
	var v [3]uint64
	for i := range v {
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return []byte{StatusBadInput}
		}
		v[i], b = x, b[k:]
	}
	from, to, amount := v[0], v[1], v[2]
	if len(b) != 0 || from >= uint64(len(s.bal)) || to >= uint64(len(s.bal)) || from == to {
		return []byte{StatusBadInput}
	}
	if s.bal[from] < amount {
		return []byte{StatusInsufficient}
	}
	s.bal[from] -= amount
	s.bal[to] += amount
	return []byte{StatusOK}
}

// Query answers Read.
func (s *State) Query(q []byte) ([]byte, error) {
	if len(q) != 1 || q[0] != opRead {
		return nil, fmt.Errorf("%w: query %x", ErrBadCommand, q)
	}
	var b []byte
	for _, v := range s.bal {
		b = binary.AppendUvarint(b, v)
	}
	return b, nil
}

// Snapshot writes the balances.
func (s *State) Snapshot(w io.Writer) error {
	b, _ := s.Query(Read())
	_, err := w.Write(b)
	return err
}

// Restore replaces the balances with a snapshot's.
func (s *State) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	bal, err := DecodeBalances(b)
	if err != nil {
		return err
	}
	s.bal = bal
	return nil
}
