package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/wsbroker/broker/internal/client"
	"github.com/wsbroker/broker/internal/pipe"
	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/transport"
	"github.com/wsbroker/broker/transport/tcp"
	"github.com/wsbroker/broker/transport/websocket"
)

// ProtocolVersion is the version advertised in INFO: the nats-server
// release whose client protocol the broker implements. Clients gate
// features on it.
const ProtocolVersion = "2.15.2"

type state int

const (
	stateNew state = iota
	stateRunning
	stateClosing
)

// Broker is an in-process NATS broker. Create it with New, then Start it.
// All methods are safe for concurrent use.
type Broker struct {
	opts  options
	log   *slog.Logger
	id    string
	cfg   client.Config // for every client but websocket ones
	wsCfg client.Config // for websocket clients
	auth  *authenticator

	mu      sync.Mutex
	state   state
	clients map[uint64]*client.Client // clients and leaf node links
	leaves  int                       // leaf node links in clients
	tcpSrv  *tcp.Server
	tcpLn   net.Listener
	wsSrv   *websocket.Server
	wsLn    net.Listener
	leafSrv *tcp.Server
	leafLn  net.Listener
	// ctx is cancelled when Shutdown or Close begins: it bounds every
	// dial and handshake the broker runs itself.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the broker starts
	done   chan struct{}  // closed when Shutdown/Close has finished

	nextID atomic.Uint64
}

// New validates opts and returns a Broker that is not yet listening. Every
// invalid option is reported, joined into one error.
func New(opts ...Option) (*Broker, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			o.problem("nil Option")
			continue
		}
		opt.apply(&o)
	}
	o.validate()
	if len(o.problems) > 0 {
		return nil, errors.Join(o.problems...)
	}
	kp, err := nkeys.CreateServer()
	if err != nil {
		return nil, fmt.Errorf("broker: server identity: %w", err)
	}
	id, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("broker: server identity: %w", err)
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if o.serverName == "" {
		o.serverName = id
	}
	b := &Broker{
		opts:    o,
		log:     logger,
		id:      id,
		clients: make(map[uint64]*client.Client),
		done:    make(chan struct{}),
	}
	if b.auth, err = newAuthenticator(&b.opts); err != nil {
		return nil, err
	}
	if b.wsSrv, err = b.newWebsocketServer(); err != nil {
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.cfg = client.Config{
		MaxPayload:     o.maxPayload,
		MaxControlLine: o.maxControlLine,
		MaxPending:     o.maxPending,
		WriteDeadline:  o.writeDeadline,
		PingInterval:   o.pingInterval,
		PingMax:        o.pingMax,
		AuthTimeout:    b.auth.timeout(transport.Standard),
		Logger:         logger,
	}
	b.wsCfg = b.cfg
	b.wsCfg.AuthTimeout = b.auth.timeout(transport.Websocket)
	if o.ws.pingInterval > 0 {
		b.wsCfg.PingInterval = o.ws.pingInterval
	}
	return b, nil
}

// validate checks options that depend on each other.
func (o *options) validate() {
	o.validateWebsocket()
	o.validateAuth()
	o.validateLeaf()
}

// Start binds every configured listener and starts serving. It returns
// once the broker accepts connections, or the first bind error (then
// nothing is left running). ctx bounds the start only.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case stateRunning:
		return ErrStarted
	case stateClosing:
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var lc net.ListenConfig
	if b.opts.listen != "" {
		ln, err := lc.Listen(ctx, "tcp", b.opts.listen)
		if err != nil {
			return fmt.Errorf("broker: listen %s: %w", b.opts.listen, err)
		}
		b.tcpLn = ln
		srv := tcp.NewServer(transport.Standard, nil, b.handoff)
		b.tcpSrv = srv
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := srv.Serve(ln); err != nil {
				b.log.Error("tcp listener stopped", "err", err)
			}
		}()
		b.log.Info("listening for client connections", "url", b.clientURLLocked())
	}
	if b.opts.ws.addr != "" {
		ln, err := lc.Listen(ctx, "tcp", b.opts.ws.addr)
		if err != nil {
			b.stopListenersLocked()
			return fmt.Errorf("broker: listen for websocket %s: %w", b.opts.ws.addr, err)
		}
		b.listenWebsocket(ln)
	}
	if b.opts.leaf.listen != "" {
		ln, err := lc.Listen(ctx, "tcp", b.opts.leaf.listen)
		if err != nil {
			b.stopListenersLocked()
			return fmt.Errorf("broker: listen for leafnodes %s: %w", b.opts.leaf.listen, err)
		}
		b.leafLn = ln
		srv := tcp.NewServer(transport.Leafnode, nil, b.handoff)
		b.leafSrv = srv
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := srv.Serve(ln); err != nil {
				b.log.Error("leafnode listener stopped", "err", err)
			}
		}()
		b.log.Info("listening for leafnode connections", "url", "nats-leaf://"+dialable(ln.Addr()))
	}
	b.startRemotes()
	b.state = stateRunning
	return nil
}

