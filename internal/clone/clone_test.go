package clone

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
	"github.com/quicksilver-go/quicksilver/replica"
)

// soloClone is a one-member group driven through its Ready loop over a
// MemStore: enough to test what the clone adds to the core.
type soloClone struct {
	t       *testing.T
	cl      *Clone
	sm      *simcheck.DigestMachine
	store   *replica.MemStore
	applied []Applied
}

func newSolo(t *testing.T) *soloClone { return newSoloWith(t, false) }

func newSoloWith(t *testing.T, amortize bool) *soloClone {
	t.Helper()
	cc := groupcomm.DefaultConfig()
	cc.Cluster, cc.Group, cc.GroupIncarnation = 1, 1, 1
	cc.Self = groupcomm.MemberID{Node: 1, Incarnation: 1}
	v := groupcomm.View{Cluster: 1, Group: 1, GroupIncarnation: 1, ID: 1,
		Members: []groupcomm.Member{{ID: cc.Self, Role: groupcomm.Voter}}}
	s := &soloClone{t: t, sm: &simcheck.DigestMachine{}, store: replica.NewMemStore()}
	cl, err := Bootstrap(Config{Group: 1, Durable: true, StateMachine: s.sm, SnapshotEvery: 2, LogTail: 1, AmortizeSnapshots: amortize}, cc, v)
	if err != nil {
		t.Fatal(err)
	}
	s.cl = cl
	s.run()
	return s
}

// run drives the Ready loop until nothing is left.
func (s *soloClone) run() {
	for s.cl.Core().HasReady() {
		rd := s.cl.Core().Ready()
		if w, ok := s.cl.Write(&rd); ok {
			if err := s.store.Write(&replica.Batch{Writes: []replica.GroupWrite{w}}); err != nil {
				s.t.Fatal(err)
			}
		}
		keep := func(a Applied) {
			d := *a.Delivery // the Ready's arrays are the node's again after Advance
			a.Delivery = &d
			s.applied = append(s.applied, a)
		}
		if snap := s.cl.Apply(&rd, keep); snap != nil {
			if err := s.store.Write(&replica.Batch{Writes: []replica.GroupWrite{*snap}}); err != nil {
				s.t.Fatal(err)
			}
		}
		s.cl.Advance(rd)
	}
}

// submit multicasts one update and returns what Apply reported for it.
func (s *soloClone) submit(key, update string) Applied {
	s.t.Helper()
	id, err := s.cl.Submit(NewEnvelope(key, []byte(update)))
	if err != nil {
		s.t.Fatal(err)
	}
	s.run()
	for _, a := range s.applied {
		if a.ID == id {
			return a
		}
	}
	s.t.Fatalf("%v not applied (applied %d, info %+v)", id, len(s.applied), s.cl.Core().Info())
	return Applied{}
}

func TestIdempotencyKeyAppliesOnce(t *testing.T) {
	s := newSolo(t)
	first := s.submit("order-1", "pay 10")
	count := s.sm.Count()
	again := s.submit("order-1", "pay 10")
	if again.Err != nil || !bytes.Equal(again.Result, first.Result) || s.sm.Count() != count {
		t.Fatalf("retry: result %x err %v, count %d→%d; want the first result %x, nothing applied",
			again.Result, again.Err, count, s.sm.Count(), first.Result)
	}
}

// A key reused with a different update is refused, as payment APIs do, and
// changes nothing; the first update's retry still gets its first result.
func TestIdempotencyKeyReusedWithDifferentUpdate(t *testing.T) {
	s := newSolo(t)
	first := s.submit("order-1", "pay 10")
	digest, count := s.sm.Digest(), s.sm.Count()
	other := s.submit("order-1", "pay 99")
	if !errors.Is(other.Err, ErrKeyReused) || other.Result != nil {
		t.Fatalf("reused key: result %x err %v, want ErrKeyReused", other.Result, other.Err)
	}
	if s.sm.Digest() != digest || s.sm.Count() != count {
		t.Fatal("a refused update changed the state")
	}
	if again := s.submit("order-1", "pay 10"); again.Err != nil || !bytes.Equal(again.Result, first.Result) {
		t.Fatalf("retry after the refusal: %x %v", again.Result, again.Err)
	}
}

