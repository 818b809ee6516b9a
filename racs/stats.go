package racs

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/replica"
)

// HostStats counts what a host's workers drive, since the host started.
// Durations are in nanoseconds. Every counter is kept by the goroutine
// that does the work (a worker, the committer) in atomics of its own, and
// summed here: counting costs the hot path an atomic add, no lock and no
// allocation.
type HostStats struct {
	// Groups is the number of group clones hosted.
	Groups int
	// Ticking is the number of them on a tick list: not quiescent, or
	// with a transfer, a creation or a removed incarnation under way. A
	// quiescent group costs no tick (worker.tickGroup).
	Ticking int

	// ViewsInstalled counts the views the host's clones installed: the
	// first view of a group created here, view changes, and the view
	// that admits a joiner or re-admits a restarted clone.
	ViewsInstalled uint64
	// ViewChange is, for each installation that ended a spell out of
	// NORMAL (frozen in a view change, recovering after a restart,
	// joining, creating), how long the spell lasted, from the first event
	// the worker handled in it to the installation (so at the granularity
	// of the worker's batches; a view installed by the very event that
	// froze the clone is not timed).
	ViewChange HistogramSnapshot
	// Delivered counts the deliveries the host's clones applied, in
	// order: every ordered update, a duplicate or a refused one (reused
	// key, bad envelope) included, which the state machine skips.
	Delivered uint64
	// DeliveryLatency is, for each update submitted here (Group.Submit),
	// the time from its handover to the group's worker to its apply at
	// this clone: multicast, ordering, stability and the durable write.
	DeliveryLatency HistogramSnapshot

	// TransfersSent counts the state transfers this host's clones began
	// as donors, TransferBytesSent the snapshot bytes their chunks
	// carried (resent chunks included).
	TransfersSent, TransferBytesSent uint64
	// TransfersReceived counts the snapshots this host's clones restored
	// as learners, TransferBytesReceived the snapshot bytes they took in
	// order (duplicates and out-of-order chunks are not counted).
	TransfersReceived, TransferBytesReceived uint64

	// CommitLatency is the time of each durable write (Store.Write: one
	// fsync for every group and worker committing at that moment);
	// CommitEntries and CommitGroups are the log entries and the group
	// writes each carried (the group-commit factors). Memory groups and
	// a host without a Store commit nothing.
	CommitLatency, CommitEntries, CommitGroups HistogramSnapshot
}

// workerStats are a worker's counters (written by its goroutine only).
type workerStats struct {
	viewsInstalled, delivered                atomic.Uint64
	transfersSent, transferBytesSent         atomic.Uint64
	transfersReceived, transferBytesReceived atomic.Uint64
	viewChange, deliveryLatency              Histogram
}

// commitStats are the committer's counters.
type commitStats struct {
	latency, entries, groups Histogram
}

// observe counts one Store.Write of b that took d.
func (c *commitStats) observe(b *replica.Batch, d time.Duration) {
	n := 0
	for i := range b.Writes {
		n += len(b.Writes[i].Entries)
	}
	c.latency.ObserveDuration(d)
	c.entries.Observe(uint64(n))
	c.groups.Observe(uint64(len(b.Writes)))
}

// Stats returns the host's counts (Groups and Ticking as of its workers'
// last ticks).
func (h *Host) Stats() HostStats {
	var s HostStats
	for _, w := range h.workers {
		s.Groups += int(w.nGroups.Load())
		s.Ticking += int(w.nTicking.Load())
		st := &w.stats
		s.ViewsInstalled += st.viewsInstalled.Load()
		s.Delivered += st.delivered.Load()
		s.TransfersSent += st.transfersSent.Load()
		s.TransferBytesSent += st.transferBytesSent.Load()
		s.TransfersReceived += st.transfersReceived.Load()
		s.TransferBytesReceived += st.transferBytesReceived.Load()
		vc, dl := st.viewChange.Snapshot(), st.deliveryLatency.Snapshot()
		s.ViewChange.Add(&vc)
		s.DeliveryLatency.Add(&dl)
	}
	s.CommitLatency = h.commits.latency.Snapshot()
	s.CommitEntries = h.commits.entries.Snapshot()
	s.CommitGroups = h.commits.groups.Snapshot()
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
