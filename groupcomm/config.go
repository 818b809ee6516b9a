package groupcomm

import (
	"fmt"
	"log/slog"
)

// Config configures one member of one group. Times are in ticks: the
// caller calls Tick at a fixed interval of its choosing (racs uses 10 ms).
// Zero fields take the value DefaultConfig gives.
type Config struct {
	// Cluster, Group and GroupIncarnation fence messages: a message from
	// another cluster, group or group incarnation is dropped.
	Cluster          uint64
	Group            uint64
	GroupIncarnation uint64
	// Self is this member.
	Self MemberID

	// TickRTO: resend unacknowledged ORDER ranges, unanswered Accepts,
	// Commits, Fetches and Submits after this many ticks. Default 4.
	TickRTO int
	// TickIdle: an idle sequencer announces Stable alone after this many
	// ticks. Default 2.
	TickIdle int
	// TickVC: base wait before a voter of rank r proposes a view change
	// (it waits r·TickVC plus jitter), and the time a phase may take
	// before the proposer retries with a higher round. Default 10.
	TickVC int
	// TickFD: a member with work in flight that hears nothing from the
	// sequencer for this many ticks suspects it. Default 20.
	TickFD int
	// TickCQ: a sequencer with entries in flight and no acks from Q(w)
	// voters for this many ticks stops sending frames. Default 30.
	TickCQ int
	// TickJoin: a learner not Ready this many ticks after it was added is
	// removed. Default 3000.
	TickJoin int
	// TickStale: a member serves "any" reads only if it heard from its
	// sequencer within this many ticks. Default 20.
	TickStale int

	// Window bounds the unstable entries at the sequencer and the pending
	// submissions at an origin; beyond it Multicast returns ErrBusy.
	// Default 8192.
	Window int
	// MaxFrameEntries bounds the entries in one ORDER frame. Default 256.
	MaxFrameEntries int
	// MaxFrameBytes bounds the payload bytes in one ORDER frame (a frame
	// holds at least one entry). Default 256 KiB.
	MaxFrameBytes int
	// MaxInflight bounds the entries sent to one member beyond its ack.
	// Default 4·MaxFrameEntries·8.
	MaxInflight int
	// MaxPayloadBytes bounds one payload. Default 1 MiB.
	MaxPayloadBytes int
	// AckAll makes an entry stable only once every voter of the view
	// persisted it, instead of a majority (the "all voters" ack policy):
	// more copies before an update is delivered and answered, at the cost
	// that a voter that stops acking holds delivery until a view change
	// removes it. Safety does not depend on it (every rule that needs a
	// majority still finds one); the view-change and read quorums stay
	// majorities.
	AckAll bool

	// Seed seeds the jitter of proposal timers. Members of one group
	// should have different seeds (racs mixes in the node id).
	Seed uint64
	// Logger receives protocol events at debug level; nil discards.
	Logger *slog.Logger

	// Knobs are for tests only (planted bugs, hooks); nil in production.
	Knobs *TestingKnobs
}

// DefaultConfig returns the defaults for every tunable field.
func DefaultConfig() Config {
	return Config{
		TickRTO:         4,    // 40 ms at 10 ms ticks
		TickIdle:        2,    // Stable reaches followers within 20 ms when idle
		TickVC:          10,   // 100 ms per rank before a lower-priority voter proposes
		TickFD:          20,   // 200 ms silence from a busy sequencer
		TickCQ:          30,   // 300 ms without a quorum of acks
		TickJoin:        3000, // 30 s to restore a snapshot
		TickStale:       20,   // 200 ms without sequencer contact ends "any" reads
		Window:          8192, // unstable entries per group
		MaxFrameEntries: 256,  // entries per ORDER frame
		MaxFrameBytes:   256 << 10,
		MaxInflight:     8192,
		MaxPayloadBytes: 1 << 20,
	}
}

func (c *Config) fillDefaults() {
	d := DefaultConfig()
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.TickRTO, d.TickRTO)
	set(&c.TickIdle, d.TickIdle)
	set(&c.TickVC, d.TickVC)
	set(&c.TickFD, d.TickFD)
	set(&c.TickCQ, d.TickCQ)
	set(&c.TickJoin, d.TickJoin)
	set(&c.TickStale, d.TickStale)
	set(&c.Window, d.Window)
	set(&c.MaxFrameEntries, d.MaxFrameEntries)
	set(&c.MaxFrameBytes, d.MaxFrameBytes)
	set(&c.MaxInflight, d.MaxInflight)
	set(&c.MaxPayloadBytes, d.MaxPayloadBytes)
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.Self.Node == 0 {
		return fmt.Errorf("%w: Self.Node must be set", ErrInvalidConfig)
	}
	for name, v := range map[string]int{
		"TickRTO": c.TickRTO, "TickIdle": c.TickIdle, "TickVC": c.TickVC, "TickFD": c.TickFD,
		"TickCQ": c.TickCQ, "TickJoin": c.TickJoin, "TickStale": c.TickStale, "Window": c.Window,
		"MaxFrameEntries": c.MaxFrameEntries, "MaxFrameBytes": c.MaxFrameBytes,
		"MaxInflight": c.MaxInflight, "MaxPayloadBytes": c.MaxPayloadBytes,
	} {
		if v < 0 {
			return fmt.Errorf("%w: %s is negative", ErrInvalidConfig, name)
		}
	}
	if c.TickFD != 0 && c.TickRTO != 0 && c.TickFD <= c.TickRTO {
		return fmt.Errorf("%w: TickFD must exceed TickRTO", ErrInvalidConfig)
	}
	return nil
}
