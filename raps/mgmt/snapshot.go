package mgmt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"time"
	"unicode/utf8"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// The snapshot, version 1: the whole state in one deterministic byte
// string (the same state gives the same bytes on every clone). Integers
// are uvarints (a time's seconds a zig-zag varint); a string is its
// length, then its bytes.
//
//	snapshot = magic("qsmg") version(1 byte = 1) cluster
//	           map_len map(partitionmap binary, empty before bootstrap)
//	           count change* crc32c(4 bytes, big-endian, of all before it)
//	change   = epoch seconds nanos op reason summary
//
// Restore checks what Apply keeps true, so a restored state is one Apply
// could have made: no map, no cluster id and no history before the
// bootstrap, and all three after it; at most MaxHistory changes with
// consecutive epochs, the last being the map's; known ops, bounded valid
// UTF-8 strings, times JSON can write; nothing after the checksum.

// MaxSnapshotSize bounds what Restore reads: the largest map and a full
// history.
const MaxSnapshotSize = partitionmap.MaxEncodedSize + 64<<20

const (
	snapshotMagic   = "qsmg"
	snapshotVersion = 1
	minChangeSize   = 6 // one byte per field
	maxOpLen        = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes the whole state to w (see above for the format).
func (s *StateMachine) Snapshot(w io.Writer) error {
	v := s.cur.Load()
	enc, err := v.encoded()
	if err != nil {
		return fmt.Errorf("mgmt: snapshot: encoding the map: %w", err)
	}
	s.hist.mu.RLock()
	b := appendSnapshot(nil, v.cluster, enc, s.hist.changes)
	s.hist.mu.RUnlock()
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("mgmt: snapshot: %w", err)
	}
	return nil
}

func appendSnapshot(b []byte, cluster uint64, mapEnc []byte, changes []Change) []byte {
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, cluster)
	b = appendBytes(b, mapEnc)
	b = binary.AppendUvarint(b, uint64(len(changes)))
	for i := range changes {
		c := &changes[i]
		b = binary.AppendUvarint(b, c.Epoch)
		b = binary.AppendVarint(b, c.Time.Unix())
		b = binary.AppendUvarint(b, uint64(c.Time.Nanosecond()))
		b = appendBytes(b, []byte(c.Op))
		b = appendBytes(b, []byte(c.Reason))
		b = appendBytes(b, []byte(c.Summary))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// Restore replaces the state with a snapshot's. On any error (wrapping
// ErrBadSnapshot, or the reader's) the state is unchanged. A restored map
// is handed to the SetOnChange function, as an applied change's is.
func (s *StateMachine) Restore(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxSnapshotSize+1))
	if err != nil {
		return fmt.Errorf("mgmt: restore: reading the snapshot: %w", err)
	}
	v, changes, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	s.hist.mu.Lock()
	s.cur.Store(v)
	s.hist.changes = changes
	s.hist.mu.Unlock()
	s.notify(v.m)
	return nil
}

// decodeSnapshot parses and checks a snapshot; it never panics and
// allocates in proportion to its input.
func decodeSnapshot(data []byte) (*view, []Change, error) {
	if len(data) > MaxSnapshotSize {
		return nil, nil, fmt.Errorf("%w: more than %d bytes", ErrBadSnapshot, MaxSnapshotSize)
	}
	if len(data) < len(snapshotMagic)+1+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, nil, fmt.Errorf("%w: not a management group snapshot", ErrBadSnapshot)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, nil, fmt.Errorf("%w: checksum mismatch (damaged)", ErrBadSnapshot)
	}
	return decodeSnapshotBody(body)
}

