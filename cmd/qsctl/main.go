// Command qsctl is a small admin CLI on a Quicksilver front end's (or
// node's) admin API, /v1/admin/. It prints human tables by default and
// the API's JSON with -o json, for scripts.
//
//	qsctl [-addr URL] [-token T] [-o table|json] COMMAND [ARGS]
//
//	members                         nodes and front ends: state, zone, load, map epoch
//	map                             the partition map: nodes, services, partitions and clones
//	history [-since E] [-limit N]   the map's changes, with their reasons
//	moves                           moves in progress, with progress and reasons
//	watch [-every D]                moves, again every D until none is left (Ctrl-C stops)
//	trace SERVICE KEY               key → partition → group → clones, and the clone a query would go to
//	drain NODE                      move every clone off NODE
//	move SERVICE PARTITION FROM TO  move one clone
//	clones SERVICE N                set a service's clones per partition
//
// -addr defaults to $QS_ADDR or http://127.0.0.1:8080, -token to
// $QS_ADMIN_TOKEN. Exit status: 0 done, 1 the API refused or failed
// (its error code and message are printed), 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// run is qsctl with its arguments and outputs; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	fs := flag.NewFlagSet("qsctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(env, "QS_ADDR", "http://127.0.0.1:8080"), "front end (or node) URL ($QS_ADDR)")
	token := fs.String("token", envOr(env, "QS_ADMIN_TOKEN", ""), "admin bearer token ($QS_ADMIN_TOKEN)")
	out := fs.String("o", "table", "output: table or json")
	timeout := fs.Duration("timeout", 10*time.Second, "bound of each API call")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: qsctl [-addr URL] [-token T] [-o table|json] members|map|history|moves|watch|trace|drain|move|clones [args]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out != "table" && *out != "json" {
		fmt.Fprintf(stderr, "qsctl: -o %q: want table or json\n", *out)
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c := &client{base: *addr, token: *token, timeout: *timeout, json: *out == "json", w: stdout}
	err := c.command(ctx, fs.Arg(0), fs.Args()[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "qsctl:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "qsctl:", err)
		return 1
	}
}

func envOr(env func(string) (string, bool), k, def string) string {
	if v, ok := env(k); ok && v != "" {
		return v
	}
	return def
}

// usageError is a bad command line (exit 2).
type usageError string

func (e usageError) Error() string { return string(e) }
