// Package websocket is the websocket edge of the broker. It upgrades HTTP
// connections to websocket (RFC 6455, with optional permessage-deflate,
// RFC 7692) and hands the engine a plain byte stream: a *Conn, which
// implements net.Conn plus the optional transport interfaces
// (transport.BuffersWriter, transport.Waker, transport.ReasonCloser), and a
// transport.Meta describing the upgrade request.
//
// The package knows nothing of NATS. Its behaviour follows nats-server 2.15
// (research/nats-ws-spec.md §2–§3): the checks and responses of the upgrade
// handshake, the origin policy, the close status codes and reason texts,
// outbound framing (one binary frame per flush, 4096-byte frames for
// browsers) and compression.
//
// # Close status codes
//
// A Conn closes on its own when the peer fails: it queues its close frame
// before Read returns the error, and that frame is sent whatever reason
// the engine then closes with (the first queued close frame wins).
//
//   - Framing violations (spec §3.1: RSV bits, masking, control frame
//     length, FIN or compression, fragmentation, opcode, 64-bit length,
//     close payload or status): 1002 with nats-server's reason text;
//     "mask bit set" for a masked frame received in client mode.
//   - A close frame whose reason is not valid UTF-8: 1007 "invalid utf8
//     body in close frame"; any other close frame is echoed.
//   - A compressed message over min(8*MaxPayload, 64 MiB) bytes,
//     compressed or inflated: 1009 "Maximum Message Payload Exceeded",
//     nats-server's text for 1009. ([GAP] nats-server sends 1001 "Read
//     Error" here, unless its parser saw an oversized PUB first.)
//   - Corrupt deflate data: 1007 "invalid compressed data" (RFC 6455
//     §7.4.1: data inconsistent with the message type; RFC 7692 §8
//     requires failing the connection). ([GAP] nats-server: 1001 "Read
//     Error".)
//
// Otherwise the engine's reason decides (CloseStatus, spec §3.3): for
// example a peer that vanishes mid-frame gets 1001 "Read Error".
//
// A Server is used either as a listener (Server.Serve: TLS handshake and
// upgrade bounded by Config.HandshakeTimeout and Config.MaxHeaderBytes) or
// mounted as an http.Handler on any mux and path (Server.ServeHTTP). In both
// cases upgraded connections are tracked and closed with status 1001
// "Server Shutdown" by Server.Shutdown if the engine has not closed them.
//
// # Design note: no ws.Upgrader
//
// DESIGN.md planned gobwas's zero-copy ws.Upgrader for listener mode. Its
// built-in checks cannot give nats-server's behaviour byte for byte: it
// rejects "Sec-WebSocket-Version: 13, 8" and "Upgrade: websocket, x"
// (nats-server accepts both), checks headers in arrival order rather than
// nats-server's order, writes its own response bodies, and its pooled
// reader can drop bytes a client sends early. Listener mode therefore reads
// the request with http.ReadRequest over a reader capped at
// Config.MaxHeaderBytes, under Config.HandshakeTimeout; both modes share
// one check function and write the 101 and error responses themselves.
// The cost is a few allocations per handshake, none per frame. gobwas is
// used for unmasking (ws.Cipher) and on the client side of tests.
package websocket

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"time"
)

// Defaults applied by NewServer to zero Config fields.
const (
	// DefaultHandshakeTimeout bounds the TLS handshake and the reading of
	// the upgrade request in listener mode.
	DefaultHandshakeTimeout = 2 * time.Second
	// DefaultMaxPayload is the default bound, in bytes, of the inflated size
	// of one compressed message.
	DefaultMaxPayload = 1 << 20
	// DefaultMaxHeaderBytes is the default cap, in bytes, of the upgrade
	// request (request line and headers) in listener mode.
	DefaultMaxHeaderBytes = 8 << 10
	// maxCompressedCap caps the compressed bytes of one message (64 MiB).
	maxCompressedCap = 64 << 20
)

