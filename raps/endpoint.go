package raps

import "github.com/quicksilver-go/quicksilver/internal/rpc"

// RPC is the node's call endpoint (its Router's calls and the calls it
// serves), for metrics.
func (n *Node) RPC() *rpc.Endpoint { return n.rpc }

// RPC is the client's call endpoint, for metrics. A Node's client shares
// the node's.
func (c *Client) RPC() *rpc.Endpoint { return c.rpc }
