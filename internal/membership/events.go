package membership

import (
	"fmt"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// State is what this node's memberlist believes about a member.
type State uint8

const (
	// StateAlive: the member answers probes (or has not yet failed to).
	StateAlive State = iota + 1
	// StateSuspect: this node's own probe of the member went unanswered;
	// memberlist will declare it dead unless it refutes in time.
	StateSuspect
	// StateDead: memberlist declared the member failed.
	StateDead
	// StateLeft: the member left on purpose (Leave).
	StateLeft
)

func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Member is a snapshot of one node as this node sees it.
type Member struct {
	ID   groupcomm.NodeID
	Name string // memberlist node name
	// Addr is the transport address from the node's metadata.
	Addr string
	// GossipAddr is the node's memberlist address (host:port).
	GossipAddr string
	Zone       string
	// Load is the last load the node gossiped (SetLoad); 0 until then.
	Load float64
	// Epoch is the partition-map epoch the node holds (SetEpoch).
	Epoch uint64
	State State
	// FrontEnd: the member is a front end (Static.FrontEnd).
	FrontEnd bool
}

// EventType names what happened to a member.
type EventType uint8

const (
	// EventJoin: a member is alive that was unknown, dead or gone.
	EventJoin EventType = iota + 1
	// EventUpdate: a live member's metadata changed (Event.Changed says
	// what: its epoch, address or zone; its load only with
	// Config.LoadUpdates).
	EventUpdate
	// EventSuspect: this node's probe of the member failed. Only a hint.
	EventSuspect
	// EventRecovered: a suspected member answered again before it was
	// declared dead.
	EventRecovered
	// EventFailed: memberlist declared the member dead.
	EventFailed
	// EventLeft: the member left on purpose.
	EventLeft
)

func (t EventType) String() string {
	switch t {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventSuspect:
		return "suspect"
	case EventRecovered:
		return "recovered"
	case EventFailed:
		return "failed"
	case EventLeft:
		return "left"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Changed is a bit set of the fields an EventUpdate changed.
type Changed uint8

const (
	ChangedAddr Changed = 1 << iota
	ChangedZone
	ChangedEpoch
	ChangedLoad
)

// Event is one membership change. Member is the snapshot after it.
type Event struct {
	Type    EventType
	Member  Member
	Changed Changed // EventUpdate only
}

func (e Event) String() string {
	return fmt.Sprintf("%s %d(%s) %s epoch=%d", e.Type, e.Member.ID, e.Member.Name, e.Member.State, e.Member.Epoch)
}

// subscriber is one Subscribe callback with its own bounded queue and
// goroutine, so a slow callback delays only itself.
type subscriber struct {
	ch chan Event
}

func (s *subscriber) run(fn func(Event)) {
	for ev := range s.ch {
		fn(ev)
	}
}
