package raps_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
	"github.com/quicksilver-go/quicksilver/replica"
)

// "The moves the placer reported are the moves that happened." The
// recorder keeps every map the management clones apply (one per epoch:
// raps.Node.ObserveMgmt) and the placer's log records of its moves; the
// checks compare them with the map's history and with what the hosts
// actually run.

// recorder collects, for a pcluster, the map of every epoch (as the
// management clones applied it) and the placer's logged moves.
type recorder struct {
	mu       sync.Mutex
	maps     map[uint64]*partitionmap.Map
	enc      map[uint64][]byte
	disagree []string
	logged   map[string]int // loggedMove keys → count
}

func newRecorder() *recorder {
	return &recorder{maps: map[uint64]*partitionmap.Map{}, enc: map[uint64][]byte{}, logged: map[string]int{}}
}

// record keeps m; two clones that applied different maps at one epoch are
// noted (the management group's determinism).
func (r *recorder) record(from groupcomm.NodeID, m *partitionmap.Map) {
	b, err := m.MarshalBinary()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.disagree = append(r.disagree, fmt.Sprintf("node %d: map at epoch %d does not encode: %v", from, m.Epoch, err))
		return
	}
	if old, ok := r.enc[m.Epoch]; ok {
		if !bytes.Equal(old, b) {
			r.disagree = append(r.disagree, fmt.Sprintf("node %d applied another map at epoch %d", from, m.Epoch))
		}
		return
	}
	r.maps[m.Epoch], r.enc[m.Epoch] = m, b
}

func (r *recorder) mapAt(e uint64) *partitionmap.Map {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maps[e]
}

func loggedMoveKey(base uint64, mv partitionmap.Move) string {
	return fmt.Sprintf("%d|%v|%v|%d|%d|%s", base, mv.Partition, mv.Kind, mv.Node, mv.Replace, mv.Reason)
}

// moveLog is a slog.Handler that records the placer's "placer: move"
// records (and hands everything to inner, if set).
type moveLog struct {
	r     *recorder
	attrs []slog.Attr
	inner slog.Handler
}

func (h *moveLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.inner != nil && h.inner.Enabled(ctx, l)
}

func (h *moveLog) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == "placer: move" {
		f := map[string]string{}
		for _, a := range h.attrs {
			f[a.Key] = a.Value.String()
		}
		rec.Attrs(func(a slog.Attr) bool {
			f[a.Key] = a.Value.String()
			return true
		})
		base, _ := strconv.ParseUint(f["epoch"], 10, 64)
		id, _ := strconv.Atoi(strings.TrimPrefix(f["partition"], svcOf(f["partition"])+"/"))
		node, _ := strconv.ParseUint(f["node"], 10, 64)
		repl, _ := strconv.ParseUint(f["replace"], 10, 64)
		var kind partitionmap.MoveKind
		_ = kind.UnmarshalText([]byte(f["kind"]))
		mv := partitionmap.Move{Partition: partitionmap.PartRef{Service: svcOf(f["partition"]), ID: id}, Kind: kind,
			Node: partitionmap.NodeID(node), Replace: partitionmap.NodeID(repl), Reason: f["reason"]}
		h.r.mu.Lock()
		h.r.logged[loggedMoveKey(base, mv)]++
		h.r.mu.Unlock()
	}
	if h.inner != nil && h.inner.Enabled(ctx, rec.Level) {
		return h.inner.Handle(ctx, rec)
	}
	return nil
}

func svcOf(ref string) string {
	s, _, _ := strings.Cut(ref, "/")
	return s
}

func (h *moveLog) WithAttrs(as []slog.Attr) slog.Handler {
	n := &moveLog{r: h.r, attrs: append(slices.Clone(h.attrs), as...)}
	if h.inner != nil {
		n.inner = h.inner.WithAttrs(as)
	}
	return n
}

func (h *moveLog) WithGroup(name string) slog.Handler {
	n := &moveLog{r: h.r, attrs: h.attrs}
	if h.inner != nil {
		n.inner = h.inner.WithGroup(name)
	}
	return n
}

