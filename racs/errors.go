package racs

import (
	"errors"

	"github.com/quicksilver-go/quicksilver/internal/clone"
)

// Sentinel errors, mapped to HTTP status in one place by the dispatcher.
var (
	// ErrNotApplied: the update was certainly not ordered (no quorum
	// reachable, view change before ordering, member removed): safe to
	// retry (503 not_applied).
	ErrNotApplied = errors.New("racs: update not applied, safe to retry")
	// ErrOutcomeUnknown: the deadline passed after the update may have been
	// ordered (504 outcome_unknown, G6).
	ErrOutcomeUnknown = errors.New("racs: outcome unknown")
	// ErrBusy: back-pressure; the group's window is full (503).
	ErrBusy = errors.New("racs: group busy")
	// ErrNoQuorum: this clone cannot reach a majority of its view's voters.
	ErrNoQuorum = errors.New("racs: no quorum reachable")
	// ErrStale: the clone cannot serve the read at the level asked (503).
	ErrStale = errors.New("racs: clone not fresh enough for this read")
	// ErrBadToken: a session token of another group incarnation (400).
	ErrBadToken = errors.New("racs: token from another group incarnation")
	// ErrUnknownGroup: no such group on this host (404).
	ErrUnknownGroup = errors.New("racs: unknown group")
	// ErrGroupExists: the group is already hosted here.
	ErrGroupExists = errors.New("racs: group already hosted")
	// ErrStopped: the group or host stopped (after an fsync error, a
	// removal or Close).
	ErrStopped = errors.New("racs: group stopped")
	// ErrInvalidConfig: a configuration that cannot work.
	ErrInvalidConfig = errors.New("racs: invalid config")
	// ErrBadSnapshot: a snapshot failed verification.
	ErrBadSnapshot = clone.ErrBadSnapshot
	// ErrKeyReused: the update's idempotency key was used before with a
	// different update; nothing was applied (422). A retry must send the
	// same update under the same key.
	ErrKeyReused = clone.ErrKeyReused
)
