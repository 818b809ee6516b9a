package rpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// Sentinel errors. Errors returned by this package wrap them (%w).
var (
	// ErrBusy: the callee was already serving MaxInFlight calls and
	// refused this one at once; its handler did not run (safe to retry
	// elsewhere or later). A handler may return it too, and must then mean
	// the same: nothing was done.
	ErrBusy = errors.New("rpc: busy")
	// ErrRemote: the handler returned an error (at the callee; this node
	// itself for a call to Self), or the callee refused the call. The
	// error is a *RemoteError, which also wraps the sentinel its code
	// names (ErrBusy, ErrClosed, ErrTooLarge, context.DeadlineExceeded,
	// context.Canceled, or one of Config.Errors).
	ErrRemote = errors.New("rpc: remote error")
	// ErrClosed: the endpoint is closed. From Call on a closed endpoint,
	// the call was not sent; from a Call pending when this endpoint
	// closed, the outcome is unknown; wrapped with ErrRemote, the callee
	// was closed and did not run the handler.
	ErrClosed = errors.New("rpc: endpoint closed")
	// ErrTooLarge: a request or reply body exceeds MaxBody (of the caller
	// for a request it sends, of the callee for what it receives or
	// returns).
	ErrTooLarge = errors.New("rpc: body too large")
)

// Codes of this package's own errors, reserved (user codes must not start
// with "rpc.").
const (
	codeBusy     = "rpc.busy"
	codeClosed   = "rpc.closed"
	codeTooLarge = "rpc.too_large"
	codeDeadline = "rpc.deadline_exceeded"
	codeCanceled = "rpc.canceled"
	reservedCode = "rpc."
)

// builtinCodes map this package's codes to their errors.
var builtinCodes = []codedError{
	{codeBusy, ErrBusy},
	{codeClosed, ErrClosed},
	{codeTooLarge, ErrTooLarge},
	{codeDeadline, context.DeadlineExceeded},
	{codeCanceled, context.Canceled},
}

type codedError struct {
	code string
	err  error
}

// RemoteError is the error of a call whose handler returned an error or
// whose callee refused it. It wraps ErrRemote and, when its code is known
// here, the sentinel registered under it (so errors.Is works across the
// hop); for a call to Self it wraps the handler's own error instead.
type RemoteError struct {
	// Node is the callee.
	Node groupcomm.NodeID
	// Code is the error code the callee sent ("" for an error that
	// matches no registered sentinel).
	Code string
	// Message is the callee's err.Error(), cut to 1 KiB.
	Message string
	err     error // the sentinel for Code, or the handler's error (local)
}

func (e *RemoteError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("rpc: remote error from node %d: %s", e.Node, e.Message)
	}
	return fmt.Sprintf("rpc: remote error from node %d (%s): %s", e.Node, e.Code, e.Message)
}

// Unwrap returns ErrRemote and the error the code names, if any.
func (e *RemoteError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrRemote}
	}
	return []error{ErrRemote, e.err}
}

// codes is an endpoint's error table: user codes (Config.Errors) and the
// built-in ones, both ways.
type codes struct {
	user   []codedError // sorted by code
	byCode map[string]error
}

func newCodes(user map[string]error) codes {
	c := codes{byCode: make(map[string]error, len(user)+len(builtinCodes))}
	for code, err := range user {
		c.user = append(c.user, codedError{code, err})
		c.byCode[code] = err
	}
	slices.SortFunc(c.user, func(a, b codedError) int { return strings.Compare(a.code, b.code) })
	for _, b := range builtinCodes {
		c.byCode[b.code] = b.err
	}
	return c
}

// validateCodes checks Config.Errors.
func validateCodes(user map[string]error) error {
	var seen []codedError
	for code, err := range user {
		switch {
		case code == "" || len(code) > maxCodeBytes:
			return fmt.Errorf("rpc: invalid config: error code %q must have 1 to %d bytes", code, maxCodeBytes)
		case strings.HasPrefix(code, reservedCode):
			return fmt.Errorf("rpc: invalid config: error code %q uses the reserved prefix %q", code, reservedCode)
		case err == nil:
			return fmt.Errorf("rpc: invalid config: error code %q maps to nil", code)
		}
		for _, s := range seen {
			if errors.Is(err, s.err) && errors.Is(s.err, err) {
				return fmt.Errorf("rpc: invalid config: codes %q and %q map to the same error", code, s.code)
			}
		}
		seen = append(seen, codedError{code, err})
	}
	return nil
}

// codeOf returns the code of a handler's error: the most specific
// registered sentinel it wraps (one that wraps every other match), else
// the built-in one, else "".
func (c *codes) codeOf(err error) string {
	var best *codedError
	for i := range c.user {
		u := &c.user[i]
		if errors.Is(err, u.err) && (best == nil || errors.Is(u.err, best.err)) {
			best = u
		}
	}
	if best != nil {
		return best.code
	}
	for _, b := range builtinCodes {
		if errors.Is(err, b.err) {
			return b.code
		}
	}
	return ""
}

// remote builds the caller's error from an error reply.
func (c *codes) remote(node groupcomm.NodeID, code, msg string) *RemoteError {
	return &RemoteError{Node: node, Code: code, Message: msg, err: c.byCode[code]}
}
