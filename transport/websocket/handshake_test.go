package websocket

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/transport"
)

func TestHandshakeChecks(t *testing.T) {
	base := func(drop string, extra ...string) string {
		req := upgradeRequest("/", extra...)
		if drop != "" {
			lines := strings.Split(req, "\r\n")
			out := lines[:0]
			for _, l := range lines {
				if !strings.HasPrefix(l, drop) {
					out = append(out, l)
				}
			}
			req = strings.Join(out, "\r\n")
		}
		return req
	}
	tests := []struct {
		name   string
		req    string
		status int
	}{
		{"ok", upgradeRequest("/"), 101},
		{"ok connection token list", strings.Replace(upgradeRequest("/"), "Connection: Upgrade", "Connection: keep-alive, Upgrade", 1), 101},
		{"ok version list", strings.Replace(upgradeRequest("/"), "Version: 13", "Version: 13, 8", 1), 101},
		{"ok any path", upgradeRequest("/foo/bar?x=1"), 101},
		{"mqtt path 404 before method", strings.Replace(upgradeRequest("/x/mqtt"), "GET", "POST", 1), 404},
		{"method", strings.Replace(upgradeRequest("/"), "GET", "POST", 1), 405},
		{"no upgrade", base("Upgrade:"), 400},
		{"bad upgrade", strings.Replace(upgradeRequest("/"), "Upgrade: websocket", "Upgrade: h2c", 1), 400},
		{"no connection", base("Connection:"), 400},
		{"no key", base("Sec-WebSocket-Key:"), 400},
		{"bad key", strings.Replace(upgradeRequest("/"), testKey, "abc", 1), 400},
		{"key not 16 bytes", strings.Replace(upgradeRequest("/"), testKey, "YWJj", 1), 400},
		{"no version", base("Sec-WebSocket-Version:"), 400},
		{"bad version", strings.Replace(upgradeRequest("/"), "Version: 13", "Version: 8", 1), 400},
		{"upgrade checked before version", strings.Replace(base("Upgrade:"), "Version: 13", "Version: 8", 1), 400},
		{"origin refused", upgradeRequest("/", "Origin: http://evil.example"), 403},
		{"origin allowed", upgradeRequest("/", "Origin: http://app.example"), 101},
		{"no origin accepted", upgradeRequest("/"), 101},
		{"sec-websocket-origin used", upgradeRequest("/", "Sec-WebSocket-Origin: http://evil.example"), 403},
		{"origin null refused", upgradeRequest("/", "Origin: null"), 403},
	}
	cfg := Config{AllowedOrigins: []string{"http://app.example"}}
	modes := map[string]func(t *testing.T) string{
		"listener": func(t *testing.T) string {
			_, addr := startServer(t, cfg, newEchoEngine())
			return addr
		},
		"handler": func(t *testing.T) string {
			e := newEchoEngine()
			srv, err := NewServer(cfg, e.handoff)
			require.NoError(t, err)
			hs := httptest.NewServer(srv)
			t.Cleanup(func() { srv.Close(); hs.Close(); e.wait() })
			return hs.Listener.Addr().String()
		},
	}
	for mode, start := range modes {
		t.Run(mode, func(t *testing.T) {
			addr := start(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := dialRaw(t, addr, tt.req)
					require.Equal(t, tt.status, c.resp.StatusCode)
					if tt.status == 101 {
						assert.Equal(t, "websocket", c.resp.Header.Get("Upgrade"))
						assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", c.resp.Header.Get("Sec-WebSocket-Accept"))
						c.conn.Close()
						return
					}
					body, err := io.ReadAll(io.LimitReader(c.resp.Body, 100))
					require.NoError(t, err)
					assert.Equal(t, http.StatusText(tt.status)+"\n", string(body))
					assert.Equal(t, "13", c.resp.Header.Get("Sec-Websocket-Version"))
					assert.Equal(t, "nosniff", c.resp.Header.Get("X-Content-Type-Options"))
					assert.Equal(t, "text/plain; charset=utf-8", c.resp.Header.Get("Content-Type"))
				})
			}
		})
	}
}

func TestUpgradeResponseBytes(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		extra []string
		want  string
	}{
		{"plain", Config{}, nil, ""},
		{"compression", Config{Compression: true}, []string{"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"},
			"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"},
		{"no masking", Config{}, []string{"Nats-No-Masking: true"}, "Nats-No-Masking: true\r\n"},
		{"no masking needs exact value", Config{}, []string{"Nats-No-Masking: TRUE"}, ""},
		{"custom headers sorted", Config{Headers: map[string]string{"X-B": "2", "X-A": "1"}}, nil, "X-A: 1\r\nX-B: 2\r\n"},
		{"all", Config{Compression: true, Headers: map[string]string{"X-A": "1"}},
			[]string{"Nats-No-Masking: true", "Sec-WebSocket-Extensions: permessage-deflate"},
			"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\nNats-No-Masking: true\r\nX-A: 1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(tt.cfg, func(net.Conn, transport.Meta) {})
			require.NoError(t, err)
			r := parseRequest(t, upgradeRequest("/", tt.extra...))
			u, herr := srv.checkRequest(r, false)
			require.Nil(t, herr)
			want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" + tt.want + "\r\n"
			assert.Equal(t, want, string(srv.appendUpgradeResponse(nil, u)))
		})
	}
}

