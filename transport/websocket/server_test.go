package websocket

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/testcert"
	"github.com/wsbroker/broker/transport"
)

func TestHandshakeTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	_, addr := startServer(t, Config{HandshakeTimeout: timeout}, newEchoEngine())
	up := dial(t, addr)
	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	start := time.Now()
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(testTimeout)))
	_, err = silent.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "silent connection cut by the server")
	assert.GreaterOrEqual(t, time.Since(start), timeout/2)
	// The upgraded connection outlives the handshake timeout.
	up.send(frame(0x82, []byte("still here"), true))
	assert.Equal(t, "still here", string(up.readData(10)))
}

func TestMaxHeaderBytes(t *testing.T) {
	_, addr := startServer(t, Config{MaxHeaderBytes: 1024}, newEchoEngine())
	c := dialRaw(t, addr, upgradeRequest("/", "X-Big: "+repeat('a', 2000)))
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, c.resp.StatusCode)
}

func repeat(b byte, n int) string {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return string(s)
}

func TestEarlyDataRefused(t *testing.T) {
	_, addr := startServer(t, Config{}, newEchoEngine())
	c := dialRaw(t, addr, upgradeRequest("/")+string(frame(0x82, []byte("early"), true)))
	assert.Equal(t, http.StatusBadRequest, c.resp.StatusCode)
}

func TestHandlerMode(t *testing.T) {
	e := newEchoEngine()
	srv, err := NewServer(Config{Cookies: []string{"jwt"}}, e.handoff)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/nats", srv)
	mux.HandleFunc("/other", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "other") })
	hs := httptest.NewServer(mux)
	defer func() { hs.Close(); e.wait() }()
	defer srv.Close()

	resp, err := http.Get(hs.URL + "/other")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "other", string(body))

	addr := hs.Listener.Addr().String()
	c := dialRaw(t, addr, upgradeRequest("/nats", "Cookie: jwt=abc", "X-Custom: 1"))
	require.Equal(t, http.StatusSwitchingProtocols, c.resp.StatusCode)
	m := <-e.metas
	assert.Equal(t, transport.Websocket, m.Kind)
	assert.Equal(t, "/nats", m.Path)
	assert.Equal(t, map[string]string{"jwt": "abc"}, m.Cookies)
	assert.Equal(t, "1", http.Header(m.Header).Get("X-Custom"))
	c.send(frame(0x82, []byte("over handler"), true))
	assert.Equal(t, "over handler", string(c.readData(12)))

	// gobwas client against the handler.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, "ws://"+addr+"/nats")
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, ws.WriteFrame(conn, ws.MaskFrame(ws.NewBinaryFrame([]byte("gobwas")))))
	f, err := ws.ReadFrame(conn)
	require.NoError(t, err)
	assert.Equal(t, "gobwas", string(f.Payload))
}

func selfSigned(t *testing.T) tls.Certificate { return testcert.New(t).TLS }

func TestTLSListener(t *testing.T) {
	cert := selfSigned(t)
	e := newEchoEngine()
	_, addr := startServer(t, Config{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, SameOrigin: true}, e)
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	pool.AddCert(leaf)
	d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: pool}, Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {"https://" + addr}})}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, _, _, err := d.Dial(ctx, "wss://"+addr+"/")
	require.NoError(t, err)
	defer conn.Close()
	m := <-e.metas
	require.NotNil(t, m.TLS)
	assert.True(t, m.TLS.HandshakeComplete)
	require.NoError(t, ws.WriteFrame(conn, ws.MaskFrame(ws.NewBinaryFrame([]byte("secure")))))
	f, err := ws.ReadFrame(conn)
	require.NoError(t, err)
	assert.Equal(t, "secure", string(f.Payload))

	t.Run("plain origin refused on tls", func(t *testing.T) {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Origin": {"http://" + addr}})
		_, _, _, err := d.Dial(ctx, "wss://"+addr+"/")
		var se ws.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 403, int(se))
	})
}

