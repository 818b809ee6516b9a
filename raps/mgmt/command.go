package mgmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// Limits on a command, so the log's entries stay small and the history
// bounded.
const (
	// MaxCommandSize bounds an encoded command. It fits, with the clone
	// envelope, in groupcomm's default payload limit (1 MiB).
	MaxCommandSize = 512 << 10
	// MaxReasonLen bounds Command.Reason, in bytes.
	MaxReasonLen = 1024
)

// commandVersion is the first byte of every encoded command. A proposer
// must not send a newer version (or a field this version does not know)
// until every clone of the management group runs code that reads it:
// a clone that refused a command its peers applied would diverge.
const commandVersion = 1

// Command is one admin change, as the management group's log holds it.
// Which argument fields an op takes is listed on the Op constants; the
// others must be zero (DecodeCommand refuses them otherwise).
type Command struct {
	Op Op `json:"op"`
	// Epoch is the epoch of the map the proposer read: the change applies
	// only if the map is still at it (compare-and-set), else it is refused
	// with partitionmap.ErrStaleEpoch. 0 for OpBootstrap.
	Epoch uint64 `json:"epoch,omitempty"`
	// Time is set by the proposer and recorded in the history; Apply
	// never reads a clock (every clone must decide alike).
	Time time.Time `json:"time,omitzero"`
	// Reason says in words why (the history shows it); ≤ MaxReasonLen.
	Reason string `json:"reason,omitempty"`

	// Cluster: for OpBootstrap, the cluster id (non-zero). For any other
	// op, optional: if set, the command applies only in that cluster.
	Cluster    uint64                  `json:"cluster,omitempty"`
	FirstGroup uint64                  `json:"first_group,omitempty"`
	Nodes      []partitionmap.Node     `json:"nodes,omitempty"`
	Node       partitionmap.Node       `json:"node,omitzero"`
	NodeID     partitionmap.NodeID     `json:"node_id,omitempty"`
	State      partitionmap.NodeState  `json:"state,omitempty"`
	Since      time.Time               `json:"since,omitzero"`
	Services   []string                `json:"services,omitempty"`
	Service    partitionmap.Service    `json:"service,omitzero"`
	Ranges     []partitionmap.KeyRange `json:"ranges,omitempty"`
	Name       string                  `json:"name,omitempty"`
	Clones     int                     `json:"clones,omitempty"`
	Ref        partitionmap.PartRef    `json:"ref,omitzero"`
	From       partitionmap.NodeID     `json:"from,omitempty"`
	To         partitionmap.NodeID     `json:"to,omitempty"`
	Moves      []partitionmap.Move     `json:"moves,omitempty"`
	Ready      []partitionmap.CloneRef `json:"ready,omitempty"`
	// MgmtGroup and MgmtDurability: for OpBootstrap, the management
	// group the map places (0: the map does not place it).
	MgmtGroup      uint64                  `json:"mgmt_group,omitempty"`
	MgmtDurability partitionmap.Durability `json:"mgmt_durability,omitempty"`
}

// EncodeCommand encodes c for the log: a version byte, then JSON (the
// partitionmap types' JSON, enums by name). It refuses (ErrBadCommand)
// what DecodeCommand would refuse, so a proposer learns of a bad command
// before it is replicated.
func EncodeCommand(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	b := append([]byte{commandVersion}, body...)
	if _, err := DecodeCommand(b); err != nil {
		return nil, err
	}
	return b, nil
}

// DecodeCommand decodes what EncodeCommand wrote. Any other input gives an
// error wrapping ErrBadCommand, never a panic. Times are returned in UTC
// without a monotonic reading, so the history does not depend on the
// decoding clone's time zone.
func DecodeCommand(b []byte) (Command, error) {
	switch {
	case len(b) == 0:
		return Command{}, fmt.Errorf("%w: empty", ErrBadCommand)
	case len(b) > MaxCommandSize:
		return Command{}, fmt.Errorf("%w: %d bytes, at most %d", ErrBadCommand, len(b), MaxCommandSize)
	case b[0] != commandVersion:
		return Command{}, fmt.Errorf("%w: unknown version %d", ErrBadCommand, b[0])
	}
	body := b[1:]
	// First the field names alone, so an argument the op does not take is
	// an error rather than ignored, and names must be exact (encoding/json
	// alone would match them in any case).
	var fields map[string]json.RawMessage
	if err := strictUnmarshal(body, &fields); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	var c Command
	if err := strictUnmarshal(body, &c); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if !c.Op.Known() {
		return Command{}, fmt.Errorf("%w: unknown op %.64q", ErrBadCommand, c.Op)
	}
	// Each name is looked up, never iterated over for the result, so the
	// map's order cannot leak; which bad field is named is the smallest.
	var bad string
	for f := range fields {
		if !c.Op.takes(f) && (bad == "" || f < bad) {
			bad = f
		}
	}
	if bad != "" {
		return Command{}, fmt.Errorf("%w: %s takes no argument %.64q", ErrBadCommand, c.Op, bad)
	}
	if len(c.Reason) > MaxReasonLen {
		return Command{}, fmt.Errorf("%w: reason of %d bytes, at most %d", ErrBadCommand, len(c.Reason), MaxReasonLen)
	}
	c.normalize()
	// The history keeps Time and a snapshot or a history reply must be
	// able to write it back: JSON and RFC 3339 know years 0 to 9999 only,
	// and an offset can push a time parsed in range out of it in UTC.
	if y := c.Time.Year(); y < 0 || y > 9999 {
		return Command{}, fmt.Errorf("%w: time %v is outside years 0 to 9999", ErrBadCommand, c.Time)
	}
	// What decodes must encode again (an enum left at a zero that has no
	// name, say): the history, a re-proposal and the tests rely on it.
	if _, err := json.Marshal(c); err != nil {
		return Command{}, fmt.Errorf("%w: it cannot be written back: %v", ErrBadCommand, err)
	}
	return c, nil
}

// strictUnmarshal decodes one JSON value with no unknown fields and
// nothing after it.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the command")
	}
	return nil
}

// normalize puts every time in UTC without a monotonic reading, and makes
// empty lists nil, so equal commands are equal values whatever their
// encoding's spelling.
func (c *Command) normalize() {
	c.Time = normTime(c.Time)
	c.Since = normTime(c.Since)
	c.Node.DeadSince = normTime(c.Node.DeadSince)
	for i := range c.Nodes {
		c.Nodes[i].DeadSince = normTime(c.Nodes[i].DeadSince)
	}
	if len(c.Ranges) == 0 {
		c.Ranges = nil
	}
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}