// stopListenersLocked closes the listeners opened so far by a Start that
// fails; their accept loops end and Close waits for them (b.mu held).
func (b *Broker) stopListenersLocked() {
	if b.tcpSrv != nil {
		_ = b.tcpSrv.Close()
		b.tcpSrv, b.tcpLn = nil, nil
	}
	if b.wsLn != nil {
		_ = b.wsSrv.Close()
		b.wsLn = nil
		// A closed websocket server stays closed: give a retried Start
		// (and WebsocketHandler) a fresh one.
		if srv, err := b.newWebsocketServer(); err == nil {
			b.wsSrv = srv
		}
	}
}

// Addr returns the address of the TCP listener, nil if there is none or
// the broker is not started.
func (b *Broker) Addr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tcpLn == nil {
		return nil
	}
	return b.tcpLn.Addr()
}

// ClientURL returns the nats:// URL of the TCP listener ("" if none). An
// unspecified listen host is reported as 127.0.0.1.
func (b *Broker) ClientURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.clientURLLocked()
}

func (b *Broker) clientURLLocked() string {
	if b.tcpLn == nil {
		return ""
	}
	if b.opts.tls != nil {
		return "tls://" + dialable(b.tcpLn.Addr())
	}
	return "nats://" + dialable(b.tcpLn.Addr())
}

// dialable returns host:port for addr, with an unspecified host replaced
// by the loopback address.
func dialable(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	host := ta.IP.String()
	if ta.IP == nil || ta.IP.IsUnspecified() {
		host = "127.0.0.1"
		if ta.IP != nil && ta.IP.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(ta.Port))
}

// NumClients returns the number of client connections currently open
// (leaf node links not included).
func (b *Broker) NumClients() int {
	n, _ := b.counts()
	return n
}

// NumLeafNodes returns the number of leaf node links currently open, both
// those this broker dialled and those it accepted.
func (b *Broker) NumLeafNodes() int {
	_, n := b.counts()
	return n
}

func (b *Broker) counts() (clients, leaves int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.clients) - b.leaves, b.leaves
}

// InProcessConn returns a connection to the broker that uses no network:
// a buffered full-duplex in-memory pipe, counted as connection type
// IN_PROCESS. It satisfies nats.go's nats.InProcessServer.
func (b *Broker) InProcessConn() (net.Conn, error) {
	srv, cli := pipe.New()
	if err := b.accept(srv, transport.Meta{Kind: transport.InProcess, RemoteAddr: srv.RemoteAddr()}); err != nil {
		_ = srv.Close()
		_ = cli.Close()
		return nil, err
	}
	return cli, nil
}

// handoff is the transport.Handoff of every listener.
func (b *Broker) handoff(conn net.Conn, meta transport.Meta) {
	if err := b.accept(conn, meta); err != nil {
		_ = conn.Close()
	}
}