// Config configures a Server. The zero value is usable: no compression, no
// origin policy, plain text, defaults as documented per field.
type Config struct {
	// Compression enables permessage-deflate negotiation. Default off.
	Compression bool
	// SameOrigin requires the Origin of browser requests to equal the
	// request's Host (scheme, host and port). Requests without an Origin
	// header are accepted.
	SameOrigin bool
	// AllowedOrigins lists absolute http(s) URLs; a request's Origin must
	// match one of them in scheme, host and port (80/443 implied). Requests
	// without an Origin header are accepted. See ValidateOrigins.
	AllowedOrigins []string
	// HandshakeTimeout bounds, in listener mode, the TLS handshake plus the
	// reading of the upgrade request. Default DefaultHandshakeTimeout (2s)
	// when 0; negative means no limit.
	HandshakeTimeout time.Duration
	// Cookies names the cookies whose values go into Meta.Cookies
	// (exact, case-sensitive names; the last of repeated names wins).
	Cookies []string
	// MaxPayload bounds, in bytes, one compressed message: at most
	// min(8*MaxPayload, 64 MiB) compressed bytes, inflated (streamed into
	// Read) to at most as many; outbound frames carry at most MaxPayload
	// bytes. Default DefaultMaxPayload (1 MiB) when 0. Uncompressed
	// messages have no size limit of their own: they are streamed.
	MaxPayload int
	// Headers are extra headers added to every 101 response, in key order.
	// They are emitted verbatim; validating them is the caller's job.
	Headers map[string]string
	// TLSConfig, in listener mode, wraps each accepted connection in TLS.
	// Nil means plain text. It is not used by ServeHTTP.
	TLSConfig *tls.Config
	// MaxHeaderBytes caps, in bytes, the upgrade request (request line and
	// headers) in listener mode. Default DefaultMaxHeaderBytes (8 KiB) when 0.
	MaxHeaderBytes int
	// AcceptLeafnodes hands upgrades whose path ends with "/leafnode" to
	// the engine as transport.LeafnodeWS. Default false: such upgrades get a
	// 101 and are then closed, as nats-server does without a leafnode
	// listener.
	AcceptLeafnodes bool
	// Logger receives handshake errors and lifecycle events. Nil discards.
	Logger *slog.Logger
}

// Errors returned by Server and Conn.
var (
	// ErrMaxPayload is returned by Conn.Read when a compressed message
	// exceeds min(8*MaxPayload, 64 MiB) bytes, compressed or inflated. A
	// close frame with status 1009 and reason "Maximum Message Payload
	// Exceeded" has been queued when it is returned.
	ErrMaxPayload = errors.New("maximum payload exceeded")
	// ErrInvalidCompressedData is wrapped, together with the inflater's
	// error, in the error Conn.Read returns when a compressed message is
	// not valid deflate data. A close frame with status 1007 and reason
	// "invalid compressed data" has been queued when it is returned.
	ErrInvalidCompressedData = errors.New("websocket: invalid compressed data")
	// ErrCloseSent is returned by Conn.WriteBuffers when a close frame was
	// already written: no data may follow it.
	ErrCloseSent = errors.New("websocket: close frame already sent")
)

// reasonInvalidCompressed is the reason text of the close frame (status
// 1007) sent for a compressed message that is not valid deflate data.
// nats-server has no text of its own there: it closes with 1001 "Read
// Error".
const reasonInvalidCompressed = "invalid compressed data"

// ProtocolError is returned by Conn.Read when the peer violates the
// websocket framing rules. A close frame with status 1002 and Reason as
// its text has been queued when it is returned.
type ProtocolError struct {
	// Reason is the close reason text (nats-ws-spec §3.1), for example
	// "mask bit missing".
	Reason string
}

// Error returns the reason prefixed with "websocket protocol error: ".
func (e *ProtocolError) Error() string { return "websocket protocol error: " + e.Reason }

func (c *Config) withDefaults() Config {
	cfg := *c
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return cfg
}

// compressedCap returns the bound on the compressed bytes of one message.
func compressedCap(maxPayload int) int {
	if maxPayload > maxCompressedCap/8 {
		return maxCompressedCap
	}
	return 8 * maxPayload
}
