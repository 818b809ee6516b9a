package racs_test

import (
	"testing"
	"testing/synctest"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
	"github.com/quicksilver-go/quicksilver/racs"
)

// quietSim builds a racs simulation of hosts running one group of the given
// durability, with no faults, and runs it until the group is created.
func quietSim(t *testing.T, hosts int, dur racs.Durability) *racsSim {
	t.Helper()
	p := rsimParams{hosts: hosts, groups: 1, snapEvery: 3, logTail: 2, steps: 0}
	if dur == racs.Memory {
		p.memoryP = 1
	}
	s := newRacsSim(1, p, "", false)
	s.runUntil(t, 500, s.allSettled)
	return s
}

// runUntil runs steps until cond holds (or fails the test).
func (s *racsSim) runUntil(t *testing.T, steps int, cond func() bool) {
	t.Helper()
	for i := 0; i < steps; i++ {
		if cond() {
			return
		}
		s.step++
		s.updateSuspicions()
		s.runHosts(true)
		s.collect()
	}
	if !cond() {
		t.Fatalf("condition not reached after %d steps: %s", steps, s.describe(1))
	}
}

// submitN submits n updates and runs until they are applied everywhere.
func (s *racsSim) submitN(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		s.submit()
		s.step++
		s.runHosts(true)
		s.collect()
	}
	s.runUntil(t, 500, func() bool { return len(s.pending) == 0 && s.allSettled() })
}

// A memory node that restarts with the same command line (Create) must
// come back as a new incarnation that joins, never as member 3.1 of the
// first view again; so must a Disk node whose disk was wiped (finding 7).
// The old code started the first view again, NORMAL and empty.
func TestRestartNeverCreatesTheGroupAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		dur  racs.Durability
	}{{"memory", racs.Memory}, {"wiped-disk", racs.Disk}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := quietSim(t, 3, tc.dur)
				defer s.close()
				s.submitN(t, 10)
				victim := s.hosts[3]
				s.kill(victim, "test")
				if tc.dur == racs.Disk {
					victim.disk = s.newDisk(victim.id)
				}
				before := len(s.groups[1].journals[3])
				s.start(victim)
				s.runUntil(t, 1000, func() bool { return s.allSettled() })
				s.submitN(t, 5)
				for _, ev := range s.groups[1].journals[3][before:] {
					if ev.Member.Incarnation == 1 {
						t.Fatalf("the restarted node came back as %v (%v): the group was created again", ev.Member, ev.Kind)
					}
				}
				g, _ := victim.h.Group(1)
				if in := g.Info(); in.Self.Incarnation == 1 || in.Status != groupcomm.StatusNormal {
					t.Fatalf("restarted clone is %+v, want a new incarnation, NORMAL", in)
				}
				if res := s.check(true); len(res.violations) > 0 {
					t.Fatal(res.violations)
				}
			})
		})
	}
}

// A node asked to create a group whose peers are not up yet waits, says
// whom it waits for, and creates nothing alone.
func TestCreateWaitsForItsPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := rsimParams{hosts: 3, groups: 1, snapEvery: 3, logTail: 2}
		s := newRacsSim(2, p, "", false)
		defer s.close()
		for _, id := range []groupcomm.NodeID{2, 3} {
			s.kill(s.hosts[id], "not started yet")
		}
		for i := 0; i < 200; i++ {
			s.step++
			s.runHosts(true)
		}
		g, err := s.hosts[1].h.Group(1)
		if err != nil {
			t.Fatal(err)
		}
		in := g.Info()
		if in.Status != groupcomm.StatusJoining || len(in.WaitingFor) != 2 {
			t.Fatalf("a lone creator is %v waiting for %v, want JOINING waiting for both peers", in.Status, in.WaitingFor)
		}
		if _, err := g.SubmitNoWait([]byte("x"), ""); err != nil {
			t.Fatal(err)
		}
		for _, id := range []groupcomm.NodeID{2, 3} {
			s.start(s.hosts[id])
		}
		s.runUntil(t, 500, s.allSettled)
		for _, id := range s.order {
			for _, ev := range s.groups[1].journals[id] {
				if ev.Kind == simcheck.NewIncarnation {
					t.Fatalf("node %d joined instead of creating: %v", id, ev.Member)
				}
			}
		}
	})
}