// accept starts a client for conn.
func (b *Broker) accept(conn net.Conn, meta transport.Meta) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case stateNew:
		return ErrNotStarted
	case stateClosing:
		return ErrClosed
	}
	id := b.nextID.Add(1)
	if meta.Kind == transport.Leafnode || meta.Kind == transport.LeafnodeWS {
		return b.acceptLeaf(id, conn, meta)
	}
	var nonce []byte
	if b.auth.needsNonce() {
		nonce = newNonce()
	}
	if meta.Kind == transport.Standard && b.opts.tls != nil {
		// INFO goes out in plain text, then the TLS handshake, as
		// nats-server: clients read tls_required and upgrade.
		info := b.info(id, &meta, nonce)
		b.upgradeTLSLocked(conn, meta, b.opts.tls, info, func(tc net.Conn, meta transport.Meta) {
			b.startClientLocked(id, tc, meta, nonce, info, false)
		})
		return nil
	}
	b.startClientLocked(id, conn, meta, nonce, b.info(id, &meta, nonce), true)
	return nil
}

// startClientLocked starts a client whose INFO is info (sent already when
// !sendInfo) (b.mu held).
func (b *Broker) startClientLocked(id uint64, conn net.Conn, meta transport.Meta, nonce, info []byte, sendInfo bool) {
	cfg := &b.cfg
	if meta.Kind == transport.Websocket {
		cfg = &b.wsCfg
	}
	c := client.New(id, conn, meta, cfg, (*host)(b))
	c.SetNonce(nonce)
	if !sendInfo {
		info = nil
	}
	if max := b.opts.maxConnections; max > 0 && len(b.clients)-b.leaves >= max {
		b.log.Info("maximum connections exceeded", "max", max, "remote", meta.RemoteAddr)
		c.Reject(&b.wg, info, "maximum connections exceeded", transport.MaxConnectionsExceeded)
		return
	}
	b.clients[id] = c
	c.Start(&b.wg, info, b.auth.account(""))
}

// upgradeTLSLocked sends info in plain text, then runs the server side of
// the TLS handshake within the TLS timeout on a goroutine of its own, and
// calls start (with b.mu held) with the TLS connection (b.mu held).
func (b *Broker) upgradeTLSLocked(conn net.Conn, meta transport.Meta, cfg *tls.Config, info []byte, start func(net.Conn, transport.Meta)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.tlsTimeout)
		defer cancel()
		_ = conn.SetDeadline(time.Now().Add(b.opts.tlsTimeout))
		if _, err := conn.Write(info); err != nil {
			_ = conn.Close()
			return
		}
		tc := tls.Server(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			b.log.Debug("TLS handshake failed", "kind", meta.Kind.String(), "remote", addrString(meta.RemoteAddr), "err", err)
			_ = conn.Close()
			return
		}
		_ = conn.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		meta.TLS = &st
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.state != stateRunning {
			_ = tc.Close()
			return
		}
		start(tc, meta)
	}()
}

// acceptLeaf starts an accepted leaf node link (b.mu held). With
// WithLeafnodeTLS a TCP leaf gets INFO in plain text, then TLS.
func (b *Broker) acceptLeaf(id uint64, conn net.Conn, meta transport.Meta) error {
	nonce := newNonce()
	useTLS := meta.Kind == transport.Leafnode && b.opts.leaf.tls != nil
	info := b.leafHubInfo(id, nonce, useTLS)
	start := func(conn net.Conn, meta transport.Meta, info []byte) {
		c := client.NewLeaf(id, conn, meta, &b.cfg, (*host)(b), client.LeafOptions{})
		c.SetNonce(nonce)
		b.clients[id] = c
		b.leaves++
		c.Start(&b.wg, info, nil)
	}
	if useTLS {
		b.upgradeTLSLocked(conn, meta, b.opts.leaf.tls, info, func(tc net.Conn, meta transport.Meta) {
			start(tc, meta, nil)
		})
		return nil
	}
	start(conn, meta, info)
	return nil
}

