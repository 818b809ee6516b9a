package mgmt

import (
	"fmt"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// The history's summaries: what a change did, in words, from the command
// and the maps before and after. They are part of the replicated state,
// so they are pure functions of those (no clock, no map iteration) and
// bounded (maxSummaryLen).

func summarizeBootstrap(c *Command, m *partitionmap.Map) string {
	ids := make([]string, len(m.Nodes))
	for i := range m.Nodes {
		ids[i] = fmt.Sprint(m.Nodes[i].ID)
	}
	s := fmt.Sprintf("bootstrapped cluster %d with nodes %s; data groups from %d",
		c.Cluster, strings.Join(ids, ", "), m.NextGroup)
	if p, ok := m.Mgmt(); ok {
		s += fmt.Sprintf("; management group %d on nodes %s", p.Group, cloneNodes(p))
	}
	return truncate(s, maxSummaryLen)
}

func summarize(old, next *partitionmap.Map, c *Command) string {
	var s string
	switch c.Op {
	case OpAddNode:
		n := c.Node
		s = fmt.Sprintf("added node %d (zone %q, addr %q, %v, services %v)", n.ID, n.Zone, n.Addr, n.State, nodeServices(next, n.ID))
	case OpSetNodeState:
		s = fmt.Sprintf("node %d is %v", c.NodeID, c.State)
		if c.State == partitionmap.NodeDead {
			s += " since " + c.Since.Format(time.RFC3339Nano)
		}
	case OpUpdateNode:
		n := c.Node
		s = fmt.Sprintf("node %d is in zone %q at %q and offers %v", n.ID, n.Zone, n.Addr, nodeServices(next, n.ID))
	case OpSetNodeServices:
		s = fmt.Sprintf("node %d offers %v (was %v)", c.NodeID, nodeServices(next, c.NodeID), nodeServices(old, c.NodeID))
	case OpRemoveNode:
		s = fmt.Sprintf("removed node %d", c.NodeID)
	case OpDefineService:
		s = defineSummary(old, next, c.Service.Name)
	case OpRemoveService:
		n := 0
		if svc, err := old.Service(c.Name); err == nil {
			n = svc.Partitions
		}
		s = fmt.Sprintf("removed service %q and its %d partitions", c.Name, n)
	case OpSetClones:
		was := 0
		if svc, err := old.Service(c.Name); err == nil {
			was = svc.Clones
		}
		s = fmt.Sprintf("service %q wants %d clones per partition (was %d)", c.Name, c.Clones, was)
	case OpMoveClone:
		s = fmt.Sprintf("%v: learner on node %d to replace node %d (operator's move)", c.Ref, c.To, c.From)
	case OpApplyMoves:
		s = movesSummary(c.Moves)
	case OpLearnersReady:
		parts := make([]string, len(c.Ready))
		for i, r := range c.Ready {
			parts[i] = fmt.Sprintf("%v on node %d", r.Partition, r.Node)
		}
		s = "learners ready: " + strings.Join(parts, ", ")
	case OpReincarnate:
		s = fmt.Sprintf("%v re-created empty", c.Ref)
		if p, err := next.Partition(c.Ref); err == nil {
			s = fmt.Sprintf("%v re-created empty as incarnation %d of group %d on nodes %s", c.Ref, p.Incarnation, p.Group, cloneNodes(p))
		}
	default:
		s = string(c.Op)
	}
	return truncate(s, maxSummaryLen)
}

func defineSummary(old, next *partitionmap.Map, name string) string {
	svc, err := next.Service(name)
	if err != nil {
		return fmt.Sprintf("defined service %q", name)
	}
	s := fmt.Sprintf("defined service %q: %v, %d partitions", name, svc.Partitioning, svc.Partitions)
	if svc.Partitioning == partitionmap.Hash {
		s += fmt.Sprintf(" over %d slots", svc.Slots)
	}
	return s + fmt.Sprintf(", %d clones each, %v; groups %d to %d", svc.Clones, svc.Durability, old.NextGroup, next.NextGroup-1)
}

func nodeServices(m *partitionmap.Map, id partitionmap.NodeID) []string {
	if n, err := m.Node(id); err == nil {
		return n.Services
	}
	return nil
}

func cloneNodes(p *partitionmap.Partition) string {
	ids := make([]string, len(p.Clones))
	for i, c := range p.Clones {
		ids[i] = fmt.Sprint(c.Node)
	}
	return strings.Join(ids, ", ")
}

func movesSummary(moves []partitionmap.Move) string {
	parts := make([]string, len(moves))
	for i, mv := range moves {
		parts[i] = mv.String()
	}
	return fmt.Sprintf("%d moves: %s", len(moves), strings.Join(parts, "; "))
}

// MovesFit returns how many of moves, from the first, one OpApplyMoves
// change can carry with its history summary whole (every move and its
// reason; the summary is cut at 2 KiB), and at least one. A proposer that
// splits a longer plan into changes of that many keeps every move it made
// explained in the history.
func MovesFit(moves []partitionmap.Move) int {
	n := 0
	for n < len(moves) && len(movesSummary(moves[:n+1])) <= maxSummaryLen {
		n++
	}
	return max(n, min(1, len(moves)))
}
