package partitionmap

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// HashSlot is the hash slot of a key in a service of the given number of
// slots: xxhash64(key) mod slots. It is fixed for the life of a service
// (slots never change), so a key's slot never moves; only the partition
// that owns the slot may. slots must be non-zero.
func HashSlot(key []byte, slots uint32) uint32 {
	return uint32(xxhash.Sum64(key) % uint64(slots))
}

// Locate returns the partition that owns the key in the service. It does
// not allocate on success and costs O(log services + log partitions) —
// two binary searches and a hash: the front end calls it on every request. The result points into the map:
// read it, never modify it.
//
// On a map that fails Validate it returns an error or a wrong partition,
// never panics.
func (m *Map) Locate(service string, key []byte) (*Partition, error) {
	si, ok := m.serviceIndex(service)
	if !ok || IsSystem(service) {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, service)
	}
	lo, hi, ok := m.partitionSpan(si)
	if !ok {
		return nil, fmt.Errorf("%w: partitions of %q are not where the service says", ErrInvalidMap, service)
	}
	parts := m.Partitions[lo:hi]
	svc := &m.Services[si]
	switch svc.Partitioning {
	case Hash:
		if svc.Slots == 0 {
			return nil, fmt.Errorf("%w: hash service %q has no slots", ErrInvalidMap, service)
		}
		return locateSlot(parts, service, uint32(xxhash.Sum64(key)%uint64(svc.Slots)))
	case Range:
		return locateKey(parts, service, key)
	}
	return nil, fmt.Errorf("%w: service %q has partitioning %v", ErrInvalidMap, service, svc.Partitioning)
}

// LocateString is Locate for a string key, also without allocating: the
// key's bytes are only read, so they are handed to Locate as they are.
func (m *Map) LocateString(service string, key string) (*Partition, error) {
	return m.Locate(service, unsafe.Slice(unsafe.StringData(key), len(key)))
}

// locateSlot: the first partition whose SlotHi is above the slot.
func locateSlot(parts []Partition, service string, slot uint32) (*Partition, error) {
	i, j := 0, len(parts)
	for i < j {
		mid := int(uint(i+j) >> 1)
		if parts[mid].SlotHi <= slot {
			i = mid + 1
		} else {
			j = mid
		}
	}
	if i == len(parts) || parts[i].SlotLo > slot {
		return nil, fmt.Errorf("%w: no partition of %q owns slot %d", ErrInvalidMap, service, slot)
	}
	return &parts[i], nil
}

// locateKey: the last partition whose Start is at or below the key.
func locateKey(parts []Partition, service string, key []byte) (*Partition, error) {
	i, j := 0, len(parts)
	for i < j {
		mid := int(uint(i+j) >> 1)
		if bytes.Compare(parts[mid].Start, key) <= 0 {
			i = mid + 1
		} else {
			j = mid
		}
	}
	if i == 0 || (len(parts[i-1].End) > 0 && bytes.Compare(key, parts[i-1].End) >= 0) {
		return nil, fmt.Errorf("%w: no partition of %q covers the key", ErrInvalidMap, service)
	}
	return &parts[i-1], nil
}
