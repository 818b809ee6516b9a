package raps

import (
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/replica"
)

// KVServiceName is the built-in kv service's name in the partition map.
const KVServiceName = "kv"

// KVRetain is how many updates each kv clone keeps for watchers
// (Service.Retain).
const KVRetain = 1024

// KVService is the built-in kv service (package kv's replicated map) as
// an ordinary Service: hash-partitioned, 3 clones per partition, on disk.
// It uses nothing a user's service could not.
func KVService(partitions int) Service {
	return Service{Name: KVServiceName, Partitioning: partitionmap.Hash, Partitions: partitions, Clones: 3,
		Durability: partitionmap.Disk, Retain: KVRetain, New: func(partitionmap.PartRef) replica.StateMachine { return kv.New() }}
}
