package main

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/conf"

	"github.com/wsbroker/broker"
)

// Defaults of a configuration file, as nats-server: a file that sets no
// client host listens on every interface, a file that sets no port uses the
// standard NATS port.
const (
	defaultFileHost = "0.0.0.0"
	defaultPort     = 4222
	// randomPort is nats-server's "pick a free port" value of port keys.
	randomPort = -1
)

// Dev defaults, used without -c: loopback only, plain-text websocket.
const (
	devListen    = "127.0.0.1:4222"
	devWebsocket = "127.0.0.1:8080"
)

// fileConfig is a configuration file after parsing and checking: every
// supported key in typed form. Zero values mean "not set: the broker
// default applies".
type fileConfig struct {
	Source string // the configuration file, "" for the dev defaults

	Listen         string      // host:port of the TCP client listener
	TLS            *tls.Config // TLS for TCP clients (tls block), nil: plain
	ServerName     string
	MaxPayload     int
	MaxControlLine int
	MaxConnections int
	MaxPending     int64
	WriteDeadline  time.Duration
	PingInterval   time.Duration
	PingMax        int

	Debug   bool
	Trace   bool
	Logtime bool

	Auth authConfig

	Websocket *wsConfig // nil: no websocket listener

	Leafnodes *leafConfig // nil: no leafnodes block

	// Warnings are accepted but questionable settings, each in the form
	// "file:line: key: problem"; the command logs them at start.
	Warnings []string
}

// wsConfig is the websocket block.
type wsConfig struct {
	Listen           string // host:port
	Advertise        string // host:port
	TLS              *tls.Config
	NoTLS            bool
	SameOrigin       bool
	AllowedOrigins   []string
	Compression      bool
	HandshakeTimeout time.Duration
	JWTCookie        string
	UserCookie       string
	PassCookie       string
	TokenCookie      string
	Headers          map[string]string
	PingInterval     time.Duration

	// The authorization override for websocket clients.
	NoAuthUser  string
	User        string
	Password    string
	Token       string
	AuthTimeout time.Duration // 0: the top-level timeout
}

// devConfig is the configuration used without -c: TCP on 127.0.0.1:4222 and
// plain-text websocket on 127.0.0.1:8080, reachable from this machine only.
func devConfig() *fileConfig {
	return &fileConfig{
		Listen:    devListen,
		Logtime:   true,
		Websocket: &wsConfig{Listen: devWebsocket, NoTLS: true},
	}
}

// loadConfig reads the nats-server style configuration file at path (the
// dev defaults when path is "") and returns the broker options it stands
// for, together with the parsed configuration (logging settings,
// warnings). The error lists every problem found, one per line, each as
// "file:line: key: problem".
func loadConfig(path string) ([]broker.Option, *fileConfig, error) {
	cfg := devConfig()
	if path != "" {
		var err error
		if cfg, err = parseConfigFile(path); err != nil {
			return nil, nil, err
		}
	}
	return cfg.options(), cfg, nil
}

// options maps the configuration to broker options. The logger is not
// among them: the command adds it.
func (c *fileConfig) options() []broker.Option {
	opts := []broker.Option{broker.WithListen(c.Listen)}
	if c.TLS != nil {
		opts = append(opts, broker.WithTLS(c.TLS))
	}
	if c.ServerName != "" {
		opts = append(opts, broker.WithServerName(c.ServerName))
	}
	if c.MaxPayload > 0 {
		opts = append(opts, broker.WithMaxPayload(c.MaxPayload))
	}
	if c.MaxControlLine > 0 {
		opts = append(opts, broker.WithMaxControlLine(c.MaxControlLine))
	}
	if c.MaxConnections > 0 {
		opts = append(opts, broker.WithMaxConnections(c.MaxConnections))
	}
	if c.MaxPending > 0 {
		opts = append(opts, broker.WithMaxPending(c.MaxPending))
	}
	if c.WriteDeadline > 0 {
		opts = append(opts, broker.WithWriteDeadline(c.WriteDeadline))
	}
	if c.PingInterval > 0 {
		opts = append(opts, broker.WithPingInterval(c.PingInterval))
	}
	if c.PingMax > 0 {
		opts = append(opts, broker.WithPingMax(c.PingMax))
	}
	opts = append(opts, c.Auth.options()...)
	if ws := c.Websocket; ws != nil {
		opts = append(opts, ws.options()...)
	}
	if lc := c.Leafnodes; lc != nil {
		opts = append(opts, lc.options()...)
	}
	return opts
}

