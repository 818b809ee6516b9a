package replica

import (
	"fmt"
	"sync"
	"time"
)

// FaultyStore wraps a Store and fails or delays its writes, for crash
// tests. Writes are numbered from 1 in the order they enter Write; "the
// n-th write from now" counts from the call that arms the fault. Load,
// Groups and Close pass through. FaultyStore is safe for concurrent use;
// set the hook fields before the store is shared.
type FaultyStore struct {
	inner Store

	// BeforeWrite, if set, runs before write number n reaches the inner
	// store (after any delay). An error fails that write — nothing is
	// written — and is returned as is; unlike FailNthWrite it does not
	// fail later writes (the hook decides each time). A hook may block,
	// e.g. until the test has stopped the node.
	BeforeWrite func(n int, b *Batch) error
	// AfterWrite, if set, runs after write number n succeeded in the inner
	// store. An error is returned from Write although the batch is
	// durable: the process died "between persisted and acked".
	AfterWrite func(n int, b *Batch) error

	mu       sync.Mutex
	writes   int // Write calls so far
	failAt   int // the write that fails first; 0 when not armed
	dead     bool
	delays   map[int]time.Duration
	delayAll time.Duration
}

var _ Store = (*FaultyStore)(nil)

// NewFaulty wraps inner. It injects nothing until told to.
func NewFaulty(inner Store) *FaultyStore {
	return &FaultyStore{inner: inner, delays: make(map[int]time.Duration)}
}

// Inner returns the wrapped store.
func (f *FaultyStore) Inner() Store { return f.inner }

// FailNthWrite makes the n-th Write from now (n ≥ 1; 1 is the next one)
// fail with ErrInjected and write nothing; every later Write fails too,
// like a dead disk. n ≤ 0 disarms a fault that has not fired yet.
func (f *FaultyStore) FailNthWrite(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 {
		f.failAt = 0
		return
	}
	f.failAt = f.writes + n
}

// DelayNthWrite makes the n-th Write from now (n ≥ 1) sleep d before it
// writes.
func (f *FaultyStore) DelayNthWrite(n int, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n >= 1 {
		f.delays[f.writes+n] = d
	}
}

// DelayWrites makes every later Write sleep d before it writes (a slow
// disk); zero stops it.
func (f *FaultyStore) DelayWrites(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delayAll = d
}

// WriteDelay returns the delay DelayWrites set.
func (f *FaultyStore) WriteDelay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delayAll
}

// Writes returns the number of Write calls so far, failed ones included.
func (f *FaultyStore) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// Write injects the armed faults, then writes to the inner store.
func (f *FaultyStore) Write(b *Batch) error {
	f.mu.Lock()
	f.writes++
	n := f.writes
	if f.failAt > 0 && n >= f.failAt {
		f.dead = true
	}
	dead := f.dead
	delay := f.delayAll + f.delays[n]
	delete(f.delays, n)
	before, after := f.BeforeWrite, f.AfterWrite
	f.mu.Unlock()

	if delay > 0 {
		time.Sleep(delay)
	}
	if dead {
		return fmt.Errorf("replica: write %d: %w", n, ErrInjected)
	}
	if before != nil {
		if err := before(n, b); err != nil {
			return err
		}
	}
	if err := f.inner.Write(b); err != nil {
		return err
	}
	if after != nil {
		return after(n, b)
	}
	return nil
}

// Load passes through.
func (f *FaultyStore) Load(g GroupID) (GroupState, error) { return f.inner.Load(g) }

// Groups passes through.
func (f *FaultyStore) Groups() ([]GroupID, error) { return f.inner.Groups() }

// Close passes through.
func (f *FaultyStore) Close() error { return f.inner.Close() }
