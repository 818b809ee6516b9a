package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/settings"
	"github.com/quicksilver-go/quicksilver/node"
	"github.com/quicksilver-go/quicksilver/racs"
)

// parseConfig reads the command line, the QS_* environment (lookup) and
// the -config file. flag.ErrHelp means -h was asked: print nothing more
// and exit 0.
func parseConfig(args []string, lookup func(string) (string, bool)) (node.Config, error) {
	c := node.DefaultConfig()
	fs := flag.NewFlagSet("qs-node", flag.ContinueOnError)
	fs.Uint64Var(&c.ID, "id", 0, "this node's id, required (or -id-from-index)")
	fromIndex := fs.String("id-from-index", "", "the id is this index plus one: a StatefulSet's pod index (the apps.kubernetes.io/pod-index label), pod 2 is node 3; not with -id")
	fs.Uint64Var(&c.Cluster, "cluster", c.Cluster, "cluster id")
	fs.StringVar(&c.Label, "label", "", "cluster label: gossip and transport refuse other labels")
	fs.StringVar(&c.Transport, "transport", c.Transport, "TCP transport listen address")
	fs.StringVar(&c.Gossip, "gossip", c.Gossip, "memberlist bind address")
	fs.StringVar(&c.Advertise, "advertise", "", "host or IP the other nodes reach this one at (containers, NAT); default: the listen addresses' host")
	fs.StringVar(&c.Zone, "zone", "", "failure zone, for placement: clones of a partition spread over zones")
	seeds := fs.String("seeds", "", "comma-separated gossip addresses to join")
	fs.StringVar(&c.Data, "data", c.Data, "data directory for the write-ahead log and bbolt file")
	fs.StringVar(&c.HTTP, "http", c.HTTP, "HTTP address of the API (/v1/..., /livez, /readyz, /metrics)")
	fs.StringVar(&c.Admin, "admin", "", "admin listener address for pprof and /metrics; empty: none")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token of the admin API /v1/admin/; empty: the admin API answers 404")
	bootstrap := fs.String("bootstrap", "", "on the first nodes of a new cluster, on empty disks: comma-separated node ids of the management group's first view, the same list on each")
	fs.IntVar(&c.KVPartitions, "kv-partitions", c.KVPartitions, "partitions of the built-in kv service, when the first bootstrap node defines it")
	dur := fs.String("durability", "disk", "disk or memory")
	fs.StringVar(&c.GossipKey, "gossip-key", "", "hex 16/24/32-byte key encrypting gossip")
	fs.DurationVar(&c.Tick, "tick", c.Tick, "protocol tick")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate: serve the HTTP listeners over TLS (with -tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&c.TransportCA, "transport-ca", "", "PEM CA of the cluster: mutual TLS on the transport (with -transport-cert, -transport-key)")
	fs.StringVar(&c.TransportCert, "transport-cert", "", "PEM certificate naming node-<id> as a DNS name, for server and client auth")
	fs.StringVar(&c.TransportKey, "transport-key", "", "PEM private key of -transport-cert")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "on SIGTERM, how long in-flight requests may take to finish")
	fs.IntVar(&c.LoadClients, "load-clients", 0, "run this many closed-loop kv clients through the node's Router against the partitions it sequences, then print a report (scripts/bench-tcp.sh)")
	fs.DurationVar(&c.LoadFor, "load-for", 10*time.Second, "how long the built-in load runs")
	fs.IntVar(&c.LoadSize, "load-size", c.LoadSize, "update payload bytes for the built-in load")
	fs.IntVar(&c.Demo, "demo", 0, "run an in-process demo cluster of this many nodes and a front end on loopback")
	fs.StringVar(&c.FrontEndHTTP, "frontend-http", "127.0.0.1:8080", "the demo's front-end HTTP address")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: qs-node [flags]\n\nEvery flag has a QS_* environment twin (-kv-partitions: QS_KV_PARTITIONS)\nand may be set in the YAML file of -config.\n\n")
		fs.PrintDefaults()
	}
	if err := settings.Load(fs, args, lookup); err != nil {
		return c, err
	}
	if *seeds != "" {
		c.Seeds = strings.Split(*seeds, ",")
	}
	if *fromIndex != "" {
		if c.ID != 0 {
			return c, errors.New("-id and -id-from-index exclude each other")
		}
		i, err := strconv.ParseUint(*fromIndex, 10, 63)
		if err != nil {
			return c, fmt.Errorf("-id-from-index %q: want a pod index (0, 1, ...)", *fromIndex)
		}
		c.ID = i + 1
	}
	var err error
	if c.Bootstrap, err = parseIDs("-bootstrap", *bootstrap); err != nil {
		return c, err
	}
	switch *dur {
	case "disk":
		c.Durability = racs.Disk
	case "memory":
		c.Durability = racs.Memory
	default:
		return c, fmt.Errorf("-durability %q: want disk or memory", *dur)
	}
	if c.Demo > 0 {
		return c, nil // the demo fills in identities and addresses itself
	}
	return c, c.Validate()
}

// parseIDs parses a comma-separated list of node ids.
func parseIDs(flagName, list string) ([]groupcomm.NodeID, error) {
	var out []groupcomm.NodeID
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%s: bad node id %q", flagName, s)
		}
		out = append(out, groupcomm.NodeID(n))
	}
	return out, nil
}
