package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// loadReport is what the built-in load generator prints (one JSON line).
type loadReport struct {
	Node       uint64  `json:"node"`
	Groups     int     `json:"groups"`
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"`
	Updates    int64   `json:"updates"`
	Errors     int64   `json:"errors"`
	PerSecond  float64 `json:"updates_per_second"`
	P50Micros  int64   `json:"p50_us"`
	P99Micros  int64   `json:"p99_us"`
	Durability string  `json:"durability"`
	// This node's durable writes during the load (Disk): one fdatasync
	// each, and the log entries they carried.
	Fsyncs          uint64  `json:"fsyncs,omitempty"`
	FsyncsPerSecond float64 `json:"fsyncs_per_second,omitempty"`
	EntriesPerFsync float64 `json:"entries_per_fsync,omitempty"`
	// ErrorKinds counts the errors by the first 80 bytes of their text
	// (the sentinels and the first cause).
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
}

// RunLoad drives closed-loop clients for the configured duration and
// prints a report: ordered, replicated kv updates through this node's
// Router over the real transport, without HTTP. Each node loads the kv
// partitions whose preferred sequencer it is (placement spreads them, so
// every node runs its share and the Router's calls stay in process), with
// keys that fall in those partitions.
func (n *Node) RunLoad(ctx context.Context) loadReport {
	keys := n.localKeys(ctx, 30*time.Second)
	rep := loadReport{Node: n.cfg.ID, Groups: len(keys), Clients: n.cfg.LoadClients, Durability: n.cfg.Durability.String()}
	if len(keys) == 0 {
		json.NewEncoder(os.Stdout).Encode(rep) // this node sequences no kv partition
		return rep
	}
	rt := n.raps.Client()
	payload := make([]byte, n.cfg.LoadSize)
	var st0 replica.DiskStats
	if n.store != nil {
		st0 = n.store.Stats()
	}
	var ok, bad atomic.Int64
	var kindsMu sync.Mutex
	kinds := map[string]int64{}
	lat := make([][]time.Duration, n.cfg.LoadClients)
	stop := time.Now().Add(n.cfg.LoadFor)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range n.cfg.LoadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(stop) && ctx.Err() == nil; k++ {
				pk := keys[(c+k)%len(keys)]
				key := pk[k%len(pk)]
				t0 := time.Now()
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := rt.Update(cctx, raps.KVServiceName, []byte(key), kv.Encode(kv.OpPut, key, payload), raps.UpdateOptions{})
				cancel()
				if err != nil {
					bad.Add(1)
					kind := err.Error()
					if len(kind) > 80 {
						kind = kind[:80]
					}
					kindsMu.Lock()
					kinds[kind]++
					kindsMu.Unlock()
					continue
				}
				ok.Add(1)
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	rep.Seconds, rep.Updates, rep.Errors = el.Seconds(), ok.Load(), bad.Load()
	if len(kinds) > 0 {
		rep.ErrorKinds = kinds
	}
	rep.PerSecond = float64(rep.Updates) / el.Seconds()
	if n.store != nil {
		st := n.store.Stats()
		rep.Fsyncs = st.Writes - st0.Writes
		rep.FsyncsPerSecond = float64(rep.Fsyncs) / el.Seconds()
		if rep.Fsyncs > 0 {
			rep.EntriesPerFsync = float64(st.Entries-st0.Entries) / float64(rep.Fsyncs)
		}
	}
	if len(all) > 0 {
		rep.P50Micros = all[len(all)/2].Microseconds()
		rep.P99Micros = all[len(all)*99/100].Microseconds()
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	return rep
}

// localKeys waits (up to limit) until this node sequences some kv
// partition and returns, per such partition, keys that fall in it.
func (n *Node) localKeys(ctx context.Context, limit time.Duration) [][]string {
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if keys := n.keysOfLocalPartitions(); len(keys) > 0 {
			return keys
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func (n *Node) keysOfLocalPartitions() [][]string {
	m := n.raps.Map()
	if m == nil {
		return nil
	}
	parts, err := m.ServicePartitions(raps.KVServiceName)
	if err != nil {
		return nil
	}
	byPart := map[int]int{} // partition id → index in out
	var out [][]string
	for i := range parts {
		p := &parts[i]
		g, err := n.host.Group(replica.GroupID(p.Group))
		if err != nil {
			continue
		}
		if in := g.Info(); in.Sequencer != in.Self || in.Status != groupcomm.StatusNormal {
			continue
		}
		byPart[p.ID] = len(out)
		out = append(out, nil)
	}
	if len(out) == 0 {
		return nil
	}
	full := 0
	for k := 0; k < 1<<20; k++ { // 4096 keys per local partition
		key := fmt.Sprintf("load-%d-%d", n.cfg.ID, k)
		p, err := m.Locate(raps.KVServiceName, []byte(key))
		if err != nil {
			continue
		}
		if i, ok := byPart[p.ID]; ok && len(out[i]) < 4096 {
			if out[i] = append(out[i], key); len(out[i]) == 4096 {
				if full++; full == len(out) {
					break
				}
			}
		}
	}
	return out
}
