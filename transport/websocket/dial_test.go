package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/transport"
)

func dialT(t *testing.T, url string, opts DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(testTimeout)))
	return c
}

// roundTrip writes p and reads back as many bytes (the peer echoes), the
// read running concurrently so large payloads cannot deadlock.
func roundTrip(t *testing.T, c *Conn, p []byte) {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(p))
		n, _ := io.ReadFull(c, b)
		got <- b[:n]
	}()
	_, err := c.Write(p)
	require.NoError(t, err)
	require.True(t, bytes.Equal(p, <-got), "echo of %d bytes", len(p))
}

var echoSizes = []int{1, 64, 65, 5000, 200 << 10, 3 << 20}

func TestDialEcho(t *testing.T) {
	for _, compress := range []bool{false, true} {
		cfg := Config{Compression: true}
		name := "plain"
		if compress {
			name = "compressed"
		}
		t.Run("listener/"+name, func(t *testing.T) {
			e := newEchoEngine()
			_, addr := startServer(t, cfg, e)
			c := dialT(t, "ws://"+addr+"/some/path", DialOptions{Compression: compress})
			m := <-e.metas
			assert.Equal(t, transport.Websocket, m.Kind)
			assert.Equal(t, "/some/path", m.Path)
			assert.Empty(t, m.UserAgent)
			assert.Equal(t, compress, c.compress)
			assert.True(t, c.client)
			assert.True(t, c.maskOut)
			for _, n := range echoSizes {
				roundTrip(t, c, randomish(n))
			}
			require.NoError(t, c.CloseWithReason(transport.ClientClosed))
			assert.ErrorIs(t, <-e.errs, io.EOF, "server read the close frame")
		})
		t.Run("handler/"+name, func(t *testing.T) {
			e := newEchoEngine()
			srv, err := NewServer(cfg, e.handoff)
			require.NoError(t, err)
			mux := http.NewServeMux()
			mux.Handle("/nats/", srv)
			hs := httptest.NewServer(mux)
			defer func() { hs.Close(); e.wait() }()
			defer srv.Close()
			c := dialT(t, "ws://"+hs.Listener.Addr().String()+"/nats/x?y=1",
				DialOptions{Compression: compress, Header: http.Header{"User-Agent": {"leaf/1"}}})
			m := <-e.metas
			assert.Equal(t, "/nats/x", m.Path)
			assert.Equal(t, "leaf/1", m.UserAgent)
			assert.Equal(t, compress, c.compress)
			for _, n := range echoSizes {
				roundTrip(t, c, randomish(n))
			}
		})
	}
}

func TestDialLeafnodeKind(t *testing.T) {
	e := newEchoEngine()
	_, addr := startServer(t, Config{AcceptLeafnodes: true}, e)
	c := dialT(t, "ws://"+addr+"/leafnode", DialOptions{NoMasking: true})
	m := <-e.metas
	assert.Equal(t, transport.LeafnodeWS, m.Kind)
	assert.False(t, c.maskOut, "our server grants Nats-No-Masking")
	roundTrip(t, c, []byte("CONNECT {}\r\n"))
}

// tee is a TCP proxy recording both directions of each connection.
type tee struct {
	mu       sync.Mutex
	up, down bytes.Buffer
	wg       sync.WaitGroup // accept loop
	pipes    sync.WaitGroup // copying goroutines
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startTee(t *testing.T, target string) (string, *tee) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tee{}
	var conns []net.Conn
	var cmu sync.Mutex
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			down, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				return
			}
			cmu.Lock()
			conns = append(conns, down, up)
			cmu.Unlock()
			p.pipes.Add(2)
			pipe := func(dst, src net.Conn, rec *bytes.Buffer) {
				defer p.pipes.Done()
				io.Copy(io.MultiWriter(dst, lockedWriter{&p.mu, rec}), src)
				dst.(*net.TCPConn).CloseWrite()
			}
			go pipe(up, down, &p.up)
			go pipe(down, up, &p.down)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		p.wg.Wait()
		p.pipes.Wait()
	})
	return l.Addr().String(), p
}