var (
	moveHead   = regexp.MustCompile(`([A-Za-z0-9_.-]+)/(\d+) (add_learner|promote_and_remove|remove|lead) node (\d+)(?: \(replacing (\d+)\))?`)
	readyRef   = regexp.MustCompile(`([A-Za-z0-9_.-]+)/(\d+) on node (\d+)`)
	opMoveText = regexp.MustCompile(`^([A-Za-z0-9_.-]+)/(\d+): learner on node (\d+) to replace node (\d+) \(operator's move\)$`)
)

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// parseMoves reads back the moves of an apply_moves summary ("N moves:
// <move>; <move>…", each move as partitionmap.Move.String writes it).
// A truncated summary, or one whose count is not its moves', is an error:
// the history would not say every move.
func parseMoves(summary string) ([]partitionmap.Move, error) {
	if strings.HasSuffix(summary, " …") {
		return nil, fmt.Errorf("the summary is truncated (%d bytes): %.120q…", len(summary), summary)
	}
	head, body, ok := strings.Cut(summary, " moves: ")
	n, err := strconv.Atoi(head)
	if !ok || err != nil {
		return nil, fmt.Errorf("not a moves summary: %.120q", summary)
	}
	var starts [][]int
	for _, loc := range moveHead.FindAllStringSubmatchIndex(body, -1) {
		if loc[0] == 0 || strings.HasSuffix(body[:loc[0]], "; ") {
			starts = append(starts, loc)
		}
	}
	var out []partitionmap.Move
	for i, loc := range starts {
		end := len(body)
		if i+1 < len(starts) {
			end = starts[i+1][0] - len("; ")
		}
		var kind partitionmap.MoveKind
		if err := kind.UnmarshalText([]byte(body[loc[6]:loc[7]])); err != nil {
			return nil, err
		}
		mv := partitionmap.Move{Partition: partitionmap.PartRef{Service: body[loc[2]:loc[3]], ID: atoi(body[loc[4]:loc[5]])},
			Kind: kind, Node: partitionmap.NodeID(atoi(body[loc[8]:loc[9]]))}
		if loc[10] >= 0 {
			mv.Replace = partitionmap.NodeID(atoi(body[loc[10]:loc[11]]))
		}
		rest := body[loc[1]:end]
		if !strings.HasPrefix(rest, ": ") || len(rest) == 2 {
			return nil, fmt.Errorf("move %d of %q has no reason", i+1, summary)
		}
		mv.Reason = rest[2:]
		out = append(out, mv)
	}
	if len(out) != n {
		return nil, fmt.Errorf("the summary counts %d moves and lists %d: %q", n, len(out), summary)
	}
	return out, nil
}

// expected is the map the history entry h says the change made of prev,
// as far as clone sets go.
func expected(prev, cur *partitionmap.Map, h mgmt.Change) (*partitionmap.Map, []partitionmap.Move, error) {
	switch h.Op {
	case mgmt.OpApplyMoves:
		moves, err := parseMoves(h.Summary)
		if err != nil {
			return nil, nil, err
		}
		want, err := prev.ApplyAll(prev.Epoch, moves)
		if err != nil {
			return nil, nil, fmt.Errorf("the reported moves do not apply to epoch %d: %w", prev.Epoch, err)
		}
		return want, moves, nil
	case mgmt.OpLearnersReady:
		var ready []partitionmap.CloneRef
		for _, s := range readyRef.FindAllStringSubmatch(strings.TrimPrefix(h.Summary, "learners ready: "), -1) {
			ready = append(ready, partitionmap.CloneRef{Partition: partitionmap.PartRef{Service: s[1], ID: atoi(s[2])},
				Node: partitionmap.NodeID(atoi(s[3]))})
		}
		want, err := prev.MarkLearnersReady(prev.Epoch, ready...)
		return want, nil, err
	case mgmt.OpMoveClone:
		s := opMoveText.FindStringSubmatch(h.Summary)
		if s == nil {
			return nil, nil, fmt.Errorf("cannot read the operator's move %q", h.Summary)
		}
		want, err := prev.MoveClone(prev.Epoch, partitionmap.PartRef{Service: s[1], ID: atoi(s[2])},
			partitionmap.NodeID(atoi(s[4])), partitionmap.NodeID(atoi(s[3])))
		return want, nil, err
	case mgmt.OpDefineService:
		// New partitions, of that service only; the others' clone sets stay.
		return cur, nil, sameClonesExcept(prev, cur, func(p *partitionmap.Partition) bool {
			return strings.Contains(h.Summary, fmt.Sprintf("service %q", p.Service))
		})
	}
	return prev, nil, nil // changes no clone set
}

