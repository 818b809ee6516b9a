package replica

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// BenchmarkBoltWrite measures group commit: each op is one Write (one
// transaction, one fsync) carrying one 100-byte entry for each of `groups`
// groups. writes/s is the fsync rate of the disk under bbolt; entries/s is
// what group commit makes of it. The nosync variants show the cost of
// everything but the fsync (NoSync voids durability: comparison only).
func BenchmarkBoltWrite(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, groups := range []int{1, 16, 256} {
			name := fmt.Sprintf("groups=%d", groups)
			if !sync {
				name += "/nosync"
			}
			b.Run(name, func(b *testing.B) { benchBoltWrite(b, groups, !sync) })
		}
	}
}

// BenchmarkDiskWrite is BenchmarkBoltWrite on the DiskStore: one WAL frame
// and one fdatasync per Write (checkpoints into bbolt run beside it).
func BenchmarkDiskWrite(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, groups := range []int{1, 16, 256} {
			name := fmt.Sprintf("groups=%d", groups)
			if !sync {
				name += "/nosync"
			}
			b.Run(name, func(b *testing.B) {
				d := b.TempDir()
				s, err := OpenDisk(DiskOptions{BoltPath: filepath.Join(d, "node.db"), WALDir: filepath.Join(d, "node.wal"), NoSync: !sync})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				benchWrite(b, s, groups)
				sec := b.Elapsed().Seconds()
				st := s.Stats()
				b.ReportMetric(float64(st.Writes)/sec, "writes/s")
				b.ReportMetric(float64(st.Entries)/sec, "entries/s")
				b.ReportMetric(float64(st.Bytes)/float64(max(st.Writes, 1)), "B/write")
				b.ReportMetric(float64(st.SyncTime.Microseconds())/float64(max(st.Writes, 1)), "sync-µs/write")
			})
		}
	}
}

func benchBoltWrite(b *testing.B, groups int, noSync bool) {
	s, err := OpenBolt(filepath.Join(b.TempDir(), "node.db"), BoltOptions{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchWrite(b, s, groups)
	reportBolt(b, s)
}

// benchWrite writes b.N batches of one 100-byte entry for each of groups
// groups.
func benchWrite(b *testing.B, s Store, groups int) {
	payload := make([]byte, 100)
	for i := range payload {
		payload[i] = byte(i)
	}
	bt := &Batch{Writes: make([]GroupWrite, groups)}
	entries := make([]groupcomm.Entry, groups)
	for g := range bt.Writes {
		bt.Writes[g] = GroupWrite{Group: GroupID(g + 1), Entries: entries[g : g+1 : g+1]}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		seq := uint64(i + 1)
		for g := range entries {
			entries[g] = groupcomm.Entry{
				VS:      groupcomm.Viewstamp{View: 1, Seq: seq},
				ID:      groupcomm.EntryID{Origin: groupcomm.MemberID{Node: 1, Incarnation: 1}, Counter: seq},
				Payload: payload,
			}
		}
		if err := s.Write(bt); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// reportBolt reports the rates and what bbolt wrote for them: the page
// bytes a commit writes (B+tree write amplification) against the encoded
// bytes it carries.
func reportBolt(b *testing.B, s *BoltStore) {
	sec := b.Elapsed().Seconds()
	st := s.Stats()
	w := float64(max(st.Writes, 1))
	st2 := s.db.Stats()
	tx := &st2.TxStats
	b.ReportMetric(float64(st.Writes)/sec, "writes/s")
	b.ReportMetric(float64(st.Entries)/sec, "entries/s")
	b.ReportMetric(float64(st.Bytes)/w, "B/write")
	b.ReportMetric(float64(tx.GetPageAlloc())/w, "pageB/write")
}

// BenchmarkBoltWriteBesideSnapshot: groups that hold a 1 MiB snapshot
// write an entry and a stable hint per op; the snapshot must not be
// rewritten by writes that do not replace it.
func BenchmarkBoltWriteBesideSnapshot(b *testing.B) {
	const groups = 16
	s, err := OpenBolt(filepath.Join(b.TempDir(), "node.db"), BoltOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bt := &Batch{}
	for g := range groups {
		bt.Writes = append(bt.Writes, GroupWrite{Group: GroupID(g + 1), Snapshot: &Snapshot{Data: make([]byte, 1<<20)}})
	}
	if err := s.Write(bt); err != nil {
		b.Fatal(err)
	}
	s.writes.Store(0)
	s.entries.Store(0)
	s.bytes.Store(0)
	before := pageAlloc(s)
	payload := make([]byte, 100)
	b.ResetTimer()
	for i := range b.N {
		seq := uint64(i + 1)
		for g := range bt.Writes {
			bt.Writes[g] = GroupWrite{
				Group:      GroupID(g + 1),
				Entries:    []groupcomm.Entry{{VS: groupcomm.Viewstamp{View: 1, Seq: seq}, Payload: payload}},
				StableHint: groupcomm.Viewstamp{View: 1, Seq: seq},
			}
		}
		if err := s.Write(bt); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.Writes)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64(pageAlloc(s)-before)/float64(max(st.Writes, 1)), "pageB/write")
}

func pageAlloc(s *BoltStore) int64 {
	st := s.db.Stats()
	return st.TxStats.GetPageAlloc()
}
