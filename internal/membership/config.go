package membership

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// Static is the part of a node's metadata that is fixed for the life of
// the process. It travels in memberlist's node metadata, which must fit in
// memberlist.MetaMaxSize (512 bytes) together with the epoch and a few
// bytes of framing, so Addr and Zone together are limited to MaxStaticLen.
type Static struct {
	// Addr is the node's transport address (host:port of the multiplexed
	// TCP transport): what Resolve answers. Empty for a member that
	// serves no transport.
	Addr string
	// Zone is the failure zone the node declares for placement. Optional.
	Zone string
	// FrontEnd marks a stateless front end (qs-frontend): it takes part
	// in gossip and the transport to route calls, but hosts no clone, so
	// placement and liveness counts leave it out.
	FrontEnd bool
}

// MaxStaticLen bounds len(Static.Addr)+len(Static.Zone), so the encoded
// metadata stays far below memberlist.MetaMaxSize.
const MaxStaticLen = 400

// Config configures one node's membership. Every duration field falls back
// to its DefaultConfig value when zero; see DefaultConfig for the values.
type Config struct {
	// NodeID is the node's identity in the project (groupcomm.NodeID).
	// Required, non-zero.
	NodeID groupcomm.NodeID
	// NodeName is the memberlist node name, unique in the cluster.
	// Default: fmt.Sprintf("node-%d", NodeID).
	NodeName string

	// BindAddr is the IP address gossip listens on (UDP and TCP).
	// Default "0.0.0.0"; tests use "127.0.0.1".
	BindAddr string
	// BindPort is the gossip port. 0 is not replaced by the default: it
	// lets the kernel pick a free port (memberlist then retries the UDP
	// and TCP binds on the same number); LocalAddr reports the result.
	// DefaultConfig sets 7946.
	BindPort int
	// AdvertiseAddr and AdvertisePort are what peers dial, if different
	// from the bind address (NAT, containers). Default: derived from the
	// bind address by memberlist.
	AdvertiseAddr string
	AdvertisePort int

	// Seeds are gossip addresses (host:port) to Join when Join is called
	// without arguments, and to re-join every RejoinInterval.
	Seeds []string

	// Meta is the static metadata gossiped with the node.
	Meta Static

	// LoadInterval is how often a changed load (SetLoad) is gossiped, in
	// wall time. Default 250ms. Loads that did not change are not sent.
	LoadInterval time.Duration
	// LoadUpdates makes a remote node's load change emit an EventUpdate
	// (with ChangedLoad). Off by default: loads change a few times a
	// second on every node and would crowd the bounded event channel, so
	// readers of load use Members or Lookup instead.
	LoadUpdates bool

	// RejoinInterval is how often the node re-joins the seeds it does not
	// see alive, and a few members it believes dead, so that a partition
	// longer than memberlist's dead-node gossip window (30s) still heals.
	// Default 30s; negative disables re-joining.
	RejoinInterval time.Duration

	// SecretKeys turn on gossip encryption (AES-GCM, memberlist.Keyring).
	// Each key is 16, 24 or 32 bytes; the first is the primary used to
	// send, all are tried to receive (key rotation). Nodes without a
	// common key never merge.
	SecretKeys [][]byte
	// Label is the cluster label (memberlist.Config.Label, at most 255
	// bytes): packets and streams of another label are refused, so two
	// clusters on one network never mix even without encryption.
	Label string

	// ProbeInterval is memberlist's failure-detection probe interval.
	// Default 1s (DefaultLANConfig). Tests use 50–100ms.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for a direct ack before
	// trying indirect probes. Must be below ProbeInterval. Default (0):
	// min(500ms, ProbeInterval/2).
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a node stays suspect before it is
	// declared dead: SuspicionMult × max(1, log10 n) × ProbeInterval
	// (Lifeguard may stretch it up to 6×). Default 4.
	SuspicionMult int
	// GossipInterval is how often queued broadcasts (state changes, epoch
	// and load) are gossiped to 3 random nodes. Default 200ms.
	GossipInterval time.Duration
	// DeadNodeReclaimTime is how long a dead node's name stays bound to
	// its old address; after it, a node restarted under the same name at
	// a new address (a rescheduled pod) is accepted. Default 5s.
	DeadNodeReclaimTime time.Duration

	// DeadRetention is how long Members keeps reporting a Dead or Left
	// node (and Resolve its address). Default 1h.
	DeadRetention time.Duration

	// EventBuffer is the capacity of the Events channel and of each
	// Subscribe queue. When one is full, events for it are dropped and
	// counted (Stats.EventsDropped): memberlist's callbacks never block.
	// Default 1024.
	EventBuffer int

	// Logger receives memberlist's log lines at debug level and this
	// package's own lines. Nil discards.
	Logger *slog.Logger

	// Test hooks, set only by this package's tests.
	testTransport  func(*memberlist.NetTransport) memberlist.NodeAwareTransport
	testDeadGossip time.Duration
}

