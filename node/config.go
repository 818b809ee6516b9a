package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// config is the node's configuration: flags, each with a QS_* environment
// twin, and an optional YAML file (-config); see internal/settings.
type Config struct {
	ID            uint64
	Cluster       uint64
	Label         string
	Transport     string // TCP transport listen address
	Gossip        string // memberlist bind address host:port
	Advertise     string // the host other nodes reach this one at, if not the listen host
	Zone          string
	Seeds         []string
	Data          string
	HTTP          string
	Admin         string // the admin listener (pprof, metrics); empty: none
	AdminToken    string // bearer token of /v1/admin/; empty: the admin API is off
	Durability    racs.Durability
	GossipKey     string
	Tick          time.Duration
	LogLevel      string
	LogFormat     string
	TLSCert       string
	TLSKey        string
	TransportCA   string
	TransportCert string
	TransportKey  string
	DrainTimeout  time.Duration
	LoadClients   int
	LoadFor       time.Duration
	LoadSize      int
	Demo          int
	// FrontEndHTTP is the demo front end's HTTP address.
	FrontEndHTTP string
	// The management group's first members (on the first nodes of a new
	// cluster), and the kv service's partition count.
	Bootstrap    []groupcomm.NodeID
	KVPartitions int
	// Services are the application's services this node offers, beside
	// the built-in kv (an embedding program sets them; no flag). The first
	// -bootstrap node defines them.
	Services []raps.Service
}

func DefaultConfig() Config {
	return Config{Cluster: 1, Transport: "127.0.0.1:7100", Gossip: "127.0.0.1:7200", Data: "data",
		HTTP: "127.0.0.1:7300", Tick: 10 * time.Millisecond, LogLevel: "info", LogFormat: "text",
		LoadSize: 100, KVPartitions: 16, DrainTimeout: 10 * time.Second}
}

func (c *Config) Validate() error {
	if err := ops.CheckAddrs([]string{"-admin"}, "-transport", c.Transport, "-gossip", c.Gossip, "-http", c.HTTP, "-admin", c.Admin); err != nil {
		return err
	}
	switch {
	case c.ID == 0:
		return errors.New("-id is required")
	case c.Tick <= 0:
		return fmt.Errorf("-tick %v: must be positive", c.Tick)
	case c.DrainTimeout < 0:
		return fmt.Errorf("-drain-timeout %v: must not be negative", c.DrainTimeout)
	case c.KVPartitions < 1:
		return fmt.Errorf("-kv-partitions %d: must be at least 1", c.KVPartitions)
	case c.LoadClients < 0:
		return fmt.Errorf("-load-clients %d: must not be negative", c.LoadClients)
	}
	return nil
}
