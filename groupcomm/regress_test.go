package groupcomm_test

import (
	"fmt"
	"testing"

	. "github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
)

// Regressions for the findings of the review of the durable restart path
// (the issue "Durable restart can lose acknowledged updates"). Each fails
// on the code before its fix: the seeded ones with the planted bug that
// brings back that code path, the scripted ones by construction (each
// comment says what the old code did).

// settle runs steps until the cluster settled (or fails).
func settle(t *testing.T, c *cluster, max int) {
	t.Helper()
	for i := 0; i < max; i++ {
		c.runStep(true)
		if c.settled() && c.allPendingDone() {
			return
		}
	}
	t.Fatalf("not settled after %d steps: %s", max, c.describe())
}

func mcastN(t *testing.T, c *cluster, id NodeID, n int, prefix string) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := c.multicast(id, fmt.Sprintf("%s%d", prefix, i)); err != nil {
			t.Fatal(err)
		}
		c.runStep(true)
	}
}

// The safety findings, seeded: the planted bug that brings back the old
// code path must break the properties on some seed of the CI budget, and
// that seed must pass with the fix.
func TestFindingSeeds(t *testing.T) {
	for _, tc := range []struct{ finding, bug string }{
		// Finding 1: a learner's snapshot arrives ahead of the entries it
		// buffered; promoted, it acks later entries; restarted, the old
		// code kept the gap-free start of its log and dropped them (D1).
		{"restart keeps the entries contiguous from the applied position", "restart-gap-free-start"},
		// Finding 2: a restarted learner with state came back restoring and
		// was promoted on a LearnerReady from before (G7).
		{"a restarted learner is not promoted without its state", "promote-stale-ready"},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			fails, _, _ := runSeeds(1, uint64(*simSeeds), tc.bug, *simSteps, true)
			if len(fails) == 0 {
				t.Fatalf("%s: the old code path (planted %s) breaks nothing in %d seeds", tc.finding, tc.bug, *simSeeds)
			}
			seed := fails[0].seed
			if res := runSimMode(seed, "", *simSteps, false, false); len(res.Violations) > 0 {
				t.Fatalf("%s: seed %d fails with the fix: %v", tc.finding, seed, res.Violations[0])
			}
			t.Logf("%s: the old code path fails seed %d (%s); the fix passes it", tc.finding, seed, fails[0].violations[0])
		})
	}
}

// Finding 3: a restarted member replays its stable log as deliveries of
// the views that ordered them; the old code reported its installed view
// (Delivery.InView), so replays broke P4.
func TestReplayDeliversInOrderingView(t *testing.T) {
	c := newCluster(3, 3, TestingKnobs{})
	c.snapEvery = 1 << 30 // no snapshot: a restart replays the whole log
	for _, id := range c.order {
		if err := c.bootstrapMember(c.members[id], c.boot); err != nil {
			t.Fatal(err)
		}
	}
	mcastN(t, c, 1, 5, "a")
	settle(t, c, 200)
	// A view change (re-admit a member): later entries are of view 2.
	if err := c.members[1].n.Propose(Change{Kind: Readmit, Member: c.members[3].id}); err != nil {
		t.Fatal(err)
	}
	settle(t, c, 200)
	mcastN(t, c, 1, 5, "b")
	settle(t, c, 200)
	if v := c.members[2].n.View().ID; v < 2 {
		t.Fatalf("no view change happened (view %d)", v)
	}
	c.crash(2)
	c.restart(2)
	m := c.members[2]
	from := len(m.journal)
	c.handleReady(m, nil, noCrash)
	older := 0
	for _, ev := range m.journal[from:] {
		if ev.Kind != simcheck.Deliver {
			continue
		}
		if ev.InView != ev.Entry.VS.View {
			t.Errorf("replayed %v reports view %d", ev.Entry.VS, ev.InView)
		}
		if ev.Entry.VS.View < m.n.View().ID {
			older++
		}
	}
	if older == 0 {
		t.Fatal("the restart replayed no entry of an older view")
	}
	settle(t, c, 400)
	if res := simcheck.Check(c.simRun(true, nil)); len(res.Violations) > 0 {
		t.Fatal(res.Violations)
	}
}

