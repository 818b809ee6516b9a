package racs

import (
	"slices"

	"github.com/quicksilver-go/quicksilver/replica"
)

// HostStats counts what a host's workers drive.
type HostStats struct {
	// Groups is the number of group clones hosted.
	Groups int
	// Ticking is the number of them on a tick list: not quiescent, or
	// with a transfer, a creation or a removed incarnation under way. A
	// quiescent group costs no tick (worker.tickGroup).
	Ticking int
}

// Stats returns the host's counts as of its workers' last ticks.
func (h *Host) Stats() HostStats {
	var s HostStats
	for _, w := range h.workers {
		s.Groups += int(w.nGroups.Load())
		s.Ticking += int(w.nTicking.Load())
	}
	return s
}

// Groups returns the ids of the groups hosted, in increasing order.
func (h *Host) Groups() []replica.GroupID {
	h.mu.Lock()
	out := make([]replica.GroupID, 0, len(h.mu.groups))
	for id := range h.mu.groups {
		out = append(out, id)
	}
	h.mu.Unlock()
	slices.Sort(out)
	return out
}
