package partitionmap

import (
	"fmt"
	"strings"
)

// The enums' names, as the admin API (JSON) and the reasons show them.
// Each enum marshals as text, so JSON shows "draining", not 1, and an
// unknown name is an error rather than a silent zero.

var (
	nodeStateNames   = []string{NodeActive: "active", NodeDraining: "draining", NodeDead: "dead"}
	roleNames        = []string{Voter: "voter", Learner: "learner"}
	kindNames        = []string{Hash: "hash", Range: "range"}
	durabilityNames  = []string{Memory: "memory", Disk: "disk"}
	serviceKindNames = []string{KindService: "service", KindTopic: "topic"}
	ackPolicyNames   = []string{AckMajority: "majority", AckAll: "all"}
	readLevelNames   = []string{"any", "session", "strict"} // bit i of ReadLevels
	moveKindNames    = []string{AddLearner: "add_learner", PromoteAndRemove: "promote_and_remove", Remove: "remove", Lead: "lead"}
)

func enumString(names []string, v uint8, typ string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

func enumParse(names []string, text []byte, typ string) (uint8, error) {
	for i, n := range names {
		if n != "" && n == string(text) {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown %s %q", ErrInvalidArgument, typ, text)
}

func enumValid(names []string, v uint8) bool { return int(v) < len(names) && names[v] != "" }

func (s NodeState) String() string { return enumString(nodeStateNames, uint8(s), "NodeState") }
func (s NodeState) valid() bool    { return enumValid(nodeStateNames, uint8(s)) }

// MarshalText implements encoding.TextMarshaler.
func (s NodeState) MarshalText() ([]byte, error) {
	if !s.valid() {
		return nil, fmt.Errorf("%w: node state %d", ErrInvalidArgument, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *NodeState) UnmarshalText(b []byte) error {
	v, err := enumParse(nodeStateNames, b, "node state")
	*s = NodeState(v)
	return err
}

func (r Role) String() string { return enumString(roleNames, uint8(r), "Role") }
func (r Role) valid() bool    { return enumValid(roleNames, uint8(r)) }

// MarshalText implements encoding.TextMarshaler.
func (r Role) MarshalText() ([]byte, error) {
	if !r.valid() {
		return nil, fmt.Errorf("%w: role %d", ErrInvalidArgument, uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := enumParse(roleNames, b, "role")
	*r = Role(v)
	return err
}

func (k PartitionKind) String() string { return enumString(kindNames, uint8(k), "PartitionKind") }
func (k PartitionKind) valid() bool    { return enumValid(kindNames, uint8(k)) }

// MarshalText implements encoding.TextMarshaler.
func (k PartitionKind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("%w: partitioning %d", ErrInvalidArgument, uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *PartitionKind) UnmarshalText(b []byte) error {
	v, err := enumParse(kindNames, b, "partitioning")
	*k = PartitionKind(v)
	return err
}

func (d Durability) String() string { return enumString(durabilityNames, uint8(d), "Durability") }
func (d Durability) valid() bool    { return enumValid(durabilityNames, uint8(d)) }

// MarshalText implements encoding.TextMarshaler.
func (d Durability) MarshalText() ([]byte, error) {
	if !d.valid() {
		return nil, fmt.Errorf("%w: durability %d", ErrInvalidArgument, uint8(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Durability) UnmarshalText(b []byte) error {
	v, err := enumParse(durabilityNames, b, "durability")
	*d = Durability(v)
	return err
}

func (k MoveKind) String() string { return enumString(moveKindNames, uint8(k), "MoveKind") }
func (k MoveKind) valid() bool    { return enumValid(moveKindNames, uint8(k)) }

// MarshalText implements encoding.TextMarshaler.
func (k MoveKind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("%w: move kind %d", ErrInvalidArgument, uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *MoveKind) UnmarshalText(b []byte) error {
	v, err := enumParse(moveKindNames, b, "move kind")
	*k = MoveKind(v)
	return err
}

func (k ServiceKind) String() string { return enumString(serviceKindNames, uint8(k), "ServiceKind") }
func (k ServiceKind) valid() bool    { return enumValid(serviceKindNames, uint8(k)) }

// MarshalText implements encoding.TextMarshaler.
func (k ServiceKind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("%w: service kind %d", ErrInvalidArgument, uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *ServiceKind) UnmarshalText(b []byte) error {
	v, err := enumParse(serviceKindNames, b, "service kind")
	*k = ServiceKind(v)
	return err
}

func (a AckPolicy) String() string { return enumString(ackPolicyNames, uint8(a), "AckPolicy") }
func (a AckPolicy) valid() bool    { return enumValid(ackPolicyNames, uint8(a)) }

// MarshalText implements encoding.TextMarshaler.
func (a AckPolicy) MarshalText() ([]byte, error) {
	if !a.valid() {
		return nil, fmt.Errorf("%w: ack policy %d", ErrInvalidArgument, uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *AckPolicy) UnmarshalText(b []byte) error {
	v, err := enumParse(ackPolicyNames, b, "ack policy")
	*a = AckPolicy(v)
	return err
}

func (r ReadLevels) valid() bool { return r&^ReadEvery == 0 }

// String lists the levels, comma-separated ("any,strict"); the zero set
// is "" (every level).
func (r ReadLevels) String() string {
	var out []byte
	for i, n := range readLevelNames {
		if r&(1<<i) != 0 {
			if len(out) > 0 {
				out = append(out, ',')
			}
			out = append(out, n...)
		}
	}
	if r&^ReadEvery != 0 {
		return fmt.Sprintf("ReadLevels(%d)", uint8(r))
	}
	return string(out)
}

// MarshalText implements encoding.TextMarshaler.
func (r ReadLevels) MarshalText() ([]byte, error) {
	if !r.valid() {
		return nil, fmt.Errorf("%w: read levels %d", ErrInvalidArgument, uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler: names separated by
// commas ("any,session"); "" is the zero set (every level).
func (r *ReadLevels) UnmarshalText(b []byte) error {
	*r = 0
	if len(b) == 0 {
		return nil
	}
	for _, part := range strings.Split(string(b), ",") {
		v, err := enumParse(readLevelNames, []byte(strings.TrimSpace(part)), "read level")
		if err != nil {
			return err
		}
		*r |= 1 << v
	}
	return nil
}
