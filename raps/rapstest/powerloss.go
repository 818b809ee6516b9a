package rapstest

import (
	"math/rand/v2"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/replica"
	"github.com/quicksilver-go/quicksilver/replica/wal"
)

// powerLossSegment is the WAL segment size of a WithPowerLoss node: small,
// so that segments seal, checkpoint into bbolt and are released during a
// test, and a node's MemFS stays a few MiB.
const powerLossSegment = 1 << 20

// WithPowerLoss is WithDisk with each node's write-ahead log on a strict
// in-memory disk (a wal.MemFS, one per node, kept across Kill and
// Restart) that syncs for real: the store fsyncs every write, as in
// production, and PowerFail loses what was not synced yet. The bbolt
// checkpoint stays a file in t.TempDir() without fsync (to bbolt a
// PowerFail is a process crash, as in the racs simulation): it only ever
// holds WAL segments that were synced before they were sealed.
func WithPowerLoss() Option {
	return func(o *options) { o.disk, o.powerLoss = true, true }
}

// powerLossOptions opens node id's WAL on its MemFS (made on first use).
// c.mu is held.
func (c *Cluster) powerLossOptions(id groupcomm.NodeID, boltPath string) replica.DiskOptions {
	fs, ok := c.walFS[id]
	if !ok {
		fs = wal.NewMemFS()
		c.walFS[id] = fs
	}
	return replica.DiskOptions{BoltPath: boltPath, WALDir: "/wal", WALFS: fs, SegmentSize: powerLossSegment, BoltNoSync: true}
}

// PowerFail crashes node id as a power failure would: its WAL disk first
// forgets every byte not yet synced (with r nil; given r, each unsynced
// write is at random lost, kept or torn at 512-byte sectors, as a disk
// may leave it), so a write in flight fails, and then the node dies as
// Kill kills it. Restart brings it back on what the disk kept. Without
// WithPowerLoss it is Kill.
func (c *Cluster) PowerFail(id groupcomm.NodeID, r *rand.Rand) {
	c.mu.Lock()
	fs := c.walFS[id]
	dead := c.dead[id] || c.nodes[id] == nil
	c.mu.Unlock()
	if dead {
		return
	}
	if fs != nil {
		fs.Crash(r)
	}
	c.Kill(id)
}

// faultyLocked wraps node id's store in the node's FaultyStore (a new one
// per start; the slow-disk setting carries over). c.mu is held.
func (c *Cluster) faultyLocked(id groupcomm.NodeID, s replica.Store) replica.Store {
	f := replica.NewFaulty(s)
	if old := c.faulty[id]; old != nil {
		f.DelayWrites(old.WriteDelay())
	}
	c.faulty[id] = f
	return f
}

// Faulty returns the fault layer of node id's current store (WithPowerLoss
// only; nil otherwise or before the node started): DelayWrites makes its
// disk slow, FailNthWrite makes it fail.
func (c *Cluster) Faulty(id groupcomm.NodeID) *replica.FaultyStore {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faulty[id]
}
