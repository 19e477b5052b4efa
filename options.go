package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"time"
)

// Default limits. Every one can be changed with its option.
const (
	// DefaultMaxPayload is the largest message payload (headers included)
	// a client may publish, in bytes: 1 MiB.
	DefaultMaxPayload = 1 << 20
	// DefaultMaxControlLine is the longest protocol line a client may send,
	// in bytes: 4 KiB.
	DefaultMaxControlLine = 4096
	// DefaultMaxPending is the most output, in bytes, that may wait for a
	// slow client before it is disconnected as a slow consumer: 64 MiB.
	DefaultMaxPending = 64 << 20
	// DefaultWriteDeadline is how long one write to a client may block
	// before the client is disconnected as a slow consumer: 10 s.
	DefaultWriteDeadline = 10 * time.Second
	// DefaultPingInterval is the interval between server PINGs to an idle
	// client: 2 minutes.
	DefaultPingInterval = 2 * time.Minute
	// DefaultPingMax is how many PINGs may go unanswered before the client
	// is disconnected with 'Stale Connection': 2.
	DefaultPingMax = 2
	// DefaultHandshakeTimeout bounds the websocket TLS handshake and the
	// reading of the upgrade request: 2 s (nats-server has no bound).
	DefaultHandshakeTimeout = 2 * time.Second
	// DefaultTLSTimeout bounds the TLS handshake of a TCP client: 2 s, as
	// nats-server.
	DefaultTLSTimeout = 2 * time.Second
	// DefaultAuthTimeout is how long a client has to send CONNECT when
	// authentication is required: 2 s, as nats-server.
	DefaultAuthTimeout = 2 * time.Second
)

// Option configures a Broker. Options only record values; New validates
// them all and reports every problem at once.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// options is the validated configuration of a Broker. It is private so
// that a Broker never shares mutable state with its caller.
type options struct {
	listen         string // host:port of the TCP listener, "" = none
	serverName     string
	maxPayload     int
	maxControlLine int
	maxConnections int
	maxPending     int64
	writeDeadline  time.Duration
	pingInterval   time.Duration
	pingMax        int
	logger         *slog.Logger
	tls            *tls.Config   // TCP clients; nil = plain text
	tlsTimeout     time.Duration // TLS handshake of TCP clients

	ws   wsOptions
	auth authOptions
	leaf leafOptions

	problems []error // recorded by options, reported by New
}

// wsOptions is the websocket block.
type wsOptions struct {
	addr             string // host:port, "" = no websocket listener
	advertise        string
	tls              *tls.Config
	noTLS            bool
	sameOrigin       bool
	allowedOrigins   []string
	compression      bool
	handshakeTimeout time.Duration
	jwtCookie        string
	userCookie       string
	passCookie       string
	tokenCookie      string
	headers          map[string]string
	pingInterval     time.Duration
}

func defaultOptions() options {
	return options{
		maxPayload:     DefaultMaxPayload,
		maxControlLine: DefaultMaxControlLine,
		maxPending:     DefaultMaxPending,
		writeDeadline:  DefaultWriteDeadline,
		pingInterval:   DefaultPingInterval,
		pingMax:        DefaultPingMax,
		tlsTimeout:     DefaultTLSTimeout,
		ws: wsOptions{
			handshakeTimeout: DefaultHandshakeTimeout,
		},
		auth: authOptions{timeout: DefaultAuthTimeout},
	}
}

func (o *options) problem(format string, args ...any) {
	o.problems = append(o.problems, fmt.Errorf("broker: "+format, args...))
}

func checkHostPort(o *options, opt, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		o.problem("%s(%q): %v", opt, addr, err)
		return
	}
	_ = host
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		o.problem("%s(%q): invalid port %q", opt, addr, port)
	}
}

// WithListen serves STANDARD clients over TCP on addr ("host:port"; port 0
// picks a free port, see Broker.Addr). Default: no TCP listener.
func WithListen(addr string) Option {
	return optionFunc(func(o *options) {
		checkHostPort(o, "WithListen", addr)
		o.listen = addr
	})
}

