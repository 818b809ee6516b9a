package dispatcher

import (
	"strconv"
	"strings"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
)

// Move is one partition whose clones are not yet what the map desires:
// what GET /v1/admin/moves lists, and what the dashboard shows.
type Move struct {
	Partition partitionmap.PartRef `json:"partition"`
	Group     uint64               `json:"group"`
	// Kind: "move" (a learner that replaces a voter), "add" (a learner
	// added), "evacuate" (a voter on a draining or dead node, no learner
	// yet), "add_pending" (fewer voters than desired, no learner yet),
	// "remove_pending" (more voters than desired).
	Kind     string                `json:"kind"`
	Voters   []partitionmap.NodeID `json:"voters"`
	Desired  int                   `json:"desired"`
	Learner  partitionmap.NodeID   `json:"learner,omitempty"`
	Replaces partitionmap.NodeID   `json:"replaces,omitempty"`
	Ready    bool                  `json:"ready,omitempty"`
	// Progress says where the move is, Reason why it happens (the latest
	// change of the history that names the partition or the node).
	Progress string `json:"progress"`
	Reason   string `json:"reason,omitempty"`
}

// MovesOf derives the moves in progress from the map (desired against
// observed clones) and explains them from hist, the recent history
// (raps.Client.History), oldest first; nil hist leaves Reason empty.
func MovesOf(m *partitionmap.Map, hist []mgmt.Change) []Move {
	out := []Move{}
	reason := func(words ...string) string {
		for i := len(hist) - 1; i >= 0; i-- {
			c := hist[i]
			if c.Op == mgmt.OpLearnersReady {
				continue // progress reports, not reasons
			}
			for _, w := range words {
				if w != "" && (mentions(c.Reason, w) || mentions(c.Summary, w)) {
					r := c.Reason
					if r == "" {
						r = c.Summary
					}
					return "epoch " + strconv.FormatUint(c.Epoch, 10) + ": " + r
				}
			}
		}
		return ""
	}
	for i := range m.Partitions {
		p := &m.Partitions[i]
		svc, err := m.Service(p.Service)
		if err != nil {
			continue
		}
		mv := Move{Partition: p.Ref(), Group: p.Group, Desired: svc.Clones}
		var leaving partitionmap.NodeID
		for _, v := range p.Voters() {
			mv.Voters = append(mv.Voters, v.Node)
			if n, err := m.Node(v.Node); err == nil && n.State != partitionmap.NodeActive && leaving == 0 {
				leaving = v.Node
			}
		}
		if l, ok := p.Learner(); ok {
			mv.Learner, mv.Replaces, mv.Ready = l.Node, l.Replaces, l.Ready
			mv.Kind = "add"
			if l.Replaces != 0 {
				mv.Kind = "move"
			}
			if l.Ready {
				mv.Progress = "the learner holds its state; waiting to be promoted"
			} else {
				mv.Progress = "the learner is receiving the state"
			}
		} else {
			switch {
			case leaving != 0:
				mv.Kind, mv.Replaces = "evacuate", leaving
				mv.Progress = "a voter sits on a node that is not active; waiting for the placer to add its replacement"
			case len(mv.Voters) < svc.Clones:
				mv.Kind = "add_pending"
				mv.Progress = "fewer voters than desired; waiting for the placer to add a learner"
			case len(mv.Voters) > svc.Clones:
				mv.Kind = "remove_pending"
				mv.Progress = "more voters than desired; waiting for the placer to remove one"
			default:
				continue
			}
		}
		var nodeWord string
		if mv.Replaces != 0 {
			nodeWord = "node " + strconv.FormatUint(uint64(mv.Replaces), 10)
		}
		mv.Reason = reason(p.Ref().String(), nodeWord, "service \""+p.Service+"\"")
		out = append(out, mv)
	}
	return out
}

// mentions: s names w as a whole word ("kv/1" is not in "kv/10", "node
// 2" not in "node 23").
func mentions(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		end := i + j + len(w)
		if end == len(s) || s[end] < '0' || s[end] > '9' {
			return true
		}
		i = i + j + 1
	}
}
