package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

// TLS on leafnode TCP links with nats-server 2.15.2: the hub sends INFO in
// plain text with tls_required, then both sides run the TLS handshake
// (leafnode-spec §3; nats-server's default, not handshake_first). The
// certificates are made here: a CA and a server certificate it signs for
// 127.0.0.1 and localhost.

// testPKI is a CA, a server certificate it signed, their files and TLS
// configurations for both ends of a link.
type testPKI struct {
	caFile, certFile, keyFile string
	roots                     *x509.CertPool
	server                    *tls.Config // the server certificate
}

// client returns a client configuration trusting the CA only.
func (p *testPKI) client() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.roots}
}

// newTestPKI creates a CA and a server certificate for 127.0.0.1 and
// localhost, valid for an hour, and writes them to a temporary directory.
func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wsbroker test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "wsbroker test server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)

	dir := t.TempDir()
	p := &testPKI{
		caFile:   writeConf(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))),
		certFile: writeConf(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		keyFile:  writeConf(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))),
		roots:    x509.NewCertPool(),
	}
	p.roots.AddCert(caCert)
	cert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	require.NoError(t, err)
	p.server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	return p
}

// natsTLSHub makes o a hub whose leafnode port requires TLS with cfg.
func natsTLSHub(cfg *tls.Config) func(o *server.Options) {
	return func(o *server.Options) {
		natsHubOptions(-1, -1)(o)
		o.LeafNode.TLSConfig = cfg
		o.LeafNode.TLSTimeout = 2
	}
}

// natsTLSLeaf makes o a leaf of the hub at rawURL over TLS with cfg (nil:
// no TLS configuration, the leaf follows the hub's tls_required).
func natsTLSLeaf(t *testing.T, rawURL string, cfg *tls.Config) func(o *server.Options) {
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return func(o *server.Options) {
		o.LeafNode.ReconnectInterval = 100 * time.Millisecond
		o.LeafNode.Remotes = []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, TLSConfig: cfg, TLS: cfg != nil, TLSTimeout: 2}}
	}
}

// waitHandshakeErrors waits until s has logged n TLS handshake errors, and
// checks along the way that it never had a leaf link.
func waitHandshakeErrors(t *testing.T, s natsSrv, n int) {
	t.Helper()
	ok := assert.Eventually(t, func() bool {
		require.Zero(t, s.NumLeafNodes(), "nats-server %s linked over untrusted TLS", s.Name())
		return s.log.count("handshake error") >= n
	}, leafWait, 5*time.Millisecond)
	require.True(t, ok, "nats-server %s: fewer than %d TLS handshake errors", s.Name(), n)
}

// TestLeafTLSInteropOursLeaf: our broker as a leaf of a nats-server hub
// whose leafnode port requires TLS, over nats-leaf:// (TLS from the remote's
// configuration) and tls:// URLs, and by host name (the certificate is
// checked against the URL's host); full traffic both ways.
func TestLeafTLSInteropOursLeaf(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct{ name, scheme, host string }{
		{"nats-leaf", "nats-leaf", "127.0.0.1"},
		{"tls", "tls", "127.0.0.1"},
		{"localhost", "nats-leaf", "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := startNatsLeafTest(t, "HUB", natsTLSHub(pki.server))
			u := fmt.Sprintf("%s://%s:%d", tc.scheme, tc.host, hub.opts.LeafNode.Port)
			leaf := startOursLeafTest(t, "leaf", broker.WithLeafnodeRemote(broker.LeafnodeRemote{
				URLs: []string{u}, TLS: pki.client(),
			}))
			hub.waitLinks(t, 1)
			require.Eventually(t, func() bool { return leaf.NumLeafNodes() == 1 }, leafWait, 5*time.Millisecond)
			runLeafTraffic(t, leafTopo{hub: hub.clientURL(), leaf: leaf.ClientURL()})
		})
	}
}

