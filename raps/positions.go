package raps

import (
	"sync"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// positions remembers, per group and clone, the applied position the
// clone's last answer showed (its token), so that a session read skips
// the clones known to be behind its token instead of waiting on one. A
// note is trusted for positionTTL only: a clone catches up, and a
// clone skipped for too long would never show it.
type positions struct {
	mu sync.Mutex
	m  map[posKey]posNote
}

type posKey struct {
	group uint64
	node  groupcomm.NodeID
}

type posNote struct {
	tok racs.Token
	at  time.Time
}

const positionTTL = time.Second

// note records that node answered for group at position tok.
func (p *positions) note(group uint64, node groupcomm.NodeID, tok racs.Token, now time.Time) {
	if tok.Seq == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[posKey]posNote{}
	}
	k := posKey{group, node}
	if old, ok := p.m[k]; ok && old.tok.Incarnation == tok.Incarnation && old.tok.Seq > tok.Seq && now.Sub(old.at) < positionTTL {
		return // an older answer arriving late
	}
	p.m[k] = posNote{tok: tok, at: now}
}

// behind reports whether node is known, lately, to be behind tok in group.
func (p *positions) behind(group uint64, node groupcomm.NodeID, tok racs.Token, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.m[posKey{group, node}]
	return ok && now.Sub(n.at) < positionTTL && n.tok.Incarnation == tok.Incarnation && n.tok.Seq < tok.Seq
}

// sessionCandidates drops from cands the clones known to be behind the
// token of a session read, unless that would drop them all.
func (c *Client) sessionCandidates(cands []groupcomm.NodeID, req *request) []groupcomm.NodeID {
	if req.level != racs.Session || req.token.Seq == 0 || len(cands) < 2 {
		return cands
	}
	now := time.Now()
	var ahead []groupcomm.NodeID
	for _, id := range cands {
		if !c.pos.behind(req.group, id, req.token, now) {
			ahead = append(ahead, id)
		}
	}
	if len(ahead) == 0 {
		return cands
	}
	return ahead
}
