package broker

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/wsbroker/broker/internal/client"
	"github.com/wsbroker/broker/transport"
	"github.com/wsbroker/broker/transport/websocket"
)

// DefaultLeafnodeReconnect is the pause before a leaf node remote is
// dialled again after its link closed or a dial failed (plus up to the
// same again at random after a failure): 1 s, as nats-server.
const DefaultLeafnodeReconnect = time.Second

// leafDialTimeout bounds dialling a hub and its first INFO.
const leafDialTimeout = 2 * time.Second

// LeafnodeRemote is a NATS deployment (a nats-server hub, cluster or
// supercluster) this broker joins as a leaf node. Interest and messages of
// one local account cross the link.
type LeafnodeRemote struct {
	// URLs of the hub, tried in turn: nats-leaf:// (or nats://, tls://)
	// for its leafnode port (TLS when TLS is set, the URL is tls://, or
	// the hub's INFO requires it), ws:// or wss:// for its websocket port (the
	// path gets "/leafnode" appended). Port defaults to 7422. All URLs
	// must be websocket or none. User info in a URL is sent as the
	// leaf's user and password.
	URLs []string
	// Account is the local account whose interest and messages cross the
	// link; "" is the global account.
	Account string
	// Credentials is the path of a .creds file (user JWT and nkey seed):
	// the leaf signs the hub's nonce with it. Read at every attempt.
	Credentials string
	// TLS configures TLS for wss:// and for the leafnode port (a clone
	// is used; ServerName defaults to the URL's host). Default: system
	// roots.
	TLS *tls.Config
	// WSCompression offers permessage-deflate on websocket URLs.
	WSCompression bool
	// WSNoMasking asks the hub not to require masked frames (honoured
	// only if the hub agrees).
	WSNoMasking bool
	// ReconnectInterval is the pause between attempts; default
	// DefaultLeafnodeReconnect (1 s).
	ReconnectInterval time.Duration
}

// leafOptions is the leafnodes block.
type leafOptions struct {
	remotes  []LeafnodeRemote
	listen   string      // host:port of the leafnode listener, "" = none
	users    []User      // leafnodes authorization users (bind their Account)
	account  string      // account of leaves when no authentication applies
	acceptWS bool        // accept leaves on the websocket port (/leafnode)
	tls      *tls.Config // TLS on the leafnode listener
}

// WithLeafnodeRemote joins the NATS deployment at r as a leaf node: local
// clients of r.Account then reach clients anywhere in it, and back. The
// link is dialled after Start and redialled forever when lost. Repeat
// the option for several remotes.
func WithLeafnodeRemote(r LeafnodeRemote) Option {
	return optionFunc(func(o *options) {
		r.URLs = append([]string(nil), r.URLs...)
		if r.TLS != nil {
			r.TLS = r.TLS.Clone()
		}
		o.leaf.remotes = append(o.leaf.remotes, r)
	})
}

// WithLeafnodeListen accepts leaf node connections from nats-servers
// configured with this broker as a remote, on addr ("host:port"; port 0
// picks a free port, see Broker.LeafnodeURL). It also accepts them on the
// websocket port under a path ending in /leafnode. Default: none.
func WithLeafnodeListen(addr string) Option {
	return optionFunc(func(o *options) {
		checkHostPort(o, "WithLeafnodeListen", addr)
		o.leaf.listen = addr
		o.leaf.acceptWS = true
	})
}

// WithLeafnodeTLS requires TLS from leaves on the leafnode listener, with
// a clone of cfg: as nats-server, INFO goes out in plain text with
// tls_required, then the handshake runs (bounded by WithTLSTimeout).
// Leaves over websocket use the websocket listener's TLS. Default: plain.
func WithLeafnodeTLS(cfg *tls.Config) Option {
	return optionFunc(func(o *options) {
		if cfg == nil {
			o.problem("WithLeafnodeTLS(nil): config must not be nil")
			return
		}
		if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
			o.problem("WithLeafnodeTLS: the config has no certificate")
		}
		o.leaf.tls = cfg.Clone()
	})
}

