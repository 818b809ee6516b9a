package workload

import (
	"bytes"
	"context"
	"fmt"

	"github.com/quicksilver-go/quicksilver/kv"
)

// runIdem: appends sent with an idempotency key of the client's own, then
// sent again with the same key — once more after an acknowledgement, and
// until one is acknowledged (or IdemAttempts ran out) otherwise.
func runIdem(ctx context.Context, c *client) {
	for n := 0; pace(ctx, c.cfg.Pace); n++ {
		key := idemKey(c.rng.IntN(c.cfg.Keys))
		tok := fmt.Sprintf("i%d.%d", c.id, n)
		ik := fmt.Sprintf("chaos-%d-%d-%d", c.cfg.Seed, c.id, n)
		cmd := kv.Encode(kv.OpAppend, key, []byte(tok))
		acked := false
		for a := 0; a < c.cfg.IdemAttempts; a++ {
			o := c.update(Op{Workload: "idem", Kind: "append", Value: tok}, c.cfg.KVService, key, cmd, ik, nil)
			if acked {
				break // that was the retry after the acknowledgement
			}
			if o.Outcome == OK {
				acked = true
				continue // retry once at once: it must not apply again
			}
			if !pace(ctx, c.cfg.Pace) {
				break
			}
		}
	}
}

// CheckIdem checks the idem workload against the final lists: a token at
// most once, exactly once if an attempt was acknowledged; every
// acknowledged attempt of a token returned the same result (the first
// one's, G6); and every clone holds the same list.
func CheckIdem(ops []Op, final Lists) []Violation {
	var vs []Violation
	attempts := map[string][]Op{}
	for _, o := range ops {
		if o.Workload == "idem" {
			attempts[o.Value] = append(attempts[o.Value], o)
		}
	}
	count := map[string]int{}
	for key, clones := range final {
		ref, dv := sameOnEveryClone("idem", key, clones, ops)
		vs = append(vs, dv...)
		for i, tok := range ref {
			count[tok]++
			at := attempts[tok]
			if len(at) == 0 || at[0].Key != key {
				vs = append(vs, Violation{Check: "idem: never sent", Detail: fmt.Sprintf("list %q holds %q at %d, never appended to it", key, tok, i)})
			}
		}
	}
	for tok, at := range attempts {
		var first *Op
		for i := range at {
			o := &at[i]
			if o.Outcome != OK {
				continue
			}
			if first == nil {
				first = o
			} else if !bytes.Equal(first.Data, o.Data) {
				vs = append(vs, Violation{Check: "idem: retry returned another result", Detail: fmt.Sprintf("%q: attempts returned %x and %x", tok, first.Data, o.Data), Ops: at})
			}
		}
		switch n := count[tok]; {
		case n > 1:
			vs = append(vs, Violation{Check: "idem: applied more than once", Detail: fmt.Sprintf("%q with idempotency key %q is in the list %d times", tok, at[0].IdemKey, n), Ops: at})
		case n == 0 && first != nil:
			vs = append(vs, Violation{Check: "idem: lost acknowledged write", Detail: fmt.Sprintf("%q acknowledged at %v is in no list", tok, first.Return), Ops: at})
		}
	}
	return vs
}
