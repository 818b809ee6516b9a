package ops

import (
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/testpki"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
)

// TestServerTLSServesHTTPS: -tls-cert/-tls-key make the listener speak
// TLS, verified by a client that trusts the CA.
func TestServerTLSServesHTTPS(t *testing.T) {
	p := testpki.New(t, t.TempDir())
	cert, key := p.Issue("front", "localhost")
	cfg, err := ServerTLS(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("http", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "secure") }))
	errc := Serve(srv, ln)
	defer func() { Shutdown(time.Second, srv); <-errc }()
	port := ln.Addr().String()[strings.LastIndex(ln.Addr().String(), ":"):]
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool()}}}
	resp, err := c.Get("https://localhost" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "secure" || resp.TLS == nil {
		t.Fatalf("body %q, TLS %v", body, resp.TLS != nil)
	}
}

func TestTLSFlagsGoTogether(t *testing.T) {
	p := testpki.New(t, t.TempDir())
	cert, key := p.Issue("n", "node-1")
	for name, err := range map[string]error{
		"cert only":         errOf(ServerTLS(cert, "")),
		"missing file":      errOf(ServerTLS(cert, filepath.Join(t.TempDir(), "nope.pem"))),
		"transport no ca":   errOf(TransportTLS("", cert, key)),
		"transport bad ca":  errOf(TransportTLS(key, cert, key)),
		"gossip not hex":    errOf(GossipKeys("zz")),
		"gossip wrong size": errOf(GossipKeys("0011")),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if c, err := ServerTLS("", ""); c != nil || err != nil {
		t.Fatalf("no flags: %v %v", c, err)
	}
	if k, err := GossipKeys(strings.Repeat("ab", 32)); err != nil || len(k) != 1 || len(k[0]) != 32 {
		t.Fatalf("gossip key: %v %v", k, err)
	}
}

func errOf[T any](_ T, err error) error { return err }

// TestTransportMutualTLS: two transports with -transport-ca/-cert/-key
// files exchange a packet; one whose certificate names another node gets
// nothing through.
func TestTransportMutualTLS(t *testing.T) {
	p := testpki.New(t, t.TempDir())
	type got struct {
		sync.Mutex
		n int
	}
	addrs := sync.Map{}
	resolve := func(id groupcomm.NodeID) (string, bool) {
		a, ok := addrs.Load(id)
		if !ok {
			return "", false
		}
		return a.(string), true
	}
	start := func(id groupcomm.NodeID, certName string) (*tcp.Transport, *got) {
		cert, key := p.Issue(certName+"-"+string(rune('0'+id)), certName)
		tc, err := TransportTLS(p.File, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg := tcp.DefaultConfig()
		cfg.Node, cfg.Cluster, cfg.Listen, cfg.Resolve, cfg.TLS = id, 1, "127.0.0.1:0", resolve, tc
		g := &got{}
		tr, err := tcp.New(cfg, func(ps []racs.Packet) { g.Lock(); g.n += len(ps); g.Unlock() })
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		addrs.Store(id, tr.Addr().String())
		return tr, g
	}
	t1, _ := start(1, tcp.NodeName(1))
	_, g2 := start(2, tcp.NodeName(2))
	t3, _ := start(3, tcp.NodeName(9)) // node 3 with a certificate naming node 9
	call := func(from, to groupcomm.NodeID) racs.Packet {
		return racs.Packet{From: from, To: to, Call: &racs.Call{ID: 1, Body: []byte("hi")}}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		t1.Send([]racs.Packet{call(1, 2)})
		t3.Send([]racs.Packet{call(3, 2)})
		g2.Lock()
		n := g2.n
		g2.Unlock()
		if n > 0 && t1.Stats().Conns == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no packet crossed the mutual-TLS connection")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := t3.Stats(); s.Conns != 0 || s.FramesReceived != 0 {
		t.Fatalf("the node with a wrong certificate got through: %+v", s)
	}
}

func TestProbe(t *testing.T) {
	ln, err := Listen("http", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ready atomic.Bool
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	errc := Serve(srv, ln)
	defer func() { Shutdown(time.Second, srv); <-errc }()
	url := "http://" + ln.Addr().String() + "/readyz"
	if err := Probe(url); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("probe of a 503: %v", err)
	}
	ready.Store(true)
	if err := Probe(url); err != nil {
		t.Fatal(err)
	}
	if err := Probe("http://127.0.0.1:1/"); err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
}