// TestLeafTLSInteropOursLeafClientCert: a hub that verifies client
// certificates (nats-server's tls { verify: true }) links our leaf when
// its remote has a certificate the hub's CA signed (cert_file/key_file),
// and refuses it without one. The refusal is seen on the hub: with TLS 1.3
// the leaf's side of the handshake completes before the hub checks the
// certificate, so the leaf counts a link until its first read fails.
func TestLeafTLSInteropOursLeafClientCert(t *testing.T) {
	pki := newTestPKI(t)
	hubTLS := pki.server.Clone()
	hubTLS.ClientAuth = tls.RequireAndVerifyClientCert
	hubTLS.ClientCAs = pki.roots
	hub := startNatsLeafTest(t, "HUB", natsTLSHub(hubTLS))

	bad := startOursLeafTest(t, "nocert", broker.WithLeafnodeRemote(broker.LeafnodeRemote{
		URLs: []string{hub.leafURL()}, TLS: pki.client(), ReconnectInterval: 50 * time.Millisecond,
	}))
	bc := connect(t, bad.ClientURL())
	hc := connect(t, hub.clientURL())
	hubSub := syncSub(t, hc, "tls.nocert")
	ok := assert.Eventually(t, func() bool {
		require.Zero(t, hub.NumLeafNodes(), "a leaf without a client certificate linked")
		require.NoError(t, bc.Publish("tls.nocert", []byte("bad")))
		return hub.log.count("client didn't provide a certificate") >= 2
	}, leafWait, 5*time.Millisecond)
	require.True(t, ok, "the hub refused fewer than 2 handshakes")
	require.NoError(t, bc.Flush())

	withCert := pki.client()
	withCert.Certificates = pki.server.Certificates
	leaf := startOursLeafTest(t, "leaf", broker.WithLeafnodeRemote(broker.LeafnodeRemote{
		URLs: []string{hub.leafURL()}, TLS: withCert,
	}))
	hub.waitLinks(t, 1)
	lc := connect(t, leaf.ClientURL())
	sub := respond(t, hc, "tls.cert", "hub")
	defer func() { _ = sub.Unsubscribe() }()
	waitResponder(t, lc, "tls.cert")
	require.NoError(t, bc.Flush())
	assert.Empty(t, drain(t, hc, hubSub), "a leaf without a client certificate delivered messages")
	assert.Equal(t, 1, hub.NumLeafNodes(), "only the leaf with a certificate is linked")
}

// TestLeafTLSInteropOursLeafUntrusted: our leaf that does not trust the
// hub's CA never links: without a TLS configuration (it follows the hub's
// tls_required with the system roots) and with roots of another CA. Its
// publications never reach the hub.
func TestLeafTLSInteropOursLeafUntrusted(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{{"no tls config", nil}, {"other CA", other.client()}} {
		t.Run(tc.name, func(t *testing.T) {
			hub := startNatsLeafTest(t, "HUB", natsTLSHub(pki.server))
			hc := connect(t, hub.clientURL())
			hubSub := syncSub(t, hc, "tls.x")
			bad := startOursLeafTest(t, "bad", broker.WithLeafnodeRemote(broker.LeafnodeRemote{
				URLs: []string{hub.leafURL()}, TLS: tc.tls, ReconnectInterval: 50 * time.Millisecond,
			}))
			bc := connect(t, bad.ClientURL())
			ok := assert.Eventually(t, func() bool {
				require.Zero(t, bad.NumLeafNodes(), "linked to a hub it does not trust")
				require.NoError(t, bc.Publish("tls.x", []byte("bad")))
				return hub.log.count("handshake error") >= 2
			}, leafWait, 5*time.Millisecond)
			require.True(t, ok, "the hub saw fewer than 2 failed handshakes")
			require.NoError(t, bc.Flush())
			assert.Zero(t, hub.NumLeafNodes())
			assert.Empty(t, drain(t, hc, hubSub), "an untrusting leaf delivered messages")
		})
	}
}

