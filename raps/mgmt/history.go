package mgmt

import (
	"sync"
	"time"
)

// MaxHistory is how many changes the history keeps: the last 10,000.
// Older entries are dropped (from every clone alike, at the same change),
// so snapshots and memory stay bounded however long the cluster lives.
const MaxHistory = 10_000

// Bounds on a history entry's strings.
const (
	maxSummaryLen = 2048
)

// Change is one applied change, as the history records it.
type Change struct {
	// Epoch is the map's epoch the change produced (the bootstrap's is 1).
	Epoch uint64 `json:"epoch"`
	// Time is the proposer's Command.Time (zero if it gave none).
	Time time.Time `json:"time"`
	Op   Op        `json:"op"`
	// Reason is the proposer's Command.Reason.
	Reason string `json:"reason,omitempty"`
	// Summary says what changed, written by Apply from the command and the
	// maps before and after (≤ 2 KiB, cut with " …").
	Summary string `json:"summary"`
}

// history is the bounded list of changes, oldest first. Every applied
// change adds the entry of its epoch, so the epochs are consecutive and the
// last is the map's: entry i has epoch first+i. Apply appends under mu;
// readers copy under it.
type history struct {
	mu      sync.RWMutex
	changes []Change
}

// add appends c and drops the oldest beyond MaxHistory. Re-slicing from
// the front keeps append amortized O(1): once the capacity runs out,
// append copies only the MaxHistory kept entries to a new array.
func (h *history) add(c Change) {
	h.changes = append(h.changes, c)
	if n := len(h.changes); n > MaxHistory {
		h.changes = h.changes[n-MaxHistory:]
	}
}

// since returns a copy of the changes after epoch sinceEpoch, oldest first,
// at most limit of them (all that are kept if limit ≤ 0). The caller holds
// mu for reading.
func (h *history) since(sinceEpoch uint64, limit int) []Change {
	if len(h.changes) == 0 {
		return []Change{}
	}
	first := h.changes[0].Epoch
	i := 0
	if sinceEpoch >= first {
		// Epochs are consecutive: the entry of sinceEpoch+1 is at index
		// sinceEpoch+1-first.
		if d := sinceEpoch - first + 1; d < uint64(len(h.changes)) {
			i = int(d)
		} else {
			return []Change{}
		}
	}
	out := h.changes[i:]
	if limit > 0 && limit < len(out) {
		out = out[:limit]
	}
	return append([]Change{}, out...)
}

// History returns the changes with an epoch above sinceEpoch, oldest first,
// at most limit of them (every kept one if limit ≤ 0). Page forward by
// passing the last returned epoch; the last n changes are those after
// Map().Epoch-n. Only the last MaxHistory changes are kept. It is safe to
// call from any goroutine, concurrently with Apply; the slice is the
// caller's.
func (s *StateMachine) History(sinceEpoch uint64, limit int) []Change {
	s.hist.mu.RLock()
	defer s.hist.mu.RUnlock()
	return s.hist.since(sinceEpoch, limit)
}