type wireFrame struct {
	h       ws.Header
	payload []byte // unmasked
}

// frames parses the websocket frames following the HTTP head in b.
func parseWire(t *testing.T, b []byte) (head string, frames []wireFrame) {
	t.Helper()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	require.GreaterOrEqual(t, i, 0)
	r := bytes.NewReader(b[i+4:])
	for r.Len() > 0 {
		h, err := ws.ReadHeader(r)
		require.NoError(t, err)
		p := make([]byte, h.Length)
		_, err = io.ReadFull(r, p)
		require.NoError(t, err)
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
		}
		frames = append(frames, wireFrame{h, p})
	}
	return string(b[:i+4]), frames
}

func (p *tee) wire(t *testing.T) (upHead string, up []wireFrame, downHead string, down []wireFrame) {
	p.mu.Lock()
	u, d := bytes.Clone(p.up.Bytes()), bytes.Clone(p.down.Bytes())
	p.mu.Unlock()
	upHead, up = parseWire(t, u)
	downHead, down = parseWire(t, d)
	return
}

func TestDialWireMasking(t *testing.T) {
	msgs := [][]byte{[]byte("one"), []byte("two"), randomish(300), randomish(70000), []byte("five")}
	for _, tt := range []struct {
		name              string
		opts              DialOptions
		compress, masking bool
	}{
		{"masked", DialOptions{}, false, true},
		{"no masking", DialOptions{NoMasking: true}, false, false},
		{"masked compressed", DialOptions{Compression: true}, true, true},
		{"no masking compressed", DialOptions{NoMasking: true, Compression: true}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEchoEngine()
			_, addr := startServer(t, Config{Compression: true}, e)
			paddr, p := startTee(t, addr)
			c := dialT(t, "ws://"+paddr, tt.opts)
			<-e.metas
			require.Equal(t, !tt.masking, !c.maskOut)
			var want []byte
			for _, m := range msgs {
				roundTrip(t, c, m)
				want = append(want, m...)
			}
			require.NoError(t, c.CloseWithReason(transport.ClientClosed))
			assert.ErrorIs(t, <-e.errs, io.EOF)
			p.pipes.Wait() // both ends closed: the tee has seen everything

			upHead, up, downHead, down := p.wire(t)
			assert.True(t, strings.HasPrefix(upHead, "GET / HTTP/1.1\r\n"), upHead)
			assert.Equal(t, tt.opts.NoMasking, strings.Contains(upHead, "\r\nNats-No-Masking: true\r\n"))
			assert.Equal(t, tt.masking, !strings.Contains(downHead, "\r\nNats-No-Masking: true\r\n"))
			assert.Equal(t, tt.compress, strings.Contains(downHead, "permessage-deflate"))

			keys := map[[4]byte]bool{}
			var data []byte
			var compressed int
			for i, f := range up {
				require.Equal(t, tt.masking, f.h.Masked, "client frame %d", i)
				if f.h.Masked {
					keys[f.h.Mask] = true
				}
				if f.h.OpCode == ws.OpClose {
					require.Equal(t, len(up)-1, i, "close is last")
					assert.Equal(t, uint16(closeNormal), binary.BigEndian.Uint16(f.payload))
					assert.Equal(t, "Client Closed", string(f.payload[2:]))
					continue
				}
				require.Equal(t, ws.OpBinary, f.h.OpCode)
				data = append(data, inflateIf(t, f)...)
				if f.h.Rsv1() {
					compressed++
				}
			}
			assert.Equal(t, want, data, "unmasked client frames carry the data")
			if tt.masking {
				assert.Greater(t, len(keys), len(up)/2, "fresh key per frame")
			}
			var back []byte
			var downCompressed int
			for _, f := range down {
				require.False(t, f.h.Masked)
				if f.h.OpCode == ws.OpBinary {
					back = append(back, inflateIf(t, f)...)
					if f.h.Rsv1() {
						downCompressed++
					}
				}
			}
			assert.Equal(t, want, back)
			if tt.compress {
				assert.Greater(t, compressed, 0, "client compressed")
				assert.Greater(t, downCompressed, 0, "server compressed")
			} else {
				assert.Zero(t, compressed+downCompressed)
			}
		})
	}
}