// info returns the INFO line for a new client.
func (b *Broker) info(id uint64, meta *transport.Meta, nonce []byte) []byte {
	si := proto.ServerInfo{
		ID:           b.id,
		Name:         b.opts.serverName,
		Version:      ProtocolVersion,
		Proto:        1,
		GoVersion:    runtime.Version(),
		Headers:      true,
		MaxPayload:   int32(b.opts.maxPayload),
		ClientID:     id,
		Nonce:        string(nonce),
		AuthRequired: b.auth.required(meta.Kind),
	}
	ln := b.tcpLn
	if meta.Kind == transport.Standard && b.opts.tls != nil {
		si.TLSRequired = true
		si.TLSAvailable = true
		si.TLSVerify = b.opts.tls.ClientAuth >= tls.VerifyClientCertIfGiven
	}
	if meta.Kind == transport.Websocket {
		// Websocket clients are told about the websocket listener, and
		// get connect_urls only when an advertise address is set (a
		// standalone nats-server sends none).
		ln = b.wsLn
		si.TLSRequired = b.opts.ws.tls != nil
		si.TLSAvailable = si.TLSRequired
		if b.opts.ws.advertise != "" {
			si.ConnectURLs = []string{b.opts.ws.advertise}
		}
	}
	if ln != nil {
		if ta, ok := ln.Addr().(*net.TCPAddr); ok {
			si.Host = ta.IP.String()
			si.Port = ta.Port
		}
	}
	if ta, ok := meta.RemoteAddr.(*net.TCPAddr); ok {
		si.ClientIP = ta.IP.String()
	}
	return proto.AppendInfo(nil, &si)
}

// host adapts the Broker to client.Host without exporting its methods.
type host Broker

func (h *host) AuthRequired(c *client.Client) bool { return h.auth.required(c.Meta().Kind) }

func (h *host) Authenticate(c *client.Client, ci *proto.ConnectInfo) (*client.Grant, error) {
	g, err := h.auth.authenticate(c, ci)
	if err != nil {
		h.log.Debug("authentication failed", "cid", c.ID(), "kind", c.Meta().Kind.String(),
			"remote", addrString(c.Meta().RemoteAddr), "reason", err)
	}
	return g, err
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func (h *host) Closed(c *client.Client) {
	h.mu.Lock()
	if _, ok := h.clients[c.ID()]; ok {
		delete(h.clients, c.ID())
		if c.IsLeaf() {
			h.leaves--
		}
	}
	h.mu.Unlock()
}

// Shutdown stops accepting connections, writes what is queued for every
// client, closes them all and waits for every goroutine of the broker. If
// ctx ends first, the remaining connections are closed at once and
// ctx.Err() is returned. It is idempotent; a second call waits like the
// first.
func (b *Broker) Shutdown(ctx context.Context) error {
	if b.beginClose(false) {
		go func() {
			// Tracked websocket conns are closed by their clients (1001);
			// the server's Shutdown waits for that and its own goroutines.
			_ = b.wsSrv.Shutdown(ctx)
			b.wg.Wait()
			close(b.done)
		}()
	}
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		b.abortAll()
		<-b.done
		return ctx.Err()
	}
}

// Close closes every listener and connection immediately, dropping queued
// output, and waits for the broker's goroutines. It is idempotent.
func (b *Broker) Close() error {
	if b.beginClose(true) {
		_ = b.wsSrv.Close()
		b.wg.Wait()
		close(b.done)
		return nil
	}
	b.abortAll()
	<-b.done
	return nil
}

// beginClose moves to the closing state; it reports whether this call did.
func (b *Broker) beginClose(abort bool) bool {
	b.mu.Lock()
	if b.state == stateClosing {
		b.mu.Unlock()
		return false
	}
	b.state = stateClosing
	b.cancel()
	if b.tcpSrv != nil {
		_ = b.tcpSrv.Close()
	}
	if b.leafSrv != nil {
		_ = b.leafSrv.Close()
	}
	clients := make([]*client.Client, 0, len(b.clients))
	for _, c := range b.clients {
		clients = append(clients, c)
	}
	b.mu.Unlock()
	for _, c := range clients {
		if abort {
			c.Abort(transport.ServerShutdown)
		} else {
			c.Close(transport.ServerShutdown)
		}
	}
	return true
}

func (b *Broker) abortAll() {
	b.mu.Lock()
	clients := make([]*client.Client, 0, len(b.clients))
	for _, c := range b.clients {
		clients = append(clients, c)
	}
	b.mu.Unlock()
	for _, c := range clients {
		c.Abort(transport.ServerShutdown)
	}
}
