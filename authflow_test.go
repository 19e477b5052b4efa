package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

// wsRaw is a raw websocket client: it speaks NATS by hand inside frames.
type wsRaw struct {
	t    testing.TB
	conn net.Conn
	r    io.Reader    // conn, after what the dialer buffered
	buf  bytes.Buffer // NATS bytes received, not yet consumed
	// closeCode is the status of the server's close frame, 0 before it.
	closeCode ws.StatusCode
	closeText string
}

// dialWS upgrades to url with extra request headers; it returns the
// handshake error (with the HTTP status) instead of failing.
func dialWS(t testing.TB, url string, header http.Header) (*wsRaw, error) {
	t.Helper()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(header), Timeout: 5 * time.Second}
	conn, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	w := &wsRaw{t: t, conn: conn, r: conn}
	if br != nil {
		// The first frame may have arrived with the handshake response.
		w.r = io.MultiReader(br, conn)
	}
	return w, nil
}

func (w *wsRaw) send(s string) {
	w.t.Helper()
	require.NoError(w.t, wsutil.WriteClientBinary(w.conn, []byte(s)))
}

// line returns the next NATS line (without CRLF); "" and false once the
// server has closed.
func (w *wsRaw) line() (string, bool) {
	w.t.Helper()
	for {
		if i := bytes.Index(w.buf.Bytes(), []byte("\r\n")); i >= 0 {
			l := string(w.buf.Next(i + 2))
			return strings.TrimSuffix(l, "\r\n"), true
		}
		if w.closeCode != 0 {
			return "", false
		}
		require.NoError(w.t, w.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		frame, err := ws.ReadFrame(w.r)
		if err != nil {
			return "", false
		}
		if frame.Header.Masked {
			ws.Cipher(frame.Payload, frame.Header.Mask, 0)
		}
		switch frame.Header.OpCode {
		case ws.OpClose:
			code, text := ws.ParseCloseFrameData(frame.Payload)
			w.closeCode, w.closeText = code, text
		case ws.OpBinary, ws.OpText, ws.OpContinuation:
			w.buf.Write(frame.Payload)
		}
	}
}

func (w *wsRaw) expectLine(want string) {
	w.t.Helper()
	l, ok := w.line()
	require.True(w.t, ok, "connection closed, wanted %q", want)
	assert.Equal(w.t, want, l)
}

// expectClose reads to the close frame and checks its status and text.
func (w *wsRaw) expectClose(code ws.StatusCode, text string) {
	w.t.Helper()
	for {
		l, ok := w.line()
		if !ok {
			break
		}
		w.t.Errorf("unexpected line before close: %q", l)
	}
	assert.Equal(w.t, code, w.closeCode)
	assert.Equal(w.t, text, w.closeText)
}

func (w *wsRaw) info() map[string]any {
	w.t.Helper()
	l, ok := w.line()
	require.True(w.t, ok)
	require.True(w.t, strings.HasPrefix(l, "INFO "), l)
	var m map[string]any
	require.NoError(w.t, json.Unmarshal([]byte(l[5:]), &m))
	return m
}

func TestNoAuthUserFastPath(t *testing.T) {
	users := broker.WithUsers(broker.User{Name: "anon", Password: "x"}, broker.User{Name: "alice", Password: "p"})
	t.Run("PING first with no_auth_user", func(t *testing.T) {
		b := startBroker(t, users, broker.WithNoAuthUser("anon"))
		r := dialRaw(t, b)
		info := readInfo(t, r)
		assert.Equal(t, true, info["auth_required"])
		r.send("PING\r\n")
		assert.Equal(t, "PONG", r.line())
	})
	t.Run("PING first without no_auth_user", func(t *testing.T) {
		b := startBroker(t, users)
		r := dialRaw(t, b)
		readInfo(t, r)
		r.send("PING\r\n")
		assert.Equal(t, "-ERR 'Authorization Violation'", r.line())
		r.expectClosed()
	})
	t.Run("SUB first with no_auth_user", func(t *testing.T) {
		b := startBroker(t, users, broker.WithNoAuthUser("anon"))
		r := dialRaw(t, b)
		readInfo(t, r)
		r.send("SUB x 1\r\nPING\r\n")
		assert.Equal(t, "+OK", r.line()) // verbose until CONNECT says otherwise
		assert.Equal(t, "PONG", r.line())
	})
}

func TestAuthTimeout(t *testing.T) {
	b := startBroker(t, broker.WithToken("t"), broker.WithAuthTimeout(100*time.Millisecond))
	r := dialRaw(t, b)
	readInfo(t, r)
	assert.Equal(t, "-ERR 'Authentication Timeout'", r.line())
	r.expectClosed()
}

func TestNonceOnlyWhenNeeded(t *testing.T) {
	b := startBroker(t, broker.WithUsers(broker.User{Name: "a", Password: "b"}))
	info := readInfo(t, dialRaw(t, b))
	assert.NotContains(t, info, "nonce")
	b = startBroker(t, broker.WithUsers(broker.User{Nkey: nkeyPub(t, nkeyUser)}))
	info = readInfo(t, dialRaw(t, b))
	assert.NotEmpty(t, info["nonce"])
}

func TestWebsocketRejectionCloses1008(t *testing.T) {
	b := startBroker(t, append(plainWS(t), broker.WithToken("secret"))...)
	w, err := dialWS(t, b.WebsocketURL(), nil)
	require.NoError(t, err)
	assert.Equal(t, true, w.info()["auth_required"])
	w.send("CONNECT {\"auth_token\":\"wrong\"}\r\nPING\r\n")
	w.expectLine("-ERR 'Authorization Violation'")
	w.expectClose(ws.StatusPolicyViolation, "Authentication Failure")
}

func TestWebsocketAuthOverride(t *testing.T) {
	t.Run("user and password", func(t *testing.T) {
		b := startBroker(t, append(plainWS(t), broker.WithToken("tcp-token"), broker.WithWebsocketAuth("wsuser", "wspass"))...)
		_, err := transportNamed("ws").tryConnect(t, b, nats.UserInfo("wsuser", "wspass"))
		assert.NoError(t, err)
		_, err = transportNamed("ws").tryConnect(t, b, nats.Token("tcp-token"))
		assert.True(t, isAuthError(err), "top-level token accepted over websocket: %v", err)
		_, err = transportNamed("tcp").tryConnect(t, b, nats.Token("tcp-token"))
		assert.NoError(t, err)
		_, err = transportNamed("tcp").tryConnect(t, b, nats.UserInfo("wsuser", "wspass"))
		assert.True(t, isAuthError(err), "websocket credentials accepted over TCP: %v", err)
	})
	t.Run("token only over websocket", func(t *testing.T) {
		b := startBroker(t, append(plainWS(t), broker.WithWebsocketToken("wstoken"))...)
		_, err := transportNamed("ws").tryConnect(t, b, nats.Token("wstoken"))
		assert.NoError(t, err)
		_, err = transportNamed("ws").tryConnect(t, b)
		assert.True(t, isAuthError(err), "got %v", err)
		_, err = transportNamed("tcp").tryConnect(t, b)
		assert.NoError(t, err, "TCP needs no auth")
	})
	t.Run("websocket no_auth_user wins", func(t *testing.T) {
		b := startBroker(t, append(plainWS(t),
			broker.WithUsers(broker.User{Name: "admin", Password: "a", Account: "ADMIN"}, broker.User{Name: "web", Password: "w", Account: "WEB"}),
			broker.WithNoAuthUser("admin"), broker.WithWebsocketNoAuthUser("web"))...)
		web := transportNamed("ws").connect(t, b)
		admin := transportNamed("tcp").connect(t, b)
		webUser := transportNamed("tcp").connect(t, b, nats.UserInfo("web", "w"))
		s, err := webUser.SubscribeSync("who")
		require.NoError(t, err)
		require.NoError(t, webUser.Flush())
		require.NoError(t, admin.Publish("who", []byte("admin")))
		require.NoError(t, web.Publish("who", []byte("web")))
		m, err := s.NextMsg(5 * time.Second)
		require.NoError(t, err)
		assert.Equal(t, "web", string(m.Data), "websocket client not in the WEB account")
	})
}

func TestCookieCredentials(t *testing.T) {
	b := startBroker(t, append(plainWS(t),
		broker.WithUsers(broker.User{Name: "alice", Password: "p"}),
		broker.WithUserCookie("nuser"), broker.WithPassCookie("npass"))...)
	t.Run("cookies log in", func(t *testing.T) {
		w, err := dialWS(t, b.WebsocketURL(), http.Header{"Cookie": {"nuser=alice; npass=p"}})
		require.NoError(t, err)
		w.info()
		w.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
		w.expectLine("PONG")
	})
	t.Run("CONNECT wins over cookie", func(t *testing.T) {
		w, err := dialWS(t, b.WebsocketURL(), http.Header{"Cookie": {"nuser=alice; npass=p"}})
		require.NoError(t, err)
		w.info()
		w.send("CONNECT {\"verbose\":false,\"pass\":\"wrong\"}\r\nPING\r\n")
		w.expectLine("-ERR 'Authorization Violation'")
	})
	t.Run("same origin turned on by cookie auth", func(t *testing.T) {
		_, err := dialWS(t, b.WebsocketURL(), http.Header{"Cookie": {"nuser=alice; npass=p"}, "Origin": {"https://evil.example"}})
		var status ws.StatusError
		require.True(t, errors.As(err, &status), "cross-origin upgrade accepted: %v", err)
		assert.Equal(t, ws.StatusError(http.StatusForbidden), status)
	})
	t.Run("opt out", func(t *testing.T) {
		b := startBroker(t, append(plainWS(t),
			broker.WithUsers(broker.User{Name: "alice", Password: "p"}),
			broker.WithUserCookie("nuser"), broker.WithInsecureCookieAuth())...)
		_, err := dialWS(t, b.WebsocketURL(), http.Header{"Origin": {"https://evil.example"}})
		assert.NoError(t, err)
	})
}

func TestJWTCookie(t *testing.T) {
	env := newOperatorEnv(t)
	b := startBroker(t, append(append(plainWS(t), env.opts...), broker.WithJWTCookie("jwt"))...)
	bearer := env.acc.NewUser(t, "browser", func(c *jwt.UserClaims) { c.BearerToken = true })
	plain := env.acc.NewUser(t, "signed", nil)
	t.Run("bearer cookie", func(t *testing.T) {
		w, err := dialWS(t, b.WebsocketURL(), http.Header{"Cookie": {"jwt=" + bearer.JWT}})
		require.NoError(t, err)
		w.info()
		w.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
		w.expectLine("PONG")
	})
	t.Run("non-bearer cookie needs a signature", func(t *testing.T) {
		w, err := dialWS(t, b.WebsocketURL(), http.Header{"Cookie": {"jwt=" + plain.JWT}})
		require.NoError(t, err)
		w.info()
		w.send("CONNECT {\"verbose\":false}\r\nPING\r\n")
		w.expectLine("-ERR 'Authorization Violation'")
	})
	t.Run("CONNECT jwt wins", func(t *testing.T) {
		w, err := dialWS(t, b.WebsocketURL(), http.Header{"Cookie": {"jwt=" + bearer.JWT}})
		require.NoError(t, err)
		w.info()
		w.send("CONNECT {\"verbose\":false,\"jwt\":\"" + plain.JWT + "\"}\r\nPING\r\n")
		w.expectLine("-ERR 'Authorization Violation'") // no sig for the CONNECT JWT
	})
}

func TestAuthenticatorHookWithSessionCookie(t *testing.T) {
	hook := broker.AuthenticatorFunc(func(req *broker.AuthRequest) (*broker.User, error) {
		for _, c := range req.Cookies {
			if c.Name == "session" && c.Value == "valid-session" {
				return &broker.User{Name: "browser-user", Account: "WEB",
					Permissions: &broker.Permissions{Publish: &broker.SubjectPermission{Allow: []string{"web.>"}}}}, nil
			}
		}
		if req.User == "svc" && req.Password == "svcpass" {
			return &broker.User{Name: "svc", Account: "WEB"}, nil
		}
		return nil, errors.New("no session")
	})
	b := startBroker(t, broker.WithAuthenticator(hook))
	url := handlerURL(t, b)

	w, err := dialWS(t, url, http.Header{"Cookie": {"session=valid-session"}})
	require.NoError(t, err)
	w.info()
	w.send("CONNECT {\"verbose\":false}\r\nSUB web.> 1\r\nPUB web.hello 2\r\nhi\r\nPUB other 2\r\nno\r\nPING\r\n")
	w.expectLine("MSG web.hello 1 2")
	w.expectLine("hi")
	w.expectLine(`-ERR 'Permissions Violation for Publish to "other"'`)
	w.expectLine("PONG")

	w2, err := dialWS(t, url, http.Header{"Cookie": {"session=forged"}})
	require.NoError(t, err)
	w2.info()
	w2.send("CONNECT {}\r\nPING\r\n")
	w2.expectLine("-ERR 'Authorization Violation'")

	// Services log in with CONNECT credentials over TCP.
	_, err = transportNamed("tcp").tryConnect(t, b, nats.UserInfo("svc", "svcpass"))
	assert.NoError(t, err)
	// Same-origin protection came on by itself (a hook sees cookies).
	_, err = dialWS(t, url, http.Header{"Cookie": {"session=valid-session"}, "Origin": {"https://evil.example"}})
	assert.Error(t, err)
}

func TestJWTLimitsAndExpiry(t *testing.T) {
	env := newOperatorEnv(t)
	b := startBroker(t, env.opts...)
	t.Run("max subscriptions", func(t *testing.T) {
		u := env.acc.NewUser(t, "few", func(c *jwt.UserClaims) { c.Subs = 1 })
		errOpt, errs := asyncErrors()
		nc := transportNamed("tcp").connect(t, b, jwtOpt(u), errOpt)
		_, err := nc.SubscribeSync("a")
		require.NoError(t, err)
		_, err = nc.SubscribeSync("b")
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		waitFor(t, 5*time.Second, func() bool { return len(errs()) > 0 }, "max subs error")
		assert.Contains(t, errs()[0], "maximum subscriptions exceeded")
	})
	t.Run("expiry disconnects", func(t *testing.T) {
		u := env.acc.NewUser(t, "brief", func(c *jwt.UserClaims) { c.Expires = time.Now().Add(2 * time.Second).Unix() })
		errOpt, errs := asyncErrors()
		nc := transportNamed("tcp").connect(t, b, jwtOpt(u), errOpt)
		waitFor(t, 5*time.Second, func() bool { return nc.IsClosed() || !nc.IsConnected() }, "expired user disconnected")
		waitFor(t, 5*time.Second, func() bool { return len(errs()) > 0 }, "expiry error")
		assert.Contains(t, strings.ToLower(errs()[0]), "authentication expired")
	})
}

func TestWebsocketInfo(t *testing.T) {
	b := startBroker(t, append(plainWS(t), broker.WithWebsocketAdvertise("ws.example.com:443"))...)
	w, err := dialWS(t, b.WebsocketURL(), nil)
	require.NoError(t, err)
	info := w.info()
	port := b.WebsocketURL()[strings.LastIndex(b.WebsocketURL(), ":")+1:]
	assert.Equal(t, port, fmt.Sprint(info["port"]), "INFO describes the websocket listener")
	assert.Equal(t, []any{"ws.example.com:443"}, info["connect_urls"])
	assert.NotContains(t, info, "tls_required")

	plain := startBroker(t, plainWS(t)...)
	w, err = dialWS(t, plain.WebsocketURL(), nil)
	require.NoError(t, err)
	assert.NotContains(t, w.info(), "connect_urls", "no connect_urls without advertise")
}
