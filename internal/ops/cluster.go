package ops

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
)

// Peer is what a process needs to take part in a cluster's gossip and
// transport: a node (qs-node) or a front end (qs-frontend).
type Peer struct {
	ID, Cluster uint64
	Label       string
	// Transport and Gossip are listen addresses (host:port); Advertise, if
	// set, is the host the others reach this process at instead of the
	// listen host (containers, NAT).
	Transport, Gossip, Advertise string
	Zone                         string
	FrontEnd                     bool
	Seeds                        []string
	// GossipKey: hex AES key (GossipKeys). TransportCA, TransportCert,
	// TransportKey: PEM files of the transport's mutual TLS
	// (TransportTLS).
	GossipKey                                string
	TransportCA, TransportCert, TransportKey string
	Logger                                   *slog.Logger
}

// SplitHostPort splits host:port with a numeric port.
func SplitHostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return strings.TrimSpace(h), port, nil
}

// Advertised is addr with its host replaced by advertise, if set.
func Advertised(advertise, addr string) string {
	if advertise == "" {
		return addr
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(advertise, p)
}

// StartMembership starts gossip (binding its port): the metadata carries
// the advertised transport address, the zone and the front-end flag, and
// membership events are logged (a suspected or failed member at WARN; a
// join, a recovery and a graceful leave at INFO).
func StartMembership(p Peer) (*membership.Membership, error) {
	host, port, err := SplitHostPort(p.Gossip)
	if err != nil {
		return nil, fmt.Errorf("-gossip %q: %w", p.Gossip, err)
	}
	keys, err := GossipKeys(p.GossipKey)
	if err != nil {
		return nil, err
	}
	mc := membership.DefaultConfig()
	mc.NodeID = groupcomm.NodeID(p.ID)
	if p.FrontEnd {
		mc.NodeName = fmt.Sprintf("frontend-%d", p.ID)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	if p.Advertise != "" {
		mc.AdvertiseAddr = p.Advertise
	}
	mc.Seeds = p.Seeds
	mc.Meta = membership.Static{Addr: Advertised(p.Advertise, p.Transport), Zone: p.Zone, FrontEnd: p.FrontEnd}
	mc.Label, mc.Logger, mc.SecretKeys = p.Label, p.Logger, keys
	ml, err := membership.New(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", p.Gossip, err)
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ml.Subscribe(func(e membership.Event) {
		if e.Member.ID == groupcomm.NodeID(p.ID) {
			return
		}
		attrs := []any{"member", e.Member.ID, "name", e.Member.Name, "addr", e.Member.Addr, "front_end", e.Member.FrontEnd}
		switch e.Type {
		case membership.EventSuspect, membership.EventFailed:
			log.Warn("member "+e.Type.String(), attrs...)
		case membership.EventJoin, membership.EventRecovered, membership.EventLeft: // a left member said goodbye
			log.Info("member "+e.Type.String(), attrs...)
		}
	})
	return ml, nil
}

// StartTransport starts the multiplexed TCP transport (binding its port),
// resolving peers through gossip; deliver receives what arrives.
func StartTransport(p Peer, ml *membership.Membership, deliver func([]racs.Packet)) (*tcp.Transport, error) {
	tlsCfg, err := TransportTLS(p.TransportCA, p.TransportCert, p.TransportKey)
	if err != nil {
		return nil, err
	}
	tc := tcp.DefaultConfig()
	tc.Node, tc.Cluster, tc.Label, tc.Listen = groupcomm.NodeID(p.ID), p.Cluster, p.Label, p.Transport
	tc.Resolve, tc.Logger, tc.TLS = ml.Resolve, p.Logger, tlsCfg
	tr, err := tcp.New(tc, deliver)
	if err != nil {
		return nil, fmt.Errorf("-transport: %w", err)
	}
	if err := tr.Start(); err != nil {
		return nil, fmt.Errorf("-transport %s: %w", p.Transport, err)
	}
	return tr, nil
}

// JoinSeeds joins the gossip seeds in the background, retrying for a
// while (the seeds may start after this process), until stop closes.
func JoinSeeds(ml *membership.Membership, seeds []string, log *slog.Logger, stop <-chan struct{}) {
	if len(seeds) == 0 {
		return
	}
	go func() {
		for i := 0; ; i++ {
			if _, err := ml.Join(seeds...); err == nil {
				return
			} else if i == 25 && log != nil {
				log.Warn("no gossip seed answers yet; still trying", "seeds", seeds, "err", err)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// CheckAddrs checks listen addresses given as flag, address pairs: each
// must be host:port; an empty one is allowed for the flags in optional.
func CheckAddrs(optional []string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		flag, addr := pairs[i], pairs[i+1]
		if addr == "" && slices.Contains(optional, flag) {
			continue
		}
		if _, _, err := SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: want host:port (%v)", flag, addr, err)
		}
	}
	return nil
}
