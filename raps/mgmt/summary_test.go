package mgmt

import (
	"fmt"
	"strings"
	"testing"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// A plan of many moves does not fit one history summary (2 KiB): MovesFit
// says how many do, so a proposer can split the plan and keep every move
// and its reason in the history.
func TestMovesFitKeepsTheSummaryWhole(t *testing.T) {
	var moves []partitionmap.Move
	for i := range 32 { // DefaultPolicy: up to 16 finishing moves and 16 new ones
		moves = append(moves, partitionmap.Move{Partition: partitionmap.PartRef{Service: "carts", ID: i},
			Kind: partitionmap.AddLearner, Node: 6, Replace: 5,
			Reason: fmt.Sprintf(`re-replicate: node 5 has been dead since 2026-12-02T14:01:54Z, past the 10m0s grace; node 6 (zone "z0") holds %d clones of "carts"`, i)})
	}
	if s := movesSummary(moves); !strings.HasSuffix(truncate(s, maxSummaryLen), " …") {
		t.Fatalf("32 moves fit in %d bytes; the test needs a longer plan", len(s))
	}
	k := MovesFit(moves)
	if k < 1 || k >= len(moves) {
		t.Fatalf("MovesFit = %d of %d", k, len(moves))
	}
	if n := len(movesSummary(moves[:k])); n > maxSummaryLen {
		t.Fatalf("%d moves make a summary of %d bytes, more than %d", k, n, maxSummaryLen)
	}
	if n := len(movesSummary(moves[:k+1])); n <= maxSummaryLen {
		t.Fatalf("MovesFit = %d, but %d moves fit (%d bytes)", k, k+1, n)
	}
	for rest := moves; len(rest) > 0; {
		k := MovesFit(rest)
		if s := movesSummary(rest[:k]); len(s) > maxSummaryLen {
			t.Fatalf("a chunk of %d moves does not fit: %d bytes", k, len(s))
		}
		rest = rest[k:]
	}
	if MovesFit(nil) != 0 {
		t.Fatal("MovesFit(nil) != 0")
	}
	huge := []partitionmap.Move{{Partition: partitionmap.PartRef{Service: "kv"}, Kind: partitionmap.Lead, Node: 2, Reason: strings.Repeat("x", 3000)}}
	if MovesFit(huge) != 1 {
		t.Fatal("a move longer than a summary must still be proposed alone")
	}
}
