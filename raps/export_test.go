package raps

import "github.com/quicksilver-go/quicksilver/partitionmap"

// ObserveMgmt makes the node's management clones (this one and any it hosts later) also hand every map they
// applies (one per epoch, in order, on the applying goroutine) to f, after
// the node's own handling. It reports false if the node hosts no
// management clone. Tests only: f must not block.
func (n *Node) ObserveMgmt(f func(*partitionmap.Map)) bool {
	n.observe.Store(&f)
	return n.mgmtSM.Load() != nil
}
