package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/rpc"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// A collector reads one source's Stats at scrape time and turns it into
// const metrics: the source keeps its own counters (atomics on its hot
// paths), the collector keeps none.

// metric is one exported series family: its Desc and how to read it.
type metric[S any] struct {
	desc    *prometheus.Desc
	collect func(s *S, desc *prometheus.Desc, ch chan<- prometheus.Metric)
}

// collector exports the metrics of one Stats snapshot.
type collector[S any] struct {
	stats   func() S
	metrics []metric[S]
}

func (c *collector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *collector[S]) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, m := range c.metrics {
		m.collect(&s, m.desc, ch)
	}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// counter, gauge: one series read from s.
func counter[S any](name, help string, v func(*S) float64) metric[S] {
	return metric[S]{desc(name, help), func(s *S, d *prometheus.Desc, ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v(s))
	}}
}

func gauge[S any](name, help string, v func(*S) float64) metric[S] {
	return metric[S]{desc(name, help), func(s *S, d *prometheus.Desc, ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v(s))
	}}
}

// labelled: one series per value of a label, in a fixed set (bounded
// cardinality).
type labelled[S any] struct {
	value string
	v     func(*S) float64
}

func counterBy[S any](name, help, label string, vs ...labelled[S]) metric[S] {
	return metric[S]{desc(name, help, label), func(s *S, d *prometheus.Desc, ch chan<- prometheus.Metric) {
		for _, l := range vs {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, l.v(s), l.value)
		}
	}}
}

// histogram exports a racs.HistogramSnapshot with the buckets whose
// upper bounds are 2^i for i in [from, to] by step, each divided by unit
// (1e9 for nanoseconds as seconds, 1 for counts).
func histogram[S any](name, help string, from, to, step int, unit float64, h func(*S) racs.HistogramSnapshot) metric[S] {
	return metric[S]{desc(name, help), func(s *S, d *prometheus.Desc, ch chan<- prometheus.Metric) {
		snap := h(s)
		buckets := make(map[float64]uint64, (to-from)/step+1)
		for i := from; i <= to; i += step {
			buckets[float64(racs.BucketBound(i))/unit] = snap.CountAtMost(i)
		}
		ch <- prometheus.MustNewConstHistogram(d, snap.Count(), float64(snap.Sum)/unit, buckets)
	}}
}

// Durations: buckets from 2^10 ns (≈1µs) to 2^34 ns (≈17s), by factors
// of 4. Counts (entries, groups per write): 1 to 4096, by factors of 2.
func seconds[S any](name, help string, h func(*S) racs.HistogramSnapshot) metric[S] {
	return histogram(name, help, 10, 34, 2, 1e9, h)
}

func sizes[S any](name, help string, h func(*S) racs.HistogramSnapshot) metric[S] {
	return histogram(name, help, 0, 12, 1, 1, h)
}

func f[T uint64 | int64 | int](v T) float64 { return float64(v) }

func secs(d time.Duration) float64 { return d.Seconds() }

func newRACSCollector(stats func() racs.HostStats) prometheus.Collector {
	type S = racs.HostStats
	return &collector[S]{stats: stats, metrics: []metric[S]{
		gauge("qs_racs_groups", "Group clones hosted.", func(s *S) float64 { return f(s.Groups) }),
		gauge("qs_racs_ticking_groups", "Group clones on a tick list (not quiescent).", func(s *S) float64 { return f(s.Ticking) }),
		counter("qs_racs_views_installed_total", "Views installed by the host's clones (a group's first view, view changes, admissions of joiners and restarted clones).",
			func(s *S) float64 { return f(s.ViewsInstalled) }),
		seconds("qs_racs_view_change_duration_seconds", "Time a clone spent out of NORMAL (view change, recovery, join) before it installed a view.",
			func(s *S) racs.HistogramSnapshot { return s.ViewChange }),
		counter("qs_racs_delivered_total", "Deliveries applied by the hosted clones, in order (duplicates and refused updates included).", func(s *S) float64 { return f(s.Delivered) }),
		seconds("qs_racs_delivery_latency_seconds", "Time from the handover of an update submitted here to its apply at this clone.",
			func(s *S) racs.HistogramSnapshot { return s.DeliveryLatency }),
		counterBy("qs_racs_transfers_total", "State transfers begun as a donor (sent) or restored as a learner (received).", "direction",
			labelled[S]{"sent", func(s *S) float64 { return f(s.TransfersSent) }},
			labelled[S]{"received", func(s *S) float64 { return f(s.TransfersReceived) }}),
		counterBy("qs_racs_transfer_bytes_total", "Snapshot bytes sent in state-transfer chunks (resends included) or received in order.", "direction",
			labelled[S]{"sent", func(s *S) float64 { return f(s.TransferBytesSent) }},
			labelled[S]{"received", func(s *S) float64 { return f(s.TransferBytesReceived) }}),
		seconds("qs_racs_commit_latency_seconds", "Time of each durable write (one fsync for every group and worker committing at that moment).",
			func(s *S) racs.HistogramSnapshot { return s.CommitLatency }),
		sizes("qs_racs_commit_entries", "Log entries per durable write.", func(s *S) racs.HistogramSnapshot { return s.CommitEntries }),
		sizes("qs_racs_commit_groups", "Group writes per durable write (the group-commit factor).", func(s *S) racs.HistogramSnapshot { return s.CommitGroups }),
	}}
}

