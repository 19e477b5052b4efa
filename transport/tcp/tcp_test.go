package tcp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wsbroker/broker/internal/testcert"
	"github.com/wsbroker/broker/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type accepted struct {
	conn net.Conn
	meta transport.Meta
}

// serving is a Serve call running in its own goroutine.
type serving struct {
	done chan struct{} // closed when Serve returned
	err  error         // what it returned, once done is closed
}

// serve runs s on a loopback listener and returns its address. Cleanup
// closes s and waits for Serve.
func serve(t *testing.T, s *Server) (string, *serving) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sv := &serving{done: make(chan struct{})}
	go func() { sv.err = s.Serve(ln); close(sv.done) }()
	t.Cleanup(func() {
		_ = s.Close()
		select {
		case <-sv.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return ln.Addr().String(), sv
}

func collect(ch chan accepted) transport.Handoff {
	return func(conn net.Conn, meta transport.Meta) { ch <- accepted{conn, meta} }
}

func next(t *testing.T, ch chan accepted) accepted {
	t.Helper()
	select {
	case a := <-ch:
		t.Cleanup(func() { _ = a.conn.Close() })
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no hand-off")
		return accepted{}
	}
}

func TestServeHandsOff(t *testing.T) {
	for _, kind := range []transport.Kind{transport.Standard, transport.Leafnode} {
		t.Run(kind.String(), func(t *testing.T) {
			ch := make(chan accepted, 4)
			addr, _ := serve(t, NewServer(kind, nil, collect(ch)))
			for range 2 {
				cc, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				defer cc.Close()
				a := next(t, ch)
				assert.Equal(t, kind, a.meta.Kind)
				require.NotNil(t, a.meta.RemoteAddr)
				assert.Equal(t, cc.LocalAddr().String(), a.meta.RemoteAddr.String())
				assert.Nil(t, a.meta.TLS)
				assert.IsType(t, &net.TCPConn{}, a.conn, "plain TCP is handed off as is")

				// The handed-off connection carries the bytes both ways.
				_, err = cc.Write([]byte("ping"))
				require.NoError(t, err)
				buf := make([]byte, 4)
				_, err = io.ReadFull(a.conn, buf)
				require.NoError(t, err)
				assert.Equal(t, "ping", string(buf))
			}
		})
	}
}

func TestCloseStopsAccepting(t *testing.T) {
	ch := make(chan accepted, 4)
	s := NewServer(transport.Standard, nil, collect(ch))
	addr, sv := serve(t, s)
	cc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer cc.Close()
	next(t, ch)

	require.NoError(t, s.Close())
	select {
	case <-sv.done:
		assert.NoError(t, sv.err, "Serve returns nil after Close")
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "the listener is closed")
	assert.Empty(t, ch)
	// Connections already handed off are not touched.
	_, err = cc.Write([]byte("still here"))
	assert.NoError(t, err)
}

func TestServeAfterClose(t *testing.T) {
	s := NewServer(transport.Standard, nil, func(net.Conn, transport.Meta) { t.Error("no hand-off expected") })
	require.NoError(t, s.Close())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.NoError(t, s.Serve(ln))
	_, err = ln.Accept()
	assert.ErrorIs(t, err, net.ErrClosed, "Serve closes the listener it will not serve")
}

// fakeListener returns the errors of errs in turn from Accept, then
// net.ErrClosed.
type fakeListener struct {
	mu     sync.Mutex
	errs   []error
	calls  int
	closed bool
}

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if len(l.errs) == 0 {
		return nil, net.ErrClosed
	}
	err := l.errs[0]
	l.errs = l.errs[1:]
	return nil, err
}

func (l *fakeListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return nil
}

func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "accept: too many open files" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestServeAcceptErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		errs      []error
		want      error
		wantCalls int
	}{
		{"closed listener: nil", nil, nil, 1},
		{"any error is retried (EMFILE is no timeout)", []error{boom, boom}, nil, 3},
		{"timeouts are retried", []error{timeoutErr{}, timeoutErr{}, boom}, nil, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := &fakeListener{errs: tt.errs}
			s := NewServer(transport.Standard, nil, func(net.Conn, transport.Meta) { t.Error("no hand-off expected") })
			done := make(chan error, 1)
			go func() { done <- s.Serve(ln) }()
			select {
			case err := <-done:
				if tt.want == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
			ln.mu.Lock()
			assert.Equal(t, tt.wantCalls, ln.calls)
			ln.mu.Unlock()
		})
	}
}

// selfSigned returns a server TLS config and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	c := testcert.New(t)
	return c.Server(), c.Pool
}

func TestServeWrapsTLS(t *testing.T) {
	srvConf, pool := selfSigned(t)
	ch := make(chan accepted, 1)
	addr, _ := serve(t, NewServer(transport.Standard, srvConf, collect(ch)))

	type result struct {
		got string
		err error
	}
	res := make(chan result, 1)
	go func() {
		cc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			res <- result{err: err}
			return
		}
		defer cc.Close()
		_ = cc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := cc.Write([]byte("hello")); err != nil {
			res <- result{err: err}
			return
		}
		buf := make([]byte, 5)
		_, err = io.ReadFull(cc, buf)
		res <- result{string(buf), err}
	}()

	a := next(t, ch)
	tc, ok := a.conn.(*tls.Conn)
	require.True(t, ok, "handed off as *tls.Conn, got %T", a.conn)
	assert.Equal(t, transport.Standard, a.meta.Kind)
	assert.NotNil(t, a.meta.RemoteAddr)
	// The handshake runs lazily, on the engine's first read.
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 5)
	_, err := io.ReadFull(tc, buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf))
	assert.True(t, tc.ConnectionState().HandshakeComplete)
	_, err = tc.Write([]byte("world"))
	require.NoError(t, err)

	select {
	case r := <-res:
		require.NoError(t, r.err)
		assert.Equal(t, "world", r.got)
	case <-time.After(10 * time.Second):
		t.Fatal("TLS client did not finish")
	}
}

func TestServePlainClientOnTLSServerFails(t *testing.T) {
	srvConf, _ := selfSigned(t)
	ch := make(chan accepted, 1)
	addr, _ := serve(t, NewServer(transport.Standard, srvConf, collect(ch)))
	cc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer cc.Close()
	_, err = cc.Write([]byte("CONNECT {}\r\n"))
	require.NoError(t, err)
	a := next(t, ch)
	_ = a.conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = a.conn.Read(make([]byte, 16))
	assert.Error(t, err, "plain text is not a TLS handshake")
}
