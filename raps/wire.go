package raps

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/quicksilver-go/quicksilver/racs"
)

// The Router's requests between nodes, carried by internal/rpc. A request
// names a group (the Router located the partition with its own map), so
// the node that serves it needs no map lookup, and a stale map shows as
// ErrNotHosted instead of a wrong answer.
//
//	byte     kind
//	uvarint  group, incarnation (for kindMap: the asker's epoch)
//	bytes    payload (the update, the query, or an admin command)
//	bytes    idempotency key
//	byte     read level
//	uvarint  token incarnation, token seq
//
// A reply is
//
//	bytes    data
//	uvarint  token incarnation, token seq, view
const (
	kindUpdate byte = 1 // payload is the update; replies with the result
	kindQuery  byte = 2 // payload is the query
	kindMap    byte = 3 // the sender's partition map and management view
	kindAdmin  byte = 4 // payload is a mgmt command, for the management group
	// kindHistory asks a management member for the map's history after
	// epoch group, at most incarnation entries (0: all kept); the reply
	// is JSON (an admin path, not a hot one).
	kindHistory byte = 5
	// kindWatch is kindMap held until the answering node's map is newer
	// than the asker's epoch, or a bound passes (watch.go): the map
	// subscription over the transport.
	kindWatch byte = 6
	// kindSubscribe asks a clone for its update stream after token
	// (racs.Group.Updates), held until an update comes or the heartbeat
	// is due; the reply's data is the batch (subscribe.go) and its token
	// where to resume.
	kindSubscribe byte = 7
	// kindNode asks a node how it describes itself in the map (JSON of
	// a partitionmap.Node): the bootstrap lists every member so.
	kindNode byte = 8
)

var errMalformed = errors.New("raps: malformed request")

type request struct {
	kind        byte
	group       uint64
	incarnation uint64
	payload     []byte
	idemKey     string
	level       racs.Level
	token       racs.Token
}

type reply struct {
	data  []byte
	token racs.Token
	view  uint64
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func (r *request) encode() []byte {
	b := make([]byte, 0, 32+len(r.payload)+len(r.idemKey))
	b = append(b, r.kind)
	b = binary.AppendUvarint(b, r.group)
	b = binary.AppendUvarint(b, r.incarnation)
	b = appendBytes(b, r.payload)
	b = appendBytes(b, []byte(r.idemKey))
	b = append(b, byte(r.level))
	b = binary.AppendUvarint(b, r.token.Incarnation)
	b = binary.AppendUvarint(b, r.token.Seq)
	return b
}

func (r *reply) encode() []byte {
	b := make([]byte, 0, 24+len(r.data))
	b = appendBytes(b, r.data)
	b = binary.AppendUvarint(b, r.token.Incarnation)
	b = binary.AppendUvarint(b, r.token.Seq)
	return binary.AppendUvarint(b, r.view)
}

type wireReader struct {
	b   []byte
	err error
}

func (d *wireReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", errMalformed)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *wireReader) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = fmt.Errorf("%w: truncated", errMalformed)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *wireReader) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: length %d beyond the %d bytes left", errMalformed, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *wireReader) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errMalformed, len(d.b))
	}
	return d.err
}

func decodeRequest(b []byte) (request, error) {
	d := wireReader{b: b}
	var r request
	r.kind = d.byte1()
	r.group = d.uvarint()
	r.incarnation = d.uvarint()
	r.payload = d.bytes()
	r.idemKey = string(d.bytes())
	r.level = racs.Level(d.byte1())
	r.token.Incarnation = d.uvarint()
	r.token.Seq = d.uvarint()
	return r, d.done()
}

func decodeReply(b []byte) (reply, error) {
	d := wireReader{b: b}
	var r reply
	r.data = d.bytes()
	r.token.Incarnation = d.uvarint()
	r.token.Seq = d.uvarint()
	r.view = d.uvarint()
	return r, d.done()
}
