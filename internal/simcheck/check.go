package simcheck

import (
	"fmt"
	"sort"
	"strings"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// Check verifies docs/design.md §3's properties P1–P14 (and S6's read index and
// G7's "a voter holds state") from every member's journal and the final
// states of one run.
func Check(r *Run) Result {
	res, canon, fail := check(r)
	checkHealed(r, canon, fail)
	return *res
}

// CheckSafety checks what holds at any moment of a run, healed or not:
// Check without P8's "in the healed sequence", P9, P11 and P12 (a
// scripted scenario checks mid-way).
func CheckSafety(r *Run) Result {
	res, _, _ := check(r)
	return *res
}

func check(r *Run) (*Result, map[uint64]groupcomm.Entry, func(string, ...any)) {
	res := &Result{}
	perProperty := map[string]int{}
	fail := func(format string, args ...any) {
		// At most 3 violations of each property, 20 in all: one broken
		// rule must not hide the others.
		msg := fmt.Sprintf(format, args...)
		prop, _, _ := strings.Cut(msg, ":")
		if perProperty[prop] < 3 && len(res.Violations) < 20 {
			res.Violations = append(res.Violations, msg)
		}
		perProperty[prop]++
	}
	views := viewAgreement(r, fail)
	res.Views = len(views)
	canon := checkJournals(r, views, fail, res)
	checkCuts(canon, views, fail)
	checkAckedInCuts(r, views, fail)
	checkAcceptances(r, views, fail)
	res.Acked = len(r.Acked) + len(r.AckedPayloads)
	return res, canon, fail
}

// viewAgreement is P1: one record per view id. It returns the records.
func viewAgreement(r *Run, fail func(string, ...any)) map[uint64]groupcomm.View {
	views := map[uint64]groupcomm.View{}
	for _, id := range r.Order {
		for _, ev := range r.Journals[id] {
			if ev.Kind != Install {
				continue
			}
			if old, ok := views[ev.View.ID]; ok && !old.Equal(&ev.View) {
				fail("P1: two records for view %d: %v and %v", ev.View.ID, old, ev.View)
			} else if !ok {
				views[ev.View.ID] = ev.View
			}
		}
	}
	if old, ok := views[r.Bootstrap.ID]; ok && !old.Equal(&r.Bootstrap) {
		fail("P1: view %d installed as %v, bootstrapped as %v", r.Bootstrap.ID, old, r.Bootstrap)
	}
	views[r.Bootstrap.ID] = r.Bootstrap
	return views
}

// memberState is what the checker follows of one node while it reads the
// node's journal.
type memberState struct {
	last      *groupcomm.Viewstamp // position of the last delivery (nil: unknown, a joiner)
	installed uint64               // the installed view
	restoring bool                 // no state yet
	replaying bool                 // restarted, no view installed since: deliveries replay the log
	seen      map[groupcomm.EntryID]bool
	acked     groupcomm.Viewstamp // the highest entry it acknowledged that no cut has cut off
}

// checkJournals walks every journal: P2–P7, P10, S6, G7, D1. It returns the
// entry delivered at each seq (P5/P9's reference).
func checkJournals(r *Run, views map[uint64]groupcomm.View, fail func(string, ...any), res *Result) map[uint64]groupcomm.Entry {
	canon := map[uint64]groupcomm.Entry{}
	digestAt := map[uint64]uint64{}
	for _, id := range r.Order {
		j := r.Journals[id]
		st := memberState{seen: map[groupcomm.EntryID]bool{}}
		if _, in := r.Bootstrap.Lookup(groupcomm.MemberID{Node: id, Incarnation: 1}); in {
			cut := r.Bootstrap.Cut
			st.last, st.installed = &cut, r.Bootstrap.ID
			me, _ := r.Bootstrap.LookupNode(id)
			st.restoring = me.Role == groupcomm.Learner
		}
		for i, ev := range j {
			switch ev.Kind {
			case Install:
				me, in := ev.View.Lookup(ev.Member)
				// P2 self-inclusion: a view that omits the member is followed
				// by its removal.
				if !in && !removedNext(j[i+1:]) {
					fail("P2: %v installed %v without being in it and without removal", ev.Member, ev.View)
				}
				// P3: a member passing from w to w+1 delivered exactly up to the cut in w.
				if st.last != nil && !st.restoring && st.installed+1 == ev.View.ID && *st.last != ev.View.Cut {
					fail("P3: %v installed %v having delivered up to %v, not the cut", ev.Member, ev.View, *st.last)
				}
				// G7/S3: a voter holds the state up to the cut.
				if in && me.Role == groupcomm.Voter && ev.Restoring {
					fail("G7: %v installed %v as a voter without its state", ev.Member, ev.View)
				}
				if in && me.Role == groupcomm.Learner && (st.last == nil || st.restoring) {
					st.restoring = true
				}
				if ev.Restoring {
					st.restoring = true
				}
				st.installed, st.replaying = ev.View.ID, false
				if ev.View.Cut.Less(st.acked) {
					st.acked = ev.View.Cut // what was above the cut is truncated
				}
				if st.last == nil && !st.restoring {
					cut := ev.View.Cut
					st.last = &cut
				}
			case Restore:
				p := ev.Pos
				st.last, st.restoring = &p, false
				// P10: the joiner's digest equals the donor's digest at p.
				if d, ok := digestAt[p.Seq]; ok && d != ev.Digest {
					fail("P10: %v restored digest %x at %v; members applied %x there", ev.Member, ev.Digest, p, d)
				}
			case Ack:
				if st.acked.Less(ev.Pos) {
					st.acked = ev.Pos
				}
			case Restart:
				// A member that crashed after its install reached the disk
				// but before the journal saw it comes back in that view:
				// the view's cut truncated what it held above it.
				if st.acked.View < ev.View.ID && ev.View.Cut.Less(st.acked) {
					st.acked = ev.View.Cut
				}
				// D1: a durable member comes back holding everything it
				// acknowledged (it persisted before it acked). A learner
				// that comes back without state drops what it buffered:
				// its acks only bounded the others' log retention.
				if _, in := ev.View.Lookup(ev.Member); in && !ev.Restoring && ev.Held.Less(st.acked) {
					fail("D1: %v restarted holding %v, below %v it had acknowledged", ev.Member, ev.Held, st.acked)
				}
				p := ev.Pos
				st.last, st.restoring, st.replaying = &p, ev.Restoring, true
				st.installed = ev.View.ID
				st.seen = map[groupcomm.EntryID]bool{} // its state came back from its disk
				if d, ok := digestAt[p.Seq]; ok && d != ev.Digest && p.Seq > 0 {
					fail("P10: %v restarted with digest %x at %v; members applied %x there", ev.Member, ev.Digest, p, d)
				}
			case NewIncarnation:
				st = memberState{seen: map[groupcomm.EntryID]bool{}, restoring: true}
			case Deliver:
				res.Delivered++
				checkDelivery(r, views, &st, ev, canon, digestAt, fail)
			case Read:
				// S6: a strict read's index covers every update acknowledged
				// before the read was issued.
				if ev.Pos.Seq < ev.ReadMin {
					fail("S6: %v strict read index %v below acknowledged position %d", ev.Member, ev.Pos, ev.ReadMin)
				}
			}
		}
	}
	return canon
}

// checkDelivery is P4–P7 for one delivery.
func checkDelivery(r *Run, views map[uint64]groupcomm.View, st *memberState, ev Event,
	canon map[uint64]groupcomm.Entry, digestAt map[uint64]uint64, fail func(string, ...any)) {
	e := ev.Entry
	// P4: delivered in the view it was ordered in: the member is in that
	// view, or replays (after a restart) what it delivered before.
	if ev.InView != e.VS.View {
		fail("P4: %v delivered %v (%v) reporting view %d", ev.Member, e.VS, e.ID, ev.InView)
	} else if e.VS.View != st.installed && !st.replaying {
		fail("P4: %v delivered %v (%v) of view %d while in view %d", ev.Member, e.VS, e.ID, e.VS.View, st.installed)
	}
	if st.restoring {
		fail("G7: %v delivered %v while restoring (without state)", ev.Member, e.VS)
	}
	if st.last != nil && e.VS.Seq != st.last.Seq+1 {
		fail("P5: %v delivered %v after %v (gap or reorder)", ev.Member, e.VS, *st.last)
	}
	vs := e.VS
	st.last = &vs
	// P5/P9: one entry per position, everywhere.
	if o, ok := canon[vs.Seq]; ok {
		if o.VS != vs || o.ID != e.ID {
			fail("P5: position %d holds %v %v at one member and %v %v at %v", vs.Seq, o.VS, o.ID, vs, e.ID, ev.Member)
		}
	} else {
		canon[vs.Seq] = e
	}
	if d, ok := digestAt[vs.Seq]; ok && d != ev.Digest && !ev.Dup {
		fail("P5: digest after %v differs at %v", vs, ev.Member)
	} else if !ok {
		digestAt[vs.Seq] = ev.Digest
	}
	// P6: no duplicates applied, nothing invented.
	if !ev.Dup {
		if st.seen[e.ID] {
			fail("P6: %v applied %v twice", ev.Member, e.ID)
		}
		st.seen[e.ID] = true
	}
	if r.Payloads != nil {
		if !r.Payloads[string(e.Payload)] {
			fail("P6: %v delivered an entry nobody submitted: %v %q", ev.Member, e.ID, e.Payload)
		}
	} else if pl, ok := r.Submitted[e.ID]; !ok || string(pl) != string(e.Payload) {
		fail("P6: %v delivered an entry nobody submitted: %v %q", ev.Member, e.ID, e.Payload)
	}
	// P7: the origin was a member of the ordering view.
	if v, ok := views[e.VS.View]; ok {
		if _, in := v.Lookup(e.ID.Origin); !in {
			fail("P7: %v delivered %v from non-member %v of view %d", ev.Member, e.VS, e.ID.Origin, e.VS.View)
		}
	}
}

// checkCuts is P13: nothing above a cut is delivered; every delivered
// entry of an earlier view is ≤ the cut of every later view.
func checkCuts(canon map[uint64]groupcomm.Entry, views map[uint64]groupcomm.View, fail func(string, ...any)) {
	for _, e := range canon {
		for id, v := range views {
			if id > e.VS.View && v.Cut.Less(e.VS) {
				fail("P13: %v delivered but view %d has cut %v", e.VS, id, v.Cut)
			}
		}
	}
}

// checkAckedInCuts is P8's first half: an acknowledged update is at or
// below the cut of every later view (every later view holds it).
func checkAckedInCuts(r *Run, views map[uint64]groupcomm.View, fail func(string, ...any)) {
	ids := make([]groupcomm.EntryID, 0, len(r.Acked))
	for id := range r.Acked {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return r.Acked[ids[i]].Less(r.Acked[ids[j]]) })
	vids := make([]uint64, 0, len(views))
	for id := range views {
		vids = append(vids, id)
	}
	sort.Slice(vids, func(i, j int) bool { return vids[i] < vids[j] })
	for _, id := range ids {
		vs := r.Acked[id]
		for _, vid := range vids {
			if v := views[vid]; vs.View < v.ID && v.Cut.Less(vs) {
				fail("P8: acknowledged %v at %v is above the cut of %v", id, vs, v)
				break
			}
		}
	}
	for _, p := range sortedPayloads(r.AckedPayloads) {
		vs := r.AckedPayloads[p]
		for _, vid := range vids {
			if v := views[vid]; vs.View < v.ID && v.Cut.Less(vs) {
				fail("P8: acknowledged %q at %v is above the cut of %v", p, vs, v)
				break
			}
		}
	}
}