// DefaultConfig returns memberlist's LAN timing with Quicksilver's
// additions. NodeID and Meta must still be set.
func DefaultConfig() Config {
	return Config{
		BindAddr:            "0.0.0.0",              // all interfaces; memberlist picks a private IP to advertise
		BindPort:            7946,                   // memberlist's default port
		LoadInterval:        250 * time.Millisecond, // a few load updates a second, at most
		RejoinInterval:      30 * time.Second,       // = memberlist's dead-node gossip window
		ProbeInterval:       time.Second,            // DefaultLANConfig
		ProbeTimeout:        0,                      // min(500ms as in DefaultLANConfig, ProbeInterval/2)
		SuspicionMult:       4,                      // DefaultLANConfig: ≥ 4s suspect before dead
		GossipInterval:      200 * time.Millisecond, // DefaultLANConfig
		DeadNodeReclaimTime: 5 * time.Second,        // memberlist default is "never"
		DeadRetention:       time.Hour,              // Members remembers the dead this long
		EventBuffer:         1024,                   // events buffered before dropping
	}
}

// withDefaults fills zero fields from DefaultConfig. BindPort is left
// alone: 0 means "pick a free port".
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.NodeName == "" && c.NodeID != 0 {
		c.NodeName = fmt.Sprintf("node-%d", c.NodeID)
	}
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	if c.LoadInterval == 0 {
		c.LoadInterval = d.LoadInterval
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = d.RejoinInterval
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = d.ProbeInterval
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = min(500*time.Millisecond, c.ProbeInterval/2)
	}
	if c.SuspicionMult == 0 {
		c.SuspicionMult = d.SuspicionMult
	}
	if c.GossipInterval == 0 {
		c.GossipInterval = d.GossipInterval
	}
	if c.DeadNodeReclaimTime == 0 {
		c.DeadNodeReclaimTime = d.DeadNodeReclaimTime
	}
	if c.DeadRetention == 0 {
		c.DeadRetention = d.DeadRetention
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = d.EventBuffer
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first nonsense in c (after filling defaults),
// wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case c.NodeID == 0:
		return bad("NodeID is required")
	case len(c.NodeName) > 128:
		return bad("NodeName longer than 128 bytes")
	case net.ParseIP(c.BindAddr) == nil:
		return bad("BindAddr %q is not an IP address", c.BindAddr)
	case c.BindPort < 0 || c.BindPort > 65535:
		return bad("BindPort %d out of range", c.BindPort)
	case c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil:
		return bad("AdvertiseAddr %q is not an IP address", c.AdvertiseAddr)
	case c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return bad("AdvertisePort %d out of range", c.AdvertisePort)
	case len(c.Meta.Addr)+len(c.Meta.Zone) > MaxStaticLen:
		return bad("Meta.Addr and Meta.Zone exceed %d bytes", MaxStaticLen)
	case c.LoadInterval < 0:
		return bad("LoadInterval is negative")
	case c.ProbeInterval < 0 || c.ProbeTimeout < 0 || c.GossipInterval < 0:
		return bad("negative probe or gossip interval")
	case c.ProbeTimeout >= c.ProbeInterval:
		return bad("ProbeTimeout %v must be below ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	case c.SuspicionMult < 1:
		return bad("SuspicionMult must be at least 1")
	case c.DeadNodeReclaimTime < 0 || c.DeadRetention < 0:
		return bad("negative DeadNodeReclaimTime or DeadRetention")
	case c.EventBuffer < 1:
		return bad("EventBuffer must be at least 1")
	case len(c.Label) > memberlist.LabelMaxSize:
		return bad("Label longer than %d bytes", memberlist.LabelMaxSize)
	}
	for i, k := range c.SecretKeys {
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return bad("SecretKeys[%d] is %d bytes, want 16, 24 or 32", i, n)
		}
	}
	for _, s := range c.Seeds {
		if s == "" {
			return bad("empty seed address")
		}
	}
	return nil
}

// memberlistConfig translates c (defaults filled, validated) into
// memberlist's configuration. d receives every callback.
func (c Config) memberlistConfig(d *delegate, w *logWriter) (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeName
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	if c.AdvertisePort == 0 {
		mc.AdvertisePort = c.BindPort
	}
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.GossipInterval = c.GossipInterval
	mc.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	if c.testDeadGossip > 0 {
		mc.GossipToTheDeadTime = c.testDeadGossip
	}
	mc.Label = c.Label
	if len(c.SecretKeys) > 0 {
		kr, err := memberlist.NewKeyring(c.SecretKeys, c.SecretKeys[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		mc.Keyring = kr
	}
	mc.Delegate = d
	mc.Events = d
	mc.Ping = d
	mc.Conflict = d
	mc.LogOutput = nil
	mc.Logger = w.logger()
	return mc, nil
}
