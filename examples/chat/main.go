// Command chat is a live chat on a Quicksilver cluster in one process:
// each room is a topic, browsers follow it by server-sent events, and a
// node can be crashed and brought back while people talk.
//
//	go run ./examples/chat
//	open http://127.0.0.1:8090/chat/?room=lobby&user=ann   (and again as bob)
//	curl -X POST -H 'Authorization: Bearer demo' 127.0.0.1:8090/demo/crash/2
//
// The rooms are an ordinary raps.Service (examples/chat/room); node.RunDemo
// runs three nodes on loopback with real TCP, gossip and a front end.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/examples/chat/room"
	"github.com/quicksilver-go/quicksilver/frontend"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/node"
	"github.com/quicksilver-go/quicksilver/raps"
)

func main() {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	addr := fs.String("http", "127.0.0.1:8090", "the front end's HTTP address")
	portBase := fs.Int("port-base", 7500, "loopback ports of the nodes (see node.DemoOptions.PortBase)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn, error")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return
		}
		os.Exit(2)
	}
	logger, err := ops.NewLogger(os.Stderr, *logLevel, "text")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *portBase, logger); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, portBase int, logger *slog.Logger) error {
	cfg := node.DefaultConfig()
	cfg.Demo, cfg.Data, cfg.FrontEndHTTP = 3, "", addr // "": a temporary directory (the rooms are in memory)
	cfg.Services = []raps.Service{room.Service()}
	return node.RunDemo(ctx, cfg, logger, node.DemoOptions{
		PortBase: portBase,
		FrontEnd: func(r chi.Router, fe *frontend.FrontEnd, ctl *node.DemoControl) {
			r.Mount("/chat", room.Routes(ctx, fe.Client()))
			r.Route("/demo", func(r chi.Router) { node.DemoRoutes(r, ctl, "demo") })
			r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/chat/", http.StatusFound) })
		},
		Banner: func(w io.Writer, info node.DemoInfo) {
			u := "http://" + info.FrontEnd
			fmt.Fprintf(w, `Quicksilver chat: %d nodes and a front end

  open %s/chat/?room=lobby&user=ann   and, in another window, %s/chat/?room=lobby&user=bob
  curl -X POST %s/chat/rooms/lobby -d '{"user":"curl","text":"hello"}'
  curl -N %s/chat/rooms/lobby/events?from=1.0          # the room's stream
  curl -N '%s/v1/services/rooms/watch?key=lobby'       # the partition's raw stream
  curl -X POST -H 'Authorization: Bearer %s' %s/demo/crash/2    # keep talking
  curl -X POST -H 'Authorization: Bearer %s' %s/demo/restart/2

Ctrl-C stops it.
`, info.Nodes, u, u, u, u, u, info.AdminToken, u, info.AdminToken, u)
		},
	})
}
