package partitionmap

import "slices"

// The placement arithmetic shared by initial placement (DefineService,
// Reincarnate) and by Plan: per-node loads, and the choice of a node for a
// new clone. Everything is by index into Map.Nodes (sorted by id), so ties
// break by the smaller id and no Go map iteration order leaks into a
// decision.

// cluster is one call's view of the map: loads and eligibility by index.
type cluster struct {
	m       *Map
	nodeIdx map[NodeID]int
	zone    []int // node → zone number (nodes with equal Zone strings share one)
	nzones  int
	// usable[s][n]: node n may receive a clone of service s (active, live
	// for Plan, offers s).
	usable [][]bool
	// up[n]: node n counts as live in quorums (live and not declared dead).
	up []bool
	// Projected loads: a voter that a learner replaces counts at the
	// learner, so a move in flight is not planned twice.
	load  [][]int // [service][node]: clones of the service
	total []int   // [node]: clones of every service
	seq   [][]int // [service][node]: partitions whose rank 0 it is
	// svcOf[p]: the service index of partition p; cidx[p][k]: the node
	// index of its clone k (-1 for an unknown node); zonesOf[s]: how many
	// zones have a node usable for service s.
	svcOf   []int
	cidx    [][]int
	zonesOf []int
}

// newCluster builds the view. isUp says which nodes are live; usable
// additionally requires NodeActive and that the node offers the service.
func newCluster(m *Map, isUp func(*Node) bool) *cluster {
	n := len(m.Nodes)
	c := &cluster{
		m:       m,
		nodeIdx: make(map[NodeID]int, n),
		zone:    make([]int, n),
		up:      make([]bool, n),
		total:   make([]int, n),
		usable:  make([][]bool, len(m.Services)),
		load:    make([][]int, len(m.Services)),
		seq:     make([][]int, len(m.Services)),
		svcOf:   make([]int, len(m.Partitions)),
		cidx:    make([][]int, len(m.Partitions)),
		zonesOf: make([]int, len(m.Services)),
	}
	zones := map[string]int{}
	for i := range m.Nodes {
		nd := &m.Nodes[i]
		c.nodeIdx[nd.ID] = i
		z, ok := zones[nd.Zone]
		if !ok {
			z = len(zones)
			zones[nd.Zone] = z
		}
		c.zone[i] = z
		c.up[i] = nd.State != NodeDead && isUp(nd)
	}
	c.nzones = len(zones)
	nclones := 0
	for pi := range m.Partitions {
		nclones += len(m.Partitions[pi].Clones)
	}
	flat := make([]int, nclones)
	for pi := range m.Partitions {
		k := len(m.Partitions[pi].Clones)
		c.cidx[pi], flat = flat[:k:k], flat[k:]
		for j, cl := range m.Partitions[pi].Clones {
			i, ok := c.nodeIdx[cl.Node]
			if !ok {
				i = -1
			}
			c.cidx[pi][j] = i
		}
	}
	at := 0
	for si := range m.Services {
		s := &m.Services[si]
		c.usable[si] = make([]bool, n)
		c.load[si] = make([]int, n)
		c.seq[si] = make([]int, n)
		seen := make([]bool, c.nzones)
		for i := range m.Nodes {
			c.usable[si][i] = c.up[i] && m.Nodes[i].State == NodeActive && m.Nodes[i].Offers(s.Name)
			if c.usable[si][i] && !seen[c.zone[i]] {
				seen[c.zone[i]] = true
				c.zonesOf[si]++
			}
		}
		for k := 0; k < s.Partitions && at+k < len(m.Partitions); k++ {
			c.svcOf[at+k] = si
			c.count(si, at+k)
		}
		at += s.Partitions
	}
	return c
}

