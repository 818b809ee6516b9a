package replica

import "io"

// StateMachine is the replicated state of one partition, implemented by a
// service. See the package doc for the rules: Apply is deterministic and
// called by one goroutine; Query never runs concurrently with Apply.
type StateMachine interface {
	// Apply applies one update and returns its result, which goes back to
	// the client that submitted it. It must be deterministic. An update
	// the service rejects (bad input) returns a result that says so: Apply
	// has no error, because every clone must take the same decision.
	Apply(update []byte) []byte
	// Query answers a read-only query from the current state.
	Query(query []byte) ([]byte, error)
	// Snapshot writes the whole state to w.
	Snapshot(w io.Writer) error
	// Restore replaces the state with the one Snapshot wrote.
	Restore(r io.Reader) error
}
