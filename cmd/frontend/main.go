// Command qs-frontend is a stateless HTTP front end of a Quicksilver
// cluster: run as many as you like. It joins the nodes' gossip as a front
// end (it hosts no clone and placement ignores it), takes part in their
// multiplexed TCP transport under an id of its own, learns the partition
// map from them, and serves the dispatcher's API (the generic service
// API, the kv routes, the admin API behind a token) by routing each query
// to a clone chosen by load and each update to its group's sequencer; no
// second HTTP hop.
//
//	qs-frontend -id 100 -seeds 127.0.0.1:7201 -http 127.0.0.1:8080 \
//	            -transport 127.0.0.1:7000 -gossip 127.0.0.1:7010
//
// /readyz answers 200 once the front end holds a map and sees a node
// alive; on SIGTERM it answers 503, finishes the requests in flight
// (-drain-timeout), leaves gossip and exits. Every flag has a QS_*
// environment twin and may be set in the YAML file of -config.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/quicksilver-go/quicksilver/frontend"
	"github.com/quicksilver-go/quicksilver/internal/ops"
)

func main() {
	cfg, logger := ops.Setup("qs-frontend", os.Args[1:], func(args []string) (config, error) { return parseConfig(args, nil) },
		func(c config) string { return c.LogLevel }, func(c config) string { return c.LogFormat })
	logger = logger.With("frontend", cfg.ID)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("front end failed", "err", err)
		os.Exit(1)
	}
}

// run binds the listeners, starts the front end, serves until ctx ends,
// then drains.
func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	lns, err := ops.ListenHTTP(cfg.HTTP, cfg.Admin, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return err
	}
	fc := cfg.frontend()
	fc.Logger = logger
	fe, err := frontend.Start(fc)
	if err != nil {
		lns.Close()
		return err
	}
	defer fe.Close()
	attrs := append(lns.URLs(), "transport", fe.TransportAddr(), "gossip", fe.GossipAddr(), "seeds", cfg.Seeds,
		"transport_tls", cfg.TransportCA != "", "gossip_encrypted", cfg.GossipKey != "", "admin_api", cfg.AdminToken != "")
	logger.Info("qs-frontend started", attrs...)
	admin := ops.AdminMux(func(mux *http.ServeMux) { mux.Handle("/metrics", fe.Metrics()) })
	return lns.ServeUntil(ctx, fe.Handler(), admin, cfg.DrainTimeout, fe.SetDraining, logger)
}