// sameClones reports the first partition whose clone set (group,
// incarnation, clones in rank order with roles and flags) differs.
func sameClones(want, got *partitionmap.Map) error {
	return sameClonesExcept(want, got, nil)
}

func sameClonesExcept(want, got *partitionmap.Map, newOK func(*partitionmap.Partition) bool) error {
	wp := map[partitionmap.PartRef]*partitionmap.Partition{}
	for i := range want.Partitions {
		wp[want.Partitions[i].Ref()] = &want.Partitions[i]
	}
	seen := 0
	for i := range got.Partitions {
		g := &got.Partitions[i]
		w, ok := wp[g.Ref()]
		if !ok {
			if newOK != nil && newOK(g) {
				continue
			}
			return fmt.Errorf("%v appeared", g.Ref())
		}
		seen++
		if w.Group != g.Group || w.Incarnation != g.Incarnation || !slices.Equal(w.Clones, g.Clones) {
			return fmt.Errorf("%v: want group %d.%d clones %+v, the map has %d.%d %+v",
				g.Ref(), w.Group, w.Incarnation, w.Clones, g.Group, g.Incarnation, g.Clones)
		}
	}
	if seen != len(wp) {
		return fmt.Errorf("%d partitions disappeared", len(wp)-seen)
	}
	return nil
}

// checkMovesExplained: for every epoch in (from, to], the clone sets of the
// map at that epoch are exactly those of the previous epoch's map changed
// as the history entry of the epoch reports (an apply_moves entry's moves,
// an operator's move, learners reported ready; any other change moves
// nothing), so every clone-set change is explained and every reported move
// happened. Each entry has a reason; each move of the placer has one, and
// the placer logged it (with the epoch it planned on). It returns how many
// moves of each kind the span saw.
func (c *pcluster) checkMovesExplained(from, to uint64) map[string]int {
	c.t.Helper()
	var hist []mgmt.Change
	c.waitFor(fmt.Sprintf("a management member's history up to epoch %d", to), time.Minute, func() bool {
		for _, id := range c.live() {
			var err error
			if hist, err = c.node(id).History(from, int(to-from)); err == nil && len(hist) == int(to-from) {
				return true
			}
		}
		return false
	})
	c.rec.mu.Lock()
	disagree := slices.Clone(c.rec.disagree)
	logged := maps.Clone(c.rec.logged)
	c.rec.mu.Unlock()
	if len(disagree) > 0 {
		c.t.Fatalf("management clones disagree: %v", disagree)
	}
	counts := map[string]int{}
	for i, h := range hist {
		if h.Epoch != from+uint64(i)+1 {
			c.t.Fatalf("history entry %d has epoch %d, want %d", i, h.Epoch, from+uint64(i)+1)
		}
		if strings.TrimSpace(h.Reason) == "" {
			c.t.Fatalf("epoch %d (%s: %s) has no reason", h.Epoch, h.Op, h.Summary)
		}
		prev, cur := c.rec.mapAt(h.Epoch-1), c.rec.mapAt(h.Epoch)
		if prev == nil || cur == nil {
			c.t.Fatalf("no recorded map at epoch %d or %d", h.Epoch-1, h.Epoch)
		}
		want, moves, err := expected(prev, cur, h)
		if err != nil {
			c.t.Fatalf("epoch %d (%s, reason %q): %v", h.Epoch, h.Op, h.Reason, err)
		}
		if err := sameClones(want, cur); err != nil {
			c.t.Fatalf("epoch %d (%s, reason %q, summary %q): the map's clone sets are not what the history reports: %v",
				h.Epoch, h.Op, h.Reason, h.Summary, err)
		}
		counts[string(h.Op)]++
		if h.Op == mgmt.OpApplyMoves {
			if !strings.HasPrefix(h.Reason, fmt.Sprintf("placer: %d moves (", len(moves))) {
				c.t.Fatalf("epoch %d: %d moves, but the reason says %q", h.Epoch, len(moves), h.Reason)
			}
			for _, mv := range moves {
				if logged[loggedMoveKey(h.Epoch-1, mv)] == 0 {
					c.t.Fatalf("epoch %d: the placer did not log its move %v (planned on epoch %d)", h.Epoch, mv, h.Epoch-1)
				}
				counts[mv.Kind.String()]++
			}
		}
	}
	return counts
}

