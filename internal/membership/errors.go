package membership

import "errors"

var (
	// ErrShutdown is returned by calls made after Shutdown.
	ErrShutdown = errors.New("membership: shut down")
	// ErrLeft is returned by Join after Leave: a node that left must be
	// shut down and started again to come back.
	ErrLeft = errors.New("membership: node has left the cluster")
	// ErrNoSeeds is returned by Join when neither the call nor the Config
	// names a seed.
	ErrNoSeeds = errors.New("membership: no seeds to join")
	// ErrInvalidConfig wraps every error of Config.Validate.
	ErrInvalidConfig = errors.New("membership: invalid config")
	// ErrBadMeta is returned by the decoders for node metadata and load
	// messages that are truncated, oversized or of an unknown version.
	ErrBadMeta = errors.New("membership: malformed gossip payload")
)
