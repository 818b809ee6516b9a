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
	"github.com/quicksilver-go/quicksilver/racs"
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

// runLoad drives closed-loop clients against the groups whose sequencer
// is this node (placement spreads sequencers, so every node runs its
// share), for the configured duration, and prints a report: ordered,
// replicated updates over the real transport, without HTTP.
func (n *Node) RunLoad(ctx context.Context) loadReport {
	var local []*racs.Group
	deadline := time.Now().Add(5 * time.Second)
	for len(local) == 0 && time.Now().Before(deadline) {
		local = local[:0]
		for i := 1; i <= n.cfg.Groups; i++ {
			g, err := n.host.Group(replica.GroupID(i))
			if err != nil {
				continue
			}
			if in := g.Info(); in.Sequencer == in.Self && in.View > 0 && in.Status == groupcomm.StatusNormal {
				local = append(local, g)
			}
		}
		if len(local) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	rep := loadReport{Node: n.cfg.ID, Groups: len(local), Clients: n.cfg.LoadClients, Durability: n.cfg.Durability.String()}
	if len(local) == 0 {
		json.NewEncoder(os.Stdout).Encode(rep) // this node sequences no group
		return rep
	}
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
				g := local[(c+k)%len(local)]
				key := fmt.Sprintf("load-%d-%d-%d", n.cfg.ID, c, k)
				t0 := time.Now()
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := g.Submit(cctx, kv.Encode(kv.OpPut, key, payload), "")
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
