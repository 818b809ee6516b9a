package dispatcher

import (
	"strconv"
	"strings"

	"github.com/quicksilver-go/quicksilver/racs"
)

// A session token names the partition's group, its incarnation and a
// delivered position: "<group>.<incarnation>.<seq>", in decimal, e.g.
// "7.1.42". It is opaque to clients: pass back what an answer gave.
type token struct {
	group uint64
	tok   racs.Token
}

func formatToken(group uint64, t racs.Token) string {
	b := make([]byte, 0, 32)
	b = strconv.AppendUint(b, group, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, t.Incarnation, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, t.Seq, 10)
	return string(b)
}

// maxTokenLen bounds a token's text (three 20-digit numbers and dots).
const maxTokenLen = 64

// parseToken reads a token; "" is no token.
func parseToken(s string) (token, bool, error) {
	if s == "" {
		return token{}, false, nil
	}
	if len(s) > maxTokenLen {
		return token{}, false, badRequest("bad_token", "token of %d bytes: a token is GROUP.INCARNATION.SEQ, at most %d bytes", len(s), maxTokenLen)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return token{}, false, badRequest("bad_token", "token %q is not GROUP.INCARNATION.SEQ (pass back a token an answer gave)", s)
	}
	var n [3]uint64
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil || (p != "0" && strings.HasPrefix(p, "0")) || strings.HasPrefix(p, "+") {
			return token{}, false, badRequest("bad_token", "token %q is not GROUP.INCARNATION.SEQ: %q is not a decimal number", s, p)
		}
		n[i] = v
	}
	if n[0] == 0 || n[1] == 0 {
		return token{}, false, badRequest("bad_token", "token %q names group %d incarnation %d: neither is ever 0", s, n[0], n[1])
	}
	return token{group: n[0], tok: racs.Token{Incarnation: n[1], Seq: n[2]}}, true, nil
}
