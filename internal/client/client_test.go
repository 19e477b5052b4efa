package client

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/pipe"
	"github.com/wsbroker/broker/transport"
)

const testInfo = "INFO {}\r\n"

// started is a client running both loops over a pipe; peer is the other
// end.
type started struct {
	c    *Client
	peer *pipe.Conn
	host *fakeHost
	wg   sync.WaitGroup
}

// startClient starts a client that needs no authentication; at cleanup
// the peer goes away and every goroutine is waited for.
func startClient(t *testing.T, cfg *Config) *started {
	t.Helper()
	a, peer := pipe.New()
	st := &started{peer: peer, host: newFakeHost()}
	st.host.acc = NewAccount("A")
	st.c = New(nextID.Add(1), a, transport.Meta{}, cfg, st.host)
	st.c.Start(&st.wg, []byte(testInfo), st.host.acc)
	t.Cleanup(func() {
		_ = peer.Close()
		st.c.Abort(transport.ClientClosed)
		st.wg.Wait()
	})
	return st
}

func TestProtocolErrorOnTheWire(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*Config)
		send   string
		want   string // what the peer reads after INFO, up to EOF
		reason transport.CloseReason
	}{
		{
			name:   "unknown operation",
			send:   "FOO\r\n",
			want:   "-ERR 'Unknown Protocol Operation'\r\n",
			reason: transport.ParseError,
		},
		{
			name:   "output before the error is kept",
			send:   "PING\r\nBAR\r\n",
			want:   "PONG\r\n-ERR 'Unknown Protocol Operation'\r\n",
			reason: transport.ParseError,
		},
		{
			name:   "max control line",
			cfg:    func(c *Config) { c.MaxControlLine = 64 },
			send:   "SUB " + strings.Repeat("a", 100) + " 1\r\n",
			want:   "-ERR 'maximum control line exceeded'\r\n",
			reason: transport.MaxControlLineExceeded,
		},
		{
			name:   "max payload",
			cfg:    func(c *Config) { c.MaxPayload = 1024 },
			send:   "PUB foo 2048\r\n",
			want:   "-ERR 'Maximum Payload Violation'\r\n",
			reason: transport.MaxPayloadExceeded,
		},
		{
			name:   "bad arguments close without -ERR",
			send:   "PUB foo bar baz qux\r\n",
			want:   "",
			reason: transport.ProtocolViolation,
		},
		{
			name:   "-ERR from the client closes without -ERR",
			send:   "-ERR 'oops'\r\n",
			want:   "",
			reason: transport.ProtocolViolation,
		},
		{
			name:   "handler close error: bad protocol version",
			send:   `CONNECT {"protocol":2,"verbose":false}` + "\r\n",
			want:   "-ERR 'invalid client protocol'\r\n",
			reason: transport.BadClientProtocol,
		},
		{
			name:   "handler close error: no responders without headers",
			send:   `CONNECT {"no_responders":true,"verbose":false}` + "\r\n",
			want:   "-ERR 'no responders requires headers support'\r\n",
			reason: transport.NoRespondersRequiresHeaders,
		},
		{
			name:   "handler close error without text: bad CONNECT JSON",
			send:   "CONNECT {nope\r\n",
			want:   "",
			reason: transport.ProtocolViolation,
		},
		{
			name:   "handler close error: HPUB without headers",
			send:   `CONNECT {"verbose":false}` + "\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n",
			want:   "",
			reason: transport.ProtocolViolation,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			st := startClient(t, cfg)
			_ = st.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := st.peer.Write([]byte(tt.send))
			require.NoError(t, err)
			got, err := io.ReadAll(st.peer)
			require.NoError(t, err, "the server half-closes after its last bytes")
			assert.Equal(t, testInfo+tt.want, string(got))
			_ = st.peer.Close() // lets the server stop lingering
			assert.Equal(t, tt.reason, st.host.waitClosed(t))
		})
	}
}

func TestReadCloseReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want transport.CloseReason
	}{
		{"peer closed", io.EOF, transport.ClientClosed},
		{"wrapped EOF", fmt.Errorf("ws: %w", io.EOF), transport.ClientClosed},
		{"closed by us", net.ErrClosed, transport.ServerShutdown},
		{"other", errors.New("connection reset"), transport.ReadError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, readCloseReason(tt.err))
		})
	}
}

