package groupcomm_test

import (
	. "github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/simcheck"
)

// The harness's fault rules and its ghosts: which member the nemesis may
// crash, and the removed incarnations that still answer (as racs keeps
// them).

func (m *member) ghostFor(to MemberID) *Node {
	for _, gh := range m.ghosts {
		if gh.Info().Self == to {
			return gh
		}
	}
	return nil
}

// runGhosts ticks the ghosts, sends what they say and drops the retired.
func (c *cluster) runGhosts(m *member, tick bool) {
	keep := m.ghosts[:0]
	for _, gh := range m.ghosts {
		if tick {
			gh.Tick()
		}
		for gh.HasReady() {
			rd := gh.Ready()
			for _, msg := range rd.Messages {
				c.send(msg, nil)
			}
			gh.Advance(rd)
		}
		if !gh.Retired() {
			keep = append(keep, gh)
		}
	}
	m.ghosts = keep
}

// mayLose reports whether the simulation may crash m: a memory member
// (or a durable one with nothing on its disk yet) loses its state, so only
// while, in every view some member is in (or will
// come back in, from its disk), the durable voters form a quorum without
// it. Memory state survives only while a majority of the view lives; the
// nemesis never takes more.
func (c *cluster) mayLose(m *member) bool {
	if m.n == nil || !m.memory && m.hasState() {
		return true // a durable member comes back with its state
	}
	// A memory member, or a durable one that has persisted nothing yet
	// (its first Ready): crashing loses its state.
	// Only while the group is quiet: a view change in flight may need this
	// member's acceptance (a proposal it accepted exists only in memory).
	for _, id := range c.order {
		if o := c.members[id]; o.up && o.n != nil && !o.removed &&
			(o.n.Status() != StatusNormal || o.n.View().ID != m.n.View().ID) {
			return false
		}
	}
	views := []View{m.n.View()}
	low := m.n.View().ID
	for _, id := range c.order {
		o := c.members[id]
		switch {
		case o.up && o.n != nil:
			views = append(views, o.n.View())
			low = min(low, o.n.View().ID)
		case !o.memory:
			if st, err := o.disk.Load(harnessGroup); err == nil && st.HardState != nil {
				views = append(views, st.HardState.Installed)
				low = min(low, st.HardState.Installed.ID)
			}
		}
	}
	// And every proposal accepted for a view not installed by all yet: one
	// whose new voters lost their state could never be decided, and Paxos
	// makes every later proposer adopt it.
	for _, id := range c.order {
		for _, ev := range c.members[id].journal {
			if ev.Kind == simcheck.Accept && ev.View.ID > low {
				views = append(views, ev.View)
			}
		}
	}
	for _, v := range views {
		if !v.IsVoter(m.id) {
			continue
		}
		if len(v.Voters()) < 4 {
			return false // a view change could shrink it to two voters around the lost one
		}
		durable := 0
		for _, id := range v.Voters() {
			if o := c.members[id.Node]; id != m.id && o != nil && !o.memory && o.id == id && o.hasState() {
				durable++
			}
		}
		if durable < v.Quorum() {
			return false
		}
	}
	return true
}

// hasState reports whether a durable member holds its state (on its disk).
func (m *member) hasState() bool {
	st, err := m.disk.Load(harnessGroup)
	return err == nil && st.HardState != nil
}