// decodeSnapshotBody parses a snapshot whose checksum is already checked.
func decodeSnapshotBody(body []byte) (*view, []Change, error) {
	d := &snapDecoder{b: body, off: len(snapshotMagic)}
	if ver := d.byte1(); d.err == nil && ver != snapshotVersion {
		return nil, nil, fmt.Errorf("%w: unknown version %d", ErrBadSnapshot, ver)
	}
	cluster := d.uvarint("cluster id")
	mapEnc := d.bytes("map", partitionmap.MaxEncodedSize)
	n := d.uvarint("history length")
	if d.err != nil {
		return nil, nil, d.err
	}
	if n > MaxHistory || n > uint64(d.left()/minChangeSize) {
		return nil, nil, d.fail("%d history entries, at most %d in %d bytes", n, MaxHistory, d.left())
	}
	v := &view{cluster: cluster}
	if len(mapEnc) > 0 {
		v.m = new(partitionmap.Map)
		if err := v.m.UnmarshalBinary(mapEnc); err != nil {
			return nil, nil, fmt.Errorf("%w: the map: %w", ErrBadSnapshot, err)
		}
	}
	if (cluster == 0) != (v.m == nil) || (v.m == nil) != (n == 0) {
		return nil, nil, fmt.Errorf("%w: cluster id %d, map present %t, %d history entries: a bootstrapped state has all three, a new one none", ErrBadSnapshot, cluster, v.m != nil, n)
	}
	changes := make([]Change, 0, n)
	for i := uint64(0); i < n; i++ {
		c, err := d.change()
		if err != nil {
			return nil, nil, err
		}
		if i > 0 && c.Epoch != changes[i-1].Epoch+1 {
			return nil, nil, d.fail("history epoch %d follows %d (not consecutive)", c.Epoch, changes[i-1].Epoch)
		}
		changes = append(changes, c)
	}
	if d.left() != 0 {
		return nil, nil, d.fail("%d trailing bytes", d.left())
	}
	if n > 0 && changes[n-1].Epoch != v.m.Epoch {
		return nil, nil, fmt.Errorf("%w: the history ends at epoch %d, the map is at %d", ErrBadSnapshot, changes[n-1].Epoch, v.m.Epoch)
	}
	return v, changes, nil
}

type snapDecoder struct {
	b   []byte
	off int
	err error // the first failure; later reads return zero values
}

func (d *snapDecoder) left() int { return len(d.b) - d.off }

func (d *snapDecoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrBadSnapshot, d.off, fmt.Sprintf(format, args...))
}

func (d *snapDecoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if d.left() < 1 {
		d.err = d.fail("truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *snapDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.err = d.fail("bad %s", what)
		return 0
	}
	d.off += n
	return v
}

func (d *snapDecoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.err = d.fail("bad %s", what)
		return 0
	}
	d.off += n
	return v
}

func (d *snapDecoder) bytes(what string, max int) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(d.left()) {
		d.err = d.fail("%s of %d bytes (at most %d, %d left)", what, n, max, d.left())
		return nil
	}
	v := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return v
}

func (d *snapDecoder) str(what string, max int) string {
	v := d.bytes(what, max)
	if d.err == nil && !utf8.Valid(v) {
		d.err = d.fail("%s is not valid UTF-8", what)
	}
	return string(v)
}

func (d *snapDecoder) change() (Change, error) {
	var c Change
	c.Epoch = d.uvarint("epoch")
	sec := d.varint("time")
	nsec := d.uvarint("time")
	c.Op = Op(d.str("op", maxOpLen))
	c.Reason = d.str("reason", MaxReasonLen)
	c.Summary = d.str("summary", maxSummaryLen)
	if d.err != nil {
		return Change{}, d.err
	}
	if nsec >= 1e9 {
		return Change{}, d.fail("%d nanoseconds", nsec)
	}
	c.Time = time.Unix(sec, int64(nsec)).UTC()
	if y := c.Time.Year(); y < 0 || y > 9999 || c.Time.Unix() != sec {
		return Change{}, d.fail("time out of range (%d s)", sec)
	}
	if c.Epoch == 0 {
		return Change{}, d.fail("history entry at epoch 0")
	}
	if !c.Op.Known() {
		return Change{}, d.fail("unknown op %.64q", c.Op)
	}
	return c, nil
}
