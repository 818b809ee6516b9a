package dashboard

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"
)

// Dashboard samples the cluster and serves the page and its event
// stream.
type Dashboard struct {
	cfg     Config
	log     *slog.Logger
	hub     *hub
	sampler *sampler
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	snap    Snapshot // the newest, for the page's first render
}

// New validates cfg, takes a first sample and starts the sampling
// goroutine; Close stops it.
func New(cfg Config) (*Dashboard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dashboard{cfg: cfg, log: cfg.Logger, hub: newHub(cfg.MaxClients, cfg.ClientBuffer), sampler: newSampler(cfg),
		cancel: cancel, done: make(chan struct{})}
	d.tick(ctx)
	go d.run(ctx)
	return d, nil
}

func (d *Dashboard) run(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.tick(ctx)
		}
	}
}

// tick takes one sample, bounded by the interval so that a stuck source
// delays the next sample by one interval at most, and broadcasts it.
func (d *Dashboard) tick(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, d.cfg.Interval)
	defer cancel()
	snap := d.sampler.sample(sctx)
	data, err := json.Marshal(snap)
	if err != nil {
		d.log.Error("dashboard: encoding a snapshot", "err", err)
		return
	}
	d.mu.Lock()
	d.snap = snap
	d.mu.Unlock()
	d.hub.broadcast(data)
}

// Latest returns the newest snapshot.
func (d *Dashboard) Latest() Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.snap
}

// Close stops sampling and ends the open event streams; the page's
// routes answer 503 after it.
func (d *Dashboard) Close() {
	d.once.Do(func() {
		d.cancel()
		<-d.done
		d.hub.close()
	})
}
