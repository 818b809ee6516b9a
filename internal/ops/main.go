package ops

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
)

// Setup is what every binary does first, before anything is bound: with
// the arguments "probe URL" it is the container health check (exit 0 when
// URL answers 2xx, 1 otherwise: a FROM scratch image has no curl);
// otherwise it parses the configuration: -h exits 0, a bad configuration
// exits 2 with one line naming it. Then it builds the logger at the
// configuration's level and format (logLevel, logFormat read from it).
func Setup[C any](name string, args []string, parse func([]string) (C, error), logLevel, logFormat func(C) string) (C, *slog.Logger) {
	if len(args) == 2 && args[0] == "probe" {
		if err := Probe(args[1]); err != nil {
			fmt.Fprintf(os.Stderr, "%s probe: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	cfg, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	logger, err := NewLogger(os.Stderr, logLevel(cfg), logFormat(cfg))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	return cfg, logger
}