func TestPeerClosingIsClientClosed(t *testing.T) {
	st := startClient(t, testConfig())
	buf := make([]byte, len(testInfo))
	_, err := io.ReadFull(st.peer, buf)
	require.NoError(t, err)
	require.NoError(t, st.peer.Close())
	assert.Equal(t, transport.ClientClosed, st.host.waitClosed(t))
}

func TestCloseWithIsIdempotent(t *testing.T) {
	c := newTestClient(t, NewAccount("A"))
	c.CloseWithError("first", transport.StaleConnection)
	c.CloseWithError("second", transport.AuthenticationTimeout)
	c.Close(transport.ClientClosed)

	c.mu.Lock()
	assert.True(t, c.closing)
	assert.True(t, c.flushOut, "still a graceful close")
	assert.Equal(t, transport.StaleConnection, c.reason, "the first reason wins")
	c.mu.Unlock()
	assert.Equal(t, "-ERR 'first'\r\n", takeOut(c), "only the first -ERR is queued")

	// Output queued on a closing client is dropped.
	c.queue([]byte("PONG\r\n"))
	assert.Empty(t, takeOut(c))

	// An abort turns the graceful close into an immediate one, once.
	c.Abort(transport.WriteError)
	c.mu.Lock()
	assert.False(t, c.flushOut)
	assert.Equal(t, transport.StaleConnection, c.reason)
	c.mu.Unlock()
	_, err := c.conn.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed, "abort closes the connection")
	c.Abort(transport.WriteError)
	c.Close(transport.ClientClosed)
	c.mu.Lock()
	assert.False(t, c.flushOut, "a graceful close never comes back")
	c.mu.Unlock()
}

func TestAbortFirstDoesNotFlush(t *testing.T) {
	c := newTestClient(t, NewAccount("A"))
	c.Abort(transport.SlowConsumerPending)
	c.CloseWithError("late", transport.StaleConnection)
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.False(t, c.flushOut)
	assert.Equal(t, transport.SlowConsumerPending, c.reason)
	assert.Empty(t, c.out, "no -ERR after an abort")
}

// A graceful close stuck writing to a peer that does not read is cut short
// by Abort, long before the write deadline.
func TestAbortCutsBlockedGracefulWrite(t *testing.T) {
	a, peer := pipe.New()
	defer peer.Close()
	cfg := testConfig()
	cfg.WriteDeadline = time.Minute
	c := New(1, a, transport.Meta{}, cfg, newFakeHost())
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(c.writeLoop)

	c.mu.Lock()
	c.appendLocked(make([]byte, pipe.Limit+chunkSize)) // more than the pipe holds
	c.mu.Unlock()
	c.CloseWithError("bye", transport.ServerShutdown)
	select {
	case <-c.Done():
		t.Fatal("the write cannot have finished: nobody reads")
	case <-time.After(100 * time.Millisecond):
	}
	start := time.Now()
	c.Abort(transport.ServerShutdown)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Abort did not cut the graceful close short")
	}
	assert.Less(t, time.Since(start), 5*time.Second)
}

// A graceful close lingers for the peer to close after reading the last
// bytes; Abort ends the linger at once.
func TestAbortCutsLinger(t *testing.T) {
	st := startClient(t, testConfig())
	st.c.CloseWithError("bye", transport.ServerShutdown)
	_ = st.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(st.peer) // EOF: the server half-closed
	require.NoError(t, err)
	assert.Equal(t, testInfo+"-ERR 'bye'\r\n", string(got))

	// The peer does not close: the server lingers (lingerTime) ...
	select {
	case <-st.c.Done():
		t.Fatal("closed without lingering")
	case <-time.After(100 * time.Millisecond):
	}
	// ... until aborted.
	start := time.Now()
	st.c.Abort(transport.ClientClosed)
	select {
	case <-st.c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("not closed")
	}
	assert.Less(t, time.Since(start), lingerTime/2, "Abort must not wait for the linger time")
	assert.Equal(t, transport.ServerShutdown, st.host.waitClosed(t), "the first reason stays")
}

func TestGracefulCloseEndsWhenPeerCloses(t *testing.T) {
	st := startClient(t, testConfig())
	st.c.Close(transport.ServerShutdown)
	_ = st.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(st.peer)
	require.NoError(t, err)
	assert.Equal(t, testInfo, string(got), "queued output is written before closing")
	start := time.Now()
	require.NoError(t, st.peer.Close())
	select {
	case <-st.c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("not closed")
	}
	assert.Less(t, time.Since(start), lingerTime/2, "the peer's close ends the linger")
	assert.Equal(t, transport.ServerShutdown, st.host.waitClosed(t))
}
