package raps

import (
	"fmt"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Service is what a user writes: a partitioned, replicated service. Every
// node that has the code for it lists it in Config.Services; placement puts
// its clones only on those nodes.
type Service struct {
	// Name is the service's name in the map and the API.
	Name string
	// Partitioning is partitionmap.Hash (Partitions partitions over Slots
	// hash slots of xxhash64(key)) or partitionmap.Range (Ranges, in key
	// order, covering every key: "A-C, D-F" like the lecture's catalog).
	Partitioning partitionmap.PartitionKind
	Partitions   int
	// Slots of a Hash service; 0 means 16 per partition. Fixed for the
	// service's life, so a key's partition never changes.
	Slots uint32
	// Ranges of a Range service (partitionmap.SplitRanges builds them).
	Ranges []partitionmap.KeyRange
	// Clones per partition (voters). Default 3.
	Clones int
	// Durability: partitionmap.Disk (the WAL and bbolt; survives the loss
	// of every node) or partitionmap.Memory.
	Durability partitionmap.Durability
	// New returns the state machine of one clone of one partition.
	New func(p partitionmap.PartRef) replica.StateMachine
	// Retain is how many of a partition's latest updates each clone keeps
	// for subscribers (Client.Subscribe): a subscriber further behind is
	// told to resync (racs.ErrCompacted). Zero keeps none: the service
	// offers no update stream (a topic's default is DefaultTopicRetain).
	Retain int
	// Kind: partitionmap.KindService (a replicated state machine, the
	// default) or partitionmap.KindTopic (a pub-sub topic: in memory, a
	// ring of recent updates for subscribers; TopicService makes one).
	Kind partitionmap.ServiceKind
	// Acks: partitionmap.AckMajority (the default) or AckAll (an update
	// is answered once every voter persisted it).
	Acks partitionmap.AckPolicy
	// Reads are the read levels the Router serves for the service
	// (partitionmap.ReadAny|ReadSession|ReadStrict); zero allows all. A
	// query at another level is refused with ErrLevelNotAllowed.
	Reads partitionmap.ReadLevels
}

// DefaultTopicRetain is a topic's Retain when its definition leaves it 0.
const DefaultTopicRetain = 1024

// mapService returns the service's entry in the partition map and its
// ranges, after checking the definition.
func (s Service) mapService() (partitionmap.Service, []partitionmap.KeyRange, error) {
	if s.New == nil {
		return partitionmap.Service{}, nil, fmt.Errorf("%w: service %q has no New func", ErrInvalidService, s.Name)
	}
	if s.Retain < 0 || s.Retain > partitionmap.MaxRetain {
		return partitionmap.Service{}, nil, fmt.Errorf("%w: service %q: Retain %d, want 0..%d", ErrInvalidService, s.Name, s.Retain, partitionmap.MaxRetain)
	}
	ms := partitionmap.Service{Name: s.Name, Partitioning: s.Partitioning, Partitions: s.Partitions,
		Slots: s.Slots, Clones: s.Clones, Durability: s.Durability,
		Kind: s.Kind, Acks: s.Acks, Reads: s.Reads, Retain: uint32(s.Retain)}
	if ms.Clones == 0 {
		ms.Clones = 3
	}
	if ms.Kind == partitionmap.KindTopic {
		if ms.Durability == 0 {
			ms.Durability = partitionmap.Memory
		}
		if ms.Retain == 0 {
			ms.Retain = DefaultTopicRetain
		}
	}
	var ranges []partitionmap.KeyRange
	switch s.Partitioning {
	case partitionmap.Hash:
		if ms.Slots == 0 && ms.Partitions > 0 {
			ms.Slots = uint32(16 * ms.Partitions)
		}
	case partitionmap.Range:
		ranges = s.Ranges
		ms.Partitions = len(ranges)
	default:
		return partitionmap.Service{}, nil, fmt.Errorf("%w: service %q: partitioning must be hash or range", ErrInvalidService, s.Name)
	}
	return ms, ranges, nil
}
