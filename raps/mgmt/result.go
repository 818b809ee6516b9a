package mgmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// Result is what Apply returns for a command, encoded (DecodeResult reads
// it). Code is CodeOK for an applied change, otherwise the stable name of
// the refusal (see codes); Message says what was wrong in words.
type Result struct {
	// Epoch is the map's epoch after the command: the new epoch if it was
	// applied, the unchanged one if refused (0 before the bootstrap), so a
	// refused proposer knows at least how far behind it was.
	Epoch   uint64 `json:"epoch"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// CodeOK is the Code of an applied change.
const CodeOK = "ok"

// Bounds on an encoded Result.
const (
	maxMessageLen   = 4096
	maxResultSize   = 8 * maxMessageLen // JSON escapes grow a message up to 6×
	resultVersion   = 1
	codeInternal    = "internal"
	codeBadCommand  = "bad_command"
	codeStaleEpoch  = "stale_epoch"
	codeBadArgument = "invalid_argument"
)

// codes maps each sentinel a refusal can wrap to its stable code: the code
// crosses the network and versions, the sentinel is what Err gives back.
// The codes are API: never rename one. A refusal is matched against them
// in order; each error of partitionmap wraps exactly one sentinel.
var codes = []struct {
	code string
	err  error
}{
	{codeStaleEpoch, partitionmap.ErrStaleEpoch},
	{"unknown_service", partitionmap.ErrUnknownService},
	{"unknown_node", partitionmap.ErrUnknownNode},
	{"unknown_partition", partitionmap.ErrUnknownPartition},
	{"exists", partitionmap.ErrExists},
	{"bad_ranges", partitionmap.ErrBadRanges},
	{"too_few_nodes", partitionmap.ErrTooFewNodes},
	{"node_lacks_service", partitionmap.ErrNodeLacksService},
	{"node_in_use", partitionmap.ErrNodeInUse},
	{"move_in_progress", partitionmap.ErrMoveInProgress},
	{"invalid_move", partitionmap.ErrInvalidMove},
	{codeBadArgument, partitionmap.ErrInvalidArgument},
	{"invalid_map", partitionmap.ErrInvalidMap},
	{"malformed_map", partitionmap.ErrDecode},
	{codeBadCommand, ErrBadCommand},
	{"not_bootstrapped", ErrNotBootstrapped},
	{"already_bootstrapped", ErrAlreadyBootstrapped},
	{"wrong_cluster", ErrWrongCluster},
	{codeInternal, ErrInternal},
}

// refusal builds the Result of a refused command at epoch.
func refusal(epoch uint64, err error) Result {
	code := codeInternal
	for _, c := range codes {
		if errors.Is(err, c.err) {
			code = c.code
			break
		}
	}
	return Result{Epoch: epoch, Code: code, Message: truncate(err.Error(), maxMessageLen)}
}

// Err returns nil for an applied change and otherwise an error that
// wraps the sentinel of r.Code (errors.Is(err, partitionmap.ErrStaleEpoch),
// …). A code this version does not know wraps ErrBadReply: a newer clone
// refused the command for a reason this caller cannot name.
func (r Result) Err() error {
	if r.Code == CodeOK {
		return nil
	}
	for _, c := range codes {
		if c.code == r.Code {
			return &refusedError{msg: r.Message, sentinel: c.err}
		}
	}
	return &refusedError{msg: fmt.Sprintf("mgmt: unknown result code %.64q: %s", r.Code, r.Message), sentinel: ErrBadReply}
}

// refusedError is a refusal as the proposer sees it: the applying clone's
// message (which starts "mgmt: ") and the sentinel of its code.
type refusedError struct {
	msg      string
	sentinel error
}

func (e *refusedError) Error() string {
	if e.msg == "" {
		return e.sentinel.Error()
	}
	return e.msg
}

func (e *refusedError) Unwrap() error { return e.sentinel }

// encodeResult is the reply Apply returns: a version byte, then JSON.
func encodeResult(r Result) []byte {
	body, err := json.Marshal(r)
	if err != nil { // only strings and a number: cannot happen
		panic(fmt.Sprintf("mgmt: encoding a result: %v", err))
	}
	return append([]byte{resultVersion}, body...)
}

// DecodeResult decodes what Apply returned. A Result with no code is an
// error: a zero value must never read as success.
func DecodeResult(b []byte) (Result, error) {
	switch {
	case len(b) == 0:
		return Result{}, fmt.Errorf("%w: empty result", ErrBadReply)
	case len(b) > maxResultSize:
		return Result{}, fmt.Errorf("%w: result of %d bytes, at most %d", ErrBadReply, len(b), maxResultSize)
	case b[0] != resultVersion:
		return Result{}, fmt.Errorf("%w: unknown result version %d", ErrBadReply, b[0])
	}
	var r Result
	if err := strictUnmarshal(b[1:], &r); err != nil {
		return Result{}, fmt.Errorf("%w: result: %v", ErrBadReply, err)
	}
	if r.Code == "" {
		return Result{}, fmt.Errorf("%w: result without a code", ErrBadReply)
	}
	return r, nil
}

// truncate cuts s to at most max bytes on a rune boundary, saying so.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const more = " …"
	cut := max - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}
