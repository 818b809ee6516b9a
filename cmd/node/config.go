package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// config is the node's configuration: flags with QS_* environment twins
// (a flag given on the command line wins).
type config struct {
	ID          uint64
	Cluster     uint64
	Label       string
	Transport   string // TCP transport listen address
	Gossip      string // memberlist bind address host:port
	Seeds       []string
	Data        string
	HTTP        string
	Groups      int
	Members     []groupcomm.NodeID
	Durability  racs.Durability
	Create      bool
	GossipKey   string
	Tick        time.Duration
	LogLevel    string
	LoadClients int
	LoadFor     time.Duration
	LoadSize    int
	Pprof       bool
	Demo        int
	// The partitioned mode (no -members): the management group's first
	// members, and the kv service's partition count.
	Bootstrap    []groupcomm.NodeID
	KVPartitions int
}

func defaultConfig() config {
	return config{Cluster: 1, Transport: "127.0.0.1:7100", Gossip: "127.0.0.1:7200", Data: "data",
		HTTP: "127.0.0.1:7300", Groups: 1, Tick: 10 * time.Millisecond, LogLevel: "info", LoadSize: 100,
		KVPartitions: 16}
}

func parseConfig(args []string) (config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("qs-node", flag.ContinueOnError)
	fs.Uint64Var(&c.ID, "id", 0, "this node's id (QS_ID), required")
	fs.Uint64Var(&c.Cluster, "cluster", c.Cluster, "cluster id (QS_CLUSTER)")
	fs.StringVar(&c.Label, "label", "", "cluster label: gossip and transport refuse other labels (QS_LABEL)")
	fs.StringVar(&c.Transport, "transport", c.Transport, "TCP transport listen address (QS_TRANSPORT)")
	fs.StringVar(&c.Gossip, "gossip", c.Gossip, "memberlist bind address (QS_GOSSIP)")
	seeds := fs.String("seeds", "", "comma-separated gossip addresses to join (QS_SEEDS)")
	fs.StringVar(&c.Data, "data", c.Data, "data directory for the write-ahead log and bbolt file (QS_DATA)")
	fs.StringVar(&c.HTTP, "http", c.HTTP, "HTTP address for the node API (QS_HTTP)")
	fs.IntVar(&c.Groups, "groups", c.Groups, "number of kv groups to host (QS_GROUPS)")
	members := fs.String("members", "", "the fixed-groups mode: comma-separated node ids of every group's first view (QS_MEMBERS); without it the node hosts what the partition map gives it")
	bootstrap := fs.String("bootstrap", "", "on the first nodes of a new cluster, on empty disks: comma-separated node ids of the management group's first view, the same list on each (QS_BOOTSTRAP)")
	fs.IntVar(&c.KVPartitions, "kv-partitions", c.KVPartitions, "partitions of the built-in kv service, when the first bootstrap node defines it (QS_KV_PARTITIONS)")
	dur := fs.String("durability", "disk", "disk or memory (QS_DURABILITY)")
	fs.BoolVar(&c.Create, "create", false, "take part in creating the groups: with no state for a group, start its first view once every other member is creating it too, else join it (safe to repeat on every start) (QS_CREATE)")
	fs.StringVar(&c.GossipKey, "gossip-key", "", "hex 16/24/32-byte key encrypting gossip (QS_GOSSIP_KEY)")
	fs.DurationVar(&c.Tick, "tick", c.Tick, "protocol tick (QS_TICK)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn, error (QS_LOG_LEVEL)")
	fs.IntVar(&c.LoadClients, "load-clients", 0, "run this many closed-loop clients against local sequencer groups (QS_LOAD_CLIENTS)")
	fs.DurationVar(&c.LoadFor, "load-for", 10*time.Second, "how long the built-in load runs (QS_LOAD_FOR)")
	fs.IntVar(&c.LoadSize, "load-size", c.LoadSize, "update payload bytes for the built-in load (QS_LOAD_SIZE)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go's profiles under /debug/pprof/ on the HTTP address (QS_PPROF)")
	fs.IntVar(&c.Demo, "demo", 0, "run an in-process demo cluster of this many nodes on loopback (QS_DEMO)")
	// Environment twins: set flags not given on the command line.
	set := map[string]bool{}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "QS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", env, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if *seeds != "" {
		c.Seeds = strings.Split(*seeds, ",")
	}
	var err error
	if c.Members, err = parseIDs("-members", *members); err != nil {
		return c, err
	}
	if c.Bootstrap, err = parseIDs("-bootstrap", *bootstrap); err != nil {
		return c, err
	}
	switch *dur {
	case "disk":
		c.Durability = racs.Disk
	case "memory":
		c.Durability = racs.Memory
	default:
		return c, fmt.Errorf("-durability: %q is neither disk nor memory", *dur)
	}
	if c.Demo > 0 {
		if c.LoadClients > 0 {
			return c, errors.New("-load-clients runs in the fixed-groups mode only, not with -demo")
		}
		return c, nil // the demo fills in identities and addresses itself
	}
	return c, c.validate()
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

func (c *config) validate() error {
	switch {
	case c.ID == 0:
		return errors.New("-id is required")
	case c.rapsMode() && c.KVPartitions < 1:
		return errors.New("-kv-partitions must be at least 1")
	case c.rapsMode() && c.LoadClients > 0:
		return errors.New("-load-clients runs in the fixed-groups mode only (give -members)")
	case c.rapsMode():
		return nil
	case c.Groups < 1:
		return errors.New("-groups must be at least 1")
	}
	return nil
}
