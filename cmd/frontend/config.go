package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/frontend"
	"github.com/quicksilver-go/quicksilver/internal/ops"
	"github.com/quicksilver-go/quicksilver/internal/settings"
)

// config is the front end's configuration: flags, each with a QS_*
// environment twin, and an optional YAML file (-config).
type config struct {
	ID, Cluster    uint64
	Label          string
	Transport      string
	Gossip         string
	Advertise      string
	Seeds          []string
	HTTP           string
	Admin          string
	AdminToken     string
	GossipKey      string
	TLSCert        string
	TLSKey         string
	TransportCA    string
	TransportCert  string
	TransportKey   string
	LogLevel       string
	LogFormat      string
	DrainTimeout   time.Duration
	AttemptTimeout time.Duration
	// The dispatcher's limits (dispatcher.Config).
	MaxBody        int64
	MaxKey         int
	RequestTimeout time.Duration
	Throttle       int
}

func defaultConfig() config {
	d := dispatcher.DefaultConfig()
	return config{Cluster: 1, Transport: "127.0.0.1:7000", Gossip: "127.0.0.1:7010", HTTP: "127.0.0.1:8080",
		LogLevel: "info", LogFormat: "text", DrainTimeout: 10 * time.Second, AttemptTimeout: time.Second,
		MaxBody: d.MaxBody, MaxKey: d.MaxKey, RequestTimeout: d.RequestTimeout, Throttle: d.Throttle}
}

// parseConfig reads the command line, the QS_* environment (lookup) and
// the -config file; flag.ErrHelp means -h was asked (exit 0).
func parseConfig(args []string, lookup func(string) (string, bool)) (config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("qs-frontend", flag.ContinueOnError)
	fs.Uint64Var(&c.ID, "id", 0, "this front end's id on the transport, distinct from every node's and front end's; required (or -id-from-ip)")
	fromIP := fs.String("id-from-ip", "", "derive the id from this IP address (a pod's IP: distinct among live pods, far above node ids): 2^32 + the IPv4 address, or 2^63 + a hash of an IPv6 one; not with -id")
	fs.Uint64Var(&c.Cluster, "cluster", c.Cluster, "cluster id")
	fs.StringVar(&c.Label, "label", "", "cluster label: gossip and transport refuse other labels")
	fs.StringVar(&c.Transport, "transport", c.Transport, "TCP transport listen address (the nodes answer calls on it)")
	fs.StringVar(&c.Gossip, "gossip", c.Gossip, "memberlist bind address")
	fs.StringVar(&c.Advertise, "advertise", "", "host or IP the nodes reach this front end at, if not the listen host")
	seeds := fs.String("seeds", "", "comma-separated gossip addresses of nodes to join; required")
	fs.StringVar(&c.HTTP, "http", c.HTTP, "HTTP address of the API (/v1/..., /livez, /readyz, /metrics)")
	fs.StringVar(&c.Admin, "admin", "", "admin listener address for pprof and /metrics; empty: none")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token of the admin API /v1/admin/; empty: the admin API answers 404")
	fs.StringVar(&c.GossipKey, "gossip-key", "", "hex 16/24/32-byte key encrypting gossip (the nodes' key)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate: serve HTTP over TLS (with -tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&c.TransportCA, "transport-ca", "", "PEM CA of the cluster: mutual TLS on the transport (with -transport-cert, -transport-key)")
	fs.StringVar(&c.TransportCert, "transport-cert", "", "PEM certificate naming node-<id> as a DNS name, for server and client auth")
	fs.StringVar(&c.TransportKey, "transport-key", "", "PEM private key of -transport-cert")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "on SIGTERM, how long in-flight requests may take to finish")
	fs.DurationVar(&c.AttemptTimeout, "attempt-timeout", c.AttemptTimeout, "bound of one attempt of a call to a node (the Router retries elsewhere)")
	fs.Int64Var(&c.MaxBody, "max-body", c.MaxBody, "largest request body in bytes (413 beyond)")
	fs.IntVar(&c.MaxKey, "max-key", c.MaxKey, "largest key in bytes (400 beyond)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "bound of a request's calls into the cluster")
	fs.IntVar(&c.Throttle, "throttle", c.Throttle, "requests served at once (503 busy beyond)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: qs-frontend [flags]\n\nA stateless HTTP front end of a Quicksilver cluster. Every flag has a QS_*\nenvironment twin (-admin-token: QS_ADMIN_TOKEN) and may be set in the YAML\nfile of -config.\n\n")
		fs.PrintDefaults()
	}
	if err := settings.Load(fs, args, lookup); err != nil {
		return c, err
	}
	if *seeds != "" {
		c.Seeds = strings.Split(*seeds, ",")
	}
	if *fromIP != "" {
		if c.ID != 0 {
			return c, errors.New("-id and -id-from-ip exclude each other")
		}
		id, err := idFromIP(*fromIP)
		if err != nil {
			return c, err
		}
		c.ID = id
	}
	return c, c.validate()
}

// idFromIP maps an IP address to a front-end id no node id reaches: 2^32
// plus an IPv4 address, 2^63 plus 63 bits of a hash of an IPv6 one.
func idFromIP(s string) (uint64, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return 0, fmt.Errorf("-id-from-ip %q: not an IP address", s)
	}
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return 1<<32 | uint64(binary.BigEndian.Uint32(b[:])), nil
	}
	h := fnv.New64a()
	b := ip.As16()
	h.Write(b[:])
	return 1<<63 | h.Sum64()&(1<<63-1), nil
}

func (c *config) validate() error {
	if err := ops.CheckAddrs([]string{"-admin"}, "-transport", c.Transport, "-gossip", c.Gossip, "-http", c.HTTP, "-admin", c.Admin); err != nil {
		return err
	}
	switch {
	case c.ID == 0:
		return errors.New("-id is required")
	case len(c.Seeds) == 0:
		return errors.New("-seeds is required: the gossip address of at least one node")
	case c.DrainTimeout < 0:
		return fmt.Errorf("-drain-timeout %v: must not be negative", c.DrainTimeout)
	case c.AttemptTimeout <= 0:
		return fmt.Errorf("-attempt-timeout %v: must be positive", c.AttemptTimeout)
	case c.MaxBody <= 0:
		return fmt.Errorf("-max-body %d: must be positive", c.MaxBody)
	case c.MaxKey <= 0 || int64(c.MaxKey) >= c.MaxBody:
		return fmt.Errorf("-max-key %d: must be positive and below -max-body", c.MaxKey)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("-request-timeout %v: must be positive", c.RequestTimeout)
	case c.Throttle <= 0:
		return fmt.Errorf("-throttle %d: must be positive", c.Throttle)
	}
	return nil
}

// frontend is the front end's component configuration.
func (c *config) frontend() frontend.Config {
	f := frontend.DefaultConfig()
	f.Peer = ops.Peer{ID: c.ID, Cluster: c.Cluster, Label: c.Label, Transport: c.Transport, Gossip: c.Gossip,
		Advertise: c.Advertise, FrontEnd: true, Seeds: c.Seeds, GossipKey: c.GossipKey,
		TransportCA: c.TransportCA, TransportCert: c.TransportCert, TransportKey: c.TransportKey}
	f.AttemptTimeout = c.AttemptTimeout
	d := &f.Dispatcher
	d.AdminToken, d.MaxBody, d.MaxKey, d.RequestTimeout, d.Throttle = c.AdminToken, c.MaxBody, c.MaxKey, c.RequestTimeout, c.Throttle
	d.TokenWait = min(d.TokenWait, d.RequestTimeout)
	return f
}