func TestShutdown(t *testing.T) {
	e := newEchoEngine()
	srv, err := NewServer(Config{}, e.handoff)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	c := dial(t, l.Addr().String())
	<-e.metas
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	status, text := c.readClose()
	assert.Equal(t, 1001, status)
	assert.Equal(t, "Server Shutdown", text)
	c.send(frame(0x88, closePayload(1001, ""), true)) // client's close reply
	require.NoError(t, <-shut)
	require.NoError(t, <-done)
	e.wait()
	_, err = net.DialTimeout("tcp", l.Addr().String(), time.Second)
	assert.Error(t, err, "listener closed")
}

func TestShutdownForcesAfterContext(t *testing.T) {
	held := make(chan net.Conn, 1)
	srv, err := NewServer(Config{}, func(c net.Conn, _ transport.Meta) { held <- c }) // engine never reads or writes
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	c := dial(t, l.Addr().String())
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, srv.Shutdown(ctx), context.DeadlineExceeded)
	require.NoError(t, <-done)
	_, err = c.br.ReadByte()
	assert.ErrorIs(t, err, io.EOF)
}

func TestValidateOrigins(t *testing.T) {
	tests := []struct {
		name    string
		origins []string
		want    string
	}{
		{"empty", nil, ""},
		{"ok", []string{"http://a.com", "https://b.com:8443"}, ""},
		{"not uri", []string{"foo"}, "unable to parse allowed origin: parse \"foo\": invalid URI for request"},
		{"scheme", []string{"ftp://a.com"}, `unable to parse allowed origin "ftp://a.com": allowed origins must be absolute URLs with http or https scheme`},
		{"no host", []string{"http:///x"}, `unable to parse allowed origin "http:///x": host is required`},
		{"bad port", []string{"http://this:is:bad:url"}, `unable to parse allowed origin: parse "http://this:is:bad:url": invalid port ":is:bad:url" after host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateOrigins(tt.origins)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.want)
			_, err = NewServer(Config{AllowedOrigins: tt.origins}, noHandoff)
			assert.EqualError(t, err, tt.want)
		})
	}
}

func TestOriginPolicy(t *testing.T) {
	tests := []struct {
		name    string
		same    bool
		allowed []string
		origin  string
		host    string
		tls     bool
		want    string
	}{
		{"no policy", false, nil, "http://evil", "h", false, ""},
		{"missing origin", true, []string{"http://a"}, "", "h", false, ""},
		{"same ok", true, nil, "http://h:8080", "h:8080", false, ""},
		{"same implied 80", true, nil, "http://H", "h:80", false, ""},
		{"same implied 443", true, nil, "https://h", "h", true, ""},
		{"same scheme mismatch", true, nil, "http://h:443", "h", true, "not same origin"},
		{"same port mismatch", true, nil, "http://h:81", "h", false, "not same origin"},
		{"allowed implied port", false, []string{"https://app.com"}, "https://APP.com:443", "x", false, ""},
		{"allowed explicit port", false, []string{"http://app.com:8080"}, "http://app.com:8080/path", "x", false, ""},
		{"allowed wrong port", false, []string{"http://app.com:8080"}, "http://app.com", "x", false, "not in the allowed list"},
		{"allowed wrong scheme", false, []string{"http://app.com"}, "https://app.com", "x", false, "not in the allowed list"},
		{"allowed both schemes", false, []string{"http://app.com", "https://app.com"}, "https://app.com", "x", false, ""},
		{"both must pass", true, []string{"http://app.com"}, "http://app.com", "other", false, "not same origin"},
		{"null origin", false, []string{"http://app.com"}, "null", "x", false, "parse \"null\": invalid URI for request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newOriginPolicy(tt.same, tt.allowed)
			require.NoError(t, err)
			err = p.check(tt.origin, tt.host, tt.tls)
			if tt.want == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tt.want)
			}
		})
	}
}