// count adds partition pi's projected clones to the loads.
func (c *cluster) count(si, pi int) {
	p := &c.m.Partitions[pi]
	l, inflight := p.Learner()
	for k, cl := range p.Clones {
		if inflight && l.Replaces == cl.Node {
			continue // counted at the learner that replaces it
		}
		if i := c.cidx[pi][k]; i >= 0 {
			c.load[si][i]++
			c.total[i]++
		}
	}
	r := p.Sequencer()
	if inflight && l.Replaces == r {
		r = l.Node // the promoted learner takes the replaced voter's rank
	}
	if k := p.cloneIndex(r); k >= 0 && c.cidx[pi][k] >= 0 {
		c.seq[si][c.cidx[pi][k]]++
	}
}

// pick chooses the node for a new clone of a partition of service si whose
// clones are clones, of which replaced (if non-zero) is about to go. Among
// usable nodes that hold no clone of the partition and pass ok: the zone
// holding fewest of the remaining clones (spread over failure domains
// comes first), then the fewest clones of the service (balance), then —
// when the new clone will be the sequencer (it replaces the rank-0 voter)
// — the fewest sequencers of the service, then the fewest clones overall
// (so small services do not all land on the same nodes), then the
// tie-break of a hash of the partition's group id and the node's id. The
// hash, rather than the smallest id, keeps ties from sending every
// partition to the same nodes in the same zone combinations: clone sets
// come out varied, so later moves (a join, a death) find candidates
// everywhere and spread their load and their sequencers evenly.
func (c *cluster) pick(si int, group uint64, clones []Clone, replaced NodeID, ok func(n int) bool) (int, bool) {
	lead := replaced != 0 && len(clones) > 0 && clones[0].Node == replaced
	var zbuf [MaxClones]int
	zs := zbuf[:0]
	for _, cl := range clones {
		if cl.Node == replaced {
			continue
		}
		if i, found := c.nodeIdx[cl.Node]; found && len(zs) < len(zbuf) {
			zs = append(zs, c.zone[i])
		}
	}
	best, bestZ := -1, 0
	for n := range c.m.Nodes {
		if !c.usable[si][n] || holds(clones, c.m.Nodes[n].ID) || (ok != nil && !ok(n)) {
			continue
		}
		z := 0
		for _, cz := range zs {
			if cz == c.zone[n] {
				z++
			}
		}
		if best < 0 || c.better(si, lead, group, n, z, best, bestZ) {
			best, bestZ = n, z
		}
	}
	return best, best >= 0
}

// better: candidate n (z of the partition's clones in its zone) beats b.
func (c *cluster) better(si int, lead bool, group uint64, n, z, b, bz int) bool {
	if z != bz {
		return z < bz
	}
	if c.load[si][n] != c.load[si][b] {
		return c.load[si][n] < c.load[si][b]
	}
	if lead && c.seq[si][n] != c.seq[si][b] {
		return c.seq[si][n] < c.seq[si][b]
	}
	if c.total[n] != c.total[b] {
		return c.total[n] < c.total[b]
	}
	return tieHash(group, c.m.Nodes[n].ID) < tieHash(group, c.m.Nodes[b].ID)
}

