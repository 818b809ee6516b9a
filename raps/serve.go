package raps

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// errNoNewerMap: the node asked holds no map newer than the asker's.
var errNoNewerMap = errors.New("raps: no newer map there")

// wireErrors are the sentinels that cross the hop as themselves (rpc's
// error codes): the Router decides on them what is safe to retry.
var wireErrors = map[string]error{
	"racs.not_applied":     racs.ErrNotApplied,
	"racs.outcome_unknown": racs.ErrOutcomeUnknown,
	"racs.busy":            racs.ErrBusy,
	"racs.no_quorum":       racs.ErrNoQuorum,
	"racs.stale":           racs.ErrStale,
	"racs.bad_token":       racs.ErrBadToken,
	"racs.unknown_group":   racs.ErrUnknownGroup,
	"racs.stopped":         racs.ErrStopped,
	"racs.key_reused":      racs.ErrKeyReused,
	"racs.compacted":       racs.ErrCompacted,
	"raps.not_hosted":      ErrNotHosted,
	"raps.no_map":          ErrNoMap,
	"raps.unknown_service": ErrUnknownService,
	"raps.bad_key":         ErrBadKey,
	"raps.closed":          ErrClosed,
}

// serve is the rpc handler: the Router's calls from other nodes.
func (n *Node) serve(ctx context.Context, _ groupcomm.NodeID, body []byte) ([]byte, error) {
	req, err := decodeRequest(body)
	if err != nil {
		return nil, err
	}
	rep, err := n.handle(ctx, &req)
	if err != nil {
		return nil, err
	}
	return rep.encode(), nil
}

// handle runs a request on this node's clone (a remote call or a local
// one).
func (n *Node) handle(ctx context.Context, req *request) (reply, error) {
	switch req.kind {
	case kindMap:
		return reply{data: n.mapReply(req.incarnation)}, nil
	case kindWatch:
		n.waitNewerMap(ctx, req.incarnation)
		return reply{data: n.mapReply(req.incarnation)}, nil
	case kindNode:
		out, err := json.Marshal(n.self())
		return reply{data: out}, err
	case kindAdmin:
		if n.mgmtSM.Load() == nil {
			return reply{}, fmt.Errorf("%w: node %d holds no management clone", ErrNotHosted, n.cfg.ID)
		}
		out, err := n.submitMgmt(ctx, req.payload)
		return reply{data: out}, err
	case kindHistory:
		ch, err := n.localHistory(req.group, int(min(req.incarnation, 1<<20)))
		if err != nil {
			return reply{}, err
		}
		out, err := json.Marshal(ch)
		return reply{data: out}, err
	case kindSubscribe:
		return n.serveSubscribe(ctx, req)
	case kindUpdate, kindQuery:
	default:
		return reply{}, fmt.Errorf("%w: kind %d", errMalformed, req.kind)
	}
	g, err := n.groupFor(req)
	if err != nil {
		return reply{}, err
	}
	if req.kind == kindUpdate {
		res, err := g.Submit(ctx, req.payload, req.idemKey)
		if err != nil {
			return reply{}, err
		}
		return reply{data: res.Data, token: res.Token, view: res.View}, nil
	}
	data, tok, err := g.Query(ctx, req.payload, req.level, req.token)
	if err != nil {
		return reply{}, err
	}
	return reply{data: data, token: tok}, nil
}

// groupFor is this node's clone of the request's group, at the
// incarnation the caller's map names (ErrNotHosted otherwise: the
// caller's map is stale).
func (n *Node) groupFor(req *request) (*racs.Group, error) {
	g, err := n.host.Group(replica.GroupID(req.group))
	if err != nil {
		return nil, fmt.Errorf("%w: group %d on node %d", ErrNotHosted, req.group, n.cfg.ID)
	}
	if tok := g.Applied(); tok.Incarnation != req.incarnation {
		return nil, fmt.Errorf("%w: group %d is at incarnation %d here, not %d", ErrNotHosted, req.group, tok.Incarnation, req.incarnation)
	}
	return g, nil
}

// mapReply: the management group's members as this node knows them, and
// the binary map if it is newer than the asker's epoch (a poll of an
// unchanged map costs a few bytes, not the map).
func (n *Node) mapReply(since uint64) []byte {
	var b []byte
	via := n.mgmtMembers()
	b = binary.AppendUvarint(b, uint64(len(via)))
	for _, id := range via {
		b = binary.AppendUvarint(b, uint64(id))
	}
	if m := n.Map(); m != nil && m.Epoch > since {
		mb, err := m.MarshalBinary()
		if err == nil {
			b = append(b, mb...)
		}
	}
	return b
}

func decodeMapReply(b []byte) (*partitionmap.Map, []groupcomm.NodeID, error) {
	d := wireReader{b: b}
	k := d.uvarint()
	if d.err == nil && k > uint64(len(d.b)) {
		return nil, nil, fmt.Errorf("%w: %d members", errMalformed, k)
	}
	var via []groupcomm.NodeID
	for range k {
		via = append(via, groupcomm.NodeID(d.uvarint()))
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	if len(d.b) == 0 {
		return nil, via, errNoNewerMap
	}
	m := new(partitionmap.Map)
	if err := m.UnmarshalBinary(d.b); err != nil {
		return nil, via, err
	}
	return m, via, nil
}
