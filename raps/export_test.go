package raps

import "github.com/quicksilver-go/quicksilver/partitionmap"

// ObserveMgmt makes the node's management clone also hand every map it
// applies (one per epoch, in order, on the applying goroutine) to f, after
// the node's own handling. It reports false if the node hosts no
// management clone. Tests only: f must not block.
func (n *Node) ObserveMgmt(f func(*partitionmap.Map)) bool {
	if n.mgmtSM == nil {
		return false
	}
	n.mgmtSM.SetOnChange(func(m *partitionmap.Map) {
		n.offer(m)
		f(m)
	})
	return true
}