// hostingMatches: every live node hosts exactly the data groups the map
// places on it, at the partition's incarnation, in a normal view, voters
// as voters (a learner of the map may be either in its group: groupcomm
// promotes it once it holds the state, and the map follows).
func (c *pcluster) hostingMatches(m *partitionmap.Map) error {
	for _, id := range c.live() {
		want := map[replica.GroupID]partitionmap.Clone{}
		inc := map[replica.GroupID]uint64{}
		for i := range m.Partitions {
			p := &m.Partitions[i]
			for _, cl := range p.Clones {
				if cl.Node == partitionmap.NodeID(id) {
					want[replica.GroupID(p.Group)], inc[replica.GroupID(p.Group)] = cl, p.Incarnation
				}
			}
		}
		h := c.host(id)
		got := 0
		for _, gid := range h.Groups() { // the management group's clone among them
			cl, ok := want[gid]
			if !ok {
				return fmt.Errorf("node %d hosts group %d, which the map at epoch %d does not place there", id, gid, m.Epoch)
			}
			g, err := h.Group(gid)
			if err != nil {
				return fmt.Errorf("node %d: group %d: %v", id, gid, err)
			}
			in := g.Info()
			if g.Applied().Incarnation != inc[gid] || in.Status != groupcomm.StatusNormal ||
				cl.Role == partitionmap.Voter && (in.Role != groupcomm.Voter || in.Restoring) {
				return fmt.Errorf("node %d: group %d is %v %v incarnation %d; the map has a %v of incarnation %d",
					id, gid, in.Status, in.Role, g.Applied().Incarnation, cl.Role, inc[gid])
			}
			got++
		}
		if got != len(want) {
			return fmt.Errorf("node %d hosts %d of the %d groups the map at epoch %d places there", id, got, len(want), m.Epoch)
		}
	}
	return nil
}

// describe says, for a failure message, each live node's epoch and how
// it sees each partition's group.
func (c *pcluster) describe() string {
	var b strings.Builder
	for _, id := range c.live() {
		m := c.node(id).Map()
		if m == nil {
			fmt.Fprintf(&b, "node %d: no map; ", id)
			continue
		}
		fmt.Fprintf(&b, "node %d: epoch %d", id, m.Epoch)
		for i := range m.Partitions {
			p := &m.Partitions[i]
			fmt.Fprintf(&b, " %v%+v", p.Ref(), p.Clones)
			if g, err := c.host(id).Group(replica.GroupID(p.Group)); err == nil {
				in := g.Info()
				d, _ := g.Digest()
				fmt.Fprintf(&b, "[%v %v view %d restoring %v applied %d digest %x]", in.Status, in.Role, in.View, in.Restoring, g.Applied().Seq, d)
			}
		}
		b.WriteString("; ")
	}
	return b.String()
}
