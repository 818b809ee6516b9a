package racs_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
)

// listSM is the test service: a list of applied updates. Apply returns the
// list's new length; Query "len" returns it, anything else the list.
type listSM struct {
	mu    sync.Mutex // guards against misuse: Apply and Query never overlap
	items []string
}

func (s *listSM) Apply(u []byte) []byte {
	if !s.mu.TryLock() {
		panic("Apply ran concurrently with Query")
	}
	defer s.mu.Unlock()
	s.items = append(s.items, string(u))
	return []byte(fmt.Sprint(len(s.items)))
}

func (s *listSM) Query(q []byte) ([]byte, error) {
	if string(q) == "len" {
		return []byte(fmt.Sprint(len(s.items))), nil
	}
	return []byte(strings.Join(s.items, ",")), nil
}

func (s *listSM) Snapshot(w io.Writer) error {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(s.items)))
	for _, it := range s.items {
		b = binary.AppendUvarint(b, uint64(len(it)))
		b = append(b, it...)
	}
	_, err := w.Write(b)
	return err
}

func (s *listSM) Restore(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	br := bytes.NewReader(data)
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	items := make([]string, 0, min(n, 1<<20))
	for range n {
		l, err := binary.ReadUvarint(br)
		if err != nil || l > uint64(br.Len()) {
			return fmt.Errorf("bad snapshot")
		}
		b := make([]byte, l)
		io.ReadFull(br, b)
		items = append(items, string(b))
	}
	s.items = items
	return nil
}
