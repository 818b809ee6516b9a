package mgmt

import (
	"bytes"
	"testing"
)

// TestDeterministic applies the same random command sequence to two
// state machines: every result and every snapshot must be byte-identical.
// A third restored from a snapshot midway must then go on exactly like
// them. A refused command must leave the snapshot as it was.
func TestDeterministic(t *testing.T) {
	const seeds, steps = 12, 300
	applied, total := 0, 0
	ops := map[Op]int{}
	for seed := uint64(1); seed <= seeds; seed++ {
		g := newGen(seed)
		a, b := New(), New()
		var c *StateMachine
		for i := range steps {
			cmd := g.next(a.Map())
			before := snapshot(t, a)
			ra, rb := a.Apply(cmd), b.Apply(cmd)
			if !bytes.Equal(ra, rb) {
				t.Fatalf("seed %d step %d: results differ: %s vs %s", seed, i, ra, rb)
			}
			var rc []byte
			if c != nil {
				if rc = c.Apply(cmd); !bytes.Equal(ra, rc) {
					t.Fatalf("seed %d step %d: the restored clone's result differs: %s vs %s", seed, i, ra, rc)
				}
			}
			r, err := DecodeResult(ra)
			if err != nil {
				t.Fatal(err)
			}
			if r.Code == codeInternal {
				t.Fatalf("seed %d step %d: %s", seed, i, r.Message)
			}
			total++
			after := snapshot(t, a)
			if r.Err() == nil {
				applied++
				h := a.History(r.Epoch-1, 1)
				ops[h[0].Op]++
			} else if !bytes.Equal(before, after) {
				t.Fatalf("seed %d step %d: refused (%s) but the snapshot changed", seed, i, r.Code)
			}
			if sb := snapshot(t, b); !bytes.Equal(after, sb) {
				t.Fatalf("seed %d step %d: snapshots differ", seed, i)
			}
			if c != nil && !bytes.Equal(after, snapshot(t, c)) {
				t.Fatalf("seed %d step %d: the restored clone's snapshot differs", seed, i)
			}
			if i == steps/2 {
				c = restore(t, after)
				if !bytes.Equal(snapshot(t, c), after) {
					t.Fatalf("seed %d: a restored snapshot's snapshot differs", seed)
				}
			}
		}
	}
	t.Logf("%d of %d commands applied: %v", applied, total, ops)
	if applied < total/5 {
		t.Fatalf("only %d of %d commands applied: the generator tests little", applied, total)
	}
	for op := range opArgs {
		if ops[op] == 0 {
			t.Errorf("no %s applied", op)
		}
	}
}
