package racs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
			c := newTCluster(t, 3, racs.Disk)
			// Replace the victim's store by one that crashes at its 15th write.
			c.kill(tc.node)
			victim := &crashStore{at: 15, after: tc.after}
			c.wrap = func(id groupcomm.NodeID, s replica.Store) replica.Store {
				if id == tc.node {
					victim.Store = s
					return victim
				}
				return s
			}
			c.start(tc.node, nil)
			c.wrap = nil

			var mu sync.Mutex
			acked := map[string]bool{}
			var wg sync.WaitGroup
			for id := groupcomm.NodeID(1); id <= 3; id++ {
				if id == tc.node {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					// At least 40 updates each, and on until the victim crashed:
					// under load its writes batch more, so it may need more.
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
			// The victim stops at its crash point; detect it, then restart it
			// from its bbolt file while the others go on.
			deadline := time.Now().Add(10 * time.Second)
			for c.group(tc.node).Info().Status != groupcomm.StatusRemoved && !stopped(c.group(tc.node)) {
				if time.Now().After(deadline) {
					t.Fatal("victim never reached its crash point")
				}
				time.Sleep(2 * time.Millisecond)
			}
			c.kill(tc.node)
			for id := groupcomm.NodeID(1); id <= 3; id++ {
				if id != tc.node {
					c.hosts[id].SetSuspected(tc.node, true)
				}
			}
			time.Sleep(50 * time.Millisecond)
			c.start(tc.node, nil)
			for id := groupcomm.NodeID(1); id <= 3; id++ {
				if id != tc.node {
					c.hosts[id].SetSuspected(tc.node, false)
				}
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
		})
	}
}

func stopped(g *racs.Group) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := g.Query(ctx, []byte("len"), racs.Session, racs.Token{})
	return errors.Is(err, racs.ErrStopped)
}
