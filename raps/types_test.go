package raps_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
	"github.com/quicksilver-go/quicksilver/replica"
)

// A service's type is in the map: the Router serves only its read levels,
// refuses a stream it does not keep, and a type the engine cannot give is
// refused at definition and changes nothing.
func TestServiceTypesAreEnforced(t *testing.T) {
	anyOnly := rapstest.KVService(2, 3, partitionmap.Memory)
	anyOnly.Name, anyOnly.Reads, anyOnly.Acks = "cache", partitionmap.ReadAny, partitionmap.AckAll
	plain := rapstest.KVService(2, 3, partitionmap.Memory)
	plain.Name, plain.Retain = "plain", 0
	feed := raps.Service{Name: "feed", Partitioning: partitionmap.Hash, Partitions: 1, Clones: 3, Kind: partitionmap.KindTopic,
		New: func(partitionmap.PartRef) replica.StateMachine { return kv.New() }} // a topic: memory and a ring by default
	c := rapstest.New(t, 3, rapstest.WithServices(anyOnly, plain, feed))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := fe.Map().Service("cache")
	if err != nil || s.Reads != partitionmap.ReadAny || s.Acks != partitionmap.AckAll {
		t.Fatalf("the map's cache service: %+v %v", s, err)
	}
	put := kv.Encode(kv.OpPut, "k", []byte("v"))
	if _, err := fe.Update(ctx, "cache", []byte("k"), put, raps.UpdateOptions{}); err != nil {
		t.Fatalf("an update of an all-acks service: %v", err)
	}
	get := kv.Encode(kv.OpGet, "k")
	if _, err := fe.Query(ctx, "cache", []byte("k"), get, racs.Any, racs.Token{}); err != nil {
		t.Fatalf("an any read: %v", err)
	}
	for _, lv := range []racs.Level{racs.Strict, racs.Session} {
		if _, err := fe.Query(ctx, "cache", []byte("k"), get, lv, racs.Token{}); !errors.Is(err, raps.ErrLevelNotAllowed) {
			t.Fatalf("a %v read of an any-only service: %v, want ErrLevelNotAllowed", lv, err)
		}
	}
	if _, _, err := fe.Scatter(ctx, "cache", get, racs.Strict); !errors.Is(err, raps.ErrLevelNotAllowed) {
		t.Fatalf("a strict scatter: %v", err)
	}
	for _, err := range fe.Subscribe(ctx, "plain", raps.KeyTarget([]byte("k")), racs.Token{}) {
		if !errors.Is(err, raps.ErrNoStream) {
			t.Fatalf("subscribing to a service without retention: %v, want ErrNoStream", err)
		}
	}

	if s, err := fe.Map().Service("feed"); err != nil || s.Kind != partitionmap.KindTopic || s.Durability != partitionmap.Memory ||
		s.Retain != raps.DefaultTopicRetain {
		t.Fatalf("the topic in the map: %+v %v", s, err)
	}
	epoch := fe.Map().Epoch
	bad := feed
	bad.Name, bad.Durability = "feed2", partitionmap.Disk
	if err := fe.DefineService(ctx, bad); !errors.Is(err, partitionmap.ErrInvalidArgument) {
		t.Fatalf("a durable topic: %v, want ErrInvalidArgument", err)
	}
	if fe.Map().Epoch != epoch {
		t.Fatal("a refused definition changed the map")
	}
}
