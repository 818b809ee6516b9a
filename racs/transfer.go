package racs

import (
	"cmp"
	"hash/crc64"
	"slices"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

func digest(b []byte) uint64 { return crc64.Checksum(b, crcTable) }

// State transfer (G7, S9): the donor's core asks for a snapshot at its
// delivered position p ≥ the cut; the donor encodes the state machine and
// the idempotency table at p, names the snapshot (p, size, digest) and
// sends it in chunks, a few in flight, resending from the learner's last
// ack when it stalls. The learner accepts chunks only in order and only
// under one snapshot id (a new id starts from offset 0), verifies the
// whole digest, restores, persists the snapshot and only then tells its
// core (Restore), which then delivers exactly the entries after p.

const transferWindow = 4

type outTransfer struct {
	id      SnapshotID
	to      groupcomm.MemberID
	data    []byte
	dedup   []byte
	acked   uint64 // learner holds [0, acked)
	sent    uint64
	lastAck uint64 // tick of the last progress
	ticks   uint64
}

type inTransfer struct {
	id   SnapshotID
	buf  []byte
	from groupcomm.NodeID
}

// TransferProgress reports an incoming state transfer.
type TransferProgress struct {
	Received, Size uint64
}

// startTransfer begins sending a snapshot to a learner (donor side).
func (g *Group) startTransfer(s groupcomm.SnapshotRequest) {
	g.smMu.Lock()
	data, err := g.cl.SnapshotData()
	g.smMu.Unlock()
	if err != nil {
		g.host.log.Error("snapshot failed", "group", g.id, "err", err)
		return
	}
	t := &outTransfer{id: SnapshotID{Pos: s.Pos, Size: uint64(len(data)), Digest: digest(data)}, to: s.To, data: data, dedup: s.Dedup}
	g.outXfer[s.To] = t
	g.w.stats.transfersSent.Add(1)
	g.sendChunks(t)
}

func (g *Group) sendChunks(t *outTransfer) {
	cs := uint64(g.host.cfg.ChunkSize)
	var ps []Packet
	var bytes uint64
	for t.sent < t.acked+transferWindow*cs && (t.sent < t.id.Size || t.id.Size == 0 && t.sent == 0) {
		end := min(t.sent+cs, t.id.Size)
		bytes += end - t.sent
		ps = append(ps, Packet{From: g.host.cfg.Node, To: t.to.Node, Group: g.id,
			Chunk: &Chunk{ID: t.id, To: t.to, Offset: t.sent, Data: t.data[t.sent:end], Dedup: t.dedup}})
		if end == t.sent {
			t.sent++ // an empty snapshot: one empty chunk
			break
		}
		t.sent = end
	}
	if len(ps) > 0 {
		g.w.stats.transferBytesSent.Add(bytes)
		g.host.cfg.Transport.Send(ps)
	}
}

func (g *Group) onChunkAck(from groupcomm.NodeID, a *ChunkAck) {
	t := g.outXfer[a.From]
	if t == nil || t.id != a.ID {
		return
	}
	if a.Done {
		delete(g.outXfer, a.From)
		return
	}
	if a.Next > t.acked {
		t.acked, t.lastAck = a.Next, t.ticks
		if t.sent < t.acked {
			t.sent = t.acked
		}
		g.sendChunks(t)
	}
}

// tickTransfers resends stalled transfers from the learner's last ack
// (in member order, so that a simulation replays the same packets).
func (g *Group) tickTransfers() {
	if len(g.outXfer) == 0 {
		return
	}
	rto := uint64(4 * max(g.host.cfg.Core.TickRTO, 1))
	tos := make([]groupcomm.MemberID, 0, len(g.outXfer))
	for to := range g.outXfer {
		tos = append(tos, to)
	}
	slices.SortFunc(tos, cmpMember)
	for _, to := range tos {
		t := g.outXfer[to]
		t.ticks++
		if t.ticks-t.lastAck >= rto {
			t.sent, t.lastAck = t.acked, t.ticks
			g.sendChunks(t)
		}
		if t.ticks > 100*rto {
			delete(g.outXfer, to) // the learner is gone; it asks again if not
		}
	}
}

func cmpMember(a, b groupcomm.MemberID) int {
	if a.Node != b.Node {
		return cmp.Compare(a.Node, b.Node)
	}
	return cmp.Compare(a.Incarnation, b.Incarnation)
}

// onChunk takes a chunk (learner side).
func (g *Group) onChunk(from groupcomm.NodeID, c *Chunk) {
	self := g.cl.Core().Info().Self
	if c.To != self {
		return
	}
	in := g.inXfer
	if in == nil || in.id != c.ID {
		if c.Offset != 0 {
			// A chunk of a snapshot we are not receiving: ask for offset 0.
			g.ackChunk(from, c.ID, 0, false)
			return
		}
		in = &inTransfer{id: c.ID, from: from, buf: make([]byte, 0, min(c.ID.Size, 64<<20))}
		g.inXfer = in
	}
	if c.Offset != uint64(len(in.buf)) {
		g.ackChunk(from, c.ID, uint64(len(in.buf)), false)
		return
	}
	in.buf = append(in.buf, c.Data...)
	g.w.stats.transferBytesReceived.Add(uint64(len(c.Data)))
	g.xferProgress.Store(TransferProgress{Received: uint64(len(in.buf)), Size: c.ID.Size})
	if uint64(len(in.buf)) < c.ID.Size {
		g.ackChunk(from, c.ID, uint64(len(in.buf)), false)
		return
	}
	g.inXfer = nil
	if uint64(len(in.buf)) != c.ID.Size || digest(in.buf) != c.ID.Digest {
		g.host.log.Warn("snapshot digest mismatch", "group", g.id)
		return
	}
	if err := g.installSnapshot(c.ID.Pos, c.Dedup, in.buf); err != nil {
		g.host.log.Warn("snapshot restore failed", "group", g.id, "err", err)
		return
	}
	g.w.stats.transfersReceived.Add(1)
	g.ackChunk(from, c.ID, c.ID.Size, true)
}

// installSnapshot restores the state, persists the snapshot, then tells
// the core.
func (g *Group) installSnapshot(pos groupcomm.Viewstamp, dedup, data []byte) error {
	g.smMu.Lock()
	w, durable, err := g.cl.InstallSnapshot(pos, dedup, data)
	g.smMu.Unlock()
	if err != nil {
		return err
	}
	if durable {
		if err := g.host.commit([]replica.GroupWrite{w}); err != nil {
			return err
		}
	}
	if err := g.cl.Restored(pos, dedup); err != nil {
		return err
	}
	if obs := g.host.obs; obs != nil {
		obs.restored(g.id, g.cl.Core().Info().Self, pos)
	}
	g.stream.reset(pos.Seq)
	g.applied.Store(pos.Seq)
	g.xferProgress.Store(TransferProgress{})
	g.notifyApplied()
	return nil
}

func (g *Group) ackChunk(to groupcomm.NodeID, id SnapshotID, next uint64, done bool) {
	g.host.cfg.Transport.Send([]Packet{{From: g.host.cfg.Node, To: to, Group: g.id,
		ChunkAck: &ChunkAck{ID: id, From: g.cl.Core().Info().Self, Next: next, Done: done}}})
}

// Transfer reports an incoming state transfer, if one runs.
func (g *Group) Transfer() (TransferProgress, bool) {
	p, ok := g.xferProgress.Load().(TransferProgress)
	return p, ok && p.Size > 0
}
