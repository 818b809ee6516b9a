package racs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// A clone moves: a fourth node joins as a learner and is promoted, then
// the first (the sequencer) leaves with RemoveGroup. The group carries on
// without it, keeps every update, and the host forgets the group and its
// stored state, so the clone can come back later as a new incarnation.
func TestRemoveGroupMovesAClone(t *testing.T) {
	for _, dur := range []racs.Durability{racs.Disk, racs.Memory} {
		t.Run(dur.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newTCluster(t, 3, dur)
				for i := range 20 {
					if _, err := c.submit(1, fmt.Sprint("a", i), ""); err != nil {
						t.Fatal(err)
					}
				}
				c.start(4, []groupcomm.NodeID{1, 2, 3})
				c.waitUntil("node 4 a voter", func() bool {
					in := c.group(4).Info()
					return in.Status == groupcomm.StatusNormal && in.Role == groupcomm.Voter && !in.Restoring
				})
				ctx := context.Background()
				if err := c.host(1).RemoveGroup(ctx, 1); err != nil {
					t.Fatal(err)
				}
				c.waitUntil("the view without node 1", func() bool {
					for _, id := range []groupcomm.NodeID{2, 3, 4} {
						v := c.group(id).View()
						if _, in := v.LookupNode(1); in {
							return false
						}
					}
					return true
				})
				// The host forgets the group at a tick once its ghost
				// retired, with no packet or write to notify the test:
				// look again every tick of fake time.
				for tick := 0; ; tick++ {
					synctest.Wait()
					if _, err := c.host(1).Group(1); errors.Is(err, racs.ErrUnknownGroup) {
						break
					}
					if tick == 10_000 {
						t.Fatal("node 1 never forgot the group")
					}
					time.Sleep(10 * time.Millisecond)
				}
				if dur == racs.Disk {
					st, err := c.stores[1].Load(replica.GroupID(1))
					if err != nil || st.HardState != nil {
						t.Fatalf("node 1 still stores the group: %+v, %v", st.HardState, err)
					}
				}
				// Node 1 hosts nothing now: stop it, then check that the
				// group keeps and orders everything.
				c.hmu.Lock()
				h1 := c.hosts[1]
				delete(c.hosts, 1)
				c.hmu.Unlock()
				h1.Close()
				for i := range 10 {
					if _, err := c.submit(2, fmt.Sprint("b", i), ""); err != nil {
						t.Fatal(err)
					}
				}
				list := c.waitConverged()
				if n := len(strings.Split(list, ",")); n != 30 {
					t.Fatalf("applied %d, want 30", n)
				}
			})
		})
	}
}