// WithTLS requires TLS from TCP clients, with a clone of cfg (which must
// hold a certificate or a GetCertificate callback; set ClientAuth to
// verify client certificates). As nats-server, INFO goes out in plain
// text with tls_required, then the handshake runs; ClientURL becomes
// tls://. Default: plain text.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(o *options) {
		if cfg == nil {
			o.problem("WithTLS(nil): config must not be nil")
			return
		}
		if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
			o.problem("WithTLS: the config has no certificate")
		}
		o.tls = cfg.Clone()
	})
}

// WithTLSTimeout bounds the TLS handshake of TCP clients. Default
// DefaultTLSTimeout (2 s).
func WithTLSTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d <= 0 {
			o.problem("WithTLSTimeout(%v): must be positive", d)
		}
		o.tlsTimeout = d
	})
}

// WithServerName sets the server_name advertised in INFO. Default: the
// generated server ID.
func WithServerName(name string) Option {
	return optionFunc(func(o *options) { o.serverName = name })
}

// WithMaxPayload sets the largest payload a client may publish, in bytes
// (headers included). Default DefaultMaxPayload (1 MiB).
func WithMaxPayload(n int) Option {
	return optionFunc(func(o *options) {
		if n <= 0 {
			o.problem("WithMaxPayload(%d): must be positive", n)
		}
		o.maxPayload = n
	})
}

// WithMaxControlLine sets the longest protocol line a client may send, in
// bytes. Default DefaultMaxControlLine (4 KiB).
func WithMaxControlLine(n int) Option {
	return optionFunc(func(o *options) {
		if n <= 0 {
			o.problem("WithMaxControlLine(%d): must be positive", n)
		}
		o.maxControlLine = n
	})
}

// WithMaxConnections caps the number of client connections; one more is
// refused with -ERR 'maximum connections exceeded'. Default 0: no cap.
func WithMaxConnections(n int) Option {
	return optionFunc(func(o *options) {
		if n < 0 {
			o.problem("WithMaxConnections(%d): must not be negative", n)
		}
		o.maxConnections = n
	})
}

// WithMaxPending sets how many bytes of output may wait for one client
// before it is disconnected as a slow consumer. Default DefaultMaxPending
// (64 MiB).
func WithMaxPending(n int64) Option {
	return optionFunc(func(o *options) {
		if n <= 0 {
			o.problem("WithMaxPending(%d): must be positive", n)
		}
		o.maxPending = n
	})
}

// WithWriteDeadline sets how long one write to a client may block before
// the client is disconnected as a slow consumer. Default
// DefaultWriteDeadline (10 s).
func WithWriteDeadline(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d <= 0 {
			o.problem("WithWriteDeadline(%v): must be positive", d)
		}
		o.writeDeadline = d
	})
}

// WithPingInterval sets the interval between server PINGs to a client.
// Default DefaultPingInterval (2 minutes).
func WithPingInterval(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d <= 0 {
			o.problem("WithPingInterval(%v): must be positive", d)
		}
		o.pingInterval = d
	})
}

// WithPingMax sets how many PINGs may go unanswered before a client is
// disconnected with 'Stale Connection'. Default DefaultPingMax (2).
func WithPingMax(n int) Option {
	return optionFunc(func(o *options) {
		if n <= 0 {
			o.problem("WithPingMax(%d): must be positive", n)
		}
		o.pingMax = n
	})
}

// WithLogger sends the broker's logs to l. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l == nil {
			o.problem("WithLogger(nil): logger must not be nil")
		}
		o.logger = l
	})
}

// WithWebsocket serves WEBSOCKET clients on addr ("host:port"; port 0 picks
// a free port, see Broker.WebsocketURL). The listener needs TLS
// (WithWebsocketTLS) unless WithNoTLS is given. Default: no websocket
// listener (Broker.WebsocketHandler works regardless).
func WithWebsocket(addr string) Option {
	return optionFunc(func(o *options) {
		checkHostPort(o, "WithWebsocket", addr)
		o.ws.addr = addr
	})
}