func parseRequest(t *testing.T, req string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(req)))
	require.NoError(t, err)
	return r
}

func TestCompressionNegotiation(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		offers  []string
		want    bool
	}{
		{"disabled", false, []string{"permessage-deflate"}, false},
		{"no offer", true, nil, false},
		{"plain offer", true, []string{"permessage-deflate"}, true},
		{"case insensitive", true, []string{"PerMessage-Deflate"}, true},
		{"client window bits", true, []string{"permessage-deflate; client_max_window_bits"}, true},
		{"client window bits value", true, []string{"permessage-deflate; client_max_window_bits=10"}, true},
		{"server window 15", true, []string{"permessage-deflate; server_max_window_bits=15"}, true},
		{"server window 10 declined", true, []string{"permessage-deflate; server_max_window_bits=10"}, false},
		{"server window quoted 10 declined", true, []string{`permessage-deflate; server_max_window_bits="10"`}, false},
		{"second offer accepted", true, []string{"permessage-deflate; server_max_window_bits=9, permessage-deflate"}, true},
		{"offer on second line", true, []string{"x-webkit-deflate-frame", "permessage-deflate"}, true},
		{"other extension only", true, []string{"x-webkit-deflate-frame"}, false},
		{"context takeover params ignored", true, []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(Config{Compression: tt.enabled}, func(net.Conn, transport.Meta) {})
			require.NoError(t, err)
			var extra []string
			for _, o := range tt.offers {
				extra = append(extra, "Sec-WebSocket-Extensions: "+o)
			}
			u, herr := srv.checkRequest(parseRequest(t, upgradeRequest("/", extra...)), false)
			require.Nil(t, herr)
			assert.Equal(t, tt.want, u.compress)
		})
	}
}

func TestBrowserDetection(t *testing.T) {
	const safari = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
	const chrome = "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36"
	tests := []struct {
		name           string
		path, ua       string
		compress       bool
		browser, nofrg bool
	}{
		{"nats.go", "/", "Go-http-client/1.1", true, false, false},
		{"chrome", "/", chrome, true, true, false},
		{"safari compressed", "/", safari, true, true, true},
		{"safari uncompressed", "/", safari, false, true, false},
		{"mozilla not prefix", "/", "x Mozilla/5.0", false, false, false},
		{"leaf never browser", "/leafnode", chrome, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(Config{Compression: true}, func(net.Conn, transport.Meta) {})
			require.NoError(t, err)
			extra := []string{"User-Agent: " + tt.ua}
			if tt.compress {
				extra = append(extra, "Sec-WebSocket-Extensions: permessage-deflate")
			}
			u, herr := srv.checkRequest(parseRequest(t, upgradeRequest(tt.path, extra...)), false)
			require.Nil(t, herr)
			assert.Equal(t, tt.browser, u.browser)
			assert.Equal(t, tt.nofrg, u.noCompFrag)
		})
	}
}

func TestMeta(t *testing.T) {
	srv, err := NewServer(Config{Cookies: []string{"jwt", "tok"}}, func(net.Conn, transport.Meta) {})
	require.NoError(t, err)
	tests := []struct {
		name string
		path string
		hdr  []string
		want transport.Meta
	}{
		{"client", "/nats", []string{"Origin: http://a", "User-Agent: ua", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-For: 5.6.7.8",
			"Cookie: jwt=first; other=x", "Cookie: jwt=last"},
			transport.Meta{Kind: transport.Websocket, Origin: "http://a", UserAgent: "ua", Path: "/nats", XForwardedFor: "1.2.3.4",
				Cookies: map[string]string{"jwt": "last"}}},
		{"no cookies", "/", []string{"Cookie: other=x"}, transport.Meta{Kind: transport.Websocket, Path: "/"}},
		{"leaf gets no cookies", "/a/leafnode", []string{"Cookie: jwt=x"}, transport.Meta{Kind: transport.LeafnodeWS, Path: "/a/leafnode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseRequest(t, upgradeRequest(tt.path, tt.hdr...))
			u, herr := srv.checkRequest(r, false)
			require.Nil(t, herr)
			assert.Equal(t, tt.want, srv.metaFor(r, u))
		})
	}
}

func TestLeafnodePath(t *testing.T) {
	t.Run("refused when not accepted", func(t *testing.T) {
		e := newEchoEngine()
		_, addr := startServer(t, Config{}, e)
		c := dialRaw(t, addr, upgradeRequest("/some/leafnode"))
		require.Equal(t, http.StatusSwitchingProtocols, c.resp.StatusCode)
		_, err := c.br.ReadByte()
		require.ErrorIs(t, err, io.EOF)
		assert.Empty(t, e.metas)
	})
	t.Run("handed off when accepted", func(t *testing.T) {
		e := newEchoEngine()
		_, addr := startServer(t, Config{AcceptLeafnodes: true}, e)
		c2 := dialRaw(t, addr, upgradeRequest("/leafnode", "Nats-No-Masking: true"))
		require.Equal(t, http.StatusSwitchingProtocols, c2.resp.StatusCode)
		m := <-e.metas
		assert.Equal(t, transport.LeafnodeWS, m.Kind)
		c2.send(frame(0x82, []byte("unmasked"), false))
		assert.Equal(t, "unmasked", string(c2.readData(8)))
	})
}
