package partitionmap

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func hashMap(tb testing.TB, parts int) *Map {
	m := buildMap(tb, nodes(5, 1, "kv"))
	svc := Service{Name: "kv", Partitioning: Hash, Slots: 16384, Partitions: parts, Clones: 3, Durability: Disk}
	return ok(tb)(m.DefineService(m.Epoch, svc, nil))
}

func rangeMap(tb testing.TB, parts int) *Map {
	m := buildMap(tb, nodes(5, 1, "catalog"))
	var bounds []string
	for i := 1; i < parts; i++ {
		bounds = append(bounds, fmt.Sprintf("key%08d", i*1000))
	}
	svc := Service{Name: "catalog", Partitioning: Range, Clones: 3, Durability: Memory}
	return ok(tb)(m.DefineService(m.Epoch, svc, SplitRanges(bounds...)))
}

func TestLocateHash(t *testing.T) {
	m := hashMap(t, 37)
	hits := map[int]int{}
	for i := 0; i < 20000; i++ {
		key := fmt.Appendf(nil, "user-%d", i)
		p, err := m.Locate("kv", key)
		if err != nil {
			t.Fatal(err)
		}
		slot := HashSlot(key, 16384)
		if slot < p.SlotLo || slot >= p.SlotHi {
			t.Fatalf("key %q slot %d located in %v [%d, %d)", key, slot, p.Ref(), p.SlotLo, p.SlotHi)
		}
		q, err := m.LocateString("kv", string(key))
		if err != nil || q != p {
			t.Fatalf("LocateString(%q) = %v, %v; Locate gave %v", key, q, err, p.Ref())
		}
		hits[p.ID]++
	}
	// Slots are spread evenly and xxhash spreads keys: every partition
	// gets its share, within a generous margin.
	for id := 0; id < 37; id++ {
		if h := hits[id]; h < 20000/37/2 || h > 20000/37*2 {
			t.Errorf("partition %d got %d of 20000 keys", id, h)
		}
	}
}

func TestLocateRange(t *testing.T) {
	m := buildMap(t, nodes(3, 1, "catalog"))
	// The catalog's "A-C, D-F, G-Z": [, D), [D, G), [G, ∞).
	m = ok(t)(m.DefineService(m.Epoch, Service{Name: "catalog", Partitioning: Range, Clones: 3, Durability: Disk}, SplitRanges("D", "G")))
	for key, want := range map[string]int{"": 0, "A": 0, "Cz\xff": 0, "D": 1, "Dog": 1, "F\xff\xff": 1, "G": 2, "Zebra": 2, "\xff\xff": 2} {
		p, err := m.Locate("catalog", []byte(key))
		if err != nil || p.ID != want {
			t.Errorf("Locate(%q) = %v, %v; want partition %d", key, p, err, want)
		}
		q, err := m.LocateString("catalog", key)
		if err != nil || q.ID != want {
			t.Errorf("LocateString(%q) = %v, %v; want partition %d", key, q, err, want)
		}
	}
	// Against a linear scan, on many keys around the bounds.
	m = rangeMap(t, 50)
	parts := must2(m.ServicePartitions("catalog"))
	for i := 0; i < 60000; i += 7 {
		key := fmt.Appendf(nil, "key%08d", i)
		if i%3 == 0 {
			key = key[:len(key)-1]
		}
		want := -1
		for _, p := range parts {
			if bytes.Compare(p.Start, key) <= 0 && (len(p.End) == 0 || bytes.Compare(key, p.End) < 0) {
				want = p.ID
			}
		}
		p, err := m.Locate("catalog", key)
		if err != nil || p.ID != want {
			t.Fatalf("Locate(%q) = %v, %v; the scan says %d", key, p, err, want)
		}
	}
}

func must2[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLocateErrors(t *testing.T) {
	m := hashMap(t, 4)
	if _, err := m.Locate("nope", []byte("k")); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("unknown service: %v", err)
	}
	if _, err := m.LocateString("nope", "k"); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("unknown service: %v", err)
	}
	// Broken maps give errors, never panics.
	broken := []func(m *Map){
		func(m *Map) { m.Partitions = nil },
		func(m *Map) { m.Partitions = m.Partitions[:2] },
		func(m *Map) { m.Services[0].Slots = 0 },
		func(m *Map) { m.Services[0].Partitioning = 9 },
		func(m *Map) { m.Services[0].Partitions = 0 },
		func(m *Map) { m.Partitions[3].SlotHi = 10 },
	}
	for i, f := range broken {
		b := *m
		b.Services = append([]Service(nil), m.Services...)
		b.Partitions = append([]Partition(nil), m.Partitions...)
		f(&b)
		for k := 0; k < 200; k++ {
			key := fmt.Sprint(k)
			if p, err := b.Locate("kv", []byte(key)); err == nil && p == nil {
				t.Fatalf("case %d: nil partition without error", i)
			}
			_, _ = b.LocateString("kv", key)
		}
		if err := b.Validate(); err == nil {
			t.Errorf("case %d: Validate accepts the broken map", i)
		}
	}
}

func TestLocateDoesNotAllocate(t *testing.T) {
	hm, rm := hashMap(t, 1000), rangeMap(t, 1000)
	key := []byte("key123456")
	skey := "key123456"
	for name, f := range map[string]func(){
		"hash":        func() { _, _ = hm.Locate("kv", key) },
		"hash string": func() { _, _ = hm.LocateString("kv", skey) },
		"range":       func() { _, _ = rm.Locate("catalog", key) },
		"range str":   func() { _, _ = rm.LocateString("catalog", skey) },
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocations per Locate", name, a)
		}
	}
}

func BenchmarkLocate(b *testing.B) {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key%06d", i*97)
	}
	for _, c := range []struct {
		name, svc string
		m         *Map
	}{
		{"hash-10000", "kv", hashMap(b, 10000)},
		{"range-10000", "catalog", rangeMap(b, 10000)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := c.m.Locate(c.svc, keys[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// With many services, a late one's partitions are found by binary search.
func TestLocateManyServices(t *testing.T) {
	m := buildMap(t, nodes(3, 1))
	var names []string
	for i := 0; i < 40; i++ {
		names = append(names, fmt.Sprintf("s%02d", i))
	}
	for i := range m.Nodes {
		m = ok(t)(m.SetNodeServices(m.Epoch, m.Nodes[i].ID, names))
	}
	for i, name := range names {
		m = ok(t)(m.DefineService(m.Epoch, hashService(name, 1+i%7, 1), nil))
	}
	for _, name := range names {
		for k := 0; k < 50; k++ {
			key := fmt.Appendf(nil, "%d", k)
			p, err := m.Locate(name, key)
			if err != nil || p.Service != name {
				t.Fatalf("Locate(%s, %s) = %v, %v", name, key, p, err)
			}
			slot := HashSlot(key, must2(m.Service(name)).Slots)
			if slot < p.SlotLo || slot >= p.SlotHi {
				t.Fatalf("wrong partition")
			}
		}
	}
}
