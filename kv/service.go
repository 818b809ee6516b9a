package kv

import (
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// ServiceName is the built-in kv service's name in the partition map.
const ServiceName = "kv"

// Service is the built-in kv service as an ordinary raps.Service: the
// replicated map, hash-partitioned, 3 clones per partition, on disk.
func Service(partitions int) raps.Service {
	return raps.Service{Name: ServiceName, Partitioning: partitionmap.Hash, Partitions: partitions, Clones: 3,
		Durability: partitionmap.Disk, New: func(partitionmap.PartRef) replica.StateMachine { return New() }}
}
