// Package membership wraps hashicorp/memberlist (SWIM gossip with the
// Lifeguard extensions) once, serf-style: it is the only package of the
// project that imports memberlist. It tells a node which other nodes
// exist, where their transport listens (Resolve), which zone they are in,
// how loaded they are and which partition-map epoch they hold, and it
// turns memberlist's callbacks into typed events.
//
// # Suspicion is a suggestion, never a view
//
// memberlist's failure detector is an INPUT to the virtual-synchrony
// protocol, not its membership. EventSuspect, EventFailed and EventLeft
// only SUGGEST view changes: the node runtime passes them on as
// racs.Host.SetSuspected(node, true) (and EventJoin/EventRecovered as
// SetSuspected(node, false)), and the groupcomm protocol decides whether
// and when a view changes, by its own rules (priority and stickiness,
// groupcomm-holes.md L3). No code may remove a member from a group, or
// consider an update lost, because memberlist said a node is dead:
// memberlist is per node, not per group, it can be wrong in both
// directions (a paused process is declared dead, a node with a one-way
// broken link stays alive), and its timing is not the protocol's. For the
// same reason Resolve keeps answering for suspect, dead and departed
// nodes: the protocol may still need to reach them.
//
// How long memberlist takes (groupcomm-holes.md L1): a node is probed
// about every n × ProbeInterval; when a probe and its indirect and TCP
// retries fail, the prober suspects it (EventSuspect here), and after
// SuspicionMult × max(1, log10 n) × ProbeInterval without a refutation
// (Lifeguard stretches this up to 6× while too few peers confirm) it is
// declared dead (EventFailed). With DefaultConfig (LAN timing) that is at
// least 4s after the suspicion, about 5–6s after the crash in a small
// cluster. With a majority stability rule nothing waits on it except
// failover from a dead sequencer.
//
// # Events
//
// Events() is a buffered channel; Subscribe runs a callback on its own
// goroutine with its own buffer. memberlist requires its delegates not to
// block, so when a buffer is full the event is dropped and counted
// (Stats.EventsDropped), never waited for. A consumer that must not miss
// a change re-reads Members after a drop. Events for one member arrive in
// the order memberlist observed them:
//
//	EventJoin       alive: new, or back after Failed/Left (also this node, at New)
//	EventUpdate     metadata changed: epoch, transport address, zone
//	                (load too, with Config.LoadUpdates); Event.Changed says which
//	EventSuspect    this node's own probe went unanswered
//	EventRecovered  a suspect answered again
//	EventFailed     declared dead
//	EventLeft       left on purpose (Leave)
//
// memberlist has no suspicion callback and never fills in Node.State, so
// EventSuspect comes from the one place memberlist says it: its log line
// for a failed probe (logging.go). From then on this node pings the
// suspect every ProbeInterval (memberlist.Ping) and reports EventRecovered
// at the first answer, at a direct ack of memberlist's own probe, or when
// the node gossips new metadata. Suspicions other nodes raise are not
// reported; they still end in EventFailed or nothing.
//
// Leaving versus failing: memberlist does not tell its event delegate
// whether a node left or died. Leave therefore first gossips metadata with
// a leaving flag, waits for it to be retransmitted, then sends memberlist's
// leave message; a peer reports EventLeft if the flag reached it, else
// EventFailed.
//
// # What is gossiped, and how
//
// Node metadata (memberlist's per-node Meta, at most 512 bytes) carries
// the static part and the epoch, in a compact varint encoding (codec.go):
// version, flags, node ID, epoch, transport address, zone — about 30
// bytes for a typical node. It changes rarely (SetEpoch, Leave), and when
// it does, memberlist's alive message spreads it with incarnation
// ordering, refutation and push/pull anti-entropy, so a node that holds an
// older epoch notices (EventUpdate with ChangedEpoch, HighestEpoch).
//
// Load changes a few times a second on every node, so it does NOT travel
// in the metadata. memberlist.UpdateNode would bump the node's
// incarnation, broadcast a ~100-byte msgpack alive message, take
// memberlist's node lock and call NotifyUpdate on every node for every
// change, and — worst — those alive messages would share memberlist's own
// broadcast queue with suspect and dead messages, where the newest go
// first: load chatter would delay failure detection. Instead each load is
// a ~20-byte user message (node ID, version, float64) in this package's
// own memberlist.TransmitLimitedQueue. memberlist piggybacks it on gossip
// packets only in the space its own broadcasts leave; a newer load of a
// node replaces the queued older one (one entry per node at most); a node
// that receives a newer load relays it, so it spreads epidemically like
// memberlist's own messages; and every push/pull carries all known loads
// (LocalState/MergeRemoteState) for anti-entropy and for joiners. The
// version is the sender's wall clock in nanoseconds, forced to increase,
// so a restarted node's loads supersede its previous life's. A load is
// sent only when it changed, at most once per LoadInterval.
//
// # Partitions and rejoin
//
// memberlist gossips to dead nodes only for GossipToTheDeadTime (30s) and
// pushes/pulls only with live ones, so two sides of a longer partition
// would never merge again. Every RejoinInterval (30s) a node therefore
// re-joins its seeds that it does not see alive and up to three members it
// believes dead.
//
// # Security
//
// SecretKeys turns on memberlist's AES-GCM gossip encryption (the first key
// sends, all receive, for rotation); Label sets memberlist's cluster label.
// Nodes with different keys or labels never merge.
//
// # Lifecycle
//
//	m, err := membership.New(cfg)   // listens; emits EventJoin for itself
//	_, err = m.Join()               // cfg.Seeds
//	m.SetLoad(0.4); m.SetEpoch(7)
//	for ev := range m.Events() { ... }
//	m.Leave(5 * time.Second)        // graceful: peers see EventLeft
//	m.Shutdown()                    // closes Events
package membership
