package racs_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// crashStore stops "the process" at a chosen write: before the write
// (between ordered and persisted: nothing of the batch reaches the disk)
// or after it (between persisted and acked: the batch is on disk but the
// node sends nothing more). Either way the node's group stops at once,
// as if the process died there.
type crashStore struct {
	replica.Store
	at    int64 // crash at this write (1-based); 0 never
	after bool  // crash after the write landed
	n     atomic.Int64
	dead  atomic.Bool
}

var errCrashed = errors.New("process crashed here")

func (s *crashStore) Write(b *replica.Batch) error {
	if s.dead.Load() {
		return errCrashed
	}
	n := s.n.Add(1)
	if n == s.at && !s.after {
		s.dead.Store(true)
		return errCrashed
	}
	if err := s.Store.Write(b); err != nil {
		return err
	}
	if n == s.at && s.after {
		s.dead.Store(true)
		return errCrashed
	}
	return nil
}

func TestCrashBetweenPersistAndAckLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		node  groupcomm.NodeID
		after bool
	}{
		{"follower-before-persist", 2, false},
		{"follower-after-persist", 2, true},
		{"sequencer-before-persist", 1, false},
		{"sequencer-after-persist", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				testCrashBetweenPersistAndAck(t, tc.node, tc.after)
			})
		})
	}
}

func testCrashBetweenPersistAndAck(t *testing.T, node groupcomm.NodeID, after bool) {
	// newTCluster returns once the group was created (durably) everywhere:
	// the victim restarts from its store.
	c := newTCluster(t, 3, racs.Disk)
	// Replace the victim's store by one that crashes at its 15th write.
	c.kill(node)
	victim := &crashStore{at: 15, after: after}
	c.wrap = func(id groupcomm.NodeID, s replica.Store) replica.Store {
		if id == node {
			victim.Store = s
			return victim
		}
		return s
	}
	if st := c.start(node, nil).Info().Status; st != groupcomm.StatusRecovering {
		t.Fatalf("victim came back %v, want RECOVERING from its store", st)
	}
	c.wrap = nil
	others := []groupcomm.NodeID{}
	for id := groupcomm.NodeID(1); id <= 3; id++ {
		if id != node {
			others = append(others, id)
		}
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	var running atomic.Int32
	var wg sync.WaitGroup
	for _, id := range others {
		wg.Add(1)
		running.Add(1)
		go func() {
			defer wg.Done()
			defer c.notify()
			defer running.Add(-1)
			// At least 40 updates each, and on until the victim crashed:
			// its writes may batch more, so it may need more.
			for i := 0; i < 40 || !victim.dead.Load() && i < 5000; i++ {
				u := fmt.Sprintf("n%d-%d", id, i)
				if _, err := c.submit(id, u, ""); err == nil {
					mu.Lock()
					acked[u] = true
					mu.Unlock()
				}
			}
		}()
	}
	// The victim stops at its crash point; then restart it from its bbolt
	// file once the others went on without it.
	c.waitUntil("victim reached its crash point", func() bool {
		return victim.dead.Load() && c.group(node).Stopped()
	})
	c.kill(node)
	for _, id := range others {
		c.suspect(id, node, true)
	}
	applied := func() uint64 {
		return min(c.group(others[0]).Applied().Seq, c.group(others[1]).Applied().Seq)
	}
	from := applied()
	c.waitUntil("the others applied more updates without the victim", func() bool {
		return applied() >= from+5 || running.Load() == 0
	})
	c.start(node, nil)
	for _, id := range others {
		c.suspect(id, node, false)
	}
	wg.Wait()
	list := c.waitConverged()
	have := map[string]int{}
	for _, u := range strings.Split(list, ",") {
		have[u]++
	}
	for u := range acked {
		if have[u] == 0 {
			t.Errorf("acknowledged update %s lost", u)
		}
	}
	for u, n := range have {
		if n > 1 {
			t.Errorf("update %s applied %d times", u, n)
		}
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	t.Logf("%d updates acknowledged, %d applied", len(acked), len(have))
}
