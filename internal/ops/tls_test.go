package ops

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
	"github.com/quicksilver-go/quicksilver/racs"
)

// pki writes a CA and certificates it issued as PEM files in a directory.
type pki struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	n    int64
}

func newPKI(t *testing.T) *pki {
	p := &pki{t: t, dir: t.TempDir()}
	p.key = p.newKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	if p.cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.write("ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	return k
}

func (p *pki) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// issue writes name.pem and name-key.pem for a certificate naming dns
// (and 127.0.0.1), for server and client auth.
func (p *pki) issue(name string, dns ...string) (certFile, keyFile string) {
	p.n++
	key := p.newKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.n + 1), Subject: pkix.Name{CommonName: name}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(name+".pem", "CERTIFICATE", der), p.write(name+"-key.pem", "EC PRIVATE KEY", kb)
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	return pool
}

// TestServerTLSServesHTTPS: -tls-cert/-tls-key make the listener speak
// TLS, verified by a client that trusts the CA.
func TestServerTLSServesHTTPS(t *testing.T) {
	p := newPKI(t)
	cert, key := p.issue("front", "localhost")
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
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool()}}}
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
	p := newPKI(t)
	cert, key := p.issue("n", "node-1")
	for name, err := range map[string]error{
		"cert only":         errOf(ServerTLS(cert, "")),
		"missing file":      errOf(ServerTLS(cert, filepath.Join(p.dir, "nope.pem"))),
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
	p := newPKI(t)
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
		cert, key := p.issue(certName+"-"+string(rune('0'+id)), certName)
		tc, err := TransportTLS(filepath.Join(p.dir, "ca.pem"), cert, key)
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