// Finding 4: a message addressed to an older incarnation of a member is
// answered with the view records after the sender's view; the old code
// dropped it silently, and a removed member whose proposer crashed waited
// forever.
func TestStaleIncarnationIsAnswered(t *testing.T) {
	v := View{Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, ID: 4, Members: []Member{
		{ID: MemberID{Node: 1, Incarnation: 1}, Role: Voter},
		{ID: MemberID{Node: 2, Incarnation: 5}, Role: Voter},
	}}
	cfg := testConfig(2)
	cfg.Self.Incarnation = 5
	n, err := Bootstrap(cfg, v)
	if err != nil {
		t.Fatal(err)
	}
	n.Advance(n.Ready())
	// Member 3.1, stuck in view 2, asks node 2's old incarnation 2.1 to
	// re-admit it.
	err = n.Step(Message{Type: MsgRejoin, Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, View: 2,
		From: MemberID{Node: 3, Incarnation: 1}, To: MemberID{Node: 2, Incarnation: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range n.Ready().Messages {
		if m.Type == MsgCommit && m.To.Node == 3 && m.Proposal != nil && m.Proposal.ID > 2 {
			return
		}
	}
	t.Fatal("no view record sent to the member behind")
}

// Finding 5: a restarted member keeps its recent view records, so that it
// can walk a member behind it forward one view at a time; the old code
// kept only the installed record, and a member stuck in an old view and
// its RECOVERING peers waited on each other forever.
func TestViewRecordsSurviveRestart(t *testing.T) {
	c := newCluster(4, 3, TestingKnobs{})
	for i := 0; i < 2; i++ {
		if err := c.members[1].n.Propose(Change{Kind: Readmit, Member: c.members[3].id}); err != nil {
			t.Fatal(err)
		}
		settle(t, c, 200)
	}
	if v := c.members[1].n.View().ID; v != 3 {
		t.Fatalf("view %d, want 3", v)
	}
	c.crash(1)
	c.restart(1)
	n := c.members[1].n
	c.handleReady(c.members[1], nil, noCrash)
	err := n.Step(Message{Type: MsgNeedView, Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, View: 1,
		From: c.members[2].id, To: c.members[1].id})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range n.Ready().Messages {
		if m.Type == MsgCommit && m.To == c.members[2].id && m.Proposal != nil {
			if m.Proposal.ID != 2 {
				t.Fatalf("answered view 1 with the record of view %d, want 2", m.Proposal.ID)
			}
			return
		}
	}
	t.Fatal("no record sent")
}

// Finding 6: in a 2-voter view the leaver decides its removal and is gone
// before the other voter learns the Commit; that voter restarts
// RECOVERING with the proposal accepted but not known decided, and only
// the leaver knows. The leaver now lingers (answering with the decision)
// until the new view's members acknowledge it; the old code stopped it at
// once and the voter waited for a quorum of 2 forever.
func TestLeaverLingersUntilAcknowledged(t *testing.T) {
	c := newCluster(5, 2, TestingKnobs{})
	c.autoSuspect = false
	mcastN(t, c, 1, 3, "x")
	settle(t, c, 200)
	leaver, other := c.members[1], c.members[2]
	c.leaving[1] = true
	leaver.n.Leave()
	// Run until the other voter accepted the leaver's removal, then lose
	// everything the leaver sends it.
	for i := 0; i < 200 && other.n.Status() != StatusFrozen; i++ {
		c.runStep(true)
	}
	if other.n.Status() != StatusFrozen {
		t.Fatalf("the other voter never accepted: %s", c.describe())
	}
	c.cutoff[[2]NodeID{1, 2}] = true
	for i := 0; i < 50 && !leaver.removed; i++ {
		c.runStep(true)
	}
	if !leaver.removed || other.n.View().ID != 1 {
		t.Fatalf("want the leaver removed and the other voter still in view 1: %s", c.describe())
	}
	c.crash(2)
	c.restart(2)
	delete(c.cutoff, [2]NodeID{1, 2})
	for i := 0; i < 500 && !(other.n.Status() == StatusNormal && other.n.View().ID >= 2); i++ {
		c.runStep(true)
	}
	if other.n.Status() != StatusNormal || other.n.View().ID < 2 {
		t.Fatalf("the remaining voter never learned the decision: %s", c.describe())
	}
	for i := 0; i < 200 && !leaver.n.Retired(); i++ {
		c.runStep(true)
	}
	if !leaver.n.Retired() {
		t.Fatal("the leaver never retired")
	}
}

// Found by the simulation with crashes in the middle of a Ready: a member
// that becomes the sequencer of a new view sent the view's ORDER frames in
// the Ready that installs the view, before the write that makes the
// install durable. Crashing there, it came back in the view before,
// learned the new view again from its Commit, and numbered from the cut
// once more: two entries at one viewstamp (P5). A new sequencer now sends
// nothing of its view before its install is durable.
func TestNewSequencerWaitsForItsInstallToBeDurable(t *testing.T) {
	c := newCluster(6, 3, TestingKnobs{})
	mcastN(t, c, 1, 3, "a")
	settle(t, c, 200)
	c.crash(1) // node 2 takes over as sequencer
	for step := 0; step < 400; step++ {
		c.step++
		c.deliverDue()
		c.updateSuspicions()
		for _, id := range c.order {
			m := c.members[id]
			if !m.up || m.n == nil {
				continue
			}
			m.n.Tick()
			for m.n.HasReady() {
				rd := m.n.Ready()
				if nv := rd.NewView; nv != nil && nv.Sequencer() == m.id {
					for _, msg := range rd.Messages {
						if msg.Type == MsgOrder && msg.View == nv.ID {
							t.Fatalf("%v sent %v in the Ready that installs %v, before the install is durable", m.id, msg, *nv)
						}
					}
					return // the install's Ready held no frame of the view
				}
				c.members[id].n.Advance(rd) // the test looks only at the Readys
				for _, msg := range rd.Messages {
					c.send(msg, nil)
				}
			}
		}
	}
	t.Fatal("node 2 never installed a view as its sequencer")
}

// Finding 7 (100k-seed run): a restarted member walks forward one view
// record at a time; the old code stopped after the first, so a member
// that installed an old view in which it is a voter sat there NORMAL and
// idle (quiescent: nothing made it speak) although a later view had
// removed it. A record from a member in a later view now makes it ask for
// the next one, and it stays awake until it has caught up.
func TestMemberBehindKeepsAskingForRecords(t *testing.T) {
	member := func(node NodeID) Member { return Member{ID: MemberID{Node: node, Incarnation: 1}, Role: Voter} }
	v5 := View{Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, ID: 5,
		Members: []Member{member(1), member(2), member(3)}}
	n, err := Bootstrap(testConfig(1), v5)
	if err != nil {
		t.Fatal(err)
	}
	n.Advance(n.Ready())
	v6 := v5.Clone()
	v6.ID = 6
	// Member 2, already in view 9, answers with the record after view 5.
	err = n.Step(Message{Type: MsgCommit, Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, View: 9,
		From: member(2).ID, To: member(1).ID, Proposal: &v6})
	if err != nil {
		t.Fatal(err)
	}
	asked := func(rd Ready) bool {
		for _, m := range rd.Messages {
			if m.Type == MsgNeedView && m.To == member(2).ID {
				return true
			}
		}
		return false
	}
	rd := n.Ready()
	if n.View().ID != 6 {
		t.Fatalf("installed view %d, want 6", n.View().ID)
	}
	if !asked(rd) {
		t.Fatal("installed view 6 from a member in view 9 without asking for view 7")
	}
	n.Advance(rd)
	if n.Quiescent() {
		t.Fatal("quiescent while a member is known to be ahead")
	}
	for i := 0; i < 10; i++ {
		n.Tick()
	}
	if rd := n.Ready(); !asked(rd) {
		t.Fatal("did not ask again after its request went unanswered")
	}
}

// TestRestartedMemberConfirmsItsView: a member that restarts into its
// persisted view and installs the next one from a member as stale as
// itself (one that restarted too and forwards its view's decision) keeps
// asking every member of the view
// until a quorum says it is in that view too, or a later record arrives.
// Found by the 100,000-seed run at seed 21101: a member removed while it
// was down, whose removal notices went to it while it was down, sat
// NORMAL and idle in its old view for good.
func TestRestartedMemberConfirmsItsView(t *testing.T) {
	member := func(node NodeID) Member { return Member{ID: MemberID{Node: node, Incarnation: 1}, Role: Voter} }
	v4 := View{Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, ID: 4,
		Members: []Member{member(1), member(2), member(3)}}
	v5 := v4.Clone()
	v5.ID = 5
	restart := func() *Node {
		t.Helper()
		cfg := testConfig(3)
		n, err := Restart(cfg, RestartState{HardState: HardState{Incarnation: 1, Installed: v4}})
		if err != nil {
			t.Fatal(err)
		}
		n.Advance(n.Ready())
		// Member 1 restarted too and forwards the decision of its view, 5.
		c := v5.Clone()
		if err := n.Step(Message{Type: MsgCommit, Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, View: 5,
			From: member(1).ID, To: member(3).ID, Proposal: &c}); err != nil {
			t.Fatal(err)
		}
		n.Advance(n.Ready())
		return n
	}
	askedAll := func(n *Node) bool {
		for i := 0; i < 20; i++ {
			n.Tick()
		}
		to := map[NodeID]bool{}
		rd := n.Ready()
		for _, m := range rd.Messages {
			if m.Type == MsgNeedView && m.View == 5 {
				to[m.To.Node] = true
			}
		}
		n.Advance(rd)
		return to[1] && to[2]
	}
	ack := func(n *Node, from NodeID, installed uint64) {
		if err := n.Step(Message{Type: MsgCommitAck, Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, View: installed,
			From: member(from).ID, To: member(3).ID, Installed: installed}); err != nil {
			t.Fatal(err)
		}
		n.Advance(n.Ready())
	}

	n := restart()
	if n.Status() != StatusNormal {
		t.Fatalf("status %v after the Commit of view 5", n.Status())
	}
	if n.Quiescent() {
		t.Fatal("quiescent right after a restart: nobody confirmed its view")
	}
	if !askedAll(n) {
		t.Fatal("a restarted member does not ask the members of its view whether it is current")
	}
	ack(n, 1, 4) // an answer about another view confirms nothing
	if n.Quiescent() || !askedAll(n) {
		t.Fatal("stopped asking after an answer from another view")
	}
	ack(n, 2, 5) // with itself (its persisted state), a quorum of 3 voters
	if !n.Quiescent() {
		t.Fatal("still asking after a quorum of its view said it is current")
	}

	// The other way out: a member of a later view answers with the record
	// that removed it.
	n = restart()
	v6 := View{Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, ID: 6,
		Members: []Member{member(1), member(2)}}
	if err := n.Step(Message{Type: MsgCommit, Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, View: 9,
		From: member(2).ID, To: member(3).ID, Proposal: &v6}); err != nil {
		t.Fatal(err)
	}
	n.Advance(n.Ready())
	if n.Status() != StatusRemoved {
		t.Fatalf("status %v after the record that removed it", n.Status())
	}
}

// Seed 60032 (100,000-seed run): a learner removed in view w+1 waited for
// the entries up to its cut, to tell its clients their outcomes, from the
// member that sent the decision. That member had been removed in turn and
// lingered; it answered each fetch with the record again, so the learner
// fetched again at once, forever (and nobody else would speak to it). The
// fix: a removed member answers a fetch with the entries it holds, a
// silent source is replaced by another voter, and once all stayed silent
// the member stops with its outcomes unknown (removed, so its host joins
// again). This test checks the silence; the simulation seeds 60032 and
// 70062 (a first version of the fix that ignored a repeated record
// broke that one) replay the whole story.
func TestRemovedWaiterDoesNotWaitOnOneSource(t *testing.T) {
	id := func(n NodeID) MemberID { return MemberID{Node: n, Incarnation: 1} }
	v4 := View{Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1, ID: 4, Members: []Member{
		{ID: id(1), Role: Voter}, {ID: id(2), Role: Voter}, {ID: id(3), Role: Voter},
	}}
	n, err := Bootstrap(testConfig(3), v4)
	if err != nil {
		t.Fatal(err)
	}
	n.Advance(n.Ready())
	v5 := v4.Clone()
	v5.ID, v5.Cut, v5.Members = 5, Viewstamp{View: 4, Seq: 10}, v4.Members[:2]
	commit := func() Message {
		p := v5.Clone()
		return Message{Type: MsgCommit, Cluster: 1, Group: uint64(harnessGroup), GroupIncarnation: 1,
			View: 5, From: id(2), To: id(3), Proposal: &p}
	}
	fetchesTo := func(rd Ready) map[NodeID]int {
		got := map[NodeID]int{}
		for _, m := range rd.Messages {
			if m.Type == MsgFetch {
				got[m.To.Node]++
			}
		}
		return got
	}
	if err := n.Step(commit()); err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	if f := fetchesTo(rd); f[2] != 1 {
		t.Fatalf("first record: fetches %v, want one to 2.1", f)
	}
	n.Advance(rd)
	// Silence: it asks 1.1 as well, then gives up.
	asked := map[NodeID]int{}
	for range 100 {
		n.Tick()
		rd := n.Ready()
		for k, c := range fetchesTo(rd) {
			asked[k] += c
		}
		n.Advance(rd)
		if rd.Removed {
			break
		}
	}
	if asked[1] == 0 {
		t.Fatalf("never asked another voter of v5: %v", asked)
	}
	if n.Status() != StatusRemoved {
		t.Fatalf("still %v after every voter of the view that removed it stayed silent", n.Status())
	}
}

// Seeds that the long simulation runs (-sim.range=1-100000) found, replayed
// on every run: 60032 (a removed learner fetching from a lingering member
// forever) and 70062 (a first fix for it that kept a member fetching from
// a source without the entries).
func TestLongRunSeeds(t *testing.T) {
	for _, seed := range []uint64{60032, 70062} {
		if res := runSimMode(seed, "", *simSteps, false, false); len(res.Violations) > 0 {
			t.Errorf("seed %d: %v", seed, res.Violations[0])
		}
	}
}