func sortedPayloads(m map[string]groupcomm.Viewstamp) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return m[out[i]].Less(m[out[j]]) })
	return out
}

// checkAcceptances is P14: each installed w+1 was accepted by Q(w)
// voters of w.
func checkAcceptances(r *Run, views map[uint64]groupcomm.View, fail func(string, ...any)) {
	accepts := map[uint64]map[groupcomm.MemberID]bool{}
	for _, id := range r.Order {
		for _, ev := range r.Journals[id] {
			if ev.Kind != Accept {
				continue
			}
			if v, ok := views[ev.View.ID]; ok && v.Equal(&ev.View) {
				if accepts[v.ID] == nil {
					accepts[v.ID] = map[groupcomm.MemberID]bool{}
				}
				accepts[v.ID][ev.Member] = true
			}
		}
	}
	for id, v := range views {
		if id == r.Bootstrap.ID {
			continue
		}
		prev, ok := views[id-1]
		if !ok {
			fail("P14: view %d installed but view %d never seen", id, id-1)
			continue
		}
		n := 0
		for _, vid := range prev.Voters() {
			if accepts[id][vid] {
				n++
			}
		}
		if n < prev.Quorum() {
			fail("P14: view %v installed with %d acceptances of %d voters of view %d", v, n, len(prev.Voters()), id-1)
		}
	}
}