// WithLeafnodeWebsocket accepts leaf node connections on the websocket
// port (path ending in /leafnode) without a leafnode TCP listener.
func WithLeafnodeWebsocket() Option {
	return optionFunc(func(o *options) { o.leaf.acceptWS = true })
}

// WithLeafnodeUsers authenticates leaves with these users only (the
// leafnodes authorization block); each leaf joins its user's Account.
// Without it leaves authenticate like clients, with connection type
// LEAFNODE (TCP) or LEAFNODE_WS (websocket). Default: none.
func WithLeafnodeUsers(users ...User) Option {
	return optionFunc(func(o *options) { o.leaf.users = append(o.leaf.users, users...) })
}

// WithLeafnodeAccount binds leaves to this account when no
// authentication applies to them. Default: the global account.
func WithLeafnodeAccount(name string) Option {
	return optionFunc(func(o *options) { o.leaf.account = name })
}

// validateLeaf checks the leafnodes options, with nats-server's texts.
func (o *options) validateLeaf() {
	for i, r := range o.leaf.remotes {
		if len(r.URLs) == 0 {
			o.problem("WithLeafnodeRemote #%d: no URL", i+1)
		}
		ws := 0
		for _, u := range r.URLs {
			p, err := url.Parse(u)
			if err != nil || p.Host == "" {
				o.problem("WithLeafnodeRemote #%d: invalid URL %q", i+1, u)
				continue
			}
			if isWSScheme(p.Scheme) {
				ws++
			}
		}
		if ws > 0 && ws != len(r.URLs) {
			o.problem("WithLeafnodeRemote #%d: remote leaf node has a mix of websocket and non-websocket urls: %q", i+1, r.URLs)
		}
		if r.ReconnectInterval < 0 {
			o.problem("WithLeafnodeRemote #%d: ReconnectInterval must not be negative", i+1)
		}
		if r.Credentials != "" {
			if _, err := os.Stat(r.Credentials); err != nil {
				o.problem("WithLeafnodeRemote #%d: credentials: %v", i+1, err)
			}
		}
	}
	for _, u := range o.leaf.users {
		if u.Name == "" {
			o.problem("WithLeafnodeUsers: user without Name")
		}
	}
}

func isWSScheme(s string) bool {
	s = strings.ToLower(s)
	return s == "ws" || s == "wss"
}

// LeafnodeURL returns the nats-leaf:// URL of the leafnode listener, ""
// if there is none or the broker is not started.
func (b *Broker) LeafnodeURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.leafLn == nil {
		return ""
	}
	return "nats-leaf://" + dialable(b.leafLn.Addr())
}

// startRemotes starts one goroutine per remote (b.mu held).
func (b *Broker) startRemotes() {
	known := map[string]bool{"": true, globalAccount: true, b.opts.leaf.account: true}
	for _, u := range b.opts.auth.users {
		known[u.Account] = true
	}
	for _, u := range b.opts.leaf.users {
		known[u.Account] = true
	}
	for i := range b.opts.leaf.remotes {
		r := &b.opts.leaf.remotes[i]
		if !known[r.Account] && b.opts.auth.hook == nil && len(b.opts.auth.operators) == 0 {
			// Accounts exist once named; a typo would silently serve an
			// empty account.
			b.log.Warn("leafnode remote serves an account no user belongs to", "account", r.Account)
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.runRemote(r)
		}()
	}
}

