package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
	"unicode/utf8"
)

// Frame layout: the Body of a racs.Call (see the package doc).
//
//	byte     kind: 1 request, 2 reply, 3 cancel
//	byte     flags
//	request: flags bit 0 Deadline; if set, uvarint timeout in nanoseconds
//	         (1 ≤ timeout ≤ MaxInt64); then the request body to the end
//	reply:   flags bit 0 Error; if set, uvarint len(code), code (at most
//	         maxCodeBytes), uvarint len(message), message (at most
//	         maxMessageBytes), nothing after; else the reply body to the end
//	cancel:  flags 0, nothing after
//
// The racs.Call's Reply bit is set exactly on reply frames. Unknown kinds
// and flags, non-minimal varints, oversized codes and messages and
// trailing bytes are malformed, so the encoding is canonical: whatever
// decodes re-encodes to the same bytes.
const (
	kindRequest byte = 1
	kindReply   byte = 2
	kindCancel  byte = 3

	flagDeadline byte = 1 << 0 // request: a timeout follows
	flagError    byte = 1 << 0 // reply: an error code and message follow

	// maxCodeBytes bounds an error code; maxMessageBytes an error's
	// message (longer messages are cut at the sender).
	maxCodeBytes    = 64
	maxMessageBytes = 1024

	// MaxRequestHeader is the most a request frame adds to its body; a
	// reply frame adds 2 bytes, and an error reply is at most
	// 2+2+maxCodeBytes+2+maxMessageBytes bytes. The transport adds its own
	// packet header (a few dozen bytes in the TCP one): keep MaxBody below
	// the transport's frame bound by that much.
	MaxRequestHeader = 2 + binary.MaxVarintLen64
)

// errMalformed: a frame that does not decode (counted in Stats.Malformed
// and dropped, never answered).
var errMalformed = errors.New("rpc: malformed frame")

// frame is a decoded Call body.
type frame struct {
	kind byte
	// timeout is the caller's remaining time (request; 0: none).
	timeout time.Duration
	// isErr marks an error reply, with its code and message.
	isErr bool
	code  string
	msg   string
	// body is the request or reply body; it aliases the Call's Body.
	body []byte
}

func uvarintSize(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// newRequest encodes a request frame; timeout 0 means no deadline.
func newRequest(timeout time.Duration, body []byte) []byte {
	n := 2 + len(body)
	if timeout > 0 {
		n += uvarintSize(uint64(timeout))
	}
	b := make([]byte, 0, n)
	if timeout > 0 {
		b = append(b, kindRequest, flagDeadline)
		b = binary.AppendUvarint(b, uint64(timeout))
	} else {
		b = append(b, kindRequest, 0)
	}
	return append(b, body...)
}

// newReply encodes a successful reply frame.
func newReply(body []byte) []byte {
	b := make([]byte, 0, 2+len(body))
	b = append(b, kindReply, 0)
	return append(b, body...)
}

// newErrorReply encodes an error reply frame, cutting the message to
// maxMessageBytes (at a rune boundary) and dropping a code that is too
// long (registered codes never are; see Config.Validate).
func newErrorReply(code, msg string) []byte {
	if len(code) > maxCodeBytes {
		code = ""
	}
	msg = cutMessage(msg)
	b := make([]byte, 0, 2+uvarintSize(uint64(len(code)))+len(code)+uvarintSize(uint64(len(msg)))+len(msg))
	b = append(b, kindReply, flagError)
	b = binary.AppendUvarint(b, uint64(len(code)))
	b = append(b, code...)
	b = binary.AppendUvarint(b, uint64(len(msg)))
	return append(b, msg...)
}

// cutMessage cuts msg to at most maxMessageBytes, at a rune boundary.
func cutMessage(msg string) string {
	if len(msg) <= maxMessageBytes {
		return msg
	}
	cut := maxMessageBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return strings.Clone(msg[:cut])
}

// cancelFrame is the body of every cancel frame.
var cancelFrame = []byte{kindCancel, 0}

// appendFrame encodes f (the inverse of decodeFrame, for tests).
func appendFrame(f frame) []byte {
	switch {
	case f.kind == kindRequest:
		return newRequest(f.timeout, f.body)
	case f.kind == kindReply && f.isErr:
		return newErrorReply(f.code, f.msg)
	case f.kind == kindReply:
		return newReply(f.body)
	default:
		return append([]byte(nil), cancelFrame...)
	}
}

// decodeFrame decodes a Call's Body; reply is the Call's Reply bit. It
// never panics; errors wrap errMalformed. The body aliases b.
func decodeFrame(reply bool, b []byte) (frame, error) {
	fail := func(format string, args ...any) (frame, error) {
		return frame{}, fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
	}
	if len(b) < 2 {
		return fail("%d bytes, want at least 2", len(b))
	}
	f := frame{kind: b[0]}
	flags := b[1]
	rest := b[2:]
	switch f.kind {
	case kindRequest, kindCancel:
		if reply {
			return fail("kind %d on a reply", f.kind)
		}
	case kindReply:
		if !reply {
			return fail("reply frame without the Reply bit")
		}
	default:
		return fail("unknown kind %d", f.kind)
	}
	switch f.kind {
	case kindRequest:
		if flags&^flagDeadline != 0 {
			return fail("unknown request flags %#x", flags)
		}
		if flags&flagDeadline != 0 {
			t, n, err := uvarint(rest, "timeout")
			if err != nil {
				return frame{}, err
			}
			if t == 0 || t > math.MaxInt64 {
				return fail("timeout %d out of range", t)
			}
			f.timeout = time.Duration(t)
			rest = rest[n:]
		}
		f.body = rest
	case kindReply:
		if flags&^flagError != 0 {
			return fail("unknown reply flags %#x", flags)
		}
		if flags&flagError == 0 {
			f.body = rest
			break
		}
		f.isErr = true
		code, rest2, err := str(rest, "code", maxCodeBytes)
		if err != nil {
			return frame{}, err
		}
		msg, rest3, err := str(rest2, "message", maxMessageBytes)
		if err != nil {
			return frame{}, err
		}
		if len(rest3) != 0 {
			return fail("%d trailing bytes after an error", len(rest3))
		}
		f.code, f.msg = code, msg
	case kindCancel:
		if flags != 0 {
			return fail("unknown cancel flags %#x", flags)
		}
		if len(rest) != 0 {
			return fail("%d trailing bytes after a cancel", len(rest))
		}
	}
	return f, nil
}

// uvarint reads a minimally encoded uvarint and its length.
func uvarint(b []byte, what string) (uint64, int, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, fmt.Errorf("%w: truncated at %s", errMalformed, what)
	case n < 0:
		return 0, 0, fmt.Errorf("%w: %s overflows 64 bits", errMalformed, what)
	case n > 1 && b[n-1] == 0:
		return 0, 0, fmt.Errorf("%w: %s is a non-minimal varint", errMalformed, what)
	}
	return v, n, nil
}

// str reads a length-prefixed string of at most limit bytes.
func str(b []byte, what string, limit int) (string, []byte, error) {
	n, k, err := uvarint(b, what+" length")
	if err != nil {
		return "", nil, err
	}
	b = b[k:]
	if n > uint64(limit) || n > uint64(len(b)) {
		return "", nil, fmt.Errorf("%w: %s of %d bytes (limit %d, %d left)", errMalformed, what, n, limit, len(b))
	}
	return string(b[:n]), b[n:], nil
}
