package broker

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/wsbroker/broker/transport/websocket"
)

// reservedWSHeaders may not be set with WithWebsocketHeaders (nats-server's
// list): they belong to the upgrade itself.
var reservedWSHeaders = []string{"host", "content-length", "connection", "upgrade", "nats-no-masking"}

// validateWebsocket checks the websocket options, with nats-server's texts
// where it has them.
func (o *options) validateWebsocket() {
	ws := &o.ws
	if ws.addr != "" && ws.tls == nil && !ws.noTLS {
		o.problem("WithWebsocket(%q): websocket requires TLS configuration (use WithWebsocketTLS, or WithNoTLS for plain text)", ws.addr)
	}
	if ws.tls != nil && len(ws.tls.Certificates) == 0 && ws.tls.GetCertificate == nil && ws.tls.GetConfigForClient == nil {
		o.problem("WithWebsocketTLS: the config has no certificate")
	}
	if err := websocket.ValidateOrigins(ws.allowedOrigins); err != nil {
		o.problem("WithAllowedOrigins: %v", err)
	}
	for k := range ws.headers {
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(lk, "sec-websocket-"):
			o.problem("WithWebsocketHeaders: websocket: invalid header %q, \"Sec-WebSocket-\" prefix not allowed", k)
		case containsString(reservedWSHeaders, lk):
			o.problem("WithWebsocketHeaders: websocket: invalid header %q not allowed", k)
		}
	}
	for _, c := range []struct{ opt, name string }{
		{"WithJWTCookie", ws.jwtCookie}, {"WithUserCookie", ws.userCookie},
		{"WithPassCookie", ws.passCookie}, {"WithTokenCookie", ws.tokenCookie},
	} {
		if c.name != "" && !validCookieName(c.name) {
			o.problem("%s(%q): invalid cookie name", c.opt, c.name)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// validCookieName reports whether name is an RFC 6265 cookie name (token).
func validCookieName(name string) bool {
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return name != ""
}

// newWebsocketServer builds the websocket edge; it serves both the
// listener of WithWebsocket and WebsocketHandler.
func (b *Broker) newWebsocketServer() (*websocket.Server, error) {
	ws := &b.opts.ws
	var cookies []string
	for _, name := range []string{ws.jwtCookie, ws.userCookie, ws.passCookie, ws.tokenCookie} {
		if name != "" {
			cookies = append(cookies, name)
		}
	}
	sameOrigin := ws.sameOrigin
	if b.opts.cookieAuth() && !sameOrigin && len(ws.allowedOrigins) == 0 && !b.opts.auth.insecureCook {
		// Ambient credentials without an origin check would let any web
		// page act as the user (cross-site websocket hijacking).
		sameOrigin = true
		b.log.Info("websocket: credentials may come from cookies and no origin policy is set: same_origin turned on (WithInsecureCookieAuth turns this off)")
	}
	srv, err := websocket.NewServer(websocket.Config{
		Compression:      ws.compression,
		SameOrigin:       sameOrigin,
		AllowedOrigins:   ws.allowedOrigins,
		HandshakeTimeout: ws.handshakeTimeout,
		Cookies:          cookies,
		MaxPayload:       b.opts.maxPayload,
		Headers:          ws.headers,
		TLSConfig:        ws.tls,
		AcceptLeafnodes:  b.opts.leaf.acceptWS,
		Logger:           b.log.With("transport", "websocket"),
	}, b.handoff)
	if err != nil {
		return nil, fmt.Errorf("broker: websocket: %w", err)
	}
	return srv, nil
}

// WebsocketHandler returns an http.Handler that serves NATS over websocket
// on whatever server, path, TLS and middleware the application mounts it
// on, with the same checks as the WithWebsocket listener (origin policy,
// compression, cookies). Connections it upgrades belong to the broker:
// they are counted, and closed with status 1001 by Shutdown. Before Start
// and after Shutdown it answers 503 Service Unavailable.
func (b *Broker) WebsocketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		running, srv := b.state == stateRunning, b.wsSrv
		b.mu.Unlock()
		if !running {
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, r)
	})
}

// WebsocketURL returns the ws:// (or wss:// with TLS) URL of the websocket
// listener, "" if there is none or the broker is not started. An
// unspecified listen host is reported as 127.0.0.1.
func (b *Broker) WebsocketURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.websocketURLLocked()
}

func (b *Broker) websocketURLLocked() string {
	if b.wsLn == nil {
		return ""
	}
	scheme := "ws://"
	if b.opts.ws.tls != nil {
		scheme = "wss://"
	}
	return scheme + dialable(b.wsLn.Addr())
}

// listenWebsocket binds the websocket listener (b.mu held).
func (b *Broker) listenWebsocket(ln net.Listener) {
	b.wsLn = ln
	srv := b.wsSrv
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := srv.Serve(ln); err != nil {
			b.log.Error("websocket listener stopped", "err", err)
		}
	}()
	if b.opts.ws.tls == nil {
		b.log.Warn("websocket not configured with TLS: do not use in production")
	}
	b.log.Info("listening for websocket clients", "url", b.websocketURLLocked())
}
