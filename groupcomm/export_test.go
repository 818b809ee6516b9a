package groupcomm

import "log/slog"

// Test-only access for the external test package (the harness and the
// scenarios live in package groupcomm_test so that they can drive the
// nodes through internal/clone and replica, which import groupcomm).

// SetLogger replaces a node's logger (the scenarios' traces).
func SetLogger(n *Node, l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	n.log = l
}

// PendingChanges returns how many membership changes n has queued.
func PendingChanges(n *Node) int { return len(n.changes) }

// IsLeaving reports whether Leave was called on n.
func IsLeaving(n *Node) bool { return n.leaving }

// Suspects reports whether n suspects node id.
func Suspects(n *Node, id NodeID) bool { return n.suspected[id] }

// MaxMsgType is the highest message type.
const MaxMsgType = maxMsgType
