// Command counter is the README's "write your own service": a replicated,
// partitioned counter service in one file, on a 3-node demo cluster.
//
//	go run ./examples/counter
//	curl -X POST localhost:8080/v1/services/counter/update -d '{"key":"visits","op":"visits"}'
//	curl -X POST localhost:8080/v1/services/counter/query -d '{"key":"visits","query":"visits","consistency":"strict"}'
package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"

	"github.com/quicksilver-go/quicksilver/node"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// counters is one partition's state: every clone applies the same
// updates in the same order, so every clone holds the same counts.
type counters map[string]uint64

func (c counters) Apply(op []byte) []byte { // op: the counter's name
	c[string(op)]++
	return strconv.AppendUint(nil, c[string(op)], 10)
}

func (c counters) Query(q []byte) ([]byte, error) {
	return strconv.AppendUint(nil, c[string(q)], 10), nil
}

func (c counters) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(c) }

func (c counters) Restore(r io.Reader) error {
	clear(c)
	return json.NewDecoder(r).Decode(&c)
}

var counterService = raps.Service{
	Name: "counter", Partitioning: partitionmap.Hash, Partitions: 8, Clones: 3,
	Durability: partitionmap.Disk,
	New:        func(partitionmap.PartRef) replica.StateMachine { return counters{} },
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := node.DefaultConfig()
	cfg.Demo, cfg.Data, cfg.FrontEndHTTP = 3, "", "127.0.0.1:8080" // "": a temporary directory
	cfg.Services = []raps.Service{counterService}
	if err := node.RunDemo(ctx, cfg, slog.New(slog.DiscardHandler), node.DemoOptions{}); err != nil {
		slog.Error("counter", "err", err)
		os.Exit(1)
	}
}
