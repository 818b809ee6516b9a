// Package memnet is an in-memory network of racs.Transport endpoints for
// tests, examples and simulation suites, modelled on etcd's rafttest
// network and hashicorp raft's InmemTransport, with faults that a test can
// switch on and off while the nodes run.
//
// # Wiring
//
//	net := memnet.New(memnet.DefaultConfig())
//	defer net.Close()
//	t1 := net.Endpoint(1, host1.Deliver) // host1 sends with t1.Send
//	t2 := net.Endpoint(2, host2.Deliver)
//
// # Delivery
//
// Every node has one bounded queue and one delivery goroutine. Send puts
// each packet on its destination's queue and returns at once; it never
// blocks. When a queue is full the packet is dropped and counted
// (Stats.DroppedFull), as a real transport drops under pressure.
//
// The delivery goroutine hands packets to the node's deliver func in
// batches (every packet due when it wakes, as a TCP receiver hands on the
// frames one read brought), in order of arrival at the destination:
// deliver is never called
// concurrently for one node, so a receiver sees a single-threaded stream.
// Without delay, arrival order is send order, so the packets of one sender
// (one goroutine) reach a destination in the order it sent them, as over a
// TCP connection. With a delay range (MinDelay < MaxDelay) every packet
// (and every duplicate) gets its own random delay, so packets may be
// reordered, as over UDP; MinDelay == MaxDelay adds latency and keeps the
// order. A slow deliver func holds up its node's queue (and, once the queue
// is full, drops), never the sender.
//
// # Faults
//
// All fault controls are safe for concurrent use, also from inside a
// deliver func, and take effect for packets sent after they return:
//
//   - Partition splits the nodes into groups that cannot talk to each
//     other; nodes not named form one more group. Cut and Mend break and
//     repair one directed link; Isolate cuts a node off from all others.
//     Heal repairs all of them. These drops count as DroppedPartition.
//   - SetDropRate drops each packet with a probability (DroppedFault);
//     SetDupRate delivers a packet twice with a probability (Duplicated);
//     SetDelay delays each delivery by a random amount in [min, max].
//   - Crash stops a node: its queued packets are discarded and everything
//     sent to it, or from any of its endpoints, is dropped (DroppedDown)
//     until Restart registers a new deliver func and returns a new
//     endpoint. The old endpoint stays dead, so a zombie of the crashed
//     node cannot send.
//
// A node always reaches itself: link faults do not apply to packets a node
// sends to itself; the random faults and delays do.
//
// Random decisions come from one generator seeded by Config.Seed, drawn
// under one lock in Send order, so a run with the same seed and the same
// order of Send calls drops, duplicates and delays the same packets.
//
// # Sharing
//
// Send copies each Packet value, but the Msg, Chunk and ChunkAck it points
// to are shared with the receiver (and between the copies of a duplicated
// packet): a sender must not modify them after Send, and a receiver must
// treat them as read-only.
//
// # Time
//
// Delays use the time package's clock and timers only, so a network built
// inside a testing/synctest bubble runs on the bubble's fake clock and its
// delivery goroutines belong to the bubble: synctest.Wait returns once
// every due packet has been delivered.
package memnet