// runRemote keeps the link to one remote up until the broker closes.
func (b *Broker) runRemote(r *LeafnodeRemote) {
	interval := r.ReconnectInterval
	if interval == 0 {
		interval = DefaultLeafnodeReconnect
	}
	log := b.log.With("leafnode_remote", redactURLs(r.URLs))
	next := rand.IntN(len(r.URLs))
	for {
		u := r.URLs[next%len(r.URLs)]
		next++
		pause := interval
		c, err := b.solicit(r, u)
		if err != nil {
			log.Warn("leafnode: cannot connect", "url", redactURL(u), "err", err)
			pause += time.Duration(rand.Int64N(int64(interval)))
		} else {
			select {
			case <-c.Done():
				log.Info("leafnode: link closed, reconnecting", "url", redactURL(u), "in", pause)
			case <-b.ctx.Done():
				return
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-b.ctx.Done():
			t.Stop()
			return
		}
	}
}

// solicit dials one URL of r and starts the link.
func (b *Broker) solicit(r *LeafnodeRemote, rawURL string) (*client.Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "7422")
	}
	ctx, cancel := context.WithTimeout(b.ctx, leafDialTimeout)
	defer cancel()
	var conn net.Conn
	var firstInfo []byte
	meta := transport.Meta{Kind: transport.Leafnode}
	if isWSScheme(u.Scheme) {
		wu := *u
		wu.User = nil
		wu.Host = addr
		wu.Path = path.Join("/", u.Path, "leafnode")
		wsc, err := websocket.Dial(ctx, wu.String(), websocket.DialOptions{
			TLSConfig:   r.TLS,
			Compression: r.WSCompression,
			NoMasking:   r.WSNoMasking,
			MaxPayload:  b.opts.maxPayload,
		})
		if err != nil {
			return nil, err
		}
		conn = wsc
		meta.Kind = transport.LeafnodeWS
	} else {
		var d net.Dialer
		if conn, err = d.DialContext(ctx, "tcp", addr); err != nil {
			return nil, err
		}
		if firstInfo, conn, err = hubHandshake(ctx, conn, u, r.TLS); err != nil {
			return nil, err
		}
		if tc, ok := conn.(*tls.Conn); ok {
			st := tc.ConnectionState()
			meta.TLS = &st
		}
	}
	meta.RemoteAddr = conn.RemoteAddr()
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	acc := b.auth.account(r.Account)
	connect := func(nonce string) ([]byte, error) {
		lc := client.LeafConnect{
			Version:       ProtocolVersion,
			ServerID:      b.id,
			Name:          b.opts.serverName,
			Headers:       true,
			RemoteAccount: acc.Name,
			Protocol:      1,
			User:          user,
			Pass:          pass,
		}
		if user != "" && pass == "" {
			lc.Token = user
		}
		if r.Credentials != "" {
			jwtStr, sig, err := signWithCreds(r.Credentials, nonce)
			if err != nil {
				return nil, err
			}
			lc.JWT, lc.Sig = jwtStr, sig
		}
		js, err := json.Marshal(lc)
		if err != nil {
			return nil, err
		}
		return append(append([]byte("CONNECT "), js...), '\r', '\n'), nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != stateRunning {
		_ = conn.Close()
		return nil, ErrClosed
	}
	id := b.nextID.Add(1)
	c := client.NewLeaf(id, conn, meta, &b.cfg, (*host)(b), client.LeafOptions{
		Solicited: true,
		Account:   acc,
		Connect:   connect,
		FirstInfo: firstInfo,
	})
	b.clients[id] = c
	b.leaves++
	c.Start(&b.wg, nil, nil)
	return c, nil
}

// maxHubInfo bounds the hub's first INFO line, in bytes.
const maxHubInfo = 64 << 10

// hubHandshake reads the hub's first INFO line on a TCP leaf link and, if
// the hub requires TLS (or the URL is tls://, or tlsConf is set), runs
// the client side of the TLS handshake: INFO travels in plain text first,
// as nats-server does. It returns the INFO line and the connection to
// use.
func hubHandshake(ctx context.Context, conn net.Conn, u *url.URL, tlsConf *tls.Config) ([]byte, net.Conn, error) {
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	line := make([]byte, 0, 1024)
	var one [1]byte
	for {
		if _, err := io.ReadFull(conn, one[:]); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("reading the hub's INFO: %w", err)
		}
		line = append(line, one[0])
		if one[0] == '\n' {
			break
		}
		if len(line) > maxHubInfo {
			_ = conn.Close()
			return nil, nil, errors.New("the hub's INFO is too long")
		}
	}
	if len(line) < 5 || !strings.EqualFold(string(line[:5]), "INFO ") {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("not a leafnode port: first line %q", truncate(line, 40))
	}
	var hi struct {
		TLSRequired bool `json:"tls_required"`
	}
	_ = json.Unmarshal(bytes.TrimSpace(line[5:]), &hi)
	if hi.TLSRequired || tlsConf != nil || strings.EqualFold(u.Scheme, "tls") {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsConf != nil {
			cfg = tlsConf.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("TLS handshake with the hub: %w", err)
		}
		conn = tc
	}
	_ = conn.SetDeadline(time.Time{})
	return line, conn, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// signWithCreds reads a .creds file and signs nonce with its seed.