func newStoreCollector(stats func() replica.DiskStats) prometheus.Collector {
	type S = replica.DiskStats
	return &collector[S]{stats: stats, metrics: []metric[S]{
		counter("qs_store_fsyncs_total", "Durable writes of the disk store: one WAL frame and one fdatasync each.", func(s *S) float64 { return f(s.Writes) }),
		counter("qs_store_fsync_seconds_total", "Time spent in fdatasync of the WAL.", func(s *S) float64 { return secs(s.SyncTime) }),
		counter("qs_store_write_seconds_total", "Time spent in durable writes (fdatasync included).", func(s *S) float64 { return secs(s.WriteTime) }),
		counter("qs_store_group_writes_total", "Group writes carried by the durable writes.", func(s *S) float64 { return f(s.GroupWrites) }),
		counter("qs_store_entries_total", "Log entries carried by the durable writes.", func(s *S) float64 { return f(s.Entries) }),
		counter("qs_store_wal_bytes_total", "Bytes written to the WAL.", func(s *S) float64 { return f(s.Bytes) }),
		gauge("qs_store_wal_segments", "WAL segments on disk.", func(s *S) float64 { return f(s.Segments) }),
		counter("qs_store_checkpoints_total", "bbolt checkpoint transactions.", func(s *S) float64 { return f(s.Checkpoints) }),
		counter("qs_store_checkpoint_seconds_total", "Time spent in checkpoints (off the write path).", func(s *S) float64 { return secs(s.CheckpointTime) }),
	}}
}

func newTransportCollector(stats func() tcp.Stats) prometheus.Collector {
	type S = tcp.Stats
	return &collector[S]{stats: stats, metrics: []metric[S]{
		counterBy("qs_transport_frames_total", "Packet frames sent and received over TCP.", "direction",
			labelled[S]{"sent", func(s *S) float64 { return f(s.FramesSent) }},
			labelled[S]{"received", func(s *S) float64 { return f(s.FramesReceived) }}),
		counterBy("qs_transport_bytes_total", "Packet frame bytes (length prefix included) sent and received over TCP.", "direction",
			labelled[S]{"sent", func(s *S) float64 { return f(s.BytesSent) }},
			labelled[S]{"received", func(s *S) float64 { return f(s.BytesReceived) }}),
		gauge("qs_transport_connections", "TCP connections in use (at most one per peer).", func(s *S) float64 { return f(s.Conns) }),
		counterBy("qs_transport_syscalls_total", "Read and Write calls on the TCP sockets.", "op",
			labelled[S]{"read", func(s *S) float64 { return f(s.ReadSyscalls) }},
			labelled[S]{"write", func(s *S) float64 { return f(s.WriteSyscalls) }}),
		counter("qs_transport_drains_total", "Writer rounds (each flushes what was queued for a peer once).", func(s *S) float64 { return f(s.Drains) }),
		counter("qs_transport_loopback_packets_total", "Packets to this node itself, delivered without the network.", func(s *S) float64 { return f(s.Loopback) }),
		counterBy("qs_transport_dropped_total", "Packets dropped, by cause.", "reason",
			labelled[S]{"queue_full", func(s *S) float64 { return f(s.DroppedQueueFull) }},
			labelled[S]{"unreachable", func(s *S) float64 { return f(s.DroppedUnreachable) }},
			labelled[S]{"too_large", func(s *S) float64 { return f(s.DroppedTooLarge) }},
			labelled[S]{"invalid", func(s *S) float64 { return f(s.DroppedInvalid) }},
			labelled[S]{"closed", func(s *S) float64 { return f(s.DroppedClosed) }}),
		counter("qs_transport_dials_total", "Dial attempts.", func(s *S) float64 { return f(s.Dials) }),
		counter("qs_transport_dial_failures_total", "Failed dial attempts.", func(s *S) float64 { return f(s.DialFailures) }),
		counter("qs_transport_accepted_total", "Inbound connections put in use.", func(s *S) float64 { return f(s.Accepted) }),
		counter("qs_transport_reconnects_total", "Connections put in use for a peer that had one before.", func(s *S) float64 { return f(s.Reconnects) }),
		counterBy("qs_transport_refused_connections_total", "Connections refused or dropped, by cause.", "reason",
			labelled[S]{"duplicate", func(s *S) float64 { return f(s.Duplicates) }},
			labelled[S]{"handshake", func(s *S) float64 { return f(s.HandshakeFailures) }},
			labelled[S]{"busy", func(s *S) float64 { return f(s.BusyRefusals) }},
			labelled[S]{"protocol", func(s *S) float64 { return f(s.ProtocolErrors) }}),
	}}
}

