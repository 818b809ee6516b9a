package raps

import (
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// A session read skips the clones last seen behind its token, never all
// of them, and only while the note is recent.
func TestSessionReadsSkipClonesBehindTheToken(t *testing.T) {
	c := &Client{}
	now := time.Now()
	c.pos.note(7, 1, racs.Token{Incarnation: 1, Seq: 10}, now) // behind
	c.pos.note(7, 2, racs.Token{Incarnation: 1, Seq: 50}, now) // ahead
	c.pos.note(7, 2, racs.Token{Incarnation: 1, Seq: 40}, now) // a late, older answer: ignored
	// node 3: never seen
	req := &request{group: 7, level: racs.Session, token: racs.Token{Incarnation: 1, Seq: 42}}
	got := c.sessionCandidates([]groupcomm.NodeID{1, 2, 3}, req)
	if len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("candidates %v, want [2 3]", got)
	}
	if got := c.sessionCandidates([]groupcomm.NodeID{1}, req); len(got) != 1 {
		t.Fatalf("the only candidate was dropped: %v", got)
	}
	any := &request{group: 7, level: racs.Any, token: req.token}
	if got := c.sessionCandidates([]groupcomm.NodeID{1, 2, 3}, any); len(got) != 3 {
		t.Fatalf("an any read filtered: %v", got)
	}
	other := &request{group: 7, level: racs.Session, token: racs.Token{Incarnation: 2, Seq: 42}}
	if got := c.sessionCandidates([]groupcomm.NodeID{1, 2, 3}, other); len(got) != 3 {
		t.Fatalf("a token of another incarnation filtered: %v", got)
	}
	if c.pos.behind(7, 1, req.token, now.Add(2*positionTTL)) {
		t.Fatal("an old note still trusted")
	}
}
