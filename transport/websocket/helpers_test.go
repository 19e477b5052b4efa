package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wsbroker/broker/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testTimeout = 5 * time.Second

// echoEngine is a minimal engine: it echoes every byte read, with one read
// loop and one write loop per connection, as the real engine does.
type echoEngine struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool // set by wait: later hand-offs are refused
	metas  chan transport.Meta
	errs   chan error // read errors, one per connection
}

// wait refuses further hand-offs and waits for the running ones: a
// hand-off still in flight when a test ends must not Add to the
// WaitGroup while it is waited on.
func (e *echoEngine) wait() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.wg.Wait()
}

func newEchoEngine() *echoEngine {
	return &echoEngine{metas: make(chan transport.Meta, 16), errs: make(chan error, 16)}
}

func (e *echoEngine) handoff(nc net.Conn, meta transport.Meta) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = nc.Close()
		return
	}
	e.wg.Add(2)
	e.mu.Unlock()
	e.metas <- meta
	c := nc.(*Conn)
	wake := make(chan struct{}, 1)
	c.SetWaker(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	data := make(chan []byte, 64)
	var rerr error
	go func() {
		defer e.wg.Done()
		defer close(data)
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				data <- bytes.Clone(buf[:n])
			}
			if err != nil {
				rerr = err
				e.errs <- err
				return
			}
		}
	}()
	go func() {
		defer e.wg.Done()
		for {
			select {
			case b, ok := <-data:
				if !ok {
					c.CloseWithReason(closeReason(rerr))
					return
				}
				bufs := net.Buffers{b}
				for more := true; more; {
					select {
					case b2, ok := <-data:
						if !ok {
							more = false
							data = nil
							break
						}
						bufs = append(bufs, b2)
					default:
						more = false
					}
				}
				c.WriteBuffers(bufs)
				if data == nil {
					c.CloseWithReason(closeReason(rerr))
					return
				}
			case <-wake:
				c.WriteBuffers(nil)
			}
		}
	}()
}

func closeReason(err error) transport.CloseReason {
	if errors.Is(err, io.EOF) {
		return transport.ClientClosed
	}
	return transport.ReadError
}

// startServer runs srv.Serve on a 127.0.0.1 listener and returns the address
// and a cleanup stopping everything.
func startServer(t *testing.T, cfg Config, e *echoEngine) (*Server, string) {
	t.Helper()
	srv, err := NewServer(cfg, e.handoff)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, <-done)
		e.wait()
	})
	return srv, l.Addr().String()
}

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

// upgradeRequest builds a GET upgrade request with extra header lines.
func upgradeRequest(path string, extra ...string) string {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	b.WriteString("Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// client is a raw websocket client over TCP.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// dialRaw sends req and reads the HTTP response head.
func dialRaw(t *testing.T, addr, req string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(testTimeout)))
	_, err = io.WriteString(conn, req)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	return &client{t: t, conn: conn, br: br, resp: resp}
}

// dial upgrades to websocket and requires a 101.
func dial(t *testing.T, addr string, extra ...string) *client {
	t.Helper()
	c := dialRaw(t, addr, upgradeRequest("/", extra...))
	require.Equal(t, http.StatusSwitchingProtocols, c.resp.StatusCode)
	return c
}

// frame builds a client frame; mask applies a fixed key.
func frame(b0 byte, payload []byte, mask bool) []byte {
	var b []byte
	b1 := byte(0)
	if mask {
		b1 = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, b0, b1|byte(n))
	case n <= 0xFFFF:
		b = binary.BigEndian.AppendUint16(append(b, b0, b1|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, b0, b1|127), uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	ws.Cipher(b[start:], key, 0)
	return b
}

func (c *client) send(frames ...[]byte) {
	c.t.Helper()
	for _, f := range frames {
		_, err := c.conn.Write(f)
		require.NoError(c.t, err)
	}
}

// readFrame reads one server frame.
func (c *client) readFrame() (ws.Header, []byte) {
	c.t.Helper()
	h, err := ws.ReadHeader(c.br)
	require.NoError(c.t, err)
	require.False(c.t, h.Masked, "server frames are unmasked")
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.br, p)
	require.NoError(c.t, err)
	return h, p
}

// readClose reads frames until a close frame and returns status and text.
func (c *client) readClose() (int, string) {
	c.t.Helper()
	for {
		h, p := c.readFrame()
		if h.OpCode == ws.OpClose {
			if len(p) == 0 {
				return 0, ""
			}
			return int(binary.BigEndian.Uint16(p)), string(p[2:])
		}
	}
}

// readData reads data frames until n payload bytes were received.
func (c *client) readData(n int) []byte {
	c.t.Helper()
	var out []byte
	for len(out) < n {
		h, p := c.readFrame()
		require.Equal(c.t, ws.OpBinary, h.OpCode)
		out = append(out, p...)
	}
	return out
}

// memConn is a net.Conn reading from a fixed byte slice and recording
// writes; used for unit tests, fuzzing and benchmarks.
type memConn struct {
	r  io.Reader
	mu sync.Mutex
	w  bytes.Buffer
}

func (m *memConn) Read(p []byte) (int, error) { return m.r.Read(p) }
func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.w.Write(p)
}
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

func (m *memConn) written() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.w.Bytes())
}
