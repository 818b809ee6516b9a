package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/rpc"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

func snapshotOf(vs ...uint64) racs.HistogramSnapshot {
	var h racs.Histogram
	for _, v := range vs {
		h.Observe(v)
	}
	return h.Snapshot()
}

// testCollectors are one collector per source, on fixed Stats.
func testCollectors() map[string]prometheus.Collector {
	return map[string]prometheus.Collector{
		"racs": newRACSCollector(func() racs.HostStats {
			return racs.HostStats{Groups: 3, Ticking: 1, ViewsInstalled: 4, Delivered: 100, TransfersSent: 1, TransferBytesSent: 4096,
				ViewChange:      snapshotOf(uint64(3 * time.Millisecond)),
				DeliveryLatency: snapshotOf(uint64(200*time.Microsecond), uint64(time.Millisecond), uint64(20*time.Second)),
				CommitLatency:   snapshotOf(uint64(500 * time.Microsecond)), CommitEntries: snapshotOf(1, 7, 9000), CommitGroups: snapshotOf(1, 2)}
		}),
		"store": newStoreCollector(func() replica.DiskStats {
			return replica.DiskStats{Writes: 10, GroupWrites: 12, Entries: 30, Bytes: 9000, WriteTime: time.Millisecond, SyncTime: 800 * time.Microsecond, Segments: 1}
		}),
		"transport": newTransportCollector(func() tcp.Stats {
			return tcp.Stats{FramesSent: 5, BytesSent: 500, FramesReceived: 4, BytesReceived: 400, Conns: 2, DroppedQueueFull: 1}
		}),
		"rpc": newRPCCollector(func() rpc.Stats { return rpc.Stats{Sent: 3, Served: 2, Busy: 1, InFlight: 1} }),
		"router": newRouterCollector(func() raps.ClientStats {
			return raps.ClientStats{Queries: 9, Hedges: 2, HedgeWins: 1, Retries: 3, QueryP95: time.Millisecond}
		}),
		"membership": newMembershipCollector(func() []membership.Member {
			return []membership.Member{{ID: 1, State: membership.StateAlive}, {ID: 2, State: membership.StateAlive}, {ID: 3, State: membership.StateSuspect}}
		}),
	}
}

// Every collector passes promlint, and exports what its Describe says.
func TestMetricCollectorsLint(t *testing.T) {
	for name, c := range testCollectors() {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
		// A registry checks the metrics against their Descs.
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := reg.Gather(); err != nil {
			t.Errorf("%s: gather: %v", name, err)
		}
	}
	reg := NewRegistry()
	HTTPMiddleware(reg)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) != 0 {
		t.Errorf("NewRegistry with the middleware: %v %v", problems, err)
	}
}

func TestMetricValuesAndUnits(t *testing.T) {
	c := testCollectors()
	if v := testutil.ToFloat64(collectorOf(c["router"], "qs_router_query_p95_seconds")); v != 0.001 {
		t.Errorf("p95 = %v s, want 0.001", v)
	}
	if v := testutil.ToFloat64(collectorOf(c["store"], "qs_store_fsync_seconds_total")); v != 0.0008 {
		t.Errorf("fsync seconds = %v, want 0.0008", v)
	}
	want := `# HELP qs_membership_members Members by the state this node's membership believes them in (this node included).
# TYPE qs_membership_members gauge
qs_membership_members{state="alive"} 2
qs_membership_members{state="dead"} 0
qs_membership_members{state="left"} 0
qs_membership_members{state="suspect"} 1
`
	if err := testutil.CollectAndCompare(c["membership"], strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Durations in seconds: 200µs, 1ms and 20s land under the bounds
	// 2^18 ns, 2^20 ns and +Inf (beyond the last bound, 2^34 ns ≈ 17s).
	reg := prometheus.NewRegistry()
	reg.MustRegister(c["racs"])
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() != "qs_racs_delivery_latency_seconds" {
			continue
		}
		h := fam.Metric[0].Histogram
		if h.GetSampleCount() != 3 || h.GetSampleSum() < 20.0012 || h.GetSampleSum() > 20.0013 {
			t.Errorf("count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
		}
		for _, b := range h.Bucket {
			le, n := b.GetUpperBound(), b.GetCumulativeCount()
			var want uint64
			switch {
			case le >= float64(1<<20)/1e9:
				want = 2
			case le >= float64(1<<18)/1e9:
				want = 1
			}
			if n != want {
				t.Errorf("bucket le=%v: %d, want %d", le, n, want)
			}
		}
		if len(h.Bucket) != 13 {
			t.Errorf("%d buckets, want 13 (1µs to 17s by factors of 4)", len(h.Bucket))
		}
		return
	}
	t.Fatal("no qs_racs_delivery_latency_seconds")
}

// collectorOf is the one metric name of c (for testutil.ToFloat64).
func collectorOf(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

func TestMetricRegisterSources(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := Register(reg, Sources{}); err != nil {
		t.Fatalf("no sources: %v", err)
	}
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Fatalf("no sources export %d series", n)
	}
	members := func() []membership.Member { return nil }
	if err := Register(reg, Sources{Members: members}); err != nil {
		t.Fatal(err)
	}
	err := Register(reg, Sources{Members: members})
	if !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		t.Fatalf("second Register: %v, want AlreadyRegisteredError", err)
	}
	if n, _ := testutil.GatherAndCount(reg, "qs_membership_members"); n != 4 {
		t.Fatalf("%d membership series, want one per state", n)
	}
}

// The metric table of the package doc lists exactly the metrics the
// collectors and the middleware export, with their types.
func TestMetricDocTable(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(src), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "//")); len(f) >= 2 && strings.HasPrefix(f[0], "qs_") && strings.HasPrefix(line, "//\t") {
			documented[f[0]] = f[1]
		}
	}
	reg := prometheus.NewRegistry()
	for _, c := range testCollectors() {
		reg.MustRegister(c)
	}
	mw := HTTPMiddleware(reg)
	rec := httptest.NewRecorder()
	r := chi.NewRouter()
	r.Use(mw)
	r.Get("/", func(http.ResponseWriter, *http.Request) {})
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]string{}
	for _, fam := range fams {
		exported[fam.GetName()] = strings.ToLower(fam.GetType().String())
	}
	for name, typ := range exported {
		if documented[name] != typ {
			t.Errorf("%s (%s) is documented as %q", name, typ, documented[name])
		}
	}
	for name := range documented {
		if _, ok := exported[name]; !ok {
			t.Errorf("%s is documented but not exported", name)
		}
	}
}
