package raps

import (
	"fmt"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
)

// Typed groups: a service's type (partitionmap.Service's Kind, Acks,
// Reads, Retain) is in the map, so every node and front end applies the
// same one: the clones run with its ack policy and retention
// (reconcile.go), and the Router refuses reads at a level the service
// does not serve and subscriptions to a service that keeps no stream.

func levelBit(l racs.Level) partitionmap.ReadLevels {
	switch l {
	case racs.Any:
		return partitionmap.ReadAny
	case racs.Session:
		return partitionmap.ReadSession
	case racs.Strict:
		return partitionmap.ReadStrict
	}
	return 1 << 7 // not a level: allowed by no set but the zero one
}

// serviceType is the service's entry in the client's map (false with no
// map or no such service: locating the key reports those).
func (c *Client) serviceType(service string) (*partitionmap.Service, bool) {
	m := c.env.Map()
	if m == nil {
		return nil, false
	}
	s, err := m.Service(service)
	return s, err == nil
}

// checkLevel refuses a read at a level the service does not serve.
func (c *Client) checkLevel(service string, level racs.Level) error {
	s, ok := c.serviceType(service)
	if !ok || s.Reads.Allows(levelBit(level)) {
		return nil
	}
	return fmt.Errorf("%w: %q serves %s reads, not %v", ErrLevelNotAllowed, service, s.Reads, level)
}

// checkStream refuses a subscription to a service that keeps no stream.
func (c *Client) checkStream(service string) error {
	s, ok := c.serviceType(service)
	if !ok || s.Retain > 0 {
		return nil
	}
	return fmt.Errorf("%w: %q has Retain 0", ErrNoStream, service)
}
