package groupcomm

import (
	"fmt"
	"sort"
)

// check verifies DESIGN §3's properties P1–P14 from every member's
// journal (and the final state) after one run.
var checkHook func(*cluster)

func check(c *cluster, submitted map[EntryID]string, left map[NodeID]bool, settled bool) simResult {
	if checkHook != nil {
		checkHook(c)
	}
	var res simResult
	fail := func(format string, args ...any) {
		if len(res.violations) < 20 {
			res.violations = append(res.violations, fmt.Sprintf(format, args...))
		}
	}
	// P1 view agreement: one record per view id.
	views := map[uint64]View{}
	for _, id := range c.order {
		for _, ev := range c.members[id].journal {
			if ev.kind != "install" {
				continue
			}
			if old, ok := views[ev.view.ID]; ok && !old.Equal(&ev.view) {
				fail("P1: two records for view %d: %v and %v", ev.view.ID, old, ev.view)
			} else if !ok {
				views[ev.view.ID] = ev.view
			}
		}
	}
	views[1] = c.bootstrapView()
	res.views = len(views)

	// canon: the entry delivered at each seq, by anyone (P5/P9 reference).
	canon := map[uint64]Entry{}
	digestAt := map[uint64]uint64{}
	for _, id := range c.order {
		m := c.members[id]
		var last *Viewstamp // position of the last delivery (nil while restoring)
		var inView uint64
		var restoring bool
		seenIDs := map[EntryID]bool{}
		for i, ev := range m.journal {
			switch ev.kind {
			case "install":
				me, in := ev.view.Lookup(memberAt(m, i))
				// P2 self-inclusion: a view that omits the member is followed
				// by its removal.
				if !in && (i+1 >= len(m.journal) || m.journal[i+1].kind != "removed") {
					fail("P2: %v installed %v without being in it and without removal", memberAt(m, i), ev.view)
				}
				// P3: a member passing from w to w+1 delivered exactly up to the cut in w.
				if last != nil && !restoring && inView+1 == ev.view.ID && *last != ev.view.Cut {
					fail("P3: %v installed %v having delivered up to %v, not the cut", memberAt(m, i), ev.view, *last)
				}
				if in && me.Role == Learner && (last == nil || restoring) {
					restoring = true
				}
				inView = ev.view.ID
				if last == nil && !restoring {
					cut := ev.view.Cut
					last = &cut
				}
			case "restore":
				p := ev.pos
				last = &p
				restoring = false
				// P10: the joiner's digest equals the donor's digest at p.
				if d, ok := digestAt[p.Seq]; ok && d != ev.digest {
					fail("P10: %v restored digest %x at %v; members applied %x there", memberAt(m, i), ev.digest, p, d)
				}
			case "restart":
				p := ev.pos
				last = &p
				restoring = ev.restoring
				seenIDs = map[EntryID]bool{} // a restarted member's app came back from its disk
			case "newinc":
				last = nil
				restoring = true
				inView = 0
				seenIDs = map[EntryID]bool{}
			case "deliver":
				e := ev.entry
				res.delivered++
				// P4: delivered in the view it was ordered in.
				if ev.inView != e.VS.View {
					fail("P4: %v delivered %v (%v) in view %d", memberAt(m, i), e.VS, e.ID, ev.inView)
				}
				if last != nil && e.VS.Seq != last.Seq+1 {
					fail("P5: %v delivered %v after %v (gap or reorder)", memberAt(m, i), e.VS, *last)
				}
				vs := e.VS
				last = &vs
				// P5/P9: one entry per position, everywhere.
				if o, ok := canon[vs.Seq]; ok {
					if o.VS != vs || o.ID != e.ID {
						fail("P5: position %d holds %v %v at one member and %v %v at %v", vs.Seq, o.VS, o.ID, vs, e.ID, memberAt(m, i))
					}
				} else {
					canon[vs.Seq] = e
				}
				if d, ok := digestAt[vs.Seq]; ok && d != ev.digest && !ev.dup {
					fail("P5: digest after %v differs at %v", vs, memberAt(m, i))
				} else if !ok {
					digestAt[vs.Seq] = ev.digest
				}
				// P6: no duplicates applied, nothing invented.
				if !ev.dup {
					if seenIDs[e.ID] {
						fail("P6: %v applied %v twice", memberAt(m, i), e.ID)
					}
					seenIDs[e.ID] = true
				}
				if pl, ok := submitted[e.ID]; !ok || pl != string(e.Payload) {
					fail("P6: %v delivered an entry nobody submitted: %v %q", memberAt(m, i), e.ID, e.Payload)
				}
				// P7: the origin was a member of the ordering view.
				if v, ok := views[e.VS.View]; ok {
					if _, in := v.Lookup(e.ID.Origin); !in {
						fail("P7: %v delivered %v from non-member %v of view %d", memberAt(m, i), e.VS, e.ID.Origin, e.VS.View)
					}
				}
			case "read":
				// S6: a strict read's index covers every update acknowledged
				// before the read was issued.
				if ev.pos.Seq < ev.readMax {
					fail("S6: %v strict read index %v below acknowledged position %d", memberAt(m, i), ev.pos, ev.readMax)
				}
			}
		}
	}
	// P13: nothing above a cut is delivered; every delivered entry of an
	// earlier view is ≤ the cut of every later view.
	for _, e := range canon {
		for id, v := range views {
			if id > e.VS.View && v.Cut.Less(e.VS) {
				fail("P13: %v delivered but view %d has cut %v", e.VS, id, v.Cut)
			}
		}
	}
	// P14: each installed w+1 was accepted by Q(w) voters of w.
	accepts := map[uint64]map[MemberID]bool{}
	for _, id := range c.order {
		m := c.members[id]
		for i, ev := range m.journal {
			if ev.kind != "accept" {
				continue
			}
			if v, ok := views[ev.view.ID]; ok && v.Equal(&ev.view) {
				if accepts[v.ID] == nil {
					accepts[v.ID] = map[MemberID]bool{}
				}
				accepts[v.ID][memberAt(m, i)] = true
			}
		}
	}
	for id, v := range views {
		if id == 1 {
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
	// P11/P12 and P8/P9 after healing.
	res.acked = len(c.acked)
	if !settled {
		fail("P11: no common view and position %d steps after failures stopped: %s", 4000, c.describe())
		return res
	}
	var ref *member
	for _, id := range c.order {
		m := c.members[id]
		if !m.up || m.removed || left[id] {
			continue
		}
		if ref == nil {
			ref = m
			continue
		}
		a, b := ref.n.Info(), m.n.Info()
		if a.View != b.View || a.Delivered != b.Delivered || ref.app.digest != m.app.digest {
			fail("P12: %v at v%d %v digest %x; %v at v%d %v digest %x", ref.id, a.View, a.Delivered, ref.app.digest, m.id, b.View, b.Delivered, m.app.digest)
		}
	}
	if ref == nil {
		fail("P11: no live member at the end")
		return res
	}
	final := ref.n.Info().Delivered
	maxSeq := uint64(0)
	for s := range canon {
		maxSeq = max(maxSeq, s)
	}
	if maxSeq > final.Seq {
		fail("P9: position %d was delivered somewhere but the healed group is at %v", maxSeq, final)
	}
	// P8: every acknowledged update is in the healed group's sequence.
	ids := make([]EntryID, 0, len(c.acked))
	for id := range c.acked {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return c.acked[ids[i]].Seq < c.acked[ids[j]].Seq })
	for _, id := range ids {
		vs := c.acked[id]
		if e, ok := canon[vs.Seq]; !ok || e.ID != id || vs.Seq > final.Seq {
			fail("P8: acknowledged %v at %v is not in the healed sequence", id, vs)
		}
	}
	return res
}

// memberAt returns the identity a member had at journal index i (its
// incarnation changes when it rejoins fresh).
func memberAt(m *member, i int) MemberID { return m.incAt(i) }

func (c *cluster) bootstrapView() View {
	v := View{Cluster: 1, Group: 7, GroupIncarnation: 1, ID: 1}
	for i := 1; i <= c.initialN; i++ {
		v.Members = append(v.Members, Member{ID: MemberID{Node: NodeID(i), Incarnation: 1}, Role: Voter})
	}
	return v
}

func (c *cluster) describe() string {
	s := ""
	for _, id := range c.order {
		m := c.members[id]
		if !m.up || m.n == nil {
			s += fmt.Sprintf("[%d down] ", id)
			continue
		}
		in := m.n.Info()
		s += fmt.Sprintf("[%v %v v%d %v held=%v st=%v del=%v pend=%d rest=%v removed=%v] ", in.Self, in.Status, in.View, in.Role, in.Held, in.Stable, in.Delivered, in.Pending, in.Restoring, m.removed)
	}
	return s
}