func inflateIf(t *testing.T, f wireFrame) []byte {
	t.Helper()
	if !f.h.Rsv1() {
		return f.payload
	}
	require.True(t, f.h.Fin)
	var in inflater
	zr, err := in.start(f.payload)
	require.NoError(t, err)
	defer in.stop(zr)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}

// fakeConn is a connection accepted by fakeServer after its upgrade
// request was read and answered.
type fakeConn struct {
	net.Conn
	br  *bufio.Reader
	req *http.Request
}

// fakeServer answers each upgrade request with respond(req) (raw bytes:
// response head and possibly frames) and passes on the connection.
func fakeServer(t *testing.T, respond func(r *http.Request) string) (string, <-chan *fakeConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan *fakeConn, 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			nc.SetDeadline(time.Now().Add(testTimeout))
			br := bufio.NewReader(nc)
			r, err := http.ReadRequest(br)
			if err != nil {
				nc.Close()
				continue
			}
			io.WriteString(nc, respond(r))
			ch <- &fakeConn{nc, br, r}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String(), ch
}

// ok101 is a valid 101 response for r, with extra header lines.
func ok101(r *http.Request, extra ...string) string {
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(r.Header.Get("Sec-Websocket-Key")) + "\r\n"
	for _, h := range extra {
		s += h + "\r\n"
	}
	return s + "\r\n"
}

// serverFrame builds an unmasked frame, as a server sends.
func serverFrame(b0 byte, payload []byte) []byte { return frame(b0, payload, false) }

// readClientFrame reads one frame from the client and unmasks it.
func (f *fakeConn) readClientFrame(t *testing.T) (ws.Header, []byte) {
	t.Helper()
	h, err := ws.ReadHeader(f.br)
	require.NoError(t, err)
	p := make([]byte, h.Length)
	_, err = io.ReadFull(f.br, p)
	require.NoError(t, err)
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return h, p
}

func TestDialRequest(t *testing.T) {
	addr, conns := fakeServer(t, func(r *http.Request) string { return ok101(r) })
	dialT(t, "ws://user:secret@"+addr+"/a%2Fb/leafnode?q=1", DialOptions{
		Compression: true, NoMasking: true,
		Header: http.Header{"Origin": {"http://o.example"}, "Upgrade": {"evil"}, "X-Extra": {"1", "2"}},
	})
	f := <-conns
	r := f.req
	assert.Equal(t, "GET", r.Method)
	assert.Equal(t, "/a%2Fb/leafnode?q=1", r.RequestURI)
	assert.Equal(t, addr, r.Host)
	assert.Equal(t, []string{"websocket"}, r.Header["Upgrade"])
	assert.Equal(t, "Upgrade", r.Header.Get("Connection"))
	assert.Equal(t, "13", r.Header.Get("Sec-Websocket-Version"))
	assert.Equal(t, pmdOffer, r.Header.Get("Sec-Websocket-Extensions"))
	assert.Equal(t, "true", r.Header.Get("Nats-No-Masking"))
	assert.Equal(t, "http://o.example", r.Header.Get("Origin"))
	assert.Equal(t, []string{"1", "2"}, r.Header["X-Extra"])
	assert.Empty(t, r.Header.Get("Authorization"))
	assert.NotContains(t, r.Header, "User-Agent")
	srv, err := NewServer(Config{}, noHandoff)
	require.NoError(t, err)
	_, herr := srv.checkRequest(r, false)
	assert.Nil(t, herr, "our server accepts the request")
}

func TestDialEarlyServerData(t *testing.T) {
	info := []byte("INFO {\"server_id\":\"x\"}\r\n")
	addr, conns := fakeServer(t, func(r *http.Request) string {
		return ok101(r) + string(serverFrame(0x82, info))
	})
	c := dialT(t, "ws://"+addr, DialOptions{})
	<-conns
	got := make([]byte, len(info))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, info, got)
}