// tieHash mixes a group id and a node id (splitmix64's finalizer): a
// fixed, well-spread order of the nodes for each partition.
func tieHash(group uint64, n NodeID) uint64 {
	x := group*0x9e3779b97f4a7c15 ^ uint64(n)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// zoneCountAt is how many of partition pi's clones, other than the one
// on node index skip, are in zone z.
func (c *cluster) zoneCountAt(pi, skip, z int) int {
	k := 0
	for _, i := range c.cidx[pi] {
		if i >= 0 && i != skip && c.zone[i] == z {
			k++
		}
	}
	return k
}

// placeNew chooses a fresh clone set of k voters for a partition of
// service si (initial placement), updating the loads. The rank-0 voter is
// the chosen node that leads fewest partitions of the service, so
// sequencers spread as evenly as clones.
func (c *cluster) placeNew(si int, group uint64, k int) ([]Clone, bool) {
	clones := make([]Clone, 0, k)
	for len(clones) < k {
		n, ok := c.pick(si, group, clones, 0, nil)
		if !ok {
			return nil, false
		}
		clones = append(clones, Clone{Node: c.m.Nodes[n].ID, Role: Voter})
		c.load[si][n]++
		c.total[n]++
	}
	lead := 0
	for i := 1; i < len(clones); i++ {
		if c.seq[si][c.nodeIdx[clones[i].Node]] < c.seq[si][c.nodeIdx[clones[lead].Node]] {
			lead = i
		}
	}
	clones[0], clones[lead] = clones[lead], clones[0]
	c.seq[si][c.nodeIdx[clones[0].Node]]++
	return clones, true
}

// evenOut finishes an initial placement. Greedy placement puts spread
// over zones first, so its last choices can leave two nodes of the service
// two clones (or two sequencers) apart, which Plan would then move at once.
// Before the clone sets are published there is nothing to move: evenOut
// swaps nodes (and ranks) in the fresh sets directly, under the conditions
// Plan balances by, until none applies — so a new service starts with
// nothing to plan. Every swap lowers the sum of squared loads, so it ends.
func (c *cluster) evenOut(si int, sets [][]Clone) {
	var ns []int
	for n := range c.m.Nodes {
		if c.usable[si][n] {
			ns = append(ns, n)
		}
	}
	load, seq := c.load[si], c.seq[si]
	zoneCount := func(set []Clone, z int) int {
		k := 0
		for _, cl := range set {
			if c.zone[c.nodeIdx[cl.Node]] == z {
				k++
			}
		}
		return k
	}
	// Clones: from a node to one holding two fewer, in a set without it
	// and without crowding its zone.
	for swapped := true; swapped; {
		swapped = false
		slices.SortFunc(ns, func(a, b int) int { return cmpInts(load[a], load[b], a, b) })
	pairs:
		for i := len(ns) - 1; i > 0; i-- {
			for _, lo := range ns[:i] {
				hi := ns[i]
				if load[hi]-load[lo] <= 1 {
					break
				}
				hiID, loID := c.m.Nodes[hi].ID, c.m.Nodes[lo].ID
				for _, set := range sets {
					r := slices.IndexFunc(set, func(cl Clone) bool { return cl.Node == hiID })
					if r < 0 || holds(set, loID) || c.zone[lo] != c.zone[hi] && zoneCount(set, c.zone[lo]) >= zoneCount(set, c.zone[hi]) {
						continue
					}
					set[r].Node = loID
					load[hi], load[lo] = load[hi]-1, load[lo]+1
					c.total[hi], c.total[lo] = c.total[hi]-1, c.total[lo]+1
					if r == 0 {
						seq[hi], seq[lo] = seq[hi]-1, seq[lo]+1
					}
					swapped = true
					break pairs
				}
			}
		}
	}
	// Sequencers: rank 0 to another voter of the set leading two fewer.
	for swapped := true; swapped; {
		swapped = false
		for _, set := range sets {
			lead := c.nodeIdx[set[0].Node]
			best := -1
			for r := 1; r < len(set); r++ {
				n := c.nodeIdx[set[r].Node]
				if c.usable[si][n] && seq[n] < seq[lead]-1 && (best < 0 || seq[n] < seq[c.nodeIdx[set[best].Node]]) {
					best = r
				}
			}
			if best > 0 && c.usable[si][lead] {
				seq[lead]--
				seq[c.nodeIdx[set[best].Node]]++
				set[0], set[best] = set[best], set[0]
				swapped = true
			}
		}
	}
}

// cmpInts orders by x, then by the tie-breaker t.
func cmpInts(xa, xb, ta, tb int) int {
	if xa != xb {
		return xa - xb
	}
	return ta - tb
}

func holds(clones []Clone, n NodeID) bool {
	for _, c := range clones {
		if c.Node == n {
			return true
		}
	}
	return false
}

// quorum is a majority of n voters (groupcomm's Q).
func quorum(n int) int { return n/2 + 1 }
