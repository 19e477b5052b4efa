package broker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

func TestNewReportsEveryBadOption(t *testing.T) {
	cases := []struct {
		name string
		opt  broker.Option
		want string
	}{
		{"listen", broker.WithListen("nope"), `WithListen("nope")`},
		{"listen port", broker.WithListen("127.0.0.1:70000"), `WithListen("127.0.0.1:70000"): invalid port`},
		{"max payload", broker.WithMaxPayload(-1), "WithMaxPayload(-1): must be positive"},
		{"max control line", broker.WithMaxControlLine(0), "WithMaxControlLine(0): must be positive"},
		{"max connections", broker.WithMaxConnections(-1), "WithMaxConnections(-1): must not be negative"},
		{"max pending", broker.WithMaxPending(0), "WithMaxPending(0): must be positive"},
		{"write deadline", broker.WithWriteDeadline(0), "WithWriteDeadline(0s): must be positive"},
		{"ping interval", broker.WithPingInterval(-time.Second), "WithPingInterval(-1s): must be positive"},
		{"ping max", broker.WithPingMax(0), "WithPingMax(0): must be positive"},
		{"logger", broker.WithLogger(nil), "WithLogger(nil)"},
		{"nil option", nil, "nil Option"},
		{"websocket without TLS", broker.WithWebsocket("127.0.0.1:0"), "websocket requires TLS configuration"},
		{"websocket TLS nil", broker.WithWebsocketTLS(nil), "WithWebsocketTLS(nil)"},
		{"websocket TLS without certificate", broker.WithWebsocketTLS(&tls.Config{}), "no certificate"},
		{"allowed origin not absolute", broker.WithAllowedOrigins("foo"), "unable to parse allowed origin"},
		{"allowed origin scheme", broker.WithAllowedOrigins("ftp://x.com"), "allowed origins must be absolute URLs with http or https scheme"},
		{"reserved header", broker.WithWebsocketHeaders(map[string]string{"Upgrade": "x"}), `websocket: invalid header "Upgrade" not allowed`},
		{"sec-websocket header", broker.WithWebsocketHeaders(map[string]string{"Sec-WebSocket-Key": "x"}), `"Sec-WebSocket-" prefix not allowed`},
		{"handshake timeout", broker.WithHandshakeTimeout(0), "WithHandshakeTimeout(0s): must be positive"},
		{"cookie name", broker.WithUserCookie("a b"), `WithUserCookie("a b"): invalid cookie name`},
		{"jwt cookie without operator", broker.WithJWTCookie("jwt"), `trusted operators or trusted keys configuration is required for JWT authentication via cookie "jwt"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := broker.New(tc.opt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "broker: "), err.Error())
		})
	}
	t.Run("all at once", func(t *testing.T) {
		_, err := broker.New(broker.WithMaxPayload(0), broker.WithPingMax(0), broker.WithListen("x"))
		require.Error(t, err)
		assert.Len(t, strings.Split(err.Error(), "\n"), 3)
	})
}

func TestStartReturnsBindError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	b, err := broker.New(broker.WithListen(ln.Addr().String()))
	require.NoError(t, err)
	err = b.Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address already in use")
	require.NoError(t, b.Close())
}

func TestStartWebsocketBindErrorReleasesTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	b, err := broker.New(broker.WithListen("127.0.0.1:0"), broker.WithWebsocket(ln.Addr().String()), broker.WithNoTLS())
	require.NoError(t, err)
	require.Error(t, b.Start(context.Background()))
	assert.Nil(t, b.Addr(), "TCP listener left open after a failed start")
	require.NoError(t, b.Close())
}

func TestStartTwice(t *testing.T) {
	b := startBroker(t)
	assert.ErrorIs(t, b.Start(context.Background()), broker.ErrStarted)
}

func TestNothingBeforeStart(t *testing.T) {
	b, err := broker.New(broker.WithListen("127.0.0.1:0"))
	require.NoError(t, err)
	assert.Nil(t, b.Addr())
	assert.Empty(t, b.ClientURL())
	_, err = b.InProcessConn()
	assert.ErrorIs(t, err, broker.ErrNotStarted)
	require.NoError(t, b.Close())
}

func TestShutdownIsGracefulAndIdempotent(t *testing.T) {
	b, err := broker.New(broker.WithListen("127.0.0.1:0"))
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	closed := make(chan struct{})
	nc, err := nats.Connect(b.ClientURL(), nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	require.NoError(t, err)
	defer nc.Close()
	ip, err := b.InProcessConn()
	require.NoError(t, err)
	defer ip.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.Shutdown(ctx))
	require.NoError(t, b.Shutdown(ctx), "second Shutdown")
	require.NoError(t, b.Close(), "Close after Shutdown")
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("client not disconnected by Shutdown")
	}
	assert.Equal(t, 0, b.NumClients())
	_, err = net.DialTimeout("tcp", nc.ConnectedAddr(), time.Second)
	assert.Error(t, err, "listener still open")
	_, err = b.InProcessConn()
	assert.ErrorIs(t, err, broker.ErrClosed)
	assert.ErrorIs(t, b.Start(ctx), broker.ErrClosed)
}

// A client that never reads cannot hold Shutdown past its context.
func TestShutdownBoundedByContext(t *testing.T) {
	b, err := broker.New(broker.WithListen("127.0.0.1:0"), broker.WithWriteDeadline(time.Minute))
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	raw, err := net.Dial("tcp", b.Addr().String())
	require.NoError(t, err)
	defer raw.Close()
	require.NoError(t, raw.(*net.TCPConn).SetReadBuffer(4096))
	_, err = raw.Write([]byte("CONNECT {\"verbose\":false}\r\nSUB x 1\r\n"))
	require.NoError(t, err)

	nc, err := nats.Connect(b.ClientURL(), nats.NoReconnect())
	require.NoError(t, err)
	defer nc.Close()
	payload := make([]byte, 32<<10)
	for range 400 { // 12.5 MiB towards a reader that never reads
		require.NoError(t, nc.Publish("x", payload))
	}
	require.NoError(t, nc.Flush())

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = b.Shutdown(ctx)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestCloseIsImmediate(t *testing.T) {
	b, err := broker.New(broker.WithListen("127.0.0.1:0"))
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	nc, err := nats.Connect(b.ClientURL(), nats.NoReconnect())
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	waitFor(t, 5*time.Second, func() bool { return nc.IsClosed() }, "client sees the close")
}

func TestInProcessConnNeedsNoListener(t *testing.T) {
	b, err := broker.New()
	require.NoError(t, err)
	require.NoError(t, b.Start(context.Background()))
	defer b.Close()
	assert.Nil(t, b.Addr())
	nc, err := nats.Connect("", nats.InProcessServer(b), nats.NoReconnect())
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.Flush())
	assert.Equal(t, 1, b.NumClients())
}

func TestTCPClientsOverTLS(t *testing.T) {
	b := startBroker(t, broker.WithTLS(testTLS(t).server))
	assert.True(t, strings.HasPrefix(b.ClientURL(), "tls://"), b.ClientURL())
	nc, err := nats.Connect(b.ClientURL(), nats.Secure(testTLS(t).client), nats.NoReconnect())
	require.NoError(t, err)
	defer nc.Close()
	assert.True(t, nc.TLSRequired())
	s, err := nc.SubscribeSync("x")
	require.NoError(t, err)
	require.NoError(t, nc.Publish("x", []byte("secret")))
	m, err := s.NextMsg(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "secret", string(m.Data))

	// Plain text after INFO is refused: the handshake fails, nothing else
	// happens, other clients carry on.
	r := dialRaw(t, b)
	info := readInfo(t, r)
	assert.Equal(t, true, info["tls_required"])
	r.send("CONNECT {}\r\nPING\r\n")
	r.expectClosed()
	require.NoError(t, nc.Flush())
}

// A Start that fails to bind can be retried, and the websocket side works
// after the retry.
func TestStartRetryAfterBindError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b, err := broker.New(broker.WithListen("127.0.0.1:0"), broker.WithWebsocket("127.0.0.1:0"), broker.WithNoTLS(),
		broker.WithLeafnodeListen(busy.Addr().String()))
	require.NoError(t, err)
	require.Error(t, b.Start(context.Background()))
	require.NoError(t, busy.Close())
	require.NoError(t, b.Start(context.Background()))
	defer b.Close()
	nc, err := nats.Connect(b.WebsocketURL(), nats.NoReconnect())
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.Flush())
}
