package mgmt

import "errors"

// Sentinel errors of this package. The refusals of a change made by the
// partitionmap package wrap its own sentinels (partitionmap.ErrStaleEpoch,
// …); these are the ones only the management group can give. Test with
// errors.Is, on the error Result.Err returns as on any other.
var (
	// ErrBadCommand: a command could not be decoded (garbage, an unknown
	// version or op, an unknown field, an argument the op does not take,
	// a field out of bounds). Nothing was applied.
	ErrBadCommand = errors.New("mgmt: malformed command")
	// ErrNotBootstrapped: there is no map yet, and only OpBootstrap can
	// make the first one. Also what a "map" query reply says before it.
	ErrNotBootstrapped = errors.New("mgmt: not bootstrapped")
	// ErrAlreadyBootstrapped: OpBootstrap after a map exists. The map
	// starts once; a second bootstrap would throw every change away.
	ErrAlreadyBootstrapped = errors.New("mgmt: already bootstrapped")
	// ErrWrongCluster: the command names a cluster id other than this
	// group's (an admin tool pointed at the wrong cluster).
	ErrWrongCluster = errors.New("mgmt: wrong cluster")
	// ErrInternal: Apply failed in a way no check foresaw (a bug: a change
	// panicked, or returned an error that wraps no known sentinel). The
	// command changed nothing.
	ErrInternal = errors.New("mgmt: internal error")
	// ErrBadQuery: a query could not be decoded or names an unknown kind.
	ErrBadQuery = errors.New("mgmt: malformed query")
	// ErrBadReply: a Result or a query reply could not be decoded, or a
	// Result carries a code this version does not know.
	ErrBadReply = errors.New("mgmt: malformed reply")
	// ErrBadSnapshot: Restore was given bytes that are not a snapshot
	// this version wrote (or that are damaged); the state is unchanged.
	ErrBadSnapshot = errors.New("mgmt: malformed snapshot")
)
