package mgmt

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// TestConcurrentReaders: readers call Map, Cluster, History and Query
// while Apply runs (run it with -race). Each reader sees epochs only
// grow, consecutive history epochs, and a history never ahead of the map
// it reads next. The callback sees every change in order.
func TestConcurrentReaders(t *testing.T) {
	s := New()
	var seen []uint64
	s.SetOnChange(func(m *partitionmap.Map) { seen = append(seen, m.Epoch) })
	const readers, changes = 4, 400
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			fail := func(msg string) { errs <- msg }
			for reads := 0; !done.Load() || reads < 10; reads++ {
				h := s.History(last, 50)
				m := s.Map()
				if m == nil {
					if len(h) > 0 {
						fail("history before a map")
						return
					}
					continue
				}
				if s.Cluster() != testCluster {
					fail("a map without its cluster id")
					return
				}
				if m.Epoch < last {
					fail("the epoch went back")
					return
				}
				for i, c := range h {
					if c.Epoch != last+uint64(i)+1 {
						fail("history epochs not consecutive")
						return
					}
					if c.Epoch > m.Epoch {
						fail("the history is ahead of the map read after it")
						return
					}
				}
				if len(h) > 0 {
					last = h[len(h)-1].Epoch
				}
				if q, err := s.Query([]byte("\x01{\"kind\":\"map\"}")); err != nil {
					fail(err.Error())
					return
				} else if qm, err := DecodeMapReply(q); err != nil || qm.Epoch < m.Epoch {
					fail("the map query went back")
					return
				}
			}
		}()
	}
	mustApply(t, s, bootstrapCmd(testNodes(5, 3, "kv")))
	mustApply(t, s, Command{Op: OpDefineService, Service: hashService("kv", 16, 3)})
	states := []partitionmap.NodeState{partitionmap.NodeDraining, partitionmap.NodeActive}
	for i := range changes {
		mustApply(t, s, Command{Op: OpSetNodeState, NodeID: partitionmap.NodeID(1 + i%5), State: states[(i/5)%2]})
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if len(seen) != changes+2 {
		t.Fatalf("%d notifications for %d changes", len(seen), changes+2)
	}
	for i, e := range seen {
		if e != uint64(i+1) {
			t.Fatalf("notification %d at epoch %d", i, e)
		}
	}
}
