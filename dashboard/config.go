package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
)

// ErrInvalidConfig: a Config that cannot work; the error names the field.
var ErrInvalidConfig = errors.New("dashboard: invalid config")

// GroupView is one node's report of one group it hosts (node.GroupStatus,
// as the Groups hook returns it).
type GroupView struct {
	Node      uint64
	Group     uint64
	View      uint64
	Sequencer string // the sequencer as the node sees it: "node.incarnation"
	Role      string // "voter" or "learner"
	Status    string // "NORMAL" while the clone serves
	Applied   uint64 // the last applied update's sequence number
	Members   []uint64
}

// Demo lets the page crash and restart nodes: set it in a demo only
// (examples/estuff), never in production.
type Demo struct {
	Crash, Restart func(node uint64) error
	Down           func() []uint64 // the nodes crashed and not restarted
}

// Config configures a Dashboard. The sources are read by one goroutine,
// every Interval; each must be safe to call from it while the cluster
// runs.
type Config struct {
	// Members lists the cluster's members (frontend.FrontEnd.Members).
	// Required.
	Members func() []dispatcher.Member
	// Map is the newest partition map, nil before the first
	// (raps.Client.Map). Required.
	Map func() *partitionmap.Map
	// History explains the moves (raps.Client.History); nil: moves
	// without their reasons.
	History func(ctx context.Context, since uint64, limit int) ([]mgmt.Change, error)
	// Stats are per-service call counters (raps.Client.ServiceStats);
	// nil: no throughput or latency panel.
	Stats func() map[string]raps.ServiceStats
	// Groups reports every running node's groups; nil: the grid shows
	// the map's placement only, without views, sequencers or view
	// changes.
	Groups func(ctx context.Context) []GroupView
	// Demo, if set, adds crash and restart buttons.
	Demo *Demo

	// Interval between samples; also the resolution of every rate and
	// duration the page shows.
	Interval time.Duration
	// Samples kept per service for the sparklines.
	Samples int
	// ViewChanges kept (the newest).
	ViewChanges int
	// ClientBuffer is the snapshots queued per browser; a browser that
	// falls further behind skips to the newest.
	ClientBuffer int
	// MaxClients bounds the open event streams (each holds one of the
	// front end's request slots while open).
	MaxClients int
	// KeepAlive: a comment is sent on a stream idle this long, so that
	// proxies keep it open.
	KeepAlive time.Duration

	Now    func() time.Time // the clock of the samples' times; nil: time.Now
	Logger *slog.Logger
}

// DefaultConfig returns a Config with the timers and bounds set; the
// caller sets the sources (UseFrontEnd, UseDemo).
func DefaultConfig() Config {
	return Config{Interval: time.Second, Samples: 120, ViewChanges: 20, ClientBuffer: 4, MaxClients: 32,
		KeepAlive: 15 * time.Second}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Members == nil:
		return bad("Members", "is required")
	case c.Map == nil:
		return bad("Map", "is required")
	case c.Interval <= 0:
		return bad("Interval", "must be positive, not %v", c.Interval)
	case c.Samples < 2 || c.Samples > 10000:
		return bad("Samples", "must be from 2 to 10000, not %d", c.Samples)
	case c.ViewChanges < 1 || c.ViewChanges > 10000:
		return bad("ViewChanges", "must be from 1 to 10000, not %d", c.ViewChanges)
	case c.ClientBuffer < 1 || c.ClientBuffer > 1024:
		return bad("ClientBuffer", "must be from 1 to 1024, not %d", c.ClientBuffer)
	case c.MaxClients < 1:
		return bad("MaxClients", "must be positive, not %d", c.MaxClients)
	case c.KeepAlive <= 0:
		return bad("KeepAlive", "must be positive, not %v", c.KeepAlive)
	case c.Demo != nil && (c.Demo.Crash == nil || c.Demo.Restart == nil || c.Demo.Down == nil):
		return bad("Demo", "needs Crash, Restart and Down")
	}
	return nil
}
