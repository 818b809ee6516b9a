package partitionmap

import "errors"

// Sentinel errors. Every error this package returns wraps exactly one of
// them (test with errors.Is) and adds the context: which node, service,
// partition or byte offset was wrong, and why.
var (
	// ErrStaleEpoch: a change named an epoch other than the map's current
	// one. Every change is a compare-and-set on the epoch, so two admins
	// (or an admin and the placer) never overwrite each other.
	ErrStaleEpoch = errors.New("partitionmap: stale epoch")
	// ErrUnknownService: no service of that name is defined.
	ErrUnknownService = errors.New("partitionmap: unknown service")
	// ErrUnknownNode: no node with that id is in the map.
	ErrUnknownNode = errors.New("partitionmap: unknown node")
	// ErrUnknownPartition: the service has no partition with that id.
	ErrUnknownPartition = errors.New("partitionmap: unknown partition")
	// ErrExists: a node or service of that id or name is already defined.
	ErrExists = errors.New("partitionmap: already exists")
	// ErrBadRanges: a range service's key ranges overlap, leave a gap, or
	// do not cover the whole key space.
	ErrBadRanges = errors.New("partitionmap: bad key ranges")
	// ErrTooFewNodes: a service asks for more clones per partition than
	// there are (active) nodes offering its code.
	ErrTooFewNodes = errors.New("partitionmap: too few nodes for the clones asked")
	// ErrNodeLacksService: the node does not offer the service's code, so
	// it can hold no clone of it.
	ErrNodeLacksService = errors.New("partitionmap: node does not offer the service")
	// ErrNodeInUse: the node still holds clones (or is needed to satisfy a
	// service's clone count), so it cannot be removed or stop offering a
	// service.
	ErrNodeInUse = errors.New("partitionmap: node still in use")
	// ErrMoveInProgress: the partition already has a learner (a move in
	// flight); one move per partition at a time.
	ErrMoveInProgress = errors.New("partitionmap: a move is already in progress")
	// ErrInvalidMove: a move (or clone change) does not fit the partition
	// as it is now: wrong role, not ready, would remove the last voter, …
	ErrInvalidMove = errors.New("partitionmap: invalid move")
	// ErrInvalidArgument: an argument is malformed (a bad name, a zero id,
	// an unknown enum value, an out-of-range count, a bad policy).
	ErrInvalidArgument = errors.New("partitionmap: invalid argument")
	// ErrInvalidMap: the map breaks an invariant (see Validate).
	ErrInvalidMap = errors.New("partitionmap: invalid map")
	// ErrDecode: an encoded map is malformed, truncated, too large, of an
	// unknown version, or followed by trailing bytes.
	ErrDecode = errors.New("partitionmap: malformed encoding")
)