func signWithCreds(path, nonce string) (userJWT, sig string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	userJWT, err = jwt.ParseDecoratedJWT(data)
	if err != nil {
		return "", "", fmt.Errorf("credentials %s: %w", path, err)
	}
	kp, err := jwt.ParseDecoratedUserNKey(data)
	if err != nil {
		return "", "", fmt.Errorf("credentials %s: %w", path, err)
	}
	defer kp.Wipe()
	raw, err := kp.Sign([]byte(nonce))
	if err != nil {
		return "", "", err
	}
	return userJWT, base64.RawURLEncoding.EncodeToString(raw), nil
}

// redactURL hides the password of a URL for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

func redactURLs(urls []string) string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = redactURL(u)
	}
	return strings.Join(out, ",")
}

// leafInfo is the INFO a hub sends a leaf (nats-ws-spec/leafnode-spec §3.1).
type leafInfo struct {
	ID            string                    `json:"server_id"`
	Name          string                    `json:"server_name"`
	Version       string                    `json:"version"`
	Proto         int                       `json:"proto"`
	GoVersion     string                    `json:"go"`
	Host          string                    `json:"host"`
	Port          int                       `json:"port"`
	Headers       bool                      `json:"headers"`
	AuthRequired  bool                      `json:"auth_required,omitempty"`
	TLSRequired   bool                      `json:"tls_required,omitempty"`
	MaxPayload    int                       `json:"max_payload"`
	ClientID      uint64                    `json:"client_id"`
	Nonce         string                    `json:"nonce,omitempty"`
	InfoOnConnect bool                      `json:"info_on_connect,omitempty"`
	ConnectInfo   bool                      `json:"connect_info,omitempty"`
	RemoteAccount string                    `json:"remote_account,omitempty"`
	LeafnodeURLs  []string                  `json:"leafnode_urls,omitempty"`
	Import        *client.SubjectPermission `json:"import,omitempty"`
	Export        *client.SubjectPermission `json:"export,omitempty"`
}

// leafHubInfo returns the INFO for an accepted leaf (b.mu held).
func (b *Broker) leafHubInfo(id uint64, nonce []byte, tlsRequired bool) []byte {
	li := b.baseLeafInfo(id, nonce)
	li.InfoOnConnect = true
	li.TLSRequired = tlsRequired
	return appendJSONLine("INFO ", li)
}

func (b *Broker) baseLeafInfo(id uint64, nonce []byte) *leafInfo {
	li := &leafInfo{
		ID:           b.id,
		Name:         b.opts.serverName,
		Version:      ProtocolVersion,
		Proto:        1,
		GoVersion:    runtime.Version(),
		Headers:      true,
		AuthRequired: true,
		MaxPayload:   b.opts.maxPayload,
		ClientID:     id,
		Nonce:        string(nonce),
	}
	if b.leafLn != nil {
		if ta, ok := b.leafLn.Addr().(*net.TCPAddr); ok {
			li.Host, li.Port = ta.IP.String(), ta.Port
			li.LeafnodeURLs = []string{dialable(ta)}
		}
	}
	return li
}

// appendJSONLine renders "<op>{json} \r\n" as nats-server does.
func appendJSONLine(op string, v any) []byte {
	js, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are rendered
	}
	out := append([]byte(op), js...)
	return append(out, " \r\n"...)
}

func (h *host) LeafConnectInfo(c *client.Client) []byte {
	b := (*Broker)(h)
	b.mu.Lock()
	li := b.baseLeafInfo(c.ID(), c.Nonce())
	b.mu.Unlock()
	li.ConnectInfo = true
	if acc := c.Account(); acc != nil {
		li.RemoteAccount = acc.Name
	}
	if p := c.Permissions(); p != nil {
		// The leaf user's permissions, as the hub enforces them: what the
		// leaf may send (export) and receive (import).
		li.Export, li.Import = p.Publish, p.Subscribe
	}
	return appendJSONLine("INFO ", li)
}
