package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// sampler turns one reading of the sources into a Snapshot, keeping what
// the derivations need from the previous ones. Only the sampling
// goroutine uses it.
type sampler struct {
	cfg         Config
	seq         uint64
	rates       *rates
	groups      map[uint64]*groupTrack
	applied     map[uint64]uint64 // group → highest applied position, last sample
	appliedAt   time.Time
	viewChanges []ViewChange // newest first, at most cfg.ViewChanges
}

func newSampler(cfg Config) *sampler {
	return &sampler{cfg: cfg, rates: newRates(cfg.Samples), groups: map[uint64]*groupTrack{}, applied: map[uint64]uint64{}}
}

func (s *sampler) sample(ctx context.Context) Snapshot {
	now := s.cfg.Now()
	s.seq++
	snap := Snapshot{Seq: s.seq, Time: now, Interval: s.cfg.Interval.Seconds(), Demo: s.cfg.Demo != nil,
		GroupsKnown: s.cfg.Groups != nil, Members: []MemberRow{}, Grid: []GridRow{}, Moves: []MoveRow{},
		ViewChanges: []ViewChange{}, Services: []ServiceRow{}}
	var crashed []uint64
	if s.cfg.Demo != nil {
		crashed = s.cfg.Demo.Down()
	}
	m := s.cfg.Map()
	snap.Members = membersOf(s.cfg.Members(), m, crashed)
	var reports map[uint64][]GroupView
	if s.cfg.Groups != nil {
		reports = map[uint64][]GroupView{}
		for _, g := range s.cfg.Groups(ctx) {
			reports[g.Group] = append(reports[g.Group], g)
		}
	}
	if m != nil {
		snap.Epoch = m.Epoch
		down := func(id uint64) bool { return isDown(snap.Members, id) }
		snap.Grid, snap.Clones = s.grid(m, reports, now, down)
		moves := dispatcher.MovesOf(m, nil)
		if len(moves) > 0 && s.cfg.History != nil {
			// The history only explains moves: read it only when there are some.
			hist, err := s.cfg.History(ctx, m.Epoch-min(m.Epoch, 64), 0)
			if err != nil {
				snap.Problems = append(snap.Problems, "history: "+err.Error())
			} else {
				moves = dispatcher.MovesOf(m, hist)
			}
		}
		snap.Moves = movesWithProgress(moves, reports)
	} else {
		snap.Problems = append(snap.Problems, "no partition map yet")
	}
	snap.ViewChanges = slices.Clone(s.viewChanges)
	if s.cfg.Stats != nil {
		snap.Services = s.rates.step(s.cfg.Stats(), now)
	}
	return snap
}

// membersOf sorts the members by id and marks the crashed ones.
func membersOf(ms []dispatcher.Member, m *partitionmap.Map, crashed []uint64) []MemberRow {
	out := make([]MemberRow, 0, len(ms))
	for _, x := range ms {
		row := MemberRow{Member: x, Crashed: slices.Contains(crashed, x.ID)}
		if m != nil {
			for i := range m.Partitions {
				if _, ok := m.Partitions[i].Holds(partitionmap.NodeID(x.ID)); ok {
					row.Clones++
				}
			}
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b MemberRow) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// isDown: crashed by the demo, or not alive as gossip sees it, or absent.
func isDown(ms []MemberRow, id uint64) bool {
	for _, m := range ms {
		if m.ID == id {
			return m.Crashed || (m.State != "alive" && m.State != "active")
		}
	}
	return true
}

// grid builds the partitions × clones rows and advances the view-change
// tracking of every group.
func (s *sampler) grid(m *partitionmap.Map, reports map[uint64][]GroupView, now time.Time, down func(uint64) bool) ([]GridRow, int) {
	rows := make([]GridRow, 0, len(m.Partitions))
	cols := 0
	dt := now.Sub(s.appliedAt).Seconds()
	applied := map[uint64]uint64{}
	for i := range m.Partitions {
		p := &m.Partitions[i]
		rs := reports[p.Group]
		row := GridRow{Partition: p.Ref().String(), Range: rangeOf(p), Group: p.Group, State: "unknown", Load: -1}
		cols = max(cols, len(p.Clones))
		if reports != nil && len(rs) > 0 {
			o := observe(rs)
			row.View, row.Sequencer = o.view, o.sequencer
			row.State = "changing"
			if o.settled {
				row.State = "serving"
			}
			t := s.groups[p.Group]
			if t == nil {
				t = &groupTrack{}
				s.groups[p.Group] = t
			}
			if vc, ok := t.step(o, now, down); ok {
				vc.Group, vc.Partition = p.Group, row.Partition
				s.viewChanges = append([]ViewChange{vc}, s.viewChanges...)
				s.viewChanges = s.viewChanges[:min(len(s.viewChanges), s.cfg.ViewChanges)]
			}
			var top uint64
			for _, r := range rs {
				top = max(top, r.Applied)
			}
			applied[p.Group] = top
			if prev, ok := s.applied[p.Group]; ok && dt > 0 && top >= prev {
				row.Load = float64(top-prev) / dt
			}
		} else if reports != nil {
			// No clone reports: all of them are down. Start the change now, so
			// its duration counts from here.
			if t := s.groups[p.Group]; t != nil {
				t.step(groupObs{}, now, down)
			}
		}
		for _, c := range p.Clones {
			cell := Cell{Node: uint64(c.Node), Role: roleName(c.Role), Ready: c.Ready}
			for _, r := range rs {
				if r.Node == uint64(c.Node) {
					cell.Reported, cell.Status, cell.View, cell.Applied = true, r.Status, r.View, r.Applied
				}
			}
			cell.Sequencer = row.Sequencer != "" && seqNode(row.Sequencer) == fmt.Sprintf("node %d", c.Node)
			row.Cells = append(row.Cells, cell)
		}
		rows = append(rows, row)
	}
	s.applied, s.appliedAt = applied, now
	return rows, cols
}

func roleName(r partitionmap.Role) string {
	if r == partitionmap.Learner {
		return "learner"
	}
	return "voter"
}

// rangeOf words a partition's keys: [start, end) of a range service, the
// slots of a hash service.
func rangeOf(p *partitionmap.Partition) string {
	if p.Start != nil || p.End != nil {
		start, end := string(p.Start), string(p.End)
		if start == "" {
			start = "−∞"
		}
		if end == "" {
			end = "∞"
		}
		return fmt.Sprintf("[%s, %s)", strings.ToValidUTF8(start, "?"), strings.ToValidUTF8(end, "?"))
	}
	return fmt.Sprintf("slots %d–%d", p.SlotLo, p.SlotHi)
}

// movesWithProgress adds the learner's progress to each move: its applied
// position over the highest voter's.
func movesWithProgress(moves []dispatcher.Move, reports map[uint64][]GroupView) []MoveRow {
	out := make([]MoveRow, 0, len(moves))
	for _, mv := range moves {
		row := MoveRow{Move: mv, Partition: mv.Partition.String(), Percent: -1}
		switch {
		case mv.Learner == 0:
		case mv.Ready:
			row.Percent = 100
		default:
			var learner, top uint64
			var seen bool
			for _, r := range reports[mv.Group] {
				if r.Node == uint64(mv.Learner) {
					learner, seen = r.Applied, true
				} else if slices.Contains(mv.Voters, partitionmap.NodeID(r.Node)) {
					top = max(top, r.Applied)
				}
			}
			if seen && top > 0 {
				row.Percent = min(100, 100*float64(learner)/float64(top))
			} else if seen {
				row.Percent = 0
			}
		}
		out = append(out, row)
	}
	return out
}
