// Command estuff is the newcomer's first command: the eStuff.com shop of
// the QuickSilver lecture on a Quicksilver cluster, in one process.
//
//	go run ./examples/estuff
//
// With no flags it starts three nodes on loopback (real TCP transport,
// gossip, write-ahead log and bbolt in ./estuff-data), a front end on
// 127.0.0.1:8080 serving the generic API, the shop (/shop/) and the live
// dashboard (/dashboard/), loads the sample catalog, and prints the URLs
// and curl lines to try. A second run reuses ./estuff-data and shows the
// same data (-fresh starts over). The demo's admin calls
// (POST /demo/crash/{id}, /demo/restart/{id} with the admin token) stop
// and restart a node, so failover can be watched on the dashboard (whose
// crash and restart buttons do the same). Ctrl-C stops everything.
//
// Everything here is what any program can do with the public packages:
// the shop's services are ordinary raps.Services (examples/estuff/shop),
// node.RunDemo runs the cluster and frontend.Config.Extra mounts the
// shop's routes on the front end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/dashboard"
	"github.com/quicksilver-go/quicksilver/examples/estuff/shop"
	"github.com/quicksilver-go/quicksilver/frontend"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/node"
)

type options struct {
	data     string
	http     string
	products int
	seed     int64
	fresh    bool
	portBase int
	logLevel string
}

func parse(args []string) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("estuff", flag.ContinueOnError)
	fs.StringVar(&o.data, "data", "estuff-data", "data directory (kept between runs)")
	fs.StringVar(&o.http, "http", "127.0.0.1:8080", "the front end's HTTP address")
	fs.IntVar(&o.products, "products", 3000, "sample products to load")
	fs.Int64Var(&o.seed, "seed", 1, "sample-data seed")
	fs.BoolVar(&o.fresh, "fresh", false, "delete the data directory first")
	fs.IntVar(&o.portBase, "port-base", 7000, "loopback ports of the nodes: base+101.. transport, +201.. gossip, +301.. HTTP")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.data == "":
		return o, errors.New("-data must not be empty")
	case o.products < 0:
		return o, fmt.Errorf("-products %d: must not be negative", o.products)
	}
	return o, nil
}

func main() {
	o, err := parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "estuff:", err)
		os.Exit(2)
	}
	logger, err := ops.NewLogger(os.Stderr, o.logLevel, "text")
	if err != nil {
		fmt.Fprintln(os.Stderr, "estuff:", err)
		os.Exit(2)
	}
	if o.fresh {
		if err := os.RemoveAll(o.data); err != nil {
			fmt.Fprintln(os.Stderr, "estuff:", err)
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, closeDash := demoOptions(ctx, o)
	defer closeDash()
	if err := node.RunDemo(ctx, demoConfig(o), logger, opts); err != nil {
		fmt.Fprintln(os.Stderr, "estuff:", err)
		os.Exit(1)
	}
}

// demoConfig is the cluster: three nodes with the kv service and the
// shop's.
func demoConfig(o options) node.Config {
	cfg := node.DefaultConfig()
	cfg.Demo, cfg.Data, cfg.FrontEndHTTP, cfg.KVPartitions = 3, o.data, o.http, 4
	cfg.Services = shop.Services()
	return cfg
}

// demoOptions mounts the shop, the demo's calls and the dashboard on the
// front end; the func returned closes the dashboard (also done when ctx
// ends, so that its event streams do not hold up the servers' shutdown).
func demoOptions(ctx context.Context, o options) (node.DemoOptions, func()) {
	var dash *dashboard.Dashboard
	opts := node.DemoOptions{
		PortBase: o.portBase,
		FrontEnd: func(r chi.Router, fe *frontend.FrontEnd, ctl *node.DemoControl) {
			r.Mount("/shop", shop.Routes(fe.Client(), shop.WithAdminToken("demo"))) // PUT /shop/product needs it
			r.Route("/demo", func(r chi.Router) { node.DemoRoutes(r, ctl, "demo") })
			dc := dashboard.DefaultConfig()
			dc.UseFrontEnd(fe)
			dc.UseDemo(ctl)
			var err error
			if dash, err = dashboard.New(dc); err != nil {
				panic(err) // the config above is fixed: a failure is a bug here
			}
			context.AfterFunc(ctx, dash.Close)
			r.Mount("/dashboard", http.StripPrefix("/dashboard", dash.Handler()))
			r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/shop/", http.StatusFound) })
		},
		Started: func(sctx context.Context, fe *frontend.FrontEnd) error {
			if err := load(sctx, fe, o); err != nil {
				return err
			}
			// Orders a buyer abandoned pending give their stock back after 2 minutes.
			go shop.NewSweeper(fe.Client(), 2*time.Minute, nil).Run(ctx, 30*time.Second)
			return nil
		},
		Banner: banner,
	}
	return opts, func() {
		if dash != nil {
			dash.Close()
		}
	}
}

// load waits for the shop's services to be placed and loads the sample
// catalog (a no-op on a second run: the loader skips products present).
func load(ctx context.Context, fe *frontend.FrontEnd, o options) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	fmt.Fprintf(os.Stderr, "estuff: waiting for the cluster to place the shop's partitions...\n")
	for {
		err := fe.Ready()
		if err == nil {
			if m := fe.Client().Map(); m != nil {
				if _, e1 := m.Service(shop.CatalogService); e1 == nil {
					if _, e2 := m.Service(shop.CartsService); e2 == nil {
						break
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the shop's services were not placed in time: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	start := time.Now()
	n, err := shop.Load(ctx, fe.Client(), shop.SampleProducts(o.seed, o.products))
	if err != nil {
		return fmt.Errorf("loading the sample catalog: %w", err)
	}
	fmt.Fprintf(os.Stderr, "estuff: sample catalog: %d products (%d new) in %v\n", o.products, n, time.Since(start).Round(time.Millisecond))
	return nil
}

func banner(w io.Writer, info node.DemoInfo) {
	u := "http://" + info.FrontEnd
	fmt.Fprintf(w, `eStuff.com on Quicksilver: %d nodes and a front end; data in %s

  shop:       %s/shop/
  dashboard:  %s/dashboard/
  nodes:      %s/demo/nodes

Try:
  curl '%s/shop/search?q=digital+camera'
  curl -X POST %s/shop/cart/ken -d '{"name":"digital camera nikon d3500","qty":1}'
  curl %s/shop/cart/ken
  curl -X POST -H 'Idempotency-Key: order-1' %s/shop/checkout/ken
  curl -X PUT %s/v1/kv/greeting -d hello; curl '%s/v1/kv/greeting?consistency=strict'
  curl -X POST -H 'Authorization: Bearer %s' %s/demo/crash/2     # a node crashes; the shop keeps serving
  curl -X POST -H 'Authorization: Bearer %s' %s/demo/restart/2

Ctrl-C stops the cluster; a second run reuses %s.
`, info.Nodes, info.Dir, u, u, u, u, u, u, u, u, u, info.AdminToken, u, info.AdminToken, u, info.Dir)
}
