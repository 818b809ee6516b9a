package ops

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/quicksilver-go/quicksilver/internal/transport/tcp"
)

// ServerTLS loads an HTTP listener's certificate and key (PEM files). Both
// empty: no TLS (nil, nil). One without the other is an error.
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// TransportTLS loads the internal transport's mutual TLS: the cluster's CA
// (PEM) and this process's certificate and key, which must name
// tcp.NodeName(id) ("node-<id>") as a DNS name and allow both server and
// client auth. All empty: no TLS (nil, nil); some but not all: an error.
func TransportTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	if caFile == "" || certFile == "" || keyFile == "" {
		return nil, errors.New("-transport-ca, -transport-cert and -transport-key go together")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-transport-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-transport-ca %s: no PEM certificate in it", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("-transport-cert/-transport-key: %w", err)
	}
	return tcp.MutualTLSConfig(pool, cert), nil
}

// GossipKeys decodes -gossip-key: hex of a 16, 24 or 32-byte AES key.
// Empty: no encryption.
func GossipKeys(hexKey string) ([][]byte, error) {
	if hexKey == "" {
		return nil, nil
	}
	k, err := hex.DecodeString(hexKey)
	if err != nil {
		return nil, fmt.Errorf("-gossip-key: not hex: %w", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return [][]byte{k}, nil
	}
	return nil, fmt.Errorf("-gossip-key: %d bytes; want 16, 24 or 32", len(k))
}