func (ws *wsConfig) options() []broker.Option {
	opts := []broker.Option{broker.WithWebsocket(ws.Listen)}
	switch {
	case ws.TLS != nil: // as nats-server: a tls block wins over no_tls
		opts = append(opts, broker.WithWebsocketTLS(ws.TLS))
	case ws.NoTLS:
		opts = append(opts, broker.WithNoTLS())
	}
	if ws.Advertise != "" {
		opts = append(opts, broker.WithWebsocketAdvertise(ws.Advertise))
	}
	if ws.SameOrigin {
		opts = append(opts, broker.WithSameOrigin())
	}
	if len(ws.AllowedOrigins) > 0 {
		opts = append(opts, broker.WithAllowedOrigins(ws.AllowedOrigins...))
	}
	if ws.Compression {
		opts = append(opts, broker.WithCompression())
	}
	if ws.HandshakeTimeout > 0 {
		opts = append(opts, broker.WithHandshakeTimeout(ws.HandshakeTimeout))
	}
	for _, c := range []struct {
		name string
		opt  func(string) broker.Option
	}{
		{ws.JWTCookie, broker.WithJWTCookie},
		{ws.UserCookie, broker.WithUserCookie},
		{ws.PassCookie, broker.WithPassCookie},
		{ws.TokenCookie, broker.WithTokenCookie},
	} {
		if c.name != "" {
			opts = append(opts, c.opt(c.name))
		}
	}
	if len(ws.Headers) > 0 {
		opts = append(opts, broker.WithWebsocketHeaders(ws.Headers))
	}
	if ws.PingInterval > 0 {
		opts = append(opts, broker.WithWebsocketPingInterval(ws.PingInterval))
	}
	return append(opts, ws.authOptions()...)
}

// configError is one problem of a configuration file.
type configError struct {
	file string
	line int
	key  string // dotted path, as spelled in the file: "websocket.tls.cert_file"
	msg  string
}

func (e *configError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.file, e.line, e.key, e.msg)
}

// loader walks a parsed configuration, filling cfg and collecting every
// problem rather than stopping at the first.
type loader struct {
	path     string
	cfg      fileConfig
	host     string
	port     int
	auth     authState
	leaf     leafLoadState
	errs     []*configError
	warnings []*configError
}

// parseConfigFile parses the nats-server style configuration file at path:
// includes, variables ($VAR, also from the environment), sizes (1MB) and
// durations ("10s", or a number of seconds) as nats-server accepts them.
// Every key not supported by wsbroker is an error.
func parseConfigFile(path string) (*fileConfig, error) {
	m, err := conf.ParseFileWithChecks(path)
	if err != nil {
		return nil, parseError(path, err)
	}
	l := &loader{path: path, cfg: fileConfig{Source: path, Logtime: true}}
	for _, e := range l.entries("", m) {
		l.top(e)
	}
	l.finish()
	if len(l.errs) > 0 {
		sortErrors(l.errs)
		errs := make([]error, len(l.errs))
		for i, e := range l.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	sortErrors(l.warnings)
	for _, w := range l.warnings {
		l.cfg.Warnings = append(l.cfg.Warnings, w.Error())
	}
	return &l.cfg, nil
}

var parseErrorRE = regexp.MustCompile(`^Parse error on line (\d+): '(.*)'$`)

// parseError turns an error of the conf package into "file:line: problem"
// where it can, and otherwise prefixes it with the file name.
func parseError(path string, err error) error {
	if m := parseErrorRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: syntax error: %s", path, m[1], m[2])
	}
	if strings.Contains(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

func sortErrors(errs []*configError) {
	slices.SortStableFunc(errs, func(a, b *configError) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.line, b.line))
	})
}

