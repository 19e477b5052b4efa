package broker_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
	"github.com/wsbroker/broker/internal/testcert"
)

// startBroker starts a broker on a random loopback port and shuts it down
// at the end of the test.
func startBroker(t testing.TB, opts ...broker.Option) *broker.Broker {
	t.Helper()
	opts = append([]broker.Option{broker.WithListen("127.0.0.1:0")}, opts...)
	b, err := broker.New(opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, b.Shutdown(ctx))
	})
	return b
}

// transport is one way a nats.go client reaches a broker in these tests.
type transport struct {
	name string
	// kind is the connection type the broker sees.
	kind string
	// opts are the broker options the transport needs.
	opts func(t testing.TB) []broker.Option
	// target returns the URL and nats.go options that reach b.
	target func(t testing.TB, b *broker.Broker) (string, []nats.Option)
}

// connect dials b over tr with nats.go and closes the connection at the
// end of the test.
func (tr transport) connect(t testing.TB, b *broker.Broker, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := tr.tryConnect(t, b, opts...)
	require.NoError(t, err)
	return nc
}

// tryConnect is connect that returns the error.
func (tr transport) tryConnect(t testing.TB, b *broker.Broker, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	url, topts := tr.target(t, b)
	all := append([]nats.Option{nats.NoReconnect(), nats.Timeout(5 * time.Second)}, topts...)
	nc, err := nats.Connect(url, append(all, opts...)...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

func noOpts(testing.TB) []broker.Option { return nil }

func plainWS(testing.TB) []broker.Option {
	return []broker.Option{broker.WithWebsocket("127.0.0.1:0"), broker.WithNoTLS()}
}

// handlerURLs maps a broker to the URL of the httptest server its
// WebsocketHandler is mounted on (at /nats), created on first use.
var handlerURLs sync.Map

var transports = []transport{
	{"tcp", broker.ConnectionTypeStandard, noOpts, func(_ testing.TB, b *broker.Broker) (string, []nats.Option) {
		return b.ClientURL(), nil
	}},
	{"inprocess", broker.ConnectionTypeInProcess, noOpts, func(_ testing.TB, b *broker.Broker) (string, []nats.Option) {
		return "", []nats.Option{nats.InProcessServer(b)}
	}},
	{"ws", broker.ConnectionTypeWebsocket, plainWS, func(_ testing.TB, b *broker.Broker) (string, []nats.Option) {
		return b.WebsocketURL(), nil
	}},
	{"ws-deflate", broker.ConnectionTypeWebsocket, func(testing.TB) []broker.Option {
		return []broker.Option{broker.WithWebsocket("127.0.0.1:0"), broker.WithNoTLS(), broker.WithCompression()}
	}, func(_ testing.TB, b *broker.Broker) (string, []nats.Option) {
		return b.WebsocketURL(), []nats.Option{nats.Compression(true)}
	}},
	{"wss", broker.ConnectionTypeWebsocket, func(t testing.TB) []broker.Option {
		return []broker.Option{broker.WithWebsocket("127.0.0.1:0"), broker.WithWebsocketTLS(testTLS(t).server)}
	}, func(t testing.TB, b *broker.Broker) (string, []nats.Option) {
		return b.WebsocketURL(), []nats.Option{nats.Secure(testTLS(t).client)}
	}},
	{"handler", broker.ConnectionTypeWebsocket, noOpts, func(t testing.TB, b *broker.Broker) (string, []nats.Option) {
		return handlerURL(t, b), nil
	}},
}

// handlerURL mounts b's WebsocketHandler at /nats of an httptest server
// (once per broker) and returns its ws:// URL.
func handlerURL(t testing.TB, b *broker.Broker) string {
	url, ok := handlerURLs.Load(b)
	if !ok {
		mux := http.NewServeMux()
		mux.Handle("/nats", b.WebsocketHandler())
		mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		srv := httptest.NewServer(mux)
		t.Cleanup(func() { handlerURLs.Delete(b); srv.Close() })
		url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/nats"
		handlerURLs.Store(b, url)
	}
	return url.(string)
}

// tlsPair is a server config and a client config trusting it.
type tlsPair struct{ server, client *tls.Config }

var (
	tlsOnce sync.Once
	tlsVal  tlsPair
)

// testTLS returns a self-signed certificate for 127.0.0.1, made once per
// test binary.
func testTLS(t testing.TB) tlsPair {
	t.Helper()
	tlsOnce.Do(func() {
		c := testcert.New(t)
		tlsVal = tlsPair{server: c.Server(), client: c.Client()}
	})
	return tlsVal
}

// rawConn is a plain TCP connection speaking the protocol by hand.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t testing.TB, b *broker.Broker) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetWriteDeadline(time.Now().Add(5*time.Second)))
	_, err := c.conn.Write([]byte(s))
	require.NoError(c.t, err)
}

// line reads one protocol line, without its CRLF.
func (c *rawConn) line() string {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	l, err := c.r.ReadString('\n')
	require.NoError(c.t, err, "got %q", l)
	return strings.TrimSuffix(l, "\r\n")
}

// expectClosed asserts the server closes the connection (after anything
// still buffered).
func (c *rawConn) expectClosed() {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			var ne net.Error
			require.False(c.t, errorAs(err, &ne) && ne.Timeout(), "connection not closed")
			return
		}
		c.t.Errorf("unexpected line before close: %q", l)
	}
}

func errorAs(err error, target any) bool {
	return err != nil && asError(err, target)
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func asError(err error, target any) bool { return errors.As(err, target) }
