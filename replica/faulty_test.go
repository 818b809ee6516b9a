package replica

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestFaultyFailNthWrite(t *testing.T) {
	f := NewFaulty(NewMemStore())
	f.FailNthWrite(3)
	for i := range uint64(2) {
		if err := f.Write(batch(GroupWrite{Group: 1, Entries: ents(1, i+1, i+1)})); err != nil {
			t.Fatalf("write %d: %v", i+1, err)
		}
	}
	want := map[GroupID]GroupState{1: {Log: ents(1, 1, 2)}}
	for n := 3; n <= 5; n++ {
		err := f.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 3, 3)}, GroupWrite{Group: 2}))
		if !errors.Is(err, ErrInjected) {
			t.Fatalf("write %d: %v, want ErrInjected", n, err)
		}
		checkStore(t, f, want, nil)
	}
	// Arming again does not revive a dead disk.
	f.FailNthWrite(0)
	if err := f.Write(batch()); !errors.Is(err, ErrInjected) {
		t.Fatalf("write after the failure: %v, want ErrInjected", err)
	}
}

func TestFaultyFailNthWriteCountsFromNow(t *testing.T) {
	f := NewFaulty(NewMemStore())
	for range 3 {
		if err := f.Write(batch()); err != nil {
			t.Fatal(err)
		}
	}
	f.FailNthWrite(1)
	if err := f.Write(batch()); !errors.Is(err, ErrInjected) {
		t.Fatalf("the next write after FailNthWrite(1): %v", err)
	}

	g := NewFaulty(NewMemStore())
	g.FailNthWrite(2)
	g.FailNthWrite(0) // disarmed before it fired
	for range 4 {
		if err := g.Write(batch()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFaultyDelayNthWrite(t *testing.T) {
	f := NewFaulty(NewMemStore())
	const d = 60 * time.Millisecond
	f.DelayNthWrite(2, d)
	took := func() time.Duration {
		start := time.Now()
		if err := f.Write(batch(GroupWrite{Group: 1})); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	took() // 1
	if dt := took(); dt < d {
		t.Fatalf("write 2 took %v, want ≥ %v", dt, d)
	}
	if dt := took(); dt >= d {
		t.Fatalf("write 3 took %v: only the second was to be delayed", dt)
	}
	f.DelayWrites(d)
	if dt := took(); dt < d {
		t.Fatalf("write 4 took %v with DelayWrites", dt)
	}
	f.DelayWrites(0)
	if dt := took(); dt >= d {
		t.Fatalf("write 5 took %v after DelayWrites(0)", dt)
	}
}

func TestFaultyHooks(t *testing.T) {
	mem := NewMemStore()
	f := NewFaulty(mem)
	errStop := errors.New("process stopped")
	var seen []int
	f.BeforeWrite = func(n int, b *Batch) error {
		seen = append(seen, n)
		if n == 2 {
			return errStop // stopped before persisting
		}
		return nil
	}
	f.AfterWrite = func(n int, b *Batch) error {
		if n == 3 {
			return errStop // persisted, not acked
		}
		return nil
	}
	if err := f.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 1, 1)})); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 2, 2)})); !errors.Is(err, errStop) {
		t.Fatalf("write 2: %v", err)
	}
	checkStore(t, mem, map[GroupID]GroupState{1: {Log: ents(1, 1, 1)}}, nil)
	if err := f.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 2, 2)})); !errors.Is(err, errStop) {
		t.Fatalf("write 3: %v", err)
	}
	checkStore(t, mem, map[GroupID]GroupState{1: {Log: ents(1, 1, 2)}}, nil)
	// A hook error fails only its own write.
	if err := f.Write(batch(GroupWrite{Group: 1, Entries: ents(1, 3, 3)})); err != nil {
		t.Fatal(err)
	}
	checkStore(t, mem, map[GroupID]GroupState{1: {Log: ents(1, 1, 3)}}, nil)
	if len(seen) != 4 || seen[0] != 1 || seen[3] != 4 {
		t.Fatalf("BeforeWrite saw writes %v", seen)
	}
}

// TestFaultyBlockingHook stops a write "in flight", the way a crash test
// holds a node between persisting and acknowledging.
func TestFaultyBlockingHook(t *testing.T) {
	mem := NewMemStore()
	f := NewFaulty(mem)
	entered, release := make(chan struct{}), make(chan struct{})
	f.AfterWrite = func(n int, b *Batch) error {
		close(entered)
		<-release
		return errors.New("crashed")
	}
	done := make(chan error)
	go func() { done <- f.Write(batch(GroupWrite{Group: 1, HardState: hsp(1, 1)})) }()
	<-entered
	// Durable although not acknowledged.
	checkStore(t, f, map[GroupID]GroupState{1: {HardState: hsp(1, 1)}}, nil)
	close(release)
	if err := <-done; err == nil {
		t.Fatal("the crashed write was acknowledged")
	}
}

func TestFaultyConcurrent(t *testing.T) {
	f := NewFaulty(NewMemStore())
	f.FailNthWrite(50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for w := range 4 {
		wg.Go(func() {
			for i := range uint64(30) {
				err := f.Write(batch(GroupWrite{Group: GroupID(w), Entries: ents(1, i+1, i+1)}))
				if err != nil {
					if !errors.Is(err, ErrInjected) {
						t.Error(err)
					}
					mu.Lock()
					failed++
					mu.Unlock()
				}
				if _, err := f.Load(GroupID(w)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if f.Writes() != 120 || failed != 120-49 {
		t.Fatalf("%d writes, %d failed; want 120 and 71", f.Writes(), failed)
	}
}
