package partitionmap

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A service's type is in the map (and its JSON); a type the engine cannot
// give is refused at definition with a clear error and changes nothing.
func TestServiceTypes(t *testing.T) {
	m := buildMap(t, nodes(3, 1, "rooms", "bad"))
	topic := Service{Name: "rooms", Partitioning: Hash, Slots: 8, Partitions: 2, Clones: 3, Durability: Memory,
		Kind: KindTopic, Retain: 100, Reads: ReadAny | ReadSession}
	m2 := ok(t)(m.DefineService(m.Epoch, topic, nil))
	s, err := m2.Service("rooms")
	if err != nil || s.Kind != KindTopic || s.Retain != 100 || s.Reads.Allows(ReadStrict) || !s.Reads.Allows(ReadAny) {
		t.Fatalf("defined topic: %+v %v", s, err)
	}
	b, _ := json.Marshal(s)
	for _, want := range []string{`"kind":"topic"`, `"acks":"majority"`, `"reads":"any,session"`, `"retain":100`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var back Service
	if err := json.Unmarshal(b, &back); err != nil || back != *s {
		t.Fatalf("JSON round trip: %+v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"reads":"any,bogus"}`), &back); err == nil {
		t.Fatal("an unknown read level decoded")
	}
	for _, tc := range []struct {
		name string
		edit func(*Service)
		want string
	}{
		{"durable topic", func(s *Service) { s.Durability = Disk }, "a topic is a memory service"},
		{"topic without retention", func(s *Service) { s.Retain = 0 }, "retain must be > 0"},
		{"huge retention", func(s *Service) { s.Retain = MaxRetain + 1 }, "at most"},
		{"unknown acks", func(s *Service) { s.Acks = 7 }, "acks must be"},
		{"unknown reads", func(s *Service) { s.Reads = 1 << 5 }, "reads must be"},
		{"unknown kind", func(s *Service) { s.Kind = 9 }, "kind must be"},
	} {
		svc := topic
		svc.Name = "bad"
		tc.edit(&svc)
		_, err := m.DefineService(m.Epoch, svc, nil)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidArgument saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := m.Service("bad"); err == nil {
		t.Fatal("a refused definition changed the map")
	}
}
