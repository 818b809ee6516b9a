package dashboard

import (
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
)

// Snapshot is one sample, as the page receives it (JSON, one per
// server-sent event). Rates and durations are per Interval: derived from
// two successive samples, not measured continuously.
type Snapshot struct {
	Seq         uint64       `json:"seq"`
	Time        time.Time    `json:"time"`
	Interval    float64      `json:"interval_seconds"`
	Epoch       uint64       `json:"epoch"`
	Members     []MemberRow  `json:"members"`
	Clones      int          `json:"clones"` // the grid's columns: the most clones of any partition
	Grid        []GridRow    `json:"grid"`
	Moves       []MoveRow    `json:"moves"`
	ViewChanges []ViewChange `json:"view_changes"` // newest first
	Services    []ServiceRow `json:"services"`
	Demo        bool         `json:"demo"`         // crash and restart buttons
	GroupsKnown bool         `json:"groups_known"` // the Groups hook is set
	// Problems: the sources that failed in this sample.
	Problems []string `json:"problems,omitempty"`
}

// MemberRow is a member and, in a demo, whether it was crashed.
type MemberRow struct {
	dispatcher.Member
	Crashed bool `json:"crashed"`
	Clones  int  `json:"clones"` // clones the map places on it
}

// GridRow is one partition: its group as its clones report it.
type GridRow struct {
	Partition string `json:"partition"`
	Range     string `json:"range"`
	Group     uint64 `json:"group"`
	// View and Sequencer: the newest view any clone reports, and its
	// sequencer ("node.incarnation"); zero and empty when no clone
	// reports.
	View      uint64 `json:"view"`
	Sequencer string `json:"sequencer"`
	// State: "serving" (every reporting voter of the view is in it and
	// NORMAL, and every member of the view reports), "changing", or
	// "unknown" (no reports).
	State string `json:"state"`
	// Load: updates applied per second over the last Interval (the
	// advance of the highest applied position); -1 before two samples.
	Load  float64 `json:"load"`
	Cells []Cell  `json:"cells"`
}

// Cell is one clone of a partition: the map's placement and the node's
// report.
type Cell struct {
	Node      uint64 `json:"node"`
	Role      string `json:"role"` // the map's: "voter" or "learner"
	Ready     bool   `json:"ready,omitempty"`
	Reported  bool   `json:"reported"` // the node reported the group in this sample
	Status    string `json:"status,omitempty"`
	View      uint64 `json:"view,omitempty"`
	Applied   uint64 `json:"applied,omitempty"`
	Sequencer bool   `json:"sequencer,omitempty"` // the group's sequencer as its newest view says
}

// MoveRow is a move in progress (dispatcher.MovesOf) and, while a learner
// receives the state, how far it is.
type MoveRow struct {
	dispatcher.Move
	Partition string `json:"partition_name"`
	// Percent: the learner's applied position over the highest voter's,
	// as they report them (a snapshot transfer jumps); -1 when unknown.
	Percent float64 `json:"percent"`
}

// ViewChange is a view change observed on a group, by sampling.
type ViewChange struct {
	Time      time.Time `json:"time"` // when the new view was first seen serving
	Group     uint64    `json:"group"`
	Partition string    `json:"partition"`
	FromView  uint64    `json:"from_view"`
	ToView    uint64    `json:"to_view"`
	// Cause: the membership difference between the views ("node 2 down",
	// "node 4 joined"), or "sequencer change", or "same members".
	Cause string `json:"cause"`
	// Seconds: from the first sample that saw the group disturbed (a
	// member gone, not serving, or a new view) to the first that saw the
	// new view serving; 0 when both were one sample, that is, it took at
	// most one Interval.
	Seconds float64 `json:"seconds"`
}

// ServiceRow is one service's calls through this front end's Router.
type ServiceRow struct {
	Name string `json:"name"`
	// Rate and Errors: calls and failed calls per second; P50 and P99 in
	// milliseconds (the upper bound of the histogram bucket); all over the
	// last Interval.
	Rate   float64 `json:"rate"`
	Errors float64 `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	// RateSeries and P99Series: the last Samples values, oldest first.
	RateSeries []float64 `json:"rate_series"`
	P99Series  []float64 `json:"p99_series"`
}