func newRPCCollector(stats func() rpc.Stats) prometheus.Collector {
	type S = rpc.Stats
	return &collector[S]{stats: stats, metrics: []metric[S]{
		counterBy("qs_rpc_calls_total", "Calls: requests sent to other nodes, calls to this node itself, requests served for other nodes.", "kind",
			labelled[S]{"sent", func(s *S) float64 { return f(s.Sent) }},
			labelled[S]{"local", func(s *S) float64 { return f(s.Local) }},
			labelled[S]{"served", func(s *S) float64 { return f(s.Served) }}),
		gauge("qs_rpc_in_flight", "Calls being served now (the node's load as the Router weighs it).", func(s *S) float64 { return f(s.InFlight) }),
		counterBy("qs_rpc_errors_total", "Calls refused (busy) and frames dropped: malformed, replies nobody waits for, duplicate requests.", "reason",
			labelled[S]{"busy", func(s *S) float64 { return f(s.Busy) }},
			labelled[S]{"malformed", func(s *S) float64 { return f(s.Malformed) }},
			labelled[S]{"late_reply", func(s *S) float64 { return f(s.LateReplies) }},
			labelled[S]{"duplicate", func(s *S) float64 { return f(s.Duplicates) }}),
		counterBy("qs_rpc_cancels_total", "Cancel frames sent and received.", "direction",
			labelled[S]{"sent", func(s *S) float64 { return f(s.CancelsSent) }},
			labelled[S]{"received", func(s *S) float64 { return f(s.CancelsReceived) }}),
	}}
}

// memberStates are the states qs_membership_members reports, each always
// (0 when no member is in it).
var memberStates = [...]membership.State{membership.StateAlive, membership.StateSuspect, membership.StateDead, membership.StateLeft}

func newMembershipCollector(members func() []membership.Member) prometheus.Collector {
	type S = [len(memberStates)]int
	count := func() S {
		var n S
		for _, m := range members() {
			for i, st := range memberStates {
				if m.State == st {
					n[i]++
				}
			}
		}
		return n
	}
	return &collector[S]{stats: count, metrics: []metric[S]{
		{desc("qs_membership_members", "Members by the state this node's membership believes them in (this node included).", "state"),
			func(s *S, d *prometheus.Desc, ch chan<- prometheus.Metric) {
				for i, st := range memberStates {
					ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, f(s[i]), st.String())
				}
			}},
	}}
}

func newRouterCollector(stats func() raps.ClientStats) prometheus.Collector {
	type S = raps.ClientStats
	return &collector[S]{stats: stats, metrics: []metric[S]{
		counter("qs_router_queries_total", "Query attempts of the Router.", func(s *S) float64 { return f(s.Queries) }),
		counter("qs_router_hedges_total", "Query attempts hedged to a second clone.", func(s *S) float64 { return f(s.Hedges) }),
		counter("qs_router_hedge_wins_total", "Hedged queries answered by the hedge.", func(s *S) float64 { return f(s.HedgeWins) }),
		counter("qs_router_retries_total", "Update and query attempts after the first.", func(s *S) float64 { return f(s.Retries) }),
		gauge("qs_router_query_p95_seconds", "Recent p95 of query round trips (the hedge delay).", func(s *S) float64 { return secs(s.QueryP95) }),
	}}
}
