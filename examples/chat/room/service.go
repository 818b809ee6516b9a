package room

import (
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// ServiceName is the rooms service's name in the partition map.
const ServiceName = "rooms"

// Limits of what a message may hold, and how many a room keeps.
const (
	MaxRoomLen = 64
	MaxUserLen = 32
	MaxTextLen = 500
	Keep       = 100 // messages a room keeps for a newcomer's first page
	// Retain is how many updates each clone keeps for subscribers that
	// reconnect (raps.Service.Retain): a page away longer reloads.
	Retain = 2048
)

// Service is the rooms service, of the topic type: hash-partitioned by
// room name, in memory (a room's history is a convenience, not a
// record), 3 clones per partition, each keeping the partition's last
// Retain updates for subscribers. Anything here any user could write.
func Service() raps.Service {
	return raps.Service{Name: ServiceName, Partitioning: partitionmap.Hash, Partitions: 4, Clones: 3,
		Kind: partitionmap.KindTopic, Durability: partitionmap.Memory, Retain: Retain,
		New: func(partitionmap.PartRef) replica.StateMachine { return &rooms{rooms: map[string][]Message{}} }}
}

// Message is one chat message.
type Message struct {
	Room string `json:"room"`
	User string `json:"user"`
	Text string `json:"text"`
}

// valid says what is wrong with m, or "".
func (m *Message) valid() string {
	switch {
	case !validName(m.Room, MaxRoomLen):
		return "room: 1 to 64 letters, digits and -_."
	case !validName(m.User, MaxUserLen):
		return "user: 1 to 32 letters, digits and -_."
	case m.Text == "" || len(m.Text) > MaxTextLen || !utf8.ValidString(m.Text):
		return "text: 1 to 500 bytes of UTF-8"
	}
	return ""
}

func validName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// rooms is one partition's state: each room's last Keep messages. Apply
// runs alone and Query never with it (the replica contract).
type rooms struct{ rooms map[string][]Message }

// Apply posts one message (the update is a Message in JSON) and answers
// "ok" or the reason it was refused (every clone refuses alike).
func (s *rooms) Apply(u []byte) []byte {
	var m Message
	if err := json.Unmarshal(u, &m); err != nil {
		return []byte("bad: malformed message")
	}
	if why := m.valid(); why != "" {
		return []byte("bad: " + why)
	}
	msgs := append(s.rooms[m.Room], m)
	if len(msgs) > Keep {
		msgs = append(msgs[:0:0], msgs[len(msgs)-Keep:]...)
	}
	s.rooms[m.Room] = msgs
	return []byte("ok")
}

// Query answers a room's last messages (the query is the room's name).
func (s *rooms) Query(q []byte) ([]byte, error) {
	msgs := s.rooms[string(q)]
	if msgs == nil {
		msgs = []Message{}
	}
	return json.Marshal(msgs)
}

func (s *rooms) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(s.rooms) }

func (s *rooms) Restore(r io.Reader) error {
	m := map[string][]Message{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
	}
	s.rooms = m
	return nil
}