// entries returns the keys of m in the order they were written, so that
// when two keys set the same thing (listen and port) the last one wins.
func (l *loader) entries(parent string, m map[string]any) []entry {
	out := make([]entry, 0, len(m))
	for k, v := range m {
		e := entry{key: k, path: k, v: v}
		if parent != "" {
			e.path = parent + "." + k
		}
		if tk, ok := v.(token); ok {
			e.tk, e.v = tk, tk.Value()
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b entry) int {
		la, pa, lb, pb := 0, 0, 0, 0
		if a.tk != nil {
			la, pa = a.tk.Line(), a.tk.Position()
		}
		if b.tk != nil {
			lb, pb = b.tk.Line(), b.tk.Position()
		}
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(pa, pb), cmp.Compare(a.key, b.key))
	})
	return out
}

func (l *loader) report(list *[]*configError, e entry, format string, args ...any) {
	ce := &configError{file: l.path, key: e.path, msg: fmt.Sprintf(format, args...)}
	if e.tk != nil {
		if f := e.tk.SourceFile(); f != "" {
			ce.file = f
		}
		ce.line = e.tk.Line()
	}
	*list = append(*list, ce)
}

func (l *loader) errorf(e entry, format string, args ...any) {
	l.report(&l.errs, e, format, args...)
}

func (l *loader) warnf(e entry, format string, args ...any) {
	l.report(&l.warnings, e, format, args...)
}

// unsupported reports a key wsbroker does not know, unless it is a
// variable definition that some value refers to.
func (l *loader) unsupported(e entry, why string) {
	if e.tk != nil && e.tk.IsUsedVariable() {
		return
	}
	msg := "unsupported configuration key"
	if why != "" {
		msg += " (" + why + ")"
	}
	l.errorf(e, "%s", msg)
}

// top handles one top-level key.
func (l *loader) top(e entry) {
	c := &l.cfg
	switch strings.ToLower(e.key) {
	case "listen":
		if host, port, ok := l.hostPort(e); ok {
			l.host, l.port = host, port
		}
	case "port":
		if p, ok := l.portValue(e); ok {
			l.port = p
		}
	case "host", "net":
		if s, ok := l.str(e); ok {
			l.host = s
		}
	case "server_name":
		if s, ok := l.str(e); ok {
			if strings.Contains(s, " ") {
				l.errorf(e, "server name cannot contain spaces")
				return
			}
			c.ServerName = s
		}
	case "debug":
		l.boolean(e, &c.Debug)
	case "trace":
		l.boolean(e, &c.Trace)
	case "logtime":
		l.boolean(e, &c.Logtime)
	case "max_payload":
		if n, ok := l.size(e, 1<<31-1); ok {
			c.MaxPayload = int(n)
		}
	case "max_control_line":
		if n, ok := l.size(e, 1<<31-1); ok {
			c.MaxControlLine = int(n)
		}
	case "max_pending":
		if n, ok := l.size(e, 0); ok {
			c.MaxPending = n
		}
	case "max_connections", "max_conn":
		if n, ok := l.integer(e); ok {
			if n <= 0 {
				// nats-server refuses every client then.
				l.errorf(e, "must be positive, got %d (omit the key for no limit)", n)
				return
			}
			c.MaxConnections = int(n)
		}
	case "ping_max":
		if n, ok := l.integer(e); ok {
			if n < 0 {
				l.errorf(e, "must not be negative, got %d", n)
				return
			}
			c.PingMax = int(n)
		}
	case "write_deadline":
		if d, ok := l.duration(e, true); ok {
			c.WriteDeadline = d
		}
	case "ping_interval":
		if d, ok := l.duration(e, true); ok {
			c.PingInterval = d
		}
	case "tls":
		c.TLS = l.tlsBlock(e)
	case "websocket", "ws":
		l.websocket(e)
	case "leafnodes", "leaf":
		l.leafnodes(e)
	default:
		if !l.topAuth(e) {
			l.unsupported(e, "")
		}
	}
}

// finish resolves the client listener as nats-server does: default host
// 0.0.0.0, port 0 means 4222, port -1 a random port.
func (l *loader) finish() {
	host, port := l.host, l.port
	if host == "" {
		host = defaultFileHost
	}
	switch port {
	case 0:
		port = defaultPort
	case randomPort:
		port = 0
	}
	l.cfg.Listen = net.JoinHostPort(host, strconv.Itoa(port))
	l.finishAuth()
	l.finishLeaf()
}

