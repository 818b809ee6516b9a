package chaos

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/chaos/nemesis"
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
	"github.com/quicksilver-go/quicksilver/replica"
)

// TestKnownBugReAddWhileLeaving is the fault suite's first finding,
// narrowed down: a clone moved back onto a node that has just left the
// partition's group is never started there.
//
// The steps (5 nodes, kv with 4 partitions × 3 clones): take kv/0 with
// clones A, C, D; kill C; move kv/0 from A to a node B (A leaves the
// group: racs.Host.RemoveGroup; the view without A is committed by A, D
// and B, but A's removed core stays on A's host as a ghost until every
// member of the new view acknowledged, and C is dead); move kv/0 back from
// B to A at once; restart C.
//
// What happens: raps.(*Node).startClone on A finds the group that left
// still on A's host and keeps it as the hosted clone, because its only
// test is that the group's last published Info().Status is not
// StatusRemoved — a group stopped by racs's finishLeave never publishes
// its removal, its Info stays NORMAL or FROZEN. A's learner is never
// started: A's group answers "group stopped: clone left its group
// (RemoveGroup)" (later, once the ghost retired and the worker forgot it,
// "unknown group"), the map lists a learner that does not exist, the move
// never completes and the cluster never converges. No acknowledged
// update is lost (the other clones serve) but the partition is stuck with
// a dead learner and the placer's later moves of it stall.
//
// The unnarrowed TestFaultSuite seeds 1 and 2 hit it without any
// operator's move back: the placer re-adds a clone to a node that just
// left it on its own (the zone spread undoing an operator's move that
// put two voters in one zone, a rebalance, a drain), while a kill, an
// isolation or a power loss keeps a member of the new view from
// acknowledging, so the ghost lingers.
//
// Fixed: startClone keeps an existing group only if it has not left
// (racs.Group.Left). Before the fix this test failed every time, after a
// minute of the bubble's clock, with node A's group of kv/0 FROZEN.
func TestKnownBugReAddWhileLeaving(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := rapstest.New(t, 5, rapstest.WithPowerLoss(), rapstest.WithServices(Services()...))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m := c.Node(1).Map()
		p, _ := m.Partition(partitionmap.PartRef{Service: "kv", ID: 0})
		var clones []groupcomm.NodeID
		for _, cl := range p.Clones {
			clones = append(clones, groupcomm.NodeID(cl.Node))
		}
		a, cNode := clones[0], clones[1]
		var b groupcomm.NodeID
		for id := groupcomm.NodeID(1); id <= 5; id++ {
			if !slices.Contains(clones, id) {
				b = id
				break
			}
		}
		admin := func() *rapstestClient {
			for _, id := range c.Live() {
				if id <= 3 {
					return &rapstestClient{c, id}
				}
			}
			t.Fatal("no management member live")
			return nil
		}
		moved := func(from, to groupcomm.NodeID) bool {
			for _, id := range c.Live() {
				if m := c.Node(id).Map(); m != nil {
					q, err := m.Partition(p.Ref())
					if err != nil {
						return false
					}
					src := slices.ContainsFunc(q.Clones, func(o partitionmap.Clone) bool { return o.Node == partitionmap.NodeID(from) })
					dst := slices.ContainsFunc(q.Clones, func(o partitionmap.Clone) bool {
						return o.Node == partitionmap.NodeID(to) && o.Role == partitionmap.Voter
					})
					return dst && !src
				}
			}
			return false
		}
		t.Logf("kv/0 on %v: kill %d, move from %d to %d and back", clones, cNode, a, b)
		c.Kill(cNode)
		if err := admin().move(ctx, p.Ref(), a, b); err != nil {
			t.Fatal(err)
		}
		c.WaitFor("the move to B", time.Minute, func() bool { return moved(a, b) })
		if err := admin().move(ctx, p.Ref(), b, a); err != nil {
			t.Fatal(err)
		}
		c.Restart(cNode)
		if err := nemesis.WaitConverged(c, time.Minute); err != nil {
			g, gerr := c.Host(a).Group(replica.GroupID(p.Group))
			var in groupcomm.Info
			if gerr == nil {
				in = g.Info()
			}
			t.Fatalf("%v; node %d's group of kv/0: %v, %v", err, a, in.Status, gerr)
		}
	})
}

type rapstestClient struct {
	c  *rapstest.Cluster
	id groupcomm.NodeID
}

func (r *rapstestClient) move(ctx context.Context, ref partitionmap.PartRef, from, to groupcomm.NodeID) error {
	return r.c.Node(r.id).Client().MoveClone(ctx, ref, partitionmap.NodeID(from), partitionmap.NodeID(to))
}

// TestKnownBugCrashAllDuringMove is the fault suite's second finding: after
// a crash of every node that lands while a move is under way, a partition
// never recovers. Seen with seeds 38 and 52 of TestFaultSuite (about one
// run in three of each; with the crash of every node as a power loss and
// as a plain process crash alike, so it is not the lost unsynced writes).
//
// The state it leaves (seed 52): the map lists bank/0 on nodes 5, 1 and 3
// — node 1 replaced node 4 (the placer's re-replication while node 4 was
// isolated; learners_ready and promote_and_remove applied in the map, so
// node 4's node left the group and deleted its clone). But every clone
// came back with view v4{5.1 4.1 3.1 1.<incarnation>} as its last
// installed view, node 1 a voter in it by its own Info: v4 is the view
// that promoted node 1 (four voters, quorum 3), and the view that removes
// 4.1 was not installed before the crash. The three clones — a quorum of
// v4's voters — stay RECOVERING for good, their view change waiting for
// 4.1 (Info().WaitingFor). Node 4 holds no group of bank/0: the map does
// not place it there, so its restarted node does not host it, and its
// node is alive, so no failure detector suspects it and racs proposes no
// Remove of it (racs/suspect.go removes only suspected nodes). Seed 38 is
// the same with kv/1 (view v14{5.1 3.1 4.<inc> 1.<inc>}, waiting for
// 4.<inc>). Nothing acknowledged is lost, but the partition serves
// nothing: updates and strict reads time out, the final checks cannot
// read it.
//
// Not established: why a quorum of v4's voters does not install the next
// view without 4.1 — whether the proposal keeps 4.1 as a voter (it is not
// suspected) and its commit then needs more than the three, or the
// total-outage path (docs/design.md §3 Restart, groupcomm/doc.go "Restart
// (S7, L8)") wants every voter's answer. A direction for the fix: a
// clone that the map no longer places on a node, but whose group's view
// still names that node, should be removed from the group by the group
// (as raps's leave would have done had the node hosted it), or the
// returners should suspect a member whose node answers for no such group.
//
// This is a probabilistic reproducer: it runs each seed up to four times
// and fails on the first run that does not converge.
func TestKnownBugCrashAllDuringMove(t *testing.T) {
	t.Skip("known bug: after a crash of every node during a move, the partition's clones stay RECOVERING waiting for the voter the map removed (see the comment)")
	for _, seed := range []uint64{52, 38} {
		for try := range 4 {
			var r *Result
			synctest.Test(t, func(t *testing.T) {
				r = RunSeed(t, seed, Options{Logf: func(string, ...any) {}})
			})
			r.Check()
			if r.Failed() {
				t.Fatalf("seed %d, run %d: %s\n%s", seed, try+1, r.Problems[0], strings.Join(r.Digests, "\n"))
			}
		}
	}
}
