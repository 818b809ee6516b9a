package racs

import "time"

// "Any" reads (A13) are served by a clone that heard its sequencer within
// TickStale ticks. The core counts ticks, but ticks measure time only as
// well as they are delivered: a paused process (SIGSTOP, a long GC, a
// starved box) delivered none, and a quiescent group is not ticked at all.
// So freshness is judged at read time, on the host's monotonic clock: the
// worker notes when the core's LastContact last moved, and a read is
// fresh until that moment plus TickStale·TickInterval — a contact from
// before a pause has expired when the process wakes, before any tick
// could tell the core.

// mono is the host's monotonic clock, in nanoseconds since it started.
func (h *Host) mono() int64 { return int64(time.Since(h.started)) }

// refreshFreshness notes a new contact and recomputes until when "any"
// reads are fresh (worker goroutine).
func (g *Group) refreshFreshness() {
	core := g.cl.Core()
	if !core.CanServeAny() {
		g.freshUntil.Store(0)
		return
	}
	if c := core.LastContact(); c != g.lastContact || !g.contactSeen {
		g.lastContact, g.contactSeen = c, true
		g.contactAt = g.host.mono()
	}
	stale := int64(max(g.host.cfg.Core.TickStale, 1)) * int64(g.host.cfg.TickInterval)
	g.freshUntil.Store(g.contactAt + stale)
}

// freshForAny reports whether an "any" read may be served now.
func (g *Group) freshForAny() bool { return g.host.mono() < g.freshUntil.Load() }

// confirmedFresh notes that a read round started at t0 (Host.mono)
// confirmed this clone's view with a quorum: like a contact with the
// sequencer at t0, it makes "any" reads fresh until t0 + TickStale ticks.
// A quiescent group is not ticked, so its core's LastContact (in ticks)
// cannot move and refreshFreshness would see no new contact: without
// this, every "any" read of a read-only group would be a quorum round.
// The worker's next refreshFreshness may lower the bound again (it
// clears it when the clone cannot serve "any" reads at all); a lower
// bound only costs a read round.
func (g *Group) confirmedFresh(t0 int64) {
	until := t0 + int64(max(g.host.cfg.Core.TickStale, 1))*int64(g.host.cfg.TickInterval)
	for {
		cur := g.freshUntil.Load()
		if cur >= until || g.freshUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}
