package mgmt

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// gen makes random command sequences for the determinism tests: mostly
// changes that fit the map (so the state moves), some that do not, some
// at a stale epoch, and the odd undecodable one. Seeded, so a failure
// replays.
type gen struct {
	r    *rand.Rand
	step int
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

var genServices = []string{"a", "b", "c"}

func (g *gen) subset() []string {
	var out []string
	for _, s := range genServices {
		if g.r.IntN(3) > 0 {
			out = append(out, s)
		}
	}
	return out
}

func (g *gen) nodeID() partitionmap.NodeID { return partitionmap.NodeID(1 + g.r.IntN(10)) }

func (g *gen) partition(m *partitionmap.Map) (*partitionmap.Partition, bool) {
	if len(m.Partitions) == 0 {
		return nil, false
	}
	return &m.Partitions[g.r.IntN(len(m.Partitions))], true
}

// next returns the next encoded command for a state whose map is m.
func (g *gen) next(m *partitionmap.Map) []byte {
	g.step++
	now := t0.Add(time.Duration(g.step) * time.Second)
	if g.r.IntN(40) == 0 {
		b := make([]byte, g.r.IntN(20))
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
		return b
	}
	c := g.command(m, now)
	c.Time, c.Reason = now, fmt.Sprintf("step %d", g.step)
	if m != nil && c.Op != OpBootstrap {
		c.Epoch = m.Epoch
		if g.r.IntN(10) == 0 {
			c.Epoch = uint64(g.r.IntN(int(m.Epoch) + 2))
		}
	}
	b, err := EncodeCommand(c)
	if err != nil {
		panic(fmt.Sprintf("gen made an unencodable command %+v: %v", c, err))
	}
	return b
}

func (g *gen) command(m *partitionmap.Map, now time.Time) Command {
	if m == nil || g.r.IntN(60) == 0 {
		nodes := make([]partitionmap.Node, 1+g.r.IntN(5))
		for i := range nodes {
			nodes[i] = partitionmap.Node{ID: partitionmap.NodeID(i + 1), Zone: fmt.Sprintf("z%d", g.r.IntN(3)), Services: g.subset()}
		}
		c := Command{Op: OpBootstrap, Cluster: 1 + g.r.Uint64N(1000), FirstGroup: 1 + g.r.Uint64N(100), Nodes: nodes}
		if g.r.IntN(2) == 0 {
			c.FirstGroup++
			c.MgmtGroup, c.MgmtDurability = 1, partitionmap.Disk
		}
		return c
	}
	name := genServices[g.r.IntN(len(genServices))]
	switch g.r.IntN(12) {
	case 0:
		return Command{Op: OpAddNode, Node: partitionmap.Node{ID: g.nodeID(), Zone: fmt.Sprintf("z%d", g.r.IntN(4)), Services: g.subset()}}
	case 1:
		st := partitionmap.NodeState(g.r.IntN(3))
		c := Command{Op: OpSetNodeState, NodeID: g.nodeID(), State: st}
		if st == partitionmap.NodeDead {
			c.Since = now.Add(-time.Duration(g.r.IntN(3600)) * time.Second)
		}
		return c
	case 2:
		if g.r.IntN(2) == 0 {
			return Command{Op: OpUpdateNode, Node: partitionmap.Node{ID: g.nodeID(), Zone: fmt.Sprintf("z%d", g.r.IntN(4)), Addr: "a", Services: g.subset()}}
		}
		return Command{Op: OpSetNodeServices, NodeID: g.nodeID(), Services: g.subset()}
	case 3:
		return Command{Op: OpRemoveNode, NodeID: g.nodeID()}
	case 4:
		parts, clones := 1+g.r.IntN(6), 1+g.r.IntN(3)
		if g.r.IntN(2) == 0 {
			return Command{Op: OpDefineService, Service: partitionmap.Service{Name: name, Partitioning: partitionmap.Hash,
				Slots: uint32(parts * (1 + g.r.IntN(8))), Partitions: parts, Clones: clones, Durability: partitionmap.Disk}}
		}
		bounds := make([]string, parts-1)
		for i := range bounds {
			bounds[i] = string(rune('b' + i))
		}
		if g.r.IntN(8) == 0 && len(bounds) > 1 {
			bounds[0], bounds[1] = bounds[1], bounds[0] // overlapping
		}
		return Command{Op: OpDefineService, Service: partitionmap.Service{Name: name, Partitioning: partitionmap.Range,
			Clones: clones, Durability: partitionmap.Memory}, Ranges: partitionmap.SplitRanges(bounds...)}
	case 5:
		return Command{Op: OpRemoveService, Name: name}
	case 6:
		return Command{Op: OpSetClones, Name: name, Clones: 1 + g.r.IntN(4)}
	case 7:
		p, ok := g.partition(m)
		if !ok {
			return Command{Op: OpMoveClone, Ref: partitionmap.PartRef{Service: name}, From: 1, To: 2}
		}
		return Command{Op: OpMoveClone, Ref: p.Ref(), From: p.Clones[g.r.IntN(len(p.Clones))].Node, To: g.nodeID()}
	case 8, 9:
		live := map[partitionmap.NodeID]bool{}
		for _, n := range m.Nodes {
			live[n.ID] = g.r.IntN(8) > 0
		}
		moves, err := partitionmap.Plan(m, live, partitionmap.DefaultPolicy(now))
		if err != nil {
			panic(err)
		}
		if len(moves) > 1 && g.r.IntN(2) == 0 {
			moves = moves[:1+g.r.IntN(len(moves))]
		}
		return Command{Op: OpApplyMoves, Moves: moves}
	case 10:
		var ready []partitionmap.CloneRef
		for i := range m.Partitions {
			if l, ok := m.Partitions[i].Learner(); ok && g.r.IntN(4) > 0 {
				ready = append(ready, partitionmap.CloneRef{Partition: m.Partitions[i].Ref(), Node: l.Node})
			}
		}
		return Command{Op: OpLearnersReady, Ready: ready}
	default:
		// A partition that lost every voter, if there is one: the only
		// kind Reincarnate accepts.
		for i := range m.Partitions {
			if allDead(m, &m.Partitions[i]) {
				return Command{Op: OpReincarnate, Ref: m.Partitions[i].Ref()}
			}
		}
		p, ok := g.partition(m)
		if !ok {
			return Command{Op: OpReincarnate, Ref: partitionmap.PartRef{Service: name}}
		}
		return Command{Op: OpReincarnate, Ref: p.Ref()}
	}
}

func allDead(m *partitionmap.Map, p *partitionmap.Partition) bool {
	for _, v := range p.Voters() {
		if n, err := m.Node(v.Node); err != nil || n.State != partitionmap.NodeDead {
			return false
		}
	}
	return true
}
