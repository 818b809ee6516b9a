package tcp

import (
	"crypto/tls"
	"log/slog"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// BenchmarkTransportThroughput sends packets from node 1 to node 2 over
// loopback, with a window of packets in flight (the receiver hands credits
// back, as a sequencer's per-member window would), in Send batches of 16.
// Sub-benchmarks: order (ORDER frames of 64 entries × 100 B, the bulk of a
// loaded group's traffic), order-tls (the same under mutual TLS), ack
// (small ACK messages). It reports packets/s, MB/s (of frames) and write
// syscalls per packet from Stats.
func BenchmarkTransportThroughput(b *testing.B) {
	order := func(g uint64) *groupcomm.Message { return orderMsg(g, g, 64, 100) }
	ack := func(g uint64) *groupcomm.Message {
		return &groupcomm.Message{Type: groupcomm.MsgAck, Cluster: 7, Group: g, GroupIncarnation: 1, View: 3,
			From: groupcomm.MemberID{Node: 1, Incarnation: 1}, To: groupcomm.MemberID{Node: 2, Incarnation: 1},
			VS: groupcomm.Viewstamp{View: 3, Seq: 1 << 20}, Frame: 1 << 16}
	}
	b.Run("order", func(b *testing.B) { benchThroughput(b, order, nil) })
	b.Run("order-tls", func(b *testing.B) {
		ca := newTestCA(b, "bench CA")
		certs := map[groupcomm.NodeID]*tls.Config{}
		for _, id := range []groupcomm.NodeID{1, 2} {
			certs[id] = MutualTLSConfig(ca.pool, ca.issue(b, NodeName(id), NodeName(id)))
		}
		benchThroughput(b, order, certs)
	})
	b.Run("ack", func(b *testing.B) { benchThroughput(b, ack, nil) })
}

func benchThroughput(b *testing.B, mk func(group uint64) *groupcomm.Message, tlsCfg map[groupcomm.NodeID]*tls.Config) {
	const (
		window = 2048
		batch  = 16
		groups = 64
	)
	n := newTestNet()
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	var trs []*Transport
	for _, id := range []groupcomm.NodeID{1, 2} {
		cfg := testConfig(b, n, id)
		cfg.Logger = slog.New(slog.DiscardHandler)
		cfg.QueueLen = 2 * window
		cfg.TLS = tlsCfg[id]
		deliver := func([]racs.Packet) {}
		if id == 2 {
			deliver = func(ps []racs.Packet) {
				for range ps {
					credits <- struct{}{}
				}
			}
		}
		tr, err := New(cfg, deliver)
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tr.Close() })
		n.set(id, tr.Addr().String())
		trs = append(trs, tr)
	}
	a := trs[0]
	pkts := make([]racs.Packet, groups)
	for g := range pkts {
		m := mk(uint64(g))
		pkts[g] = racs.Packet{From: 1, To: 2, Group: replica.GroupID(g), Msg: m}
	}
	frame, _ := PacketSize(&pkts[0])
	frame += frameHeaderLen
	// Warm up: connect.
	<-credits
	a.Send(pkts[:1])
	for len(credits) < window {
		time.Sleep(time.Millisecond)
	}

	b.SetBytes(int64(frame))
	b.ReportAllocs()
	s0, r0 := a.Stats(), trs[1].Stats()
	buf := make([]racs.Packet, 0, batch)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		<-credits
		buf = append(buf, pkts[i%groups])
		if len(buf) == batch || i == b.N-1 {
			a.Send(buf)
			buf = buf[:0]
		}
	}
	for len(credits) < window { // all delivered
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	s1 := a.Stats()
	if d := s1.Dropped() - s0.Dropped(); d != 0 {
		b.Fatalf("%d packets dropped", d)
	}
	sent := float64(s1.FramesSent - s0.FramesSent)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pkts/s")
	b.ReportMetric(float64(s1.WriteSyscalls-s0.WriteSyscalls)/sent, "writes/pkt")
	b.ReportMetric(sent/float64(s1.Drains-s0.Drains), "pkts/drain")
	r := trs[1].Stats()
	b.ReportMetric(float64(r.ReadSyscalls-r0.ReadSyscalls)/sent, "reads/pkt")
	b.ReportMetric(float64(frame), "B/pkt")
}