// websocket handles the websocket block. As in nats-server, the listener
// exists only if a non-zero port is set; -1 picks a free port.
func (l *loader) websocket(e entry) {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map, got %s", typeName(e.v))
		return
	}
	ws := &wsConfig{}
	var host string
	var port int
	var advertise *entry
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "listen":
			if h, p, ok := l.hostPort(k); ok {
				host, port = h, p
			}
		case "port":
			if p, ok := l.portValue(k); ok {
				port = p
			}
		case "host", "net":
			if s, ok := l.str(k); ok {
				host = s
			}
		case "advertise":
			if _, ok := l.str(k); ok {
				advertise = &k
			}
		case "tls":
			ws.TLS = l.tlsBlock(k)
		case "no_tls":
			l.boolean(k, &ws.NoTLS)
		case "same_origin":
			l.boolean(k, &ws.SameOrigin)
		case "allowed_origins", "allowed_origin", "allow_origins", "allow_origin", "origins", "origin":
			ws.AllowedOrigins = l.stringList(k)
		case "compression", "compress":
			l.boolean(k, &ws.Compression)
		case "handshake_timeout":
			if d, ok := l.duration(k, false); ok {
				if d == 0 {
					l.warnf(k, "0 (no timeout) is not supported: using the default %v", broker.DefaultHandshakeTimeout)
				}
				ws.HandshakeTimeout = d
			}
		case "jwt_cookie":
			l.strTo(k, &ws.JWTCookie)
		case "user_cookie":
			l.strTo(k, &ws.UserCookie)
		case "pass_cookie":
			l.strTo(k, &ws.PassCookie)
		case "token_cookie":
			l.strTo(k, &ws.TokenCookie)
		case "headers":
			ws.Headers = l.headers(k)
		case "ping_interval":
			if d, ok := l.duration(k, true); ok {
				ws.PingInterval = d
			}
		case "no_auth_user":
			if l.strTo(k, &ws.NoAuthUser) {
				l.auth.wsNoAuthUser = &k
			}
		case "authorization", "authentication":
			l.websocketAuthorization(k, ws)
		default:
			l.unsupported(k, "")
		}
	}
	if port == 0 {
		l.warnf(e, "no port set: websocket listener disabled")
		return
	}
	if port == randomPort {
		port = 0
	}
	if host == "" {
		host = defaultFileHost
	}
	ws.Listen = net.JoinHostPort(host, strconv.Itoa(port))
	if advertise != nil {
		ws.Advertise = l.advertise(*advertise, port)
	}
	l.cfg.Websocket = ws
}

// advertise completes an advertise value without port with the websocket
// port, as nats-server does.
func (l *loader) advertise(e entry, port int) string {
	s := e.v.(string)
	_, ps, err := net.SplitHostPort(s)
	if err == nil {
		if n, err := strconv.Atoi(ps); err != nil || n < 1 || n > 65535 {
			l.errorf(e, "invalid port %q in %q", ps, s)
			return ""
		}
		return s
	}
	var ae *net.AddrError
	if !errors.As(err, &ae) || !strings.Contains(ae.Err, "missing port") {
		l.errorf(e, "could not parse address string %q", s)
		return ""
	}
	if port == 0 {
		l.errorf(e, "%q has no port and the websocket port is random: add the port to advertise", s)
		return ""
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), strconv.Itoa(port))
}

// tlsBlock builds the TLS configuration of a listener (client port,
// websocket or leafnodes). Only
// cert_file and key_file are supported; relative paths are relative to the
// working directory, as in nats-server.
func (l *loader) tlsBlock(e entry) *tls.Config {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map, got %s", typeName(e.v))
		return nil
	}
	var certFile, keyFile string
	bad := false
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "cert_file":
			bad = !l.strTo(k, &certFile) || bad
		case "key_file":
			bad = !l.strTo(k, &keyFile) || bad
		default:
			l.unsupported(k, "")
			bad = true
		}
	}
	switch {
	case bad:
		return nil
	case certFile == "":
		l.errorf(e, "missing 'cert_file' in TLS configuration")
		return nil
	case keyFile == "":
		l.errorf(e, "missing 'key_file' in TLS configuration")
		return nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		l.errorf(e, "error parsing X509 certificate/key pair: %v", err)
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
}
