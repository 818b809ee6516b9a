// Package node assembles one Quicksilver node from its parts: memberlist
// gossip, the multiplexed TCP transport, the write-ahead log and bbolt
// store, a racs.Host, and the partitioned-service runtime (raps) with the
// dispatcher's HTTP API on the node's own Router. qs-node (cmd/node) is
// this package behind flags; a program that embeds Quicksilver with its
// own services (examples/estuff) calls it directly:
//
//	cfg := node.DefaultConfig()
//	cfg.ID, cfg.Bootstrap = 1, []groupcomm.NodeID{1, 2, 3}
//	cfg.Services = []raps.Service{mySvc}
//	n, err := node.Start(cfg, logger)
//	h, err := n.Routes() // serve it; n.Close() at the end
//
// The node hosts what the partition map gives it. The first nodes of a new cluster, on empty
// disks, bootstrap the management group with the same Bootstrap list; the
// first of them defines the built-in kv service and Config.Services once
// enough nodes offer each. Later nodes join through Seeds. A node with
// state restarts its clones, and never bootstraps a second cluster.
// RunLoad (LoadClients) drives closed-loop kv clients through the node's
// Router against the partitions it sequences: the TCP benchmark.
//
// RunDemo runs a whole cluster in one process on loopback (real transport,
// gossip and disks) with a front end, and DemoControl crashes and restarts
// its nodes so failover can be watched.
//
// The caller's duties: a unique ID per node, the same Cluster and
// Bootstrap on the first nodes, a Data directory per node that outlives
// restarts, and Close at the end (it leaves gossip gracefully).
package node
