package broker_test

import (
	"bufio"
	"errors"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
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

// transports are the ways a nats.go client reaches a broker in these tests.
var transports = []struct {
	name    string
	connect func(t testing.TB, b *broker.Broker, opts ...nats.Option) *nats.Conn
}{
	{"tcp", func(t testing.TB, b *broker.Broker, opts ...nats.Option) *nats.Conn {
		t.Helper()
		nc, err := nats.Connect(b.ClientURL(), append([]nats.Option{nats.NoReconnect()}, opts...)...)
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		return nc
	}},
	{"inprocess", func(t testing.TB, b *broker.Broker, opts ...nats.Option) *nats.Conn {
		t.Helper()
		nc, err := nats.Connect("", append([]nats.Option{nats.InProcessServer(b), nats.NoReconnect()}, opts...)...)
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		return nc
	}},
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
		c.t.Logf("extra line before close: %q", l)
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
