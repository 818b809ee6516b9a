package raps

import (
	"errors"

	"github.com/quicksilver-go/quicksilver/racs"
)

// Sentinel errors, mapped to HTTP status in one place by the dispatcher.
// Errors of a group travel across the hop as themselves (the rpc layer
// carries their codes), so errors.Is works on the Router's answers.
var (
	// ErrUnknownService: no such service in the partition map (404).
	ErrUnknownService = errors.New("raps: unknown service")
	// ErrBadKey: the key cannot be located (400).
	ErrBadKey = errors.New("raps: bad key")
	// ErrNoMap: this node has no partition map yet (not bootstrapped, or
	// no seed answered); safe to retry (503).
	ErrNoMap = errors.New("raps: no partition map yet")
	// ErrNotHosted: the clone asked does not host the partition (the
	// caller's map is stale); the Router retries elsewhere (503).
	ErrNotHosted = errors.New("raps: partition not hosted here")
	// ErrInvalidService: a Service definition that cannot work.
	ErrInvalidService = errors.New("raps: invalid service")
	// ErrInvalidConfig: a Node configuration that cannot work.
	ErrInvalidConfig = errors.New("raps: invalid config")
	// ErrLevelNotAllowed: the service does not serve reads at that level
	// (its Reads; 400).
	ErrLevelNotAllowed = errors.New("raps: read level not allowed for this service")
	// ErrNoStream: the service keeps no update stream (Retain 0; 400).
	ErrNoStream = errors.New("raps: the service keeps no update stream")
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("raps: node closed")

	// ErrNotApplied and ErrOutcomeUnknown are racs's: an update certainly
	// not applied (safe to retry), and one whose outcome is unknown (G6).
	ErrNotApplied     = racs.ErrNotApplied
	ErrOutcomeUnknown = racs.ErrOutcomeUnknown
)
