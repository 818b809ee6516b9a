package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/rpc"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// apiError is an answer that is an error: its status, its stable code and
// a message that says what is wrong. Input errors are made as apiErrors
// where they are found; the cluster's errors are classified by errorTable.
type apiError struct {
	status int
	code   string
	msg    string
	extra  map[string]any // more top-level fields of the body (cas's "ok")
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, code, format, args...)
}

// Stable codes (API: never rename one). See doc.go for the whole list.
const (
	codeNotApplied     = "not_applied"
	codeOutcomeUnknown = "outcome_unknown"
	codeTooLarge       = "too_large"
	codeInternal       = "internal"
)

// callKind says what the failed call was: a write (an update, an admin
// change: it may have been ordered) or a read (a query, an admin read:
// nothing to be unknown about, always safe to retry).
type callKind int

const (
	read callKind = iota
	write
)

// errorTable is the one place where the cluster's errors become HTTP
// answers. The first entry the error wraps (errors.Is) wins, so the order
// matters: an update's ErrOutcomeUnknown wraps the last attempt's error
// (say ErrNotApplied) and must win over it. The write columns, when set,
// apply to writes instead.
var errorTable = []struct {
	err         error
	status      int
	code        string
	writeStatus int
	writeCode   string
}{
	// The update may have been ordered; a retry with the same
	// idempotency key is safe (G6).
	{err: racs.ErrOutcomeUnknown, status: http.StatusGatewayTimeout, code: codeOutcomeUnknown},
	// Too large for the hop or the group (MaxOp keeps requests within
	// MaxBody from getting here).
	{err: rpc.ErrTooLarge, status: http.StatusRequestEntityTooLarge, code: codeTooLarge},
	{err: groupcomm.ErrPayloadTooLarge, status: http.StatusRequestEntityTooLarge, code: codeTooLarge},
	// Bad input the cluster found.
	{err: raps.ErrUnknownService, status: http.StatusNotFound, code: "unknown_service"},
	{err: raps.ErrBadKey, status: http.StatusBadRequest, code: "bad_key"},
	{err: racs.ErrBadToken, status: http.StatusBadRequest, code: "bad_token"},
	{err: racs.ErrKeyReused, status: http.StatusUnprocessableEntity, code: "idempotency_key_reused"},
	{err: raps.ErrInvalidService, status: http.StatusBadRequest, code: "invalid_service"},
	{err: raps.ErrLevelNotAllowed, status: http.StatusBadRequest, code: "bad_consistency"},
	{err: raps.ErrNoStream, status: http.StatusBadRequest, code: "no_stream"},
	// Admin changes the management group refused (nothing changed).
	{err: partitionmap.ErrUnknownService, status: http.StatusBadRequest, code: "unknown_service"},
	{err: partitionmap.ErrUnknownNode, status: http.StatusBadRequest, code: "unknown_node"},
	{err: partitionmap.ErrUnknownPartition, status: http.StatusBadRequest, code: "unknown_partition"},
	{err: partitionmap.ErrTooFewNodes, status: http.StatusBadRequest, code: "too_few_nodes"},
	{err: partitionmap.ErrNodeLacksService, status: http.StatusBadRequest, code: "node_lacks_service"},
	{err: partitionmap.ErrInvalidMove, status: http.StatusBadRequest, code: "invalid_move"},
	{err: partitionmap.ErrInvalidArgument, status: http.StatusBadRequest, code: "invalid_argument"},
	{err: partitionmap.ErrBadRanges, status: http.StatusBadRequest, code: "bad_ranges"},
	{err: partitionmap.ErrExists, status: http.StatusConflict, code: "exists"},
	{err: partitionmap.ErrMoveInProgress, status: http.StatusConflict, code: "move_in_progress"},
	{err: partitionmap.ErrNodeInUse, status: http.StatusConflict, code: "node_in_use"},
	// Certainly not applied (or, for a read, not answered): safe to
	// retry, 503 with Retry-After.
	{err: raps.ErrNoMap, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: racs.ErrNotApplied, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: raps.ErrNotHosted, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: racs.ErrBusy, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: rpc.ErrBusy, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: racs.ErrNoQuorum, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: racs.ErrStale, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: racs.ErrStopped, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: racs.ErrUnknownGroup, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: raps.ErrClosed, status: http.StatusServiceUnavailable, code: codeNotApplied},
	{err: partitionmap.ErrStaleEpoch, status: http.StatusServiceUnavailable, code: codeNotApplied},
	// A deadline or a cancellation: a read was not answered (503); a
	// write may have been ordered (504).
	{err: context.DeadlineExceeded, status: http.StatusServiceUnavailable, code: codeNotApplied,
		writeStatus: http.StatusGatewayTimeout, writeCode: codeOutcomeUnknown},
	{err: context.Canceled, status: http.StatusServiceUnavailable, code: codeNotApplied,
		writeStatus: http.StatusGatewayTimeout, writeCode: codeOutcomeUnknown},
	{err: rpc.ErrClosed, status: http.StatusServiceUnavailable, code: codeNotApplied,
		writeStatus: http.StatusGatewayTimeout, writeCode: codeOutcomeUnknown},
	// A clone's state machine refused a query (an error that names no
	// sentinel of the cluster's): the query is bad.
	{err: rpc.ErrRemote, status: http.StatusBadRequest, code: "bad_query",
		writeStatus: http.StatusGatewayTimeout, writeCode: codeOutcomeUnknown},
}

// classify maps err to its answer.
func classify(err error, kind callKind) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	for _, e := range errorTable {
		if !errors.Is(err, e.err) {
			continue
		}
		status, code := e.status, e.code
		if kind == write && e.writeStatus != 0 {
			status, code = e.writeStatus, e.writeCode
		}
		msg := err.Error()
		switch code {
		case codeNotApplied:
			msg = "not done, safe to retry: " + msg
		case codeOutcomeUnknown:
			msg = "the update may have been applied; retry with the same idempotency key to apply it at most once: " + msg
		case "bad_query":
			msg = "the service could not answer the query: " + msg
		}
		return &apiError{status: status, code: code, msg: msg}
	}
	if kind == read {
		// A local state machine's own error for a query.
		return &apiError{status: http.StatusBadRequest, code: "bad_query", msg: "the service could not answer the query: " + err.Error()}
	}
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: err.Error()}
}

// writeError answers e: {"error": {"code", "message"}} (and e's extra
// fields), with Retry-After on a 503.
func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	body := map[string]any{"error": map[string]string{"code": e.code, "message": e.msg}}
	for k, v := range e.extra {
		body[k] = v
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