// TestLeafTLSInteropNatsLeaf: a nats-server leaf of our hub with
// WithLeafnodeTLS, with a TLS remote trusting the CA; full traffic both
// ways. A leaf trusting another CA, and one without TLS configuration (it
// follows tls_required with the system roots), never link, and the hub
// keeps serving the good one.
func TestLeafTLSInteropNatsLeaf(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	hub := startOursHub(t, false, broker.WithLeafnodeTLS(pki.server))
	leaf := startNatsLeafTest(t, "LEAF", natsTLSLeaf(t, hub.LeafnodeURL(), pki.client()))
	leaf.waitLinks(t, 1)
	require.Eventually(t, func() bool { return hub.NumLeafNodes() == 1 }, leafWait, 5*time.Millisecond)
	runLeafTraffic(t, leafTopo{hub: hub.ClientURL(), leaf: leaf.clientURL()})

	t.Run("untrusted", func(t *testing.T) {
		otherCA := startNatsLeafTest(t, "OTHERCA", natsTLSLeaf(t, hub.LeafnodeURL(), other.client()))
		noTLS := startNatsLeafTest(t, "NOTLS", natsTLSLeaf(t, hub.LeafnodeURL(), nil))
		waitHandshakeErrors(t, otherCA, 2)
		waitHandshakeErrors(t, noTLS, 2)
		assert.Equal(t, 1, hub.NumLeafNodes(), "only the trusting leaf is linked")
		lc := connect(t, leaf.clientURL())
		sub := respond(t, connect(t, hub.ClientURL()), "tls.still", "hub")
		defer func() { _ = sub.Unsubscribe() }()
		waitResponder(t, lc, "tls.still")
	})
}

// TestCommandLeafnodesTLS runs the command with a configuration file that
// has both ends of TLS leaf links: leafnodes.tls on its leafnode port, for
// an embedded nats-server leaf, and a nats-leaf:// remote with tls { ca_file }
// to an embedded nats-server hub requiring TLS. A request from a client of
// the leaf is answered by a client of the hub, across both links.
func TestCommandLeafnodesTLS(t *testing.T) {
	pki := newTestPKI(t)
	natsHub := startNatsLeafTest(t, "HUB", natsTLSHub(pki.server))
	conf := fmt.Sprintf(`listen: "127.0.0.1:-1"
server_name: ours
leafnodes {
  listen: "127.0.0.1:-1"
  reconnect_interval: "100ms"
  tls { cert_file: %q, key_file: %q }
  remotes: [ { url: %q, tls { ca_file: %q } } ]
}
`, pki.certFile, pki.keyFile, natsHub.leafURL(), pki.caFile)
	path := writeConf(t, t.TempDir(), "wsbroker.conf", conf)
	p := startBinary(t, "-c", path)
	readyLine(t, p.stderr, p.done)
	m := leafURLRE.FindStringSubmatch(p.stderr.String())
	require.NotNil(t, m, "no leafnode URL logged; output:\n%s", p.stderr)
	natsHub.waitLinks(t, 1)

	natsLeaf := startNatsLeafTest(t, "LEAF", natsTLSLeaf(t, m[1], pki.client()))
	natsLeaf.waitLinks(t, 1)

	svc := connect(t, natsHub.clientURL())
	sub := respond(t, svc, "greet.joe", "hub")
	defer func() { _ = sub.Unsubscribe() }()
	nc := connect(t, natsLeaf.clientURL())
	var reply *nats.Msg
	var err error
	require.Eventually(t, func() bool {
		reply, err = nc.Request("greet.joe", []byte("hi"), 200*time.Millisecond)
		return err == nil
	}, waitTimeout, 50*time.Millisecond, "no reply across the TLS links; wsbroker:\n%s", p.stderr)
	assert.Equal(t, "hub:hi", string(reply.Data))

	// And back: a client of the hub reaches a responder of the leaf.
	lsub := respond(t, nc, "greet.back", "leaf")
	defer func() { _ = lsub.Unsubscribe() }()
	waitResponder(t, svc, "greet.back")
	out := p.stderr.String()
	assert.Equal(t, 2, strings.Count(out, `msg="leafnode link up"`), "one link each way; output:\n%s", out)
	assert.Contains(t, out, "solicited=true")
	assert.Contains(t, out, "solicited=false")

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.wait(t), "output:\n%s", p.stderr)
}
