package metrics

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quicksilver-go/quicksilver/internal/membership"
	"github.com/quicksilver-go/quicksilver/internal/rpc"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Sources are the components a node exports. Every field may be nil: a
// nil source exports nothing (a front end has a Router and no Host, a
// memory node no Store).
type Sources struct {
	// Host: qs_racs_*.
	Host *racs.Host
	// Store: qs_store_* (the WAL-backed disk store).
	Store *replica.DiskStore
	// Transport: qs_transport_*.
	Transport *tcp.Transport
	// RPC: qs_rpc_*.
	RPC *rpc.Endpoint
	// Members returns the membership's view of the cluster (usually
	// (*membership.Membership).Members): qs_membership_*.
	Members func() []membership.Member
	// Router: qs_router_*.
	Router *raps.Client
}

// NewRegistry returns a registry holding the Go runtime's and the
// process's collectors (go_*, process_*).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Register registers a collector for every source that is set. Each
// reads its source's Stats when the registry is gathered (a scrape),
// so nothing is counted twice and the components know nothing of
// Prometheus. It fails if a collector of the same metrics is registered
// already (Register twice with one registry, say); the sources whose
// collectors reg accepted stay registered.
func Register(reg prometheus.Registerer, s Sources) error {
	var cs []prometheus.Collector
	if s.Host != nil {
		cs = append(cs, newRACSCollector(s.Host.Stats))
	}
	if s.Store != nil {
		cs = append(cs, newStoreCollector(s.Store.Stats))
	}
	if s.Transport != nil {
		cs = append(cs, newTransportCollector(s.Transport.Stats))
	}
	if s.RPC != nil {
		cs = append(cs, newRPCCollector(s.RPC.Stats))
	}
	if s.Members != nil {
		cs = append(cs, newMembershipCollector(s.Members))
	}
	if s.Router != nil {
		cs = append(cs, newRouterCollector(s.Router.Stats))
	}
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Handler serves reg's metrics in the Prometheus exposition formats
// (text, or protobuf and OpenMetrics when the scraper asks), and counts
// its own scrapes (promhttp_metric_handler_*). A collector that fails
// does not fail the scrape: the others are served.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.InstrumentMetricHandler(reg,
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: reg}))
}
