package fanout_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/fanout"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// BenchmarkTopicFanout publishes b.N updates to one topic partition (3
// clones in process over memnet, 8 concurrent publishers) while subs
// subscribers on one front end follow it through a Hub (one upstream),
// and reports the publish rate and the update → subscriber latency
// (p50, p99 over every delivery to every subscriber).
//
//	go test ./raps/fanout -run '^$' -bench TopicFanout -benchtime 20000x
func BenchmarkTopicFanout(b *testing.B) {
	for _, subs := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) { benchFanout(b, subs) })
	}
}

func benchFanout(b *testing.B, subs int) {
	topic := rapstest.KVService(1, 3, partitionmap.Memory)
	// Retain enough that the hub may fall behind by a whole run (with
	// 1,000 subscribers the fan-out, not the group, is the bottleneck).
	topic.Name, topic.Kind, topic.Retain = "topic", partitionmap.KindTopic, 1<<17
	c := rapstest.New(b, 3, rapstest.WithServices(topic))
	pub := c.FrontEnd(100)
	fe := c.FrontEnd(101)
	c.WaitFrontEnd(pub, time.Minute)
	c.WaitFrontEnd(fe, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := fanout.New(ctx, fe, fanout.Options{Ring: 256, Buffer: 1 << 16})
	res, err := pub.Update(ctx, "topic", []byte("t"), kv.Encode(kv.OpPut, "t", make([]byte, 8)), raps.UpdateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var once sync.Once
	var lats []time.Duration
	var wg sync.WaitGroup
	for range subs {
		ch, stop := h.Watch("topic", 0, res.Token, nil)
		defer stop()
		wg.Go(func() {
			var mine []time.Duration
			for n := 0; n < b.N; {
				ev, ok := <-ch
				if !ok || ev.Err != nil {
					once.Do(func() { b.Errorf("a subscriber ended after %d: %v", n, ev.Err) })
					return
				}
				if ev.Heartbeat {
					continue
				}
				_, _, vals, _ := kv.Decode(ev.Update)
				sent := int64(binary.BigEndian.Uint64(vals[0]))
				mine = append(mine, time.Duration(time.Now().UnixNano()-sent))
				n++
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	b.ResetTimer()
	start := time.Now()
	var pw sync.WaitGroup
	const publishers = 8
	for p := range publishers {
		pw.Go(func() {
			val := make([]byte, 8)
			for i := p; i < b.N; i += publishers {
				binary.BigEndian.PutUint64(val, uint64(time.Now().UnixNano()))
				if _, err := pub.Update(ctx, "topic", []byte("t"), kv.Encode(kv.OpPut, "t", val), raps.UpdateOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	pw.Wait()
	published := time.Since(start)
	wg.Wait()
	b.StopTimer()
	slices.Sort(lats)
	if len(lats) == 0 {
		return
	}
	b.ReportMetric(float64(b.N)/published.Seconds(), "updates/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(lats))/time.Since(start).Seconds(), "deliveries/s")
}