func TestDialHandshakeErrors(t *testing.T) {
	e := newEchoEngine()
	_, addr := startServer(t, Config{AllowedOrigins: []string{"http://good.example"}}, e)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	status := func(t *testing.T, err error) int {
		t.Helper()
		var he *HandshakeError
		require.ErrorAs(t, err, &he)
		return he.Status
	}

	_, err := Dial(ctx, "ws://"+addr+"/mqtt", DialOptions{})
	assert.Equal(t, http.StatusNotFound, status(t, err))
	assert.Contains(t, err.Error(), "404")
	_, err = Dial(ctx, "ws://"+addr+"/", DialOptions{Header: http.Header{"Origin": {"http://evil.example"}}})
	assert.Equal(t, http.StatusForbidden, status(t, err))
	c, err := Dial(ctx, "ws://"+addr+"/", DialOptions{Header: http.Header{"Origin": {"http://good.example"}}})
	require.NoError(t, err)
	c.Close()
	<-e.metas

	t.Run("handler 404", func(t *testing.T) {
		hs := httptest.NewServer(http.NotFoundHandler())
		defer hs.Close()
		_, err := Dial(ctx, "ws://"+hs.Listener.Addr().String()+"/x", DialOptions{})
		assert.Equal(t, http.StatusNotFound, status(t, err))
	})

	t.Run("url", func(t *testing.T) {
		for _, u := range []string{"http://" + addr, "nats://" + addr, "ws://", "ws://[::1"} {
			_, err := Dial(ctx, u, DialOptions{})
			assert.Error(t, err, u)
		}
		_, err := Dial(ctx, "ws://user:secret@127.0.0.1:1/", DialOptions{})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "secret")
	})

	bad := []struct {
		name     string
		opts     DialOptions
		respond  func(r *http.Request) string
		status   int
		contains string
	}{
		{"200", DialOptions{}, func(*http.Request) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
		}, 200, "unexpected status"},
		{"bad accept", DialOptions{}, func(*http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n"
		}, 101, "Sec-WebSocket-Accept"},
		{"no upgrade", DialOptions{}, func(r *http.Request) string {
			return strings.Replace(ok101(r), "Upgrade: websocket\r\n", "", 1)
		}, 101, "Upgrade"},
		{"no connection", DialOptions{}, func(r *http.Request) string {
			return strings.Replace(ok101(r), "Connection: Upgrade\r\n", "Connection: keep-alive\r\n", 1)
		}, 101, "Connection"},
		{"extension not offered", DialOptions{}, func(r *http.Request) string {
			return ok101(r, pmdResponse[:len(pmdResponse)-2])
		}, 101, "Extensions"},
		{"context takeover", DialOptions{Compression: true}, func(r *http.Request) string {
			return ok101(r, "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover")
		}, 101, "server_no_context_takeover"},
		{"small client window", DialOptions{Compression: true}, func(r *http.Request) string {
			return ok101(r, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10")
		}, 101, "client_max_window_bits"},
		{"other extension", DialOptions{Compression: true}, func(r *http.Request) string {
			return ok101(r, "Sec-WebSocket-Extensions: x-webkit-deflate-frame")
		}, 101, "x-webkit"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := fakeServer(t, tt.respond)
			_, err := Dial(ctx, "ws://"+addr, tt.opts)
			assert.Equal(t, tt.status, status(t, err))
			assert.Contains(t, err.Error(), tt.contains)
		})
	}

	t.Run("compression declined", func(t *testing.T) {
		addr, _ := fakeServer(t, func(r *http.Request) string { return ok101(r) })
		c := dialT(t, "ws://"+addr, DialOptions{Compression: true})
		assert.False(t, c.compress)
	})
	t.Run("compression with window bits", func(t *testing.T) {
		addr, _ := fakeServer(t, func(r *http.Request) string {
			return ok101(r, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
		})
		c := dialT(t, "ws://"+addr, DialOptions{Compression: true})
		assert.True(t, c.compress)
	})
	t.Run("no masking not echoed", func(t *testing.T) {
		addr, _ := fakeServer(t, func(r *http.Request) string { return ok101(r) })
		c := dialT(t, "ws://"+addr, DialOptions{NoMasking: true})
		assert.True(t, c.maskOut)
	})
	t.Run("leafnode refused after 101", func(t *testing.T) {
		c := dialT(t, "ws://"+addr+"/leafnode", DialOptions{})
		_, err := c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF)
	})
}

func TestDialHandshakeTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	var held []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer func() {
		l.Close()
		wg.Wait()
		for _, c := range held {
			c.Close()
		}
	}()

	start := time.Now()
	_, err = Dial(context.Background(), "ws://"+l.Addr().String(), DialOptions{HandshakeTimeout: 200 * time.Millisecond})
	require.Error(t, err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), err.Error())
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// The TLS handshake is bounded too.
	_, err = Dial(context.Background(), "wss://"+l.Addr().String(), DialOptions{HandshakeTimeout: 200 * time.Millisecond})
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), err.Error())

	// Cancelling ctx interrupts the handshake, whatever the timeout.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = Dial(ctx, "ws://"+l.Addr().String(), DialOptions{HandshakeTimeout: -1})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestDialTLS(t *testing.T) {
	cert := selfSigned(t)
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	pool.AddCert(leaf)
	e := newEchoEngine()
	_, addr := startServer(t, Config{Compression: true, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}, e)

	clientTLS := &tls.Config{RootCAs: pool}
	c := dialT(t, "wss://"+addr+"/", DialOptions{TLSConfig: clientTLS, Compression: true})
	assert.Empty(t, clientTLS.ServerName, "config cloned")
	m := <-e.metas
	require.NotNil(t, m.TLS)
	for _, n := range []int{10, 100, 100 << 10} {
		roundTrip(t, c, randomish(n))
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err = Dial(ctx, "wss://"+addr+"/", DialOptions{})
	var ve *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &ve, "system roots do not know the self-signed cert")
	_, err = Dial(ctx, "wss://"+addr+"/", DialOptions{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "other.example"}})
	assert.Error(t, err, "ServerName kept")

	t.Run("handler", func(t *testing.T) {
		e := newEchoEngine()
		srv, err := NewServer(Config{}, e.handoff)
		require.NoError(t, err)
		hs := httptest.NewTLSServer(srv)
		defer func() { hs.Close(); e.wait() }()
		defer srv.Close()
		pool := x509.NewCertPool()
		pool.AddCert(hs.Certificate())
		c := dialT(t, "wss://"+hs.Listener.Addr().String(), DialOptions{TLSConfig: &tls.Config{RootCAs: pool}})
		roundTrip(t, c, []byte("over tls handler"))
	})
}

func TestDialRejectsMaskedServerFrame(t *testing.T) {
	addr, conns := fakeServer(t, func(r *http.Request) string { return ok101(r) })
	c := dialT(t, "ws://"+addr, DialOptions{})
	f := <-conns
	_, err := f.Write(frame(0x82, []byte("masked"), true))
	require.NoError(t, err)
	_, err = c.Read(make([]byte, 16))
	var pe *ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "mask bit set", pe.Reason)
	_, err = c.WriteBuffers(nil)
	require.NoError(t, err)
	h, p := f.readClientFrame(t)
	assert.True(t, h.Masked)
	assert.Equal(t, ws.OpClose, h.OpCode)
	assert.Equal(t, uint16(closeProtocolError), binary.BigEndian.Uint16(p))
	assert.Equal(t, "mask bit set", string(p[2:]))
	_, err = c.Write([]byte("late"))
	assert.ErrorIs(t, err, ErrCloseSent)
}

