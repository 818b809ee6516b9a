package racs_test

import (
	"os"
	"slices"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// The racs simulation's nemesis: each step's load and faults, and the
// rules that keep it from taking more than the design promises to survive.

// chaos applies one step's faults and load.
func (s *racsSim) chaos() {
	p, rng := &s.p, s.rng
	for k := 0; k < 3; k++ {
		if rng.Float64() < p.submitP {
			s.submit()
		}
	}
	ups := s.upHosts()
	if len(ups) > 0 && rng.Float64() < p.crashP {
		if sh := ups[rng.IntN(len(ups))]; s.safeToLose(sh) {
			s.kill(sh, "crash")
		}
	}
	if len(ups) > 0 && rng.Float64() < p.storageCrashP {
		if sh := ups[rng.IntN(len(ups))]; s.safeToLose(sh) && !s.runsMemory(sh) && sh.arm == crashNone {
			sh.arm = crashAt(1 + rng.IntN(int(numCrashAt)-1))
			s.tracef("arm host %d: crash at storage boundary %d", sh.id, sh.arm)
		}
	}
	if rng.Float64() < p.transferCrashP {
		for _, sh := range ups {
			if sh.up && s.inTransfer(sh) && s.safeToLose(sh) {
				s.kill(sh, "crash during a state transfer")
				break
			}
		}
	}
	if downs := s.downHosts(); len(downs) > 0 && rng.Float64() < p.restartP {
		sh := downs[rng.IntN(len(downs))]
		if rng.Float64() < p.wipeP && s.safeToWipe(sh) {
			os.Remove(sh.disk.boltPath)
			sh.disk = s.newDisk(sh.id)
			s.tracef("wipe the disk of host %d", sh.id)
		}
		s.start(sh)
	}
	if rng.Float64() < p.partP {
		var a, b []groupcomm.NodeID
		for _, id := range s.order {
			if rng.IntN(2) == 0 {
				a = append(a, id)
			} else {
				b = append(b, id)
			}
		}
		s.partition(a, b)
	}
	if len(s.partitioned) > 0 && rng.Float64() < p.healP {
		s.partition()
	}
	if rng.Float64() < p.lagP {
		s.lagOne()
	}
	keep := s.lags[:0]
	for _, l := range s.lags {
		if l.until <= s.step {
			s.net.Mend(l.from, l.to)
			s.tracef("mend %d->%d", l.from, l.to)
			continue
		}
		keep = append(keep, l)
	}
	s.lags = keep
	if rng.Float64() < p.joinP {
		s.joinOne()
	}
}

func (s *racsSim) upHosts() []*simHost {
	var out []*simHost
	for _, id := range s.order {
		if sh := s.hosts[id]; sh.up {
			out = append(out, sh)
		}
	}
	return out
}

func (s *racsSim) downHosts() []*simHost {
	var out []*simHost
	for _, id := range s.order {
		if sh := s.hosts[id]; !sh.up {
			out = append(out, sh)
		}
	}
	return out
}

func (s *racsSim) group(sh *simHost, gid replica.GroupID) *racs.Group {
	if !sh.up {
		return nil
	}
	g, err := sh.h.Group(gid)
	if err != nil {
		return nil
	}
	return g
}

// safeToLose reports whether killing sh leaves every Memory group it runs
// able to go on: memory groups keep acknowledged updates only while a
// majority of a view lives, so the nemesis never takes more. It kills only
// while such a group is quiet (every live clone NORMAL in one view, no
// transfer: a view change in flight may need this clone) and the other
// live voters of that view form a quorum.
func (s *racsSim) safeToLose(sh *simHost) bool {
	for _, gid := range sh.groups {
		if s.groups[gid].durability == racs.Memory && !s.othersHoldQuorum(sh, gid) {
			return false
		}
	}
	return true
}

// othersHoldQuorum reports whether the clones of gid on hosts other than
// sh are quiet and hold a quorum of their view.
func (s *racsSim) othersHoldQuorum(sh *simHost, gid replica.GroupID) bool {
	var v *groupcomm.View
	up := map[groupcomm.MemberID]bool{}
	for _, id := range s.order {
		o := s.hosts[id]
		if !slices.Contains(o.groups, gid) {
			continue
		}
		g := s.group(o, gid)
		if g == nil {
			continue
		}
		in := g.Info()
		gv := g.View()
		if in.Status != groupcomm.StatusNormal || g.Transfers() || v != nil && gv.ID != v.ID {
			return false
		}
		v = &gv
		if o != sh && !in.Restoring && in.Role == groupcomm.Voter {
			up[in.Self] = true
		}
	}
	if v == nil {
		return false
	}
	n := 0
	for _, id := range v.Voters() {
		if up[id] {
			n++
		}
	}
	return n >= v.Quorum()
}

// safeToWipe reports whether a down host's disk may be wiped: it loses
// the state of every group it runs, so only if each of them is quiet and
// holds a quorum without it (a wiped majority loses acknowledged updates,
// as it would anywhere).
func (s *racsSim) safeToWipe(sh *simHost) bool {
	for _, gid := range sh.groups {
		if !s.othersHoldQuorum(sh, gid) {
			return false
		}
	}
	return true
}

// runsMemory reports whether a host runs a Memory group (an armed storage
// crash may fire when losing its clones is no longer safe).
func (s *racsSim) runsMemory(sh *simHost) bool {
	for _, gid := range sh.groups {
		if s.groups[gid].durability == racs.Memory {
			return true
		}
	}
	return false
}

func (s *racsSim) inTransfer(sh *simHost) bool {
	for _, gid := range sh.groups {
		if g := s.group(sh, gid); g != nil && g.Transfers() {
			return true
		}
	}
	return false
}

// partition splits the hosts (no sides: heal the partition).
func (s *racsSim) partition(sides ...[]groupcomm.NodeID) {
	s.partitioned = map[[2]groupcomm.NodeID]bool{}
	side := map[groupcomm.NodeID]int{}
	for i, g := range sides {
		for _, id := range g {
			side[id] = i + 1
		}
	}
	for _, a := range s.order {
		for _, b := range s.order {
			if len(sides) > 0 && side[a] != side[b] {
				s.partitioned[[2]groupcomm.NodeID{a, b}] = true
			}
		}
	}
	s.net.Partition(sides...)
	s.tracef("partition %v", sides)
}

// lagOne cuts one directed link for a while, preferring the link from a
// group's sequencer to one of its learners (a learner whose log falls
// behind while its snapshot comes from elsewhere).
func (s *racsSim) lagOne() {
	from := s.order[s.rng.IntN(len(s.order))]
	to := s.order[s.rng.IntN(len(s.order))]
	gid := s.gorder[s.rng.IntN(len(s.gorder))]
	for _, sh := range s.upHosts() {
		if g := s.group(sh, gid); g != nil {
			v := g.View()
			for _, m := range v.Members {
				if m.Role == groupcomm.Learner {
					from, to = v.Sequencer().Node, m.ID.Node
				}
			}
			break
		}
	}
	if from == to {
		return
	}
	s.net.Cut(from, to)
	s.lags = append(s.lags, lag{from: from, to: to, until: s.step + 5 + s.rng.IntN(60)})
	s.tracef("cut %d->%d", from, to)
}

// joinOne makes a live host start running a group it does not run (a new
// clone that joins as a learner and gets a snapshot).
func (s *racsSim) joinOne() {
	ups := s.upHosts()
	if len(ups) == 0 {
		return
	}
	sh := ups[s.rng.IntN(len(ups))]
	gid := s.gorder[s.rng.IntN(len(s.gorder))]
	g := s.groups[gid]
	n := 0
	for _, id := range s.order {
		if slices.Contains(s.hosts[id].groups, gid) {
			n++
		}
	}
	if slices.Contains(sh.groups, gid) || n >= 7 {
		return
	}
	sh.groups = append(sh.groups, gid)
	sh.joined[gid] = true
	sm := &simcheck.DigestMachine{}
	s.sms[hostGroup{sh.id, gid}] = sm
	if _, err := sh.h.AddGroup(racs.GroupConfig{Group: gid, Incarnation: 1, Durability: g.durability, StateMachine: sm,
		Bootstrap: &g.boot, Contacts: s.contactsFor(g, sh.id)}); err != nil {
		panic(err)
	}
	s.tracef("host %d joins group %d", sh.id, gid)
}
