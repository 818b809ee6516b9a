package shop

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// Limits on user input: the state machines trust nothing, but checking at
// the edge gives the caller a 400 with a reason instead of a refused op.
const (
	MaxNameLen  = 120  // bytes of a normalized product name
	MaxUserLen  = 64   // bytes of a user id
	MaxQty      = 1000 // per cart line
	MaxCartSize = 100  // distinct lines per cart
	maxDescLen  = 1000
)

// NormalizeName returns the catalog key of a product name: lower-cased,
// spaces collapsed. Range partitioning compares keys bytewise, so one
// spelling per product is what makes "Digital Camera" and "digital
// camera" the same product in the same partition.
func NormalizeName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: product name is not UTF-8", ErrBadInput)
	}
	n := strings.Join(strings.Fields(strings.ToLower(s)), " ")
	if n == "" {
		return "", fmt.Errorf("%w: empty product name", ErrBadInput)
	}
	if len(n) > MaxNameLen {
		return "", fmt.Errorf("%w: product name over %d bytes", ErrBadInput, MaxNameLen)
	}
	for _, r := range n {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune("-.'+&#()", r)) {
			return "", fmt.Errorf("%w: product name has %q (letters, digits, spaces and -.'+&#() only)", ErrBadInput, r)
		}
	}
	return n, nil
}

// CheckUser validates a user id (the carts service's key).
func CheckUser(u string) error {
	if u == "" || len(u) > MaxUserLen {
		return fmt.Errorf("%w: user id must be 1..%d bytes", ErrBadInput, MaxUserLen)
	}
	for _, r := range u {
		if !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) || strings.ContainsRune("-_.@", r)) {
			return fmt.Errorf("%w: user id has %q (ASCII letters, digits and -_.@ only)", ErrBadInput, r)
		}
	}
	return nil
}

// CatalogBounds cuts the alphabet into n ranges of 26/n letters, the last
// taking the rest: CatalogBounds(8) is d g j m p s v, the ranges A-C,
// D-F, …, S-U, V-Z. The
// first range starts at the empty key and the last is unbounded, so every
// key (digits and punctuation sort before "a", the rest of Unicode after
// "z") has a partition.
func CatalogBounds(n int) []string {
	n = max(1, min(n, 26))
	var out []string
	for i := 1; i < n; i++ {
		out = append(out, string(rune('a'+i*(26/n))))
	}
	return out
}

// RangeLabel names a catalog partition's range as the lecture does:
// "A-C", "D-F", …; a bound that is not one letter is shown as it is.
func RangeLabel(start, end partitionmap.Key) string {
	lo, hi := "A", "Z"
	if len(start) > 0 {
		lo = strings.ToUpper(string(start))
	}
	if len(end) == 1 && end[0] > 'a' && end[0] <= 'z' {
		hi = strings.ToUpper(string(rune(end[0] - 1)))
	} else if len(end) > 0 {
		hi = "<" + strings.ToUpper(string(end))
	}
	if lo == hi {
		return lo
	}
	return lo + "-" + hi
}
