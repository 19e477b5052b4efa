package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/wsbroker/broker/transport"
)

const (
	acceptGUID       = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	pmdExtension     = "permessage-deflate"
	pmdResponse      = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
	noMaskingHeader  = "Nats-No-Masking"
	noMaskingValue   = "true"
	noMaskingResp    = "Nats-No-Masking: true\r\n"
	upgradeRespStart = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
)

// upgrade is the outcome of checking an upgrade request.
type upgrade struct {
	kind       transport.Kind
	key        string
	compress   bool
	noMasking  bool
	browser    bool
	noCompFrag bool // Safari: compressed output is never fragmented
}

// handshakeError is a refused upgrade: HTTP status plus the logged reason.
type handshakeError struct {
	status int
	reason string
}

func (e *handshakeError) Error() string { return e.reason }

// pathKind maps the escaped URL path to a connection kind (spec §2.1).
func pathKind(path string) transport.Kind {
	switch {
	case strings.HasSuffix(path, "/leafnode"):
		return transport.LeafnodeWS
	case strings.HasSuffix(path, "/mqtt"):
		return transport.MQTTWS
	}
	return transport.Websocket
}

// checkRequest applies the checks of spec §2.2 in order and negotiates
// compression (§2.4). isTLS tells whether the connection is TLS.
func (s *Server) checkRequest(r *http.Request, isTLS bool) (upgrade, *handshakeError) {
	u := upgrade{kind: pathKind(r.URL.EscapedPath())}
	if u.kind == transport.MQTTWS {
		return u, &handshakeError{http.StatusNotFound, "mqtt websocket endpoint not enabled"}
	}
	if r.Method != http.MethodGet {
		return u, &handshakeError{http.StatusMethodNotAllowed, "request method must be GET"}
	}
	if r.Host == "" {
		return u, &handshakeError{http.StatusBadRequest, "'Host' missing in request"}
	}
	if !headerContains(r.Header, "Upgrade", "websocket") {
		return u, &handshakeError{http.StatusBadRequest, "invalid value for header 'Upgrade'"}
	}
	if !headerContains(r.Header, "Connection", "Upgrade") {
		return u, &handshakeError{http.StatusBadRequest, "invalid value for header 'Connection'"}
	}
	u.key = r.Header.Get("Sec-Websocket-Key")
	if u.key == "" {
		return u, &handshakeError{http.StatusBadRequest, "key missing"}
	}
	if d, err := base64.StdEncoding.DecodeString(u.key); err != nil || len(d) != 16 {
		return u, &handshakeError{http.StatusBadRequest, "invalid websocket key"}
	}
	if !headerContains(r.Header, "Sec-Websocket-Version", "13") {
		return u, &handshakeError{http.StatusBadRequest, "invalid version"}
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Sec-Websocket-Origin")
	}
	if err := s.origins.check(origin, r.Host, isTLS); err != nil {
		return u, &handshakeError{http.StatusForbidden, "origin not allowed: " + err.Error()}
	}
	u.compress = s.cfg.Compression && acceptDeflate(r.Header)
	u.noMasking = r.Header.Get(noMaskingHeader) == noMaskingValue
	if u.kind == transport.Websocket {
		if ua := r.Header.Get("User-Agent"); strings.HasPrefix(ua, "Mozilla/") {
			u.browser = true
			u.noCompFrag = u.compress && strings.Contains(ua, "Version/") && strings.Contains(ua, "Safari/")
		}
	}
	return u, nil
}

// headerContains reports whether a comma-separated token of any line of
// header name equals value, case-insensitively (spaces and tabs trimmed).
func headerContains(h http.Header, name, value string) bool {
	for _, line := range h[name] {
		for t := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.Trim(t, " \t"), value) {
				return true
			}
		}
	}
	return false
}

// acceptDeflate reports whether some permessage-deflate offer can be
// accepted with the fixed response (no context takeover both ways, 15-bit
// windows). Offers are evaluated one by one, in order. An offer that asks
// for server_max_window_bits below 15 is declined ([GAP] §2.4: nats-server
// accepts it without honouring it). Other parameters are ignored, as
// nats-server does: client windows of any size can be inflated, and
// context takeover is disabled both ways by the response.
func acceptDeflate(h http.Header) bool {
	for _, line := range h["Sec-Websocket-Extensions"] {
		for offer := range strings.SplitSeq(line, ",") {
			params := strings.Split(offer, ";")
			if !strings.EqualFold(strings.Trim(params[0], " \t"), pmdExtension) {
				continue
			}
			ok := true
			for _, p := range params[1:] {
				name, val, _ := strings.Cut(strings.Trim(p, " \t"), "=")
				if !strings.EqualFold(strings.TrimSpace(name), "server_max_window_bits") {
					continue
				}
				bits, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
				if err != nil || bits != 15 {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
	}
	return false
}

// acceptKey computes Sec-WebSocket-Accept for key.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// appendUpgradeResponse appends the 101 response of spec §2.6.
func (s *Server) appendUpgradeResponse(p []byte, u upgrade) []byte {
	p = append(p, upgradeRespStart...)
	p = append(p, acceptKey(u.key)...)
	p = append(p, "\r\n"...)
	if u.compress {
		p = append(p, pmdResponse...)
	}
	if u.noMasking {
		p = append(p, noMaskingResp...)
	}
	p = append(p, s.rawHeaders...)
	return append(p, "\r\n"...)
}

// appendErrorResponse appends the response net/http's http.Error writes
// for status (body = status text + "\n"), with the Sec-Websocket-Version
// header of spec §2.2 and Connection: close (listener mode closes the
// connection after refusing an upgrade).
func appendErrorResponse(p []byte, status int) []byte {
	body := http.StatusText(status) + "\n"
	p = fmt.Appendf(p, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	p = append(p, "Connection: close\r\nContent-Length: "...)
	p = strconv.AppendInt(p, int64(len(body)), 10)
	p = append(p, "\r\nContent-Type: text/plain; charset=utf-8\r\nSec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\n\r\n"...)
	return append(p, body...)
}

// metaFor builds the transport.Meta of an accepted upgrade.
func (s *Server) metaFor(r *http.Request, u upgrade) transport.Meta {
	m := transport.Meta{
		Kind:      u.kind,
		Origin:    r.Header.Get("Origin"),
		UserAgent: r.Header.Get("User-Agent"),
		Path:      r.URL.EscapedPath(),
	}
	if xff := r.Header["X-Forwarded-For"]; len(xff) > 0 {
		m.XForwardedFor = xff[0]
	}
	if u.kind == transport.Websocket && len(s.cfg.Cookies) > 0 {
		for _, c := range r.Cookies() {
			for _, name := range s.cfg.Cookies {
				if c.Name == name {
					if m.Cookies == nil {
						m.Cookies = make(map[string]string, len(s.cfg.Cookies))
					}
					m.Cookies[name] = c.Value
				}
			}
		}
	}
	return m
}
