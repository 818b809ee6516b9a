package tcp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
)

// testCA is a certificate authority made up for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var serial int64

func nextSerial() *big.Int { serial++; return big.NewInt(serial) }

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a node certificate with the DNS SANs given (and CN cn), for
// both server and client authentication.
func (ca *testCA) issue(t testing.TB, cn string, dnsNames ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dnsNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLS: nodes with certificates from the cluster's CA naming
// them talk; a node whose certificate names another node, names it only
// in the CN, or comes from another CA is refused, whether it dials or is
// dialled.
func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "quicksilver test CA")
	other := newTestCA(t, "some other CA")
	n := newTestNet()
	mk := func(id groupcomm.NodeID, cert tls.Certificate) *testNode {
		cfg := testConfig(t, n, id)
		cfg.TLS = MutualTLSConfig(ca.pool, cert)
		return startNode(t, n, cfg)
	}
	n1 := mk(1, ca.issue(t, NodeName(1), NodeName(1)))
	n2 := mk(2, ca.issue(t, NodeName(2), NodeName(2)))
	n3 := mk(3, ca.issue(t, NodeName(3), NodeName(3)))
	wrongName := mk(4, ca.issue(t, NodeName(9), NodeName(9)))  // node 4 with node 9's certificate
	cnOnly := mk(5, ca.issue(t, NodeName(5)))                  // names itself in the CN only
	otherCA := mk(6, other.issue(t, NodeName(6), NodeName(6))) // right name, wrong CA
	stolen := mk(7, ca.issue(t, NodeName(1), NodeName(1)))     // node 7 presenting node 1's identity
	good := []*testNode{n1, n2, n3}
	bad := []*testNode{wrongName, cnOnly, otherCA, stolen}
	all := append(append([]*testNode{}, good...), bad...)

	// Every node keeps sending to every other until the good nodes have
	// all talked to each other and each has counted at least `refusals`
	// refused handshakes (more than it has bad peers to dial and be
	// dialled by: dials were retried after backoffs), however long TLS
	// handshakes take under the race detector and load; no packet may
	// cross between a good and a bad node meanwhile.
	const refusals = 20
	i := uint64(0)
	eventually(t, fmt.Sprintf("the good nodes talking, and %d refusals at each", refusals), func() bool {
		i++
		for _, x := range all {
			var ps []racs.Packet
			for _, y := range all {
				if y != x {
					ps = append(ps, msgPkt(x.id, y.id, 1, i))
				}
			}
			x.tr.Send(ps)
		}
		for _, x := range good {
			if x.tr.Stats().HandshakeFailures < refusals {
				return false
			}
			for _, y := range good {
				if x != y && len(y.rec.from(x.id)) == 0 {
					return false
				}
			}
		}
		return true
	})
	for _, x := range good {
		for _, y := range bad {
			if got := len(x.rec.from(y.id)); got != 0 {
				t.Errorf("node %d accepted %d packets from node %d", x.id, got, y.id)
			}
			if got := len(y.rec.from(x.id)); got != 0 {
				t.Errorf("bad node %d got %d packets from node %d", y.id, got, x.id)
			}
		}
		if s := x.tr.Stats(); s.Conns != 2 {
			t.Errorf("node %d: %+v", x.id, s)
		}
	}
	for _, y := range bad {
		if s := y.tr.Stats(); s.Conns != 0 || s.FramesReceived != 0 {
			t.Errorf("bad node %d: %+v", y.id, s)
		}
	}
	eventually(t, "one connection between nodes 1 and 2", func() bool { return checkOneConn(n1, n2) == nil })
}

func TestVerifyPeerName(t *testing.T) {
	ca := newTestCA(t, "ca")
	leaf := func(cert tls.Certificate) *x509.Certificate {
		c, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ok := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf(ca.issue(t, "x", "foo", NodeName(3)))}}
	if err := verifyPeerName(ok, 3); err != nil {
		t.Fatal(err)
	}
	for name, cs := range map[string]tls.ConnectionState{
		"no certificate": {},
		"other node":     {PeerCertificates: []*x509.Certificate{leaf(ca.issue(t, NodeName(3), NodeName(4)))}},
		"CN only":        {PeerCertificates: []*x509.Certificate{leaf(ca.issue(t, NodeName(3)))}},
		"prefix":         {PeerCertificates: []*x509.Certificate{leaf(ca.issue(t, "", NodeName(33)))}},
	} {
		if err := verifyPeerName(cs, 3); !errors.Is(err, ErrHandshake) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if NodeName(42) != "node-42" {
		t.Fatal(NodeName(42))
	}
}

func TestTLSConfigValidate(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert := ca.issue(t, "", NodeName(1))
	base := DefaultConfig()
	base.Node, base.Resolve = 1, newTestNet().resolve
	for name, mod := range map[string]func(*tls.Config){
		"insecure":          func(c *tls.Config) { c.InsecureSkipVerify = true },
		"no certificate":    func(c *tls.Config) { c.Certificates = nil },
		"unverified client": func(c *tls.Config) { c.ClientAuth = tls.RequireAnyClientCert },
	} {
		cfg := base
		cfg.TLS = MutualTLSConfig(ca.pool, cert)
		mod(cfg.TLS)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg := base
	cfg.TLS = MutualTLSConfig(ca.pool, cert)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