// The idempotency table travels in snapshots with the updates' digests;
// one encoded before digests were kept still decodes (and checks nothing).
func TestIdempotencyTableEncoding(t *testing.T) {
	tab := newIdemTable(100)
	tab.record("a", []byte("ra"), 3, updateDigest([]byte("ua")))
	tab.record("b", []byte("rb"), 4, updateDigest([]byte("ub")))
	got, rest, err := decodeIdem(tab.encode(), 100)
	if err != nil || len(rest) != 0 {
		t.Fatal(err)
	}
	if _, found, reused := got.lookup("a", updateDigest([]byte("other"))); !found || !reused {
		t.Fatal("the digest did not travel")
	}
	// The older layout: slot kind 1, no digest.
	old := []byte{1, idemSlotNoDigest, 1, 'k', 7, 2, 'r', 'k'}
	got, rest, err = decodeIdem(old, 100)
	if err != nil || len(rest) != 0 {
		t.Fatalf("old layout: %v", err)
	}
	if res, found, reused := got.lookup("k", 42); !found || reused || string(res) != "rk" {
		t.Fatalf("old layout: %q %v %v", res, found, reused)
	}
	if _, _, err := decodeIdem([]byte{1, 3}, 100); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("unknown slot kind: %v", err)
	}
}

// A snapshot the core cannot take (this clone is no restoring learner)
// changes nothing: the state machine is left alone.
func TestInstallSnapshotRefusedChangesNothing(t *testing.T) {
	s := newSolo(t)
	s.submit("", "x")
	digest := s.sm.Digest()
	data, err := s.cl.SnapshotData()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.cl.InstallSnapshot(s.cl.Applied(), s.cl.Core().Dedup(), append([]byte{0}, data...)); !errors.Is(err, groupcomm.ErrNotLearner) {
		t.Fatalf("InstallSnapshot on a voter: %v, want ErrNotLearner", err)
	}
	if s.sm.Digest() != digest {
		t.Fatal("a refused snapshot changed the state")
	}
}

// A durable clone snapshots every SnapshotEvery updates and compacts its
// log below the snapshot (keeping LogTail entries); a restart restores the
// snapshot and replays the log after it to the same state.
func TestSnapshotCompactsAndRestartReplays(t *testing.T) {
	s := newSolo(t)
	for _, u := range []string{"a", "b", "c", "d", "e"} {
		s.submit("", u)
	}
	st, err := s.store.Load(1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshot == nil || len(st.Log) == 0 || st.Log[0].VS.Seq > st.Snapshot.Pos.Seq {
		t.Fatalf("snapshot %v, log from %v: want a snapshot and LogTail entries below it", st.Snapshot, st.Log)
	}
	if st.Log[0].VS.Seq+1 < st.Snapshot.Pos.Seq {
		t.Fatalf("log not compacted below the snapshot at %v: starts at %v", st.Snapshot.Pos, st.Log[0].VS)
	}
	want, wantAt := s.sm.Digest(), s.cl.Applied()
	cc := groupcomm.DefaultConfig()
	cc.Cluster, cc.Group, cc.GroupIncarnation = 1, 1, 1
	cc.Self = groupcomm.MemberID{Node: 1}
	r := &soloClone{t: t, sm: &simcheck.DigestMachine{}, store: s.store}
	cl, err := Restart(Config{Group: 1, Durable: true, StateMachine: r.sm}, cc, st)
	if err != nil {
		t.Fatal(err)
	}
	r.cl = cl
	r.run() // replays up to the stable hint
	// It comes back RECOVERING and re-admits itself (a group of one); the
	// view change delivers what the hint did not cover.
	for i := 0; i < 200 && cl.Core().Status() != groupcomm.StatusNormal; i++ {
		cl.Core().Tick()
		r.run()
	}
	if r.sm.Digest() != want || cl.Applied().Seq != wantAt.Seq {
		t.Fatalf("restart: digest %x at %v, want %x at %v", r.sm.Digest(), cl.Applied(), want, wantAt)
	}
}

// With AmortizeSnapshots a clone waits, beyond SnapshotEvery updates,
// until the updates since its last snapshot carry as many bytes as that
// snapshot: small updates to a big state snapshot rarely, big ones as
// often as the count allows.
func TestAmortizedSnapshots(t *testing.T) {
	snapshots := func(amortize bool, update string, n int) int {
		s := newSoloWith(t, amortize)
		count := 0
		var last groupcomm.Viewstamp
		for i := 0; i < n; i++ {
			s.submit("", update)
			if st, _ := s.store.Load(1); st.Snapshot != nil && st.Snapshot.Pos != last {
				last = st.Snapshot.Pos
				count++
			}
		}
		return count
	}
	// The DigestMachine's snapshot is a few dozen bytes; the idempotency
	// table adds nothing here (no keys).
	if got := snapshots(false, "u", 40); got != 20 {
		t.Fatalf("count only: %d snapshots in 40 one-byte updates, want 20 (every 2)", got)
	}
	small := snapshots(true, "u", 40)
	if small == 0 || small >= 10 {
		t.Fatalf("amortized: %d snapshots in 40 one-byte updates, want a few (each waits for its own size in updates)", small)
	}
	if big := snapshots(true, strings.Repeat("x", 1000), 40); big != 20 {
		t.Fatalf("amortized: %d snapshots in 40 1000-byte updates, want 20 (the count rules)", big)
	}
}