// checkHealed is P11, P12, P9 and P8 after healing.
func checkHealed(r *Run, canon map[uint64]groupcomm.Entry, fail func(string, ...any)) {
	if !r.Settled {
		fail("P11: no common view and position after failures stopped: %s", r.Describe)
		return
	}
	if len(r.Final) == 0 {
		fail("P11: no live member at the end")
		return
	}
	ref := r.Final[0]
	for _, f := range r.Final[1:] {
		if f.View != ref.View || f.Delivered != ref.Delivered || f.Digest != ref.Digest {
			fail("P12: %v at v%d %v digest %x; %v at v%d %v digest %x", ref.Member, ref.View, ref.Delivered, ref.Digest, f.Member, f.View, f.Delivered, f.Digest)
		}
	}
	final := ref.Delivered
	maxSeq := uint64(0)
	for s := range canon {
		maxSeq = max(maxSeq, s)
	}
	if maxSeq > final.Seq {
		fail("P9: position %d was delivered somewhere but the healed group is at %v", maxSeq, final)
	}
	// P8: every acknowledged update is in the healed sequence.
	ids := make([]groupcomm.EntryID, 0, len(r.Acked))
	for id := range r.Acked {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return r.Acked[ids[i]].Seq < r.Acked[ids[j]].Seq })
	for _, id := range ids {
		vs := r.Acked[id]
		if e, ok := canon[vs.Seq]; !ok || e.ID != id || vs.Seq > final.Seq {
			fail("P8: acknowledged %v at %v is not in the healed sequence", id, vs)
		}
	}
	for _, p := range sortedPayloads(r.AckedPayloads) {
		vs := r.AckedPayloads[p]
		if e, ok := canon[vs.Seq]; !ok || string(e.Payload) != p || e.VS != vs || vs.Seq > final.Seq {
			fail("P8: acknowledged %q at %v is not in the healed sequence", p, vs)
		}
	}
}

// removedNext reports whether the member's removal is its next event after
// an install, past the reads and acks of the same Ready.
func removedNext(rest []Event) bool {
	for _, ev := range rest {
		switch ev.Kind {
		case Read, Ack:
		case Removed:
			return true
		default:
			return false
		}
	}
	return false
}
