package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/memnet"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/replica"
)

// scrape serves reg's metrics through Handler to an httptest recorder
// and parses the text exposition.
func scrape(t testing.TB, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	Handler(reg).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, rec.Body)
	}
	return fams
}

// sample returns the series of fam whose labels include the given
// name/value pairs; it fails the test if the family or the series is
// missing.
func sample(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	t.Helper()
	fam := fams[name]
	if fam == nil {
		t.Fatalf("metric %s not exported", name)
	}
next:
	for _, m := range fam.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	t.Fatalf("metric %s has no series %v", name, labels)
	return nil
}

// value is a counter's or gauge's value.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := sample(t, fams, name, labels...)
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %s is neither a counter nor a gauge", name)
	return 0
}

// hist is a histogram's sample count and sum.
func hist(t testing.TB, fams map[string]*dto.MetricFamily, name string) (uint64, float64) {
	t.Helper()
	h := sample(t, fams, name).Histogram
	if h == nil {
		t.Fatalf("metric %s is not a histogram", name)
	}
	return h.GetSampleCount(), h.GetSampleSum()
}

// rcluster is a few racs hosts, each on a DiskStore of its own, over
// memnet, hosting group 1 (a kv state machine). It lives in a synctest
// bubble: waits run on the fake clock.
type rcluster struct {
	t      testing.TB
	net    *memnet.Network
	dir    string
	view   groupcomm.View
	mu     sync.Mutex
	hosts  map[groupcomm.NodeID]*racs.Host
	stores map[groupcomm.NodeID]*replica.DiskStore
}

func newRCluster(t testing.TB, n int) *rcluster {
	c := &rcluster{t: t, net: memnet.New(memnet.Config{Seed: 1, MinDelay: 100 * time.Microsecond, MaxDelay: 100 * time.Microsecond}),
		dir: t.TempDir(), hosts: map[groupcomm.NodeID]*racs.Host{}, stores: map[groupcomm.NodeID]*replica.DiskStore{}}
	c.view = groupcomm.View{Cluster: 1, Group: 1, GroupIncarnation: 1, ID: 1}
	for i := 1; i <= n; i++ {
		c.view.Members = append(c.view.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: groupcomm.NodeID(i), Incarnation: 1}, Role: groupcomm.Voter})
	}
	t.Cleanup(c.close)
	for i := 1; i <= n; i++ {
		c.start(groupcomm.NodeID(i), nil)
	}
	return c
}

// start starts node id's host and its group (a joiner if contacts are
// given).
func (c *rcluster) start(id groupcomm.NodeID, contacts []groupcomm.NodeID) *racs.Group {
	c.t.Helper()
	bp, wd := replica.DiskPaths(c.dir, fmt.Sprintf("node-%d", id))
	store, err := replica.OpenDisk(replica.DiskOptions{BoltPath: bp, WALDir: wd, NoSync: true})
	if err != nil {
		c.t.Fatal(err)
	}
	var hmu sync.Mutex
	var h *racs.Host
	tr := c.net.Endpoint(id, func(ps []racs.Packet) {
		hmu.Lock()
		hh := h
		hmu.Unlock()
		if hh != nil {
			hh.DeliverBatch(ps)
		}
	})
	cfg := racs.DefaultConfig()
	cfg.Node, cfg.Cluster, cfg.Store, cfg.Transport = id, 1, store, tr
	cfg.TickInterval = 2 * time.Millisecond
	cfg.Workers = 2
	cfg.ChunkSize = 64
	cfg.Core = groupcomm.DefaultConfig()
	cfg.Core.TickRTO, cfg.Core.TickIdle, cfg.Core.TickVC, cfg.Core.TickFD, cfg.Core.TickCQ, cfg.Core.TickStale, cfg.Core.TickJoin = 4, 2, 10, 20, 40, 30, 2000
	nh, err := racs.NewHost(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	hmu.Lock()
	h = nh
	hmu.Unlock()
	c.mu.Lock()
	c.hosts[id], c.stores[id] = nh, store
	c.mu.Unlock()
	g, err := nh.AddGroup(racs.GroupConfig{Group: 1, Incarnation: 1, Durability: racs.Disk, StateMachine: kv.New(),
		Bootstrap: &c.view, Create: contacts == nil, Contacts: contacts})
	if err != nil {
		c.t.Fatal(err)
	}
	return g
}

func (c *rcluster) host(id groupcomm.NodeID) *racs.Host {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hosts[id]
}

func (c *rcluster) group(id groupcomm.NodeID) *racs.Group {
	g, err := c.host(id).Group(1)
	if err != nil {
		c.t.Fatal(err)
	}
	return g
}

// waitFor re-checks cond every 10ms of fake time, for at most a minute.
func (c *rcluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// normal: every host's clone is a NORMAL voter with its state, all at
// applied position seq.
func (c *rcluster) normal(seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.hosts {
		g, err := h.Group(1)
		if err != nil {
			return false
		}
		in := g.Info()
		if in.Status != groupcomm.StatusNormal || in.Restoring || in.Role != groupcomm.Voter || g.Applied().Seq < seq {
			return false
		}
	}
	return true
}

func (c *rcluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, h := range c.hosts {
		h.Close()
		c.stores[id].Close()
	}
	c.net.Close()
}
