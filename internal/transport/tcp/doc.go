// Package tcp is Quicksilver's real racs.Transport: ONE TCP connection per
// pair of nodes carries the packets of every group the two nodes share
// (QuickSilver's lesson: groups over the same nodes share the cost of a
// connection, its buffers and its system calls).
//
// # Wiring
//
//	cfg := tcp.DefaultConfig()
//	cfg.Node, cfg.Cluster, cfg.Label = 1, clusterID, "prod-eu"
//	cfg.Listen = ":7000"
//	cfg.Resolve = membership.Addr // func(groupcomm.NodeID) (string, bool)
//	tr, err := tcp.New(cfg, host.DeliverBatch)
//	...
//	err = tr.Start()   // listen; Send works before Start (it only dials)
//	defer tr.Close()
//
// # Wire format
//
// A connection is a stream of frames in each direction: a 4-byte
// big-endian body length n (1 ≤ n ≤ Config.MaxFrameBytes, default 16 MiB),
// then n bytes. The length is checked before the body is allocated; a peer
// announcing a bigger frame is disconnected. The first frame each way is a
// hello (below); every later one is one racs.Packet: a kind byte (Msg,
// Chunk, ChunkAck, Probe, Call), Group, From and To as uvarints, then the Msg in
// groupcomm's codec or the other payload's fields (layout in wire.go). The
// decoder (DecodePacket) never panics, bounds allocation by the frame,
// rejects unknown kinds, non-minimal varints and trailing bytes, and is
// canonical: whatever decodes re-encodes to the same bytes (fuzzed by
// FuzzDecodePacket). Decoded payloads alias the frame's buffer, which is
// allocated afresh for every frame and never reused.
//
// # Handshake
//
// The dialer sends its hello {magic "QSX1", version, cluster id, node id,
// target node id (whom it means to reach), instance, cluster label, flags}
// as soon as the connection (and TLS, if configured) is up. The acceptor
// reads it (within HandshakeTimeout, at most 512 bytes, so a stranger
// cannot make it allocate) and answers with its own hello carrying a
// verdict: accepted, have, duplicate (see below) or refused. Either side
// disconnects a peer whose magic or version is unknown, whose cluster id
// or label differs from its own, whose node id is 0 or its own, or whose
// node id is not the one dialled — checked on both sides: the dialer
// checks the acceptor's node id, and the acceptor checks the dialer's
// target, so an acceptor reached through a stale address refuses before
// it disturbs its own connection with the dialer. Under mutual TLS the
// acceptor also refuses a dialer whose certificate does not name the node
// its hello claims (the dialer checks the acceptor's certificate against
// the node it dialled, during the TLS handshake). No packet flows before
// an accepted handshake; every refusal is logged (Warn) and counted
// (Stats.HandshakeFailures) on both sides. The hello layout is in conn.go.
// A version-1 node speaks version 1 to a peer announcing any version ≥ 1;
// a later version may append fields to the hello.
//
// # One connection per pair
//
// Each node dials a peer only when it has packets for it and no
// connection; a connection, once in use, carries both directions: the
// acceptor writes its packets for the dialer on it too. Every hello carries
// the sender's instance, a random number each Transport draws at New. The
// acceptor decides under its lock for the dialer, in this order:
//
//  1. It holds a connection whose hello named another instance: the peer
//     restarted, that connection is dead. Accept, replacing it.
//  2. The dialer set Replace: it has no connection with us, so the one we
//     hold is dead at its end. Accept, replacing it.
//  3. It holds a connection the dialer dialled: the dialer dials again
//     only once it has lost that one. Accept, replacing it.
//  4. It holds a connection it dialled itself: answer "have". The dialer
//     dialled before it accepted ours (a simultaneous dial: it has ours
//     now and stops dialling) — or its end of ours died, and then, having
//     no connection, it redials at once with Replace (rule 2).
//  5. Its own dial to the dialer is in flight and its node id is the
//     LOWER one: answer "duplicate" — the connection dialled by the lower
//     id wins. The dialer keeps its queue and, if our connection has not
//     reached it within BackoffMin, dials again.
//  6. Otherwise accept.
//
// A dialer puts its connection in use only on "accepted", and an acceptor
// puts a connection in use before it answers, so both ends of a pair end
// on the same single connection whatever the interleaving of two
// simultaneous dials, and a working connection is never replaced by a
// racing one (packets in flight on it are not lost). Rules 1-3 heal a
// connection that died at one end only (a restart, a reset the other end
// has not seen) as soon as the peer dials, without waiting for TCP
// keep-alives. Conns and Stats.Conns show at most one connection per peer;
// Stats.Duplicates counts answers 4 and 5.
//
// # Sending, queues and write coalescing
//
// Send never waits for the network: it appends each packet to its peer's
// bounded queue (Config.QueueLen packets) and wakes the peer's writer, or
// starts a dial. When the queue is full the packet is dropped and counted
// (Stats.DroppedQueueFull): back-pressure, never unbounded queues; the
// protocol resends. One writer goroutine per connection takes EVERYTHING
// queued for its peer at once, encodes it into a bufio.Writer
// (WriteBufferBytes) and flushes once: under load one write syscall
// carries many packets; when idle a lone packet is written at once, since
// the writer never waits for a timer. Stats.WriteSyscalls / FramesSent is
// the coalescing ratio. Packets to one peer are written in Send order.
// Packets to this node itself are delivered locally, in order, by one
// goroutine (Stats.Loopback). The caller must not modify what a packet
// points to after Send: the writer encodes it later.
//
// # Receiving
//
// One reader goroutine per connection decodes frames and calls deliver for
// each packet in the order the peer sent them; readers of different peers
// run concurrently. A frame that does not decode, an oversized length, or
// a packet whose From is not the peer or whose To is not this node ends
// the connection (Stats.ProtocolErrors); other peers are not affected.
//
// # Failures and reconnection
//
// A connection ends when a read or write fails, a flush takes longer than
// WriteTimeout (a peer that stopped reading), TCP keep-alives find the
// peer's host gone, or the peer sends garbage. Its reader and writer then
// end; the packets still queued stay queued and the node redials after a
// jittered backoff: BackoffMin after losing a connection, doubling after
// each failed dial up to BackoffMax. A failed dial drops what was queued
// (Stats.DroppedUnreachable): stale protocol messages are worth less than
// bounded memory, and the protocol resends. An idle peer is not redialled
// until there is something to send. Inbound handshakes are bounded
// (MaxHandshakes at once, HandshakeTimeout each).
//
// # TLS
//
// With Config.TLS set every connection is TLS (1.3 unless configured
// otherwise). MutualTLSConfig builds the usual setup: each node has a
// certificate from the cluster's CA naming NodeName(id) = "node-<id>" as a
// DNS SAN, with server and client auth usages. The dialer verifies the
// acceptor's chain and that its certificate names NodeName(dialled id)
// (ServerName, plus an explicit check in VerifyConnection); the acceptor,
// with ClientAuth = RequireAndVerifyClientCert, verifies the dialer's
// chain and, once the hello says which node the dialer claims to be, that
// its certificate names that node. A node holding a certificate for
// another name is refused both ways. The CN is not consulted (Go's
// verifier has ignored it since 1.15). Configs with InsecureSkipVerify, or
// a ClientAuth that requests client certificates without verifying them,
// are invalid. Without TLS, node ids are claims, not identities: run
// plaintext only on a trusted network.
//
// # Shutdown
//
// Close stops listening, closes every connection, drops what is queued
// (Stats.DroppedClosed) and waits for every goroutine; no deliver call
// happens after it returns. It must not be called from deliver.
package tcp
