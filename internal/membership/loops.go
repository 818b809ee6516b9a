package membership

import (
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"
)

// maxRejoinDead bounds how many dead members one re-join round tries.
const maxRejoinDead = 3

// rejoinLoop re-joins, every RejoinInterval, the seeds not seen alive and
// a few members believed dead. memberlist gossips to dead nodes only for
// GossipToTheDeadTime and pushes/pulls only with live ones, so without
// this two sides of a long partition would never merge again.
func (m *Membership) rejoinLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			targets := m.rejoinTargets()
			if len(targets) == 0 {
				continue
			}
			n, err := m.ml.Load().Join(targets)
			if n > 0 {
				m.rejoins.Add(1)
			}
			m.log.Debug("membership rejoin", "targets", targets, "reached", n, "err", err)
		}
	}
}

func (m *Membership) rejoinTargets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.left || m.mu.closed {
		return nil
	}
	live := map[string]bool{m.gossipAddr: true}
	var dead []string
	for _, r := range m.mu.members {
		switch r.State {
		case StateAlive, StateSuspect:
			live[r.GossipAddr] = true
		case StateDead:
			dead = append(dead, r.GossipAddr)
		}
	}
	var out []string
	for _, s := range m.mu.seeds {
		if !live[s] && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	rand.Shuffle(len(dead), func(i, j int) { dead[i], dead[j] = dead[j], dead[i] })
	for _, d := range dead[:min(len(dead), maxRejoinDead)] {
		if !live[d] && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// maxReclaims bounds the pending reclaims.
const maxReclaims = 64

// reclaimLocked schedules a push/pull with addr, a node rejected for
// claiming a dead node's name, for when memberlist will accept it.
// mu must be held.
func (m *Membership) reclaimLocked(addr string) {
	if _, ok := m.mu.reclaims[addr]; ok || len(m.mu.reclaims) >= maxReclaims {
		return
	}
	m.mu.reclaims[addr] = time.Now().Add(m.cfg.DeadNodeReclaimTime + m.cfg.GossipInterval)
}

// reclaimLoop pulls the state of rejected claimants once their name can
// be reclaimed (NotifyConflict). It runs even with re-joins disabled: it
// is how a node restarted at a new address gets in without waiting for a
// push/pull.
func (m *Membership) reclaimLoop() {
	defer m.wg.Done()
	t := time.NewTicker(max(m.cfg.DeadNodeReclaimTime/2, m.cfg.GossipInterval))
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			var due []string
			m.mu.Lock()
			for addr, at := range m.mu.reclaims {
				if !now.Before(at) {
					due = append(due, addr)
					delete(m.mu.reclaims, addr)
				}
			}
			m.mu.Unlock()
			if len(due) > 0 {
				n, err := m.ml.Load().Join(due)
				m.log.Debug("membership reclaim", "targets", due, "reached", n, "err", err)
			}
		}
	}
}

// maxSuspectPings bounds the pings suspectLoop sends per ProbeInterval.
const maxSuspectPings = 8

// suspectLoop pings, every ProbeInterval, the members this node
// suspects; an answer clears the suspicion (EventRecovered). memberlist
// reports neither a refutation nor its own later successful probe unless
// it happens to be the next direct probe of that node, which in a large
// cluster may be n probe intervals away.
func (m *Membership) suspectLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		type target struct{ name, addr string }
		var ts []target
		m.mu.Lock()
		for _, r := range m.mu.members {
			if r.State == StateSuspect && len(ts) < maxSuspectPings {
				ts = append(ts, target{r.Name, r.GossipAddr})
			}
		}
		m.mu.Unlock()
		var wg sync.WaitGroup
		for _, tg := range ts {
			addr, err := net.ResolveUDPAddr("udp", tg.addr)
			if err != nil {
				continue
			}
			wg.Go(func() {
				if _, err := m.ml.Load().Ping(tg.name, addr); err == nil {
					m.answered(tg.name)
				}
			})
		}
		wg.Wait() // each Ping waits at most ProbeTimeout < ProbeInterval
	}
}

// answered clears a suspicion of name after a direct answer.
func (m *Membership) answered(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.mu.members[name]; ok && r.State == StateSuspect {
		r.State, r.since = StateAlive, time.Now()
		m.emitLocked(Event{Type: EventRecovered, Member: m.snapshotLocked(r)})
	}
}
