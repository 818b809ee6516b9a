package bank

import (
	"bytes"
	"testing"
)

func TestTransferKeepsTheTotal(t *testing.T) {
	s := New(3, 10)
	if r := s.Apply(Transfer(0, 1, 7)); r[0] != StatusOK {
		t.Fatalf("transfer: %v", r)
	}
	if r := s.Apply(Transfer(0, 2, 4)); r[0] != StatusInsufficient {
		t.Fatalf("overdraft: %v", r)
	}
	if r := s.Apply(Transfer(0, 0, 1)); r[0] != StatusBadInput {
		t.Fatalf("self transfer: %v", r)
	}
	q, _ := s.Query(Read())
	bal, err := DecodeBalances(q)
	if err != nil || len(bal) != 3 || bal[0] != 3 || bal[1] != 17 || bal[2] != 10 {
		t.Fatalf("balances %v %v", bal, err)
	}
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r := New(1, 0)
	if err := r.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	q2, _ := r.Query(Read())
	if !bytes.Equal(q, q2) {
		t.Fatalf("restored %x, want %x", q2, q)
	}
}
