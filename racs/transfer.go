package racs

import (
	"bytes"
	"fmt"
	"hash/crc64"

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

// snapshotData encodes the state machine and the idempotency table.
func (g *Group) snapshotData() ([]byte, error) {
	var buf bytes.Buffer
	idem := g.idem.encode()
	var hdr [10]byte
	n := putUvarint(hdr[:], uint64(len(idem)))
	buf.Write(hdr[:n])
	buf.Write(idem)
	if err := g.cfg.StateMachine.Snapshot(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// restoreData restores what snapshotData encoded.
func (g *Group) restoreData(data []byte) error {
	l, n := uvarint(data)
	if n <= 0 || l > uint64(len(data)-n) {
		return fmt.Errorf("%w: header", ErrBadSnapshot)
	}
	idem, rest, err := decodeIdem(data[n:n+int(l)], g.host.cfg.IdempotencyWindow)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("%w: idempotency table", ErrBadSnapshot)
	}
	g.smMu.Lock()
	defer g.smMu.Unlock()
	if err := g.cfg.StateMachine.Restore(bytes.NewReader(data[n+int(l):])); err != nil {
		return err
	}
	g.idem = idem
	return nil
}

// startTransfer begins sending a snapshot to a learner (donor side).
func (g *Group) startTransfer(s groupcomm.SnapshotRequest) {
	data, err := g.snapshotData()
	if err != nil {
		g.host.log.Error("snapshot failed", "group", g.id, "err", err)
		return
	}
	t := &outTransfer{id: SnapshotID{Pos: s.Pos, Size: uint64(len(data)), Digest: digest(data)}, to: s.To, data: data, dedup: s.Dedup}
	g.outXfer[s.To] = t
	g.sendChunks(t)
}

func (g *Group) sendChunks(t *outTransfer) {
	cs := uint64(g.host.cfg.ChunkSize)
	var ps []Packet
	for t.sent < t.acked+transferWindow*cs && (t.sent < t.id.Size || t.id.Size == 0 && t.sent == 0) {
		end := min(t.sent+cs, t.id.Size)
		ps = append(ps, Packet{From: g.host.cfg.Node, To: t.to.Node, Group: g.id,
			Chunk: &Chunk{ID: t.id, To: t.to, Offset: t.sent, Data: t.data[t.sent:end], Dedup: t.dedup}})
		if end == t.sent {
			t.sent++ // an empty snapshot: one empty chunk
			break
		}
		t.sent = end
	}
	if len(ps) > 0 {
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

// tickTransfers resends stalled transfers from the learner's last ack.
func (g *Group) tickTransfers() {
	rto := uint64(4 * max(g.host.cfg.Core.TickRTO, 1))
	for to, t := range g.outXfer {
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

// onChunk takes a chunk (learner side).
func (g *Group) onChunk(from groupcomm.NodeID, c *Chunk) {
	self := g.core.Info().Self
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
	g.ackChunk(from, c.ID, c.ID.Size, true)
}

// installSnapshot restores the state, persists the snapshot, then tells
// the core.
func (g *Group) installSnapshot(pos groupcomm.Viewstamp, dedup, data []byte) error {
	if err := g.restoreData(data); err != nil {
		return err
	}
	if g.cfg.Durability == Disk && g.host.cfg.Store != nil {
		w := replica.GroupWrite{Group: g.id, Snapshot: &replica.Snapshot{Pos: pos, Dedup: dedup, Data: data}}
		if err := g.host.commit([]replica.GroupWrite{w}); err != nil {
			return err
		}
	}
	if err := g.core.Restore(pos, dedup); err != nil {
		return err
	}
	g.applied.Store(pos.Seq)
	g.lastApplied = pos
	g.xferProgress.Store(TransferProgress{})
	g.notifyApplied()
	return nil
}

func (g *Group) ackChunk(to groupcomm.NodeID, id SnapshotID, next uint64, done bool) {
	g.host.cfg.Transport.Send([]Packet{{From: g.host.cfg.Node, To: to, Group: g.id,
		ChunkAck: &ChunkAck{ID: id, From: g.core.Info().Self, Next: next, Done: done}}})
}

// Transfer reports an incoming state transfer, if one runs.
func (g *Group) Transfer() (TransferProgress, bool) {
	p, ok := g.xferProgress.Load().(TransferProgress)
	return p, ok && p.Size > 0
}
