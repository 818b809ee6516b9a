package workload

import (
	"context"
	"fmt"
	"slices"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// runAppend: appends of unique tokens, and list reads (strict and any).
func runAppend(ctx context.Context, c *client) {
	for n := 0; pace(ctx, c.cfg.Pace); n++ {
		key := listKey(c.rng.IntN(c.cfg.Keys))
		if c.rng.IntN(4) == 0 {
			level := racs.Strict
			if c.rng.IntN(2) == 0 {
				level = racs.Any
			}
			c.query(Op{Workload: "append", Kind: "list", Level: level}, c.cfg.KVService, key, kv.Encode(kv.OpList, key), raps.Result{}, fillList)
			continue
		}
		tok := fmt.Sprintf("a%d.%d", c.id, n)
		c.update(Op{Workload: "append", Kind: "append", Value: tok}, c.cfg.KVService, key, kv.Encode(kv.OpAppend, key, []byte(tok)), "", nil)
	}
}

// fillList decodes a kv OpList answer into op.List.
func fillList(o *Op, res raps.Result) error {
	l, err := decodeList(res.Data)
	o.List = l
	if o.List == nil {
		o.List = []string{}
	}
	return err
}

func decodeList(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("workload: empty list answer")
	}
	switch b[0] {
	case kv.StatusNotFound:
		return []string{}, nil
	case kv.StatusOK:
	default:
		return nil, fmt.Errorf("workload: list answer status %d", b[0])
	}
	els, err := kv.DecodeList(b[1:])
	if err != nil {
		return nil, err
	}
	out := make([]string, len(els))
	for i, e := range els {
		out[i] = string(e)
	}
	return out, nil
}

// Lists is every clone's final list of every key: key → node → elements.
type Lists map[string]map[groupcomm.NodeID][]string

// ReadLists reads the lists of keys at every clone.
func ReadLists(ctx context.Context, read CloneReader, service string, keys []string) (Lists, error) {
	out := Lists{}
	for _, k := range keys {
		ans, err := read(ctx, service, k, kv.Encode(kv.OpList, k))
		if err != nil {
			return nil, fmt.Errorf("read the list %q at every clone: %w", k, err)
		}
		out[k] = map[groupcomm.NodeID][]string{}
		for node, b := range ans {
			l, err := decodeList(b)
			if err != nil {
				return nil, fmt.Errorf("the list %q at node %d: %w", k, node, err)
			}
			out[k][node] = l
		}
	}
	return out, nil
}

// sameOnEveryClone checks that every clone holds the same list; it
// returns one clone's list (the lowest node's).
func sameOnEveryClone(workload, key string, clones map[groupcomm.NodeID][]string, ops []Op) ([]string, []Violation) {
	nodes := make([]groupcomm.NodeID, 0, len(clones))
	for n := range clones {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	if len(nodes) == 0 {
		return nil, []Violation{{Check: workload + ": clones", Detail: fmt.Sprintf("no clone answered for %q", key)}}
	}
	ref := clones[nodes[0]]
	var vs []Violation
	for _, n := range nodes[1:] {
		l := clones[n]
		if slices.Equal(l, ref) {
			continue
		}
		i := 0
		for i < len(l) && i < len(ref) && l[i] == ref[i] {
			i++
		}
		vs = append(vs, Violation{Check: workload + ": divergent clones",
			Detail: fmt.Sprintf("list %q: node %d holds %d elements, node %d holds %d; they differ first at index %d (%q vs %q)",
				key, nodes[0], len(ref), n, len(l), i, at(ref, i), at(l, i)), Ops: opsOn(ops, workload, key, 12)})
	}
	return ref, vs
}

func at(l []string, i int) string {
	if i < len(l) {
		return l[i]
	}
	return "<end>"
}

// CheckAppend checks the append workload's history against the final
// lists (see the package doc).
func CheckAppend(ops []Op, final Lists) []Violation {
	var vs []Violation
	sent := map[string]Op{} // token → its append
	for _, o := range ops {
		if o.Workload == "append" && o.Kind == "append" {
			sent[o.Value] = o
		}
	}
	for key, clones := range final {
		ref, dv := sameOnEveryClone("append", key, clones, ops)
		vs = append(vs, dv...)
		pos := map[string]int{}
		for i, tok := range ref {
			if j, dup := pos[tok]; dup {
				vs = append(vs, Violation{Check: "append: duplicated", Detail: fmt.Sprintf("list %q holds %q at %d and %d", key, tok, j, i), Ops: []Op{sent[tok]}})
				continue
			}
			pos[tok] = i
			o, ok := sent[tok]
			switch {
			case !ok || o.Key != key:
				vs = append(vs, Violation{Check: "append: never sent", Detail: fmt.Sprintf("list %q holds %q at %d, which no client appended to it", key, tok, i)})
			case o.Outcome == Fail:
				vs = append(vs, Violation{Check: "append: failed but applied", Detail: fmt.Sprintf("list %q holds %q at %d, whose append certainly failed", key, tok, i), Ops: []Op{o}})
			}
		}
		for _, o := range ops {
			if o.Workload != "append" || o.Key != key || o.Outcome != OK {
				continue
			}
			switch o.Kind {
			case "append":
				if _, ok := pos[o.Value]; !ok {
					vs = append(vs, Violation{Check: "append: lost acknowledged write", Detail: fmt.Sprintf("list %q lacks %q, acknowledged at %v", key, o.Value, o.Return), Ops: append([]Op{o}, opsOn(ops, "append", key, 8)...)})
				}
			case "list":
				if len(o.List) > len(ref) || !slices.Equal(o.List, ref[:len(o.List)]) {
					i := 0
					for i < len(o.List) && i < len(ref) && o.List[i] == ref[i] {
						i++
					}
					vs = append(vs, Violation{Check: "append: read not a prefix of the final list", Detail: fmt.Sprintf("list %q: the read's element %d is %q, the final list's %q", key, i, at(o.List, i), at(ref, i)), Ops: []Op{o}})
					continue
				}
				if o.Level != racs.Strict {
					continue
				}
				seen := map[string]bool{}
				for _, t := range o.List {
					seen[t] = true
				}
				for _, w := range ops {
					if w.Workload == "append" && w.Kind == "append" && w.Key == key && w.Outcome == OK && w.Return < o.Call && !seen[w.Value] {
						vs = append(vs, Violation{Check: "append: stale strict read", Detail: fmt.Sprintf("list %q: a strict read that began at %v lacks %q, acknowledged at %v", key, o.Call, w.Value, w.Return), Ops: []Op{w, o}})
						break
					}
				}
			}
		}
	}
	return vs
}
