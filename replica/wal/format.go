package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// On-disk format (all integers little-endian).
//
// A segment is one file named %016x.seg after its index; the log's
// segments have consecutive indexes. It is created at its full size
// (Options.SegmentSize), zero-filled and synced before it is used, so
// that writing a frame into it changes no metadata and fdatasync writes
// data blocks only. It starts with a header written at creation:
//
//	[0:8]   magic "QSWAL\x00\x00\x01" (the last byte is the format version)
//	[8:16]  segment index
//	[16:20] CRC-32C of bytes 0..16
//	[20:24] zero
//
// Frames follow at 8-byte aligned offsets from segmentHeaderLen, one per
// Append (one write, one fdatasync):
//
//	[0:4]   CRC-32C (Castagnoli) of bytes 4..16 and the payload
//	[4:8]   payload length
//	[8:16]  LSN: 1 for the log's first frame, one more for each next
//	[16:]   payload, then zero padding to a multiple of 8
//
// A frame header of sixteen zero bytes marks the end of the written part
// (the rest of the segment is still zero). A frame that does not fit in
// what is left of a segment goes to the next one; a frame larger than a
// whole segment gets a segment of its own that grows to hold it.
const (
	segmentHeaderLen = 24
	frameHeaderLen   = 16
	frameAlign       = 8
	segmentSuffix    = ".seg"
	tmpSuffix        = ".tmp"
)

var segmentMagic = [8]byte{'Q', 'S', 'W', 'A', 'L', 0, 0, 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segmentName(index uint64) string { return fmt.Sprintf("%016x%s", index, segmentSuffix) }

// parseSegmentName returns the index a segment file name gives.
func parseSegmentName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(hex) != 16 {
		return 0, false
	}
	idx, err := strconv.ParseUint(hex, 16, 64)
	return idx, err == nil
}

func appendSegmentHeader(b []byte, index uint64) []byte {
	start := len(b)
	b = append(b, segmentMagic[:]...)
	b = binary.LittleEndian.AppendUint64(b, index)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
	return binary.LittleEndian.AppendUint32(b, 0)
}

// checkSegmentHeader checks the header of segment index.
func checkSegmentHeader(h []byte, index uint64) error {
	if len(h) < segmentHeaderLen {
		return fmt.Errorf("short header (%d bytes)", len(h))
	}
	if [8]byte(h[:8]) != segmentMagic {
		return fmt.Errorf("bad magic %x", h[:8])
	}
	if crc := binary.LittleEndian.Uint32(h[16:]); crc != crc32.Checksum(h[:16], castagnoli) {
		return fmt.Errorf("header checksum mismatch")
	}
	if got := binary.LittleEndian.Uint64(h[8:]); got != index {
		return fmt.Errorf("header names segment %d", got)
	}
	return nil
}

// frameLen is the space a frame with an n-byte payload takes.
func frameLen(n int) int64 {
	return (int64(frameHeaderLen+n) + frameAlign - 1) / frameAlign * frameAlign
}

// appendFrame appends the frame of payload p at LSN lsn to b.
func appendFrame(b []byte, lsn uint64, p []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
	b = binary.LittleEndian.AppendUint64(b, lsn)
	b = append(b, p...)
	crc := crc32.Update(crc32.Checksum(b[start+4:start+frameHeaderLen], castagnoli), castagnoli, p)
	binary.LittleEndian.PutUint32(b[start:], crc)
	for pad := frameLen(len(p)) - int64(frameHeaderLen+len(p)); pad > 0; pad-- {
		b = append(b, 0)
	}
	return b
}

// frameStatus is what readFrame finds at an offset.
type frameStatus int

const (
	frameOK  frameStatus = iota
	frameEnd             // sixteen zero bytes, or no room for a header
	frameBad             // a header or checksum that does not hold
)

// readFrame reads the frame at off of seg (a whole segment's bytes). The
// payload aliases seg.
func readFrame(seg []byte, off int64) (lsn uint64, payload []byte, next int64, st frameStatus) {
	if off+frameHeaderLen > int64(len(seg)) {
		return 0, nil, off, frameEnd
	}
	h := seg[off : off+frameHeaderLen]
	if allZero(h) {
		return 0, nil, off, frameEnd
	}
	n := int64(binary.LittleEndian.Uint32(h[4:]))
	if n > int64(len(seg))-off-frameHeaderLen {
		return 0, nil, off, frameBad
	}
	p := seg[off+frameHeaderLen : off+frameHeaderLen+n]
	crc := crc32.Update(crc32.Checksum(h[4:], castagnoli), castagnoli, p)
	if crc != binary.LittleEndian.Uint32(h) {
		return 0, nil, off, frameBad
	}
	return binary.LittleEndian.Uint64(h[8:]), p, off + frameLen(int(n)), frameOK
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