func TestDialPingPongAndClose(t *testing.T) {
	addr, conns := fakeServer(t, func(r *http.Request) string { return ok101(r) })
	c := dialT(t, "ws://"+addr, DialOptions{})
	f := <-conns
	wake := make(chan struct{}, 1)
	c.SetWaker(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	type result struct {
		data []byte
		err  error
	}
	reads := make(chan result, 4)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			reads <- result{bytes.Clone(buf[:n]), err}
			if err != nil {
				return
			}
		}
	}()

	// A ping is answered with a masked pong through the waker.
	_, err := f.Write(serverFrame(0x89, []byte("are you there")))
	require.NoError(t, err)
	select {
	case <-wake:
	case <-time.After(testTimeout):
		t.Fatal("no wake-up for the pong")
	}
	_, err = c.WriteBuffers(net.Buffers{[]byte("data")})
	require.NoError(t, err)
	h, p := f.readClientFrame(t)
	assert.Equal(t, ws.OpPong, h.OpCode)
	assert.True(t, h.Masked)
	assert.Equal(t, "are you there", string(p), "pong ahead of data")
	h, p = f.readClientFrame(t)
	assert.Equal(t, ws.OpBinary, h.OpCode)
	assert.True(t, h.Masked)
	assert.Equal(t, "data", string(p))

	// Server close: Read returns io.EOF after the data, the echo is queued.
	_, err = f.Write(append(serverFrame(0x82, []byte("bye")), serverFrame(0x88, closePayload(1001, "Server Shutdown"))...))
	require.NoError(t, err)
	r := <-reads
	require.NoError(t, r.err)
	assert.Equal(t, "bye", string(r.data))
	r = <-reads
	assert.ErrorIs(t, r.err, io.EOF)
	<-wake
	_, err = c.WriteBuffers(nil)
	require.NoError(t, err)
	h, p = f.readClientFrame(t)
	assert.Equal(t, ws.OpClose, h.OpCode)
	assert.True(t, h.Masked)
	assert.Equal(t, closePayload(1001, "Server Shutdown"), p)
	_, err = c.Write([]byte("late"))
	assert.ErrorIs(t, err, ErrCloseSent)
	require.NoError(t, c.CloseWithReason(transport.ClientClosed), "no second close frame")
	_, err = f.br.ReadByte()
	assert.ErrorIs(t, err, io.EOF)
}

func TestDialServerShutdown(t *testing.T) {
	e := newEchoEngine()
	srv, addr := startServer(t, Config{}, e)
	c := dialT(t, "ws://"+addr, DialOptions{})
	<-e.metas
	wake := make(chan struct{}, 1)
	c.SetWaker(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	_, err := io.ReadAll(c)
	require.NoError(t, err, "io.EOF on the server's close")
	<-wake
	_, err = c.WriteBuffers(nil) // the masked echo
	require.NoError(t, err)
	require.NoError(t, <-done, "the server read our echo and closed")
	assert.ErrorIs(t, <-e.errs, io.EOF)
}

func TestClientModeFramesUnit(t *testing.T) {
	// Compressed client output inflates back and every frame is masked;
	// output is cut at MaxPayload as on the server side.
	m := &memConn{r: bytes.NewReader(nil)}
	c := newConn(m, upgrade{compress: true}, nil)
	c.client, c.maskOut = true, true
	c.maxPayload, c.frameMax = 1000, 1000
	in := randomish(2500)
	orig := bytes.Clone(in)
	_, err := c.WriteBuffers(net.Buffers{in[:700], in[700:]})
	require.NoError(t, err)
	assert.Equal(t, orig, in, "caller's buffers untouched")
	_, frames := parseWire(t, append([]byte("\r\n\r\n"), m.written()...))
	require.Len(t, frames, 3)
	var out []byte
	for _, f := range frames {
		assert.True(t, f.h.Masked)
		out = append(out, inflateIf(t, f)...)
	}
	assert.Equal(t, orig, out)

	// An unmasked data frame is fine in client mode, a masked one is not.
	c2, _ := memConnWith(serverFrame(0x82, []byte("ok")), upgrade{}, nil)
	c2.client = true
	b, err := io.ReadAll(c2)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(b))
	c3, _ := memConnWith(frame(0x82, []byte("no"), true), upgrade{noMasking: true}, nil)
	c3.client = true
	_, err = c3.Read(make([]byte, 8))
	var pe *ProtocolError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, "mask bit set", pe.Reason)
}
