package ops

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Listeners are a binary's HTTP listeners: the API and, if asked, the
// admin listener (pprof, /metrics), TLS on both when a certificate is
// given. Bind them (ListenHTTP) before anything else starts.
type Listeners struct {
	API, Admin net.Listener // Admin is nil without an admin address
	TLS        bool
}

// ListenHTTP binds the API address and the admin address (empty: none),
// with TLS from certFile and keyFile when they are set.
func ListenHTTP(api, admin, certFile, keyFile string) (Listeners, error) {
	var l Listeners
	tlsCfg, err := ServerTLS(certFile, keyFile)
	if err != nil {
		return l, err
	}
	l.TLS = tlsCfg != nil
	if l.API, err = Listen("-http", api, tlsCfg); err != nil {
		return l, err
	}
	if admin != "" {
		if l.Admin, err = Listen("-admin", admin, tlsCfg); err != nil {
			l.Close()
			return l, err
		}
	}
	return l, nil
}

// Close closes the listeners (before serving; serving closes them itself).
func (l Listeners) Close() {
	for _, ln := range []net.Listener{l.API, l.Admin} {
		if ln != nil {
			ln.Close()
		}
	}
}

// URLs are the listeners' addresses as URLs, for the start banner: the
// attributes api and, with an admin listener, admin.
func (l Listeners) URLs() []any {
	scheme := "http"
	if l.TLS {
		scheme = "https"
	}
	out := []any{"api", scheme + "://" + l.API.Addr().String()}
	if l.Admin != nil {
		out = append(out, "admin", scheme+"://"+l.Admin.Addr().String())
	}
	return out
}

// ServeUntil serves api (and admin, on the admin listener) until ctx ends
// or a server fails; then the graceful drain: draining is called (so
// readiness turns 503 and balancers stop sending), the servers stop
// taking connections and finish the requests in flight within grace.
func (l Listeners) ServeUntil(ctx context.Context, api, admin http.Handler, grace time.Duration, draining func(), log *slog.Logger) error {
	apiSrv := NewServer(api)
	errc := Serve(apiSrv, l.API)
	var adminSrv *http.Server
	adminc := make(<-chan error)
	if l.Admin != nil {
		adminSrv = NewServer(admin)
		adminc = Serve(adminSrv, l.Admin)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("-http: %w", err)
	case err := <-adminc:
		return fmt.Errorf("-admin: %w", err)
	}
	log.Info("draining: finishing in-flight requests", "grace", grace)
	draining()
	Shutdown(grace, apiSrv, adminSrv)
	log.Info("stopped")
	return nil
}