// WithWebsocketTLS serves the websocket listener over TLS (wss://) with a
// clone of cfg, which must hold at least one certificate or a
// GetCertificate callback.
func WithWebsocketTLS(cfg *tls.Config) Option {
	return optionFunc(func(o *options) {
		if cfg == nil {
			o.problem("WithWebsocketTLS(nil): config must not be nil")
			return
		}
		o.ws.tls = cfg.Clone()
	})
}

// WithNoTLS allows the websocket listener to serve plain-text ws://.
// Without it (and without WithWebsocketTLS) New fails, as nats-server does.
func WithNoTLS() Option {
	return optionFunc(func(o *options) { o.ws.noTLS = true })
}

// WithWebsocketAdvertise sets the host:port advertised to websocket
// clients (ws_connect_urls). Default: nothing is advertised.
func WithWebsocketAdvertise(hostport string) Option {
	return optionFunc(func(o *options) {
		checkHostPort(o, "WithWebsocketAdvertise", hostport)
		o.ws.advertise = hostport
	})
}

// WithSameOrigin accepts a websocket upgrade whose Origin header is present
// only if its scheme, host and port equal the request's own. Requests
// without Origin (non-browser clients) are accepted. Default off.
func WithSameOrigin() Option {
	return optionFunc(func(o *options) { o.ws.sameOrigin = true })
}

// WithAllowedOrigins accepts a websocket upgrade whose Origin header is
// present only if it matches one of origins (absolute http(s) URLs;
// scheme, host and port must match, 80 and 443 implied). Requests without
// Origin are accepted. Default: any origin.
func WithAllowedOrigins(origins ...string) Option {
	return optionFunc(func(o *options) {
		o.ws.allowedOrigins = append([]string(nil), origins...)
	})
}

// WithCompression negotiates permessage-deflate with websocket clients that
// offer it. Default off.
func WithCompression() Option {
	return optionFunc(func(o *options) { o.ws.compression = true })
}

// WithHandshakeTimeout bounds the websocket TLS handshake and the reading
// of the upgrade request. Default DefaultHandshakeTimeout (2 s).
func WithHandshakeTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d <= 0 {
			o.problem("WithHandshakeTimeout(%v): must be positive", d)
		}
		o.ws.handshakeTimeout = d
	})
}

// WithJWTCookie names the cookie of the websocket upgrade request whose
// value is used as the user JWT when CONNECT carries none. Requires
// operator mode. Default: no cookie.
func WithJWTCookie(name string) Option {
	return optionFunc(func(o *options) { o.ws.jwtCookie = name })
}

// WithUserCookie names the upgrade cookie used as the username when
// CONNECT carries none. Default: no cookie.
func WithUserCookie(name string) Option {
	return optionFunc(func(o *options) { o.ws.userCookie = name })
}

// WithPassCookie names the upgrade cookie used as the password when
// CONNECT carries none. Default: no cookie.
func WithPassCookie(name string) Option {
	return optionFunc(func(o *options) { o.ws.passCookie = name })
}

// WithTokenCookie names the upgrade cookie used as the token when CONNECT
// carries none. Default: no cookie.
func WithTokenCookie(name string) Option {
	return optionFunc(func(o *options) { o.ws.tokenCookie = name })
}

// WithWebsocketHeaders adds headers to every websocket upgrade response.
// Reserved names (Sec-WebSocket-*, Upgrade, Connection...) are rejected by
// New. Default: none.
func WithWebsocketHeaders(h map[string]string) Option {
	return optionFunc(func(o *options) { o.ws.headers = maps.Clone(h) })
}

// WithWebsocketPingInterval overrides WithPingInterval for websocket
// clients. Default 0: the general ping interval applies.
func WithWebsocketPingInterval(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d < 0 {
			o.problem("WithWebsocketPingInterval(%v): must not be negative", d)
		}
		o.ws.pingInterval = d
	})
}
