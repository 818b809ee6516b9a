package tcp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// NodeName is the name a node's certificate must carry (as a DNS subject
// alternative name) under mutual TLS: "node-<id>".
func NodeName(id groupcomm.NodeID) string { return fmt.Sprintf("node-%d", id) }

// MutualTLSConfig returns a TLS config for mutual TLS between the nodes of
// a cluster: cert is this node's certificate (naming NodeName(self) as a
// DNS SAN, with both the server-auth and client-auth extended key usages,
// since every node both dials and accepts), ca the pool of the cluster's
// certificate authority, which verifies peers in both directions. TLS 1.3
// only.
func MutualTLSConfig(ca *x509.CertPool, cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca,
		ClientCAs:    ca,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// validateTLS refuses TLS configs that would defeat node identity.
func validateTLS(c *tls.Config) error {
	switch {
	case c.InsecureSkipVerify:
		return errors.New("TLS.InsecureSkipVerify would accept any peer")
	case len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil:
		return errors.New("TLS has no certificate for this node")
	}
	switch c.ClientAuth {
	case tls.NoClientCert, tls.VerifyClientCertIfGiven, tls.RequireAndVerifyClientCert:
	default:
		return fmt.Errorf("TLS.ClientAuth %v does not verify client certificates; use RequireAndVerifyClientCert (mutual TLS) or NoClientCert", c.ClientAuth)
	}
	return nil
}

// serverTLSConfig is the config for accepted connections: a clone of the
// user's, TLS 1.3 unless the user chose a minimum.
func serverTLSConfig(base *tls.Config) *tls.Config {
	c := base.Clone()
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS13
	}
	return c
}

// clientTLSConfig is the config for a dial to node id: the standard
// verification of the server's chain against RootCAs and of its name
// against ServerName = NodeName(id), then, in VerifyConnection, an explicit
// check that the leaf certificate names NodeName(id) (before any
// VerifyConnection of the user's).
func clientTLSConfig(base *tls.Config, id groupcomm.NodeID) *tls.Config {
	c := base.Clone()
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS13
	}
	c.ServerName = NodeName(id)
	user := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verifyPeerName(cs, id); err != nil {
			return err
		}
		if user != nil {
			return user(cs)
		}
		return nil
	}
	return c
}

// verifyPeerName checks that the peer's (verified) leaf certificate names
// node id: NodeName(id) must be one of its DNS SANs. The Subject CN is not
// consulted, as Go's verifier has not since Go 1.15: a certificate naming
// the node only in its CN is refused in both directions.
func verifyPeerName(cs tls.ConnectionState, id groupcomm.NodeID) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: peer presented no certificate", ErrHandshake)
	}
	leaf := cs.PeerCertificates[0]
	if want := NodeName(id); !slices.Contains(leaf.DNSNames, want) {
		return fmt.Errorf("%w: peer certificate names %q (CN %q), not %q", ErrHandshake, leaf.DNSNames, leaf.Subject.CommonName, want)
	}
	return nil
}

// checkPeerCert checks, on an accepted TLS connection, that the client's
// certificate names the node its hello claims to be. Without client
// certificates (ClientAuth NoClientCert, or VerifyClientCertIfGiven and
// none given) there is no identity to check: that TLS encrypts and
// authenticates the server only.
func (t *Transport) checkPeerCert(c *conn, id groupcomm.NodeID) error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	if len(cs.PeerCertificates) == 0 && t.serverTLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil
	}
	return verifyPeerName(cs, id)
}
