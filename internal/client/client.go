// Package client runs one NATS client connection: a read loop that parses
// the byte stream in place and routes what it reads, and a single write
// loop that owns the socket, coalesces output into pooled chunks and writes
// them with vectored writes of at most 64 KiB.
//
// # Concurrency
//
// Each Client has exactly two goroutines. The read loop owns the parser and
// the connection's protocol state (CONNECT options, subscriptions by sid).
// Any goroutine may append output to a Client (a publisher's read loop
// delivering a message, the ping timer, the broker on shutdown); appends take
// the Client's mutex and never write to the socket. Only the
// write loop writes. A publisher signals each receiver's write loop once per
// read (not once per message), so one read full of messages costs one wake-up
// per receiving connection.
//
// # Flow control and limits
//
// Pending bytes count exactly what is queued for a connection and not yet
// written: every message, and the connection's own protocol output (PONG,
// +OK, -ERR, PING, LS+/LS-). They fall after each write of at most
// maxWriteChunks chunks (64 KiB), not when a whole backlog has gone out.
//
// A producer (the read loop of a client or of a leaf node link) about to
// queue a message for a receiver past three quarters of MaxPending first
// waits for that receiver's writer to bring it back under, as nats-server
// does for client producers, so that a burst slows the producer instead of
// losing the receiver. Links wait too (nats-server's do not), so that a
// blast across a leaf link loses nothing either: a link's read loop waits
// as a client's would, and TCP carries the pressure back to the far side.
// The wait is bounded: at most stallPerRead (10 ms) in all per read of the
// producer, whatever the receivers, and none at all for a receiver whose
// writer has been blocked in one write for stuckAfter (100 ms). A receiver
// that stops reading is therefore still cut off, when its output would pass
// MaxPending or a write blocks past WriteDeadline, and from then on slows
// nobody. The broker has no internal producers yet; any it gets must never
// wait.
//
// A connection whose own output would pass MaxPending (a client pipelining
// PINGs it never reads the answers to) is cut off as a slow consumer too.
// So a connection costs at most MaxPending plus one chunk of output,
// whatever it sends; the websocket transport adds at most one pong and one
// close frame of its own.
//
// # Lock order
//
// Broker.mu → Client.mu; Account.mu → link Client.mu; Client.mu →
// Sublist.mu. A producer never holds a lock while it waits for a receiver.
package client

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/internal/sublist"
	"github.com/wsbroker/broker/transport"
)

// Config holds the limits shared by every client of a broker. It must not
// be changed after the first client starts.
type Config struct {
	MaxPayload     int           // bytes
	MaxControlLine int           // bytes
	MaxPending     int64         // bytes of output queued for one client
	WriteDeadline  time.Duration // one write to the socket
	PingInterval   time.Duration // between server PINGs
	PingMax        int           // unanswered PINGs before 'Stale Connection'
	AuthTimeout    time.Duration // time to send CONNECT when auth is required
	MaxSubs        int           // subscriptions per connection; <= 0 unlimited
	Logger         *slog.Logger  // never nil
}

// Host is what a client needs from the broker that owns it.
type Host interface {
	// AuthRequired reports whether a client of kind k must authenticate
	// with CONNECT before doing anything else.
	AuthRequired(c *Client) bool
	// Authenticate checks the CONNECT of c and returns what the client is
	// granted. ci is nil when the client's first operation was not CONNECT
	// (the no_auth_user fast path). An error rejects the client with
	// 'Authorization Violation'.
	Authenticate(c *Client, ci *proto.ConnectInfo) (*Grant, error)
	// Closed is called once, after the client has left its account and
	// both of its goroutines are about to end.
	Closed(c *Client)
	// LeafConnectInfo returns the INFO an accepting side sends a leaf
	// once its CONNECT is accepted (connect_info), or nil.
	LeafConnectInfo(c *Client) []byte
}

// Client is one client connection.
type Client struct {
	id   uint64
	conn net.Conn
	meta transport.Meta
	cfg  *Config
	host Host
	log  *slog.Logger

	bw   transport.BuffersWriter // nil for plain conns
	leaf *leafState              // nil unless a leaf node link

	// Read-loop state.
	parser   proto.Parser
	opts     proto.ConnectInfo
	acc      atomic.Pointer[Account]
	authed   bool // CONNECT accepted (or no auth required)
	needAuth bool
	perms    *perms       // nil: everything allowed
	permsSrc *Permissions // what perms was compiled from
	maxSubs  int
	user     string
	nonce    []byte
	subs     map[string]*subscription // by sid (links: "subject queue"); guarded by mu
	pcd      map[*Client]struct{}     // receivers to signal after this read
	scratch  []byte                   // MSG header line being built
	stalled  time.Duration            // waited for lagging receivers during this read
	stallTmr *time.Timer              // bounds one such wait
	started  bool                     // the peer has sent something
	louts    []linkOut                // links the message being routed goes to
	lastIn   atomic.Int64             // unix nanos of the last read
	writing  atomic.Int64             // unix nanos the write in progress started, 0 if none

	// Flags read by other goroutines while delivering; written only before
	// they can see this client or under mu.
	echo    atomic.Bool
	headers atomic.Bool

	// gone is set with closing: readable without the lock, so that routing
	// skips a closing connection and its read loop stops acting on input.
	gone atomic.Bool

	mu       sync.Mutex
	out      net.Buffers // pending chunks; the last one may have room
	pending  int64       // bytes queued and not yet written
	closing  bool
	flushOut bool // write what is queued before closing
	reason   transport.CloseReason
	pingsOut int
	pingTmr  *time.Timer
	authTmr  *time.Timer
	expTmr   *time.Timer
	replies  map[string]replyGrant // reply subjects this client may answer
	stall    chan struct{}         // closed when pending falls back under stallAt (see waitFor)

	wake     chan struct{} // cap 1: the write loop has work
	done     chan struct{} // closed when the write loop ends
	readDone chan struct{} // closed when the read loop stops reading
}

// New prepares a client for conn. It starts nothing; see Start.
func New(id uint64, conn net.Conn, meta transport.Meta, cfg *Config, host Host) *Client {
	c := &Client{
		id:       id,
		conn:     conn,
		meta:     meta,
		cfg:      cfg,
		host:     host,
		log:      cfg.Logger.With("cid", id, "kind", meta.Kind.String(), "remote", addrString(meta.RemoteAddr)),
		subs:     make(map[string]*subscription),
		pcd:      make(map[*Client]struct{}),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
		maxSubs:  cfg.MaxSubs,
		// nats-server's defaults before CONNECT.
		opts: proto.ConnectInfo{Verbose: true, Pedantic: true, Echo: true},
	}
	c.parser.MaxControlLine = cfg.MaxControlLine
	c.parser.MaxPayload = cfg.MaxPayload
	c.echo.Store(true)
	if bw, ok := conn.(transport.BuffersWriter); ok {
		c.bw = bw
	}
	if w, ok := conn.(transport.Waker); ok {
		w.SetWaker(c.signal)
	}
	return c
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// ID returns the client's id, unique within its broker.
func (c *Client) ID() uint64 { return c.id }

// Meta returns what the transport knows about the connection.
func (c *Client) Meta() *transport.Meta { return &c.meta }

// SetNonce records the nonce sent to the client in INFO; call it before
// Start.
func (c *Client) SetNonce(nonce []byte) { c.nonce = nonce }

// Nonce returns the nonce sent to the client in INFO (nil if none).
func (c *Client) Nonce() []byte { return c.nonce }

// Account returns the account the client joined, nil before CONNECT when
// authentication is required.
func (c *Client) Account() *Account { return c.acc.Load() }

// Start queues info (the INFO line) and starts the read and write loops,
// each counted in wg. acc is the account joined before CONNECT when no
// authentication is required (nil otherwise).
func (c *Client) Start(wg *sync.WaitGroup, info []byte, acc *Account) {
	switch {
	case c.leaf != nil && c.leaf.solicited:
		// The hub speaks first; we authenticate to it.
		if len(c.leaf.opts.FirstInfo) == 0 {
			c.armFirstInfo()
		}
	case c.leaf != nil:
		c.needAuth = true // a leaf always sends CONNECT first
	default:
		c.needAuth = c.host.AuthRequired(c)
		if !c.needAuth {
			c.acc.Store(acc)
		}
	}
	c.mu.Lock()
	c.appendLocked(info)
	if c.needAuth && c.cfg.AuthTimeout > 0 {
		c.authTmr = time.AfterFunc(c.cfg.AuthTimeout, c.authTimeout)
	}
	if c.cfg.PingInterval > 0 {
		c.pingTmr = time.AfterFunc(c.cfg.PingInterval, c.pingTimer)
	}
	c.mu.Unlock()
	c.signal()
	wg.Add(2)
	go func() { defer wg.Done(); c.writeLoop() }()
	go func() { defer wg.Done(); c.readLoop() }()
}

// Reject queues info and -ERR 'text', then closes the client with reason,
// without reading anything (used for max_connections). It runs the write
// loop in wg and returns immediately.
func (c *Client) Reject(wg *sync.WaitGroup, info []byte, text string, reason transport.CloseReason) {
	c.mu.Lock()
	c.appendLocked(info)
	c.mu.Unlock()
	c.CloseWithError(text, reason)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
		c.host.Closed(c)
	}()
	close(c.readDone) // nothing reads: do not linger
}

// Close closes the client for reason after writing what is already queued
// (bounded by the write deadline). It returns at once.
func (c *Client) Close(reason transport.CloseReason) { c.closeWith("", reason, true) }

// CloseWithError queues -ERR 'text' and closes the client for reason after
// writing it. It returns at once.
func (c *Client) CloseWithError(text string, reason transport.CloseReason) {
	c.closeWith(text, reason, true)
}

// Abort closes the connection immediately, dropping queued output.
func (c *Client) Abort(reason transport.CloseReason) { c.closeWith("", reason, false) }

// Done is closed once the write loop has closed the connection.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) closeWith(errText string, reason transport.CloseReason, flush bool) {
	c.mu.Lock()
	act := c.closeLocked(errText, reason, flush)
	c.mu.Unlock()
	switch act {
	case closeNone:
		return
	case closeAbort:
		// A graceful close already under way is cut short.
		c.closeNow()
		return
	}
	c.log.Debug("closing connection", "reason", string(reason))
	if !flush {
		// The writer may be stuck in a write: unblock it.
		c.closeNow()
	}
	c.signal()
}

// What closeLocked started.
const (
	closeNone    = iota // already closing: nothing to do
	closeAbort          // already closing gracefully, now aborted: close the socket
	closeStarted        // closing begins: log, signal the writer (and close the socket if !flush)
)

// closeLocked marks c closing for reason, queueing -ERR 'errText' if
// given. c.mu must be held; the caller finishes what it reports once c.mu
// is released (see closeWith).
func (c *Client) closeLocked(errText string, reason transport.CloseReason, flush bool) int {
	if c.closing {
		// Already closing. An abort still cuts a graceful close short.
		if !flush && c.flushOut {
			c.flushOut = false
			return closeAbort
		}
		return closeNone
	}
	c.closing = true
	c.gone.Store(true)
	c.flushOut = flush
	c.reason = reason
	if errText != "" {
		c.appendLocked(proto.AppendErr(nil, errText))
	}
	c.releaseStallLocked()
	if c.pingTmr != nil {
		c.pingTmr.Stop()
	}
	if c.authTmr != nil {
		c.authTmr.Stop()
	}
	if c.expTmr != nil {
		c.expTmr.Stop()
	}
	if c.leaf != nil && c.leaf.waitTmr != nil {
		c.leaf.waitTmr.Stop()
	}
	return closeStarted
}

// closeNow closes the connection at once. The write deadline goes first,
// so that closing a TLS connection does not block the caller (maybe a
// publisher cutting off a slow consumer) on its close_notify.
func (c *Client) closeNow() {
	_ = c.conn.SetWriteDeadline(time.Now())
	_ = c.conn.Close()
}

// signal wakes the write loop; it never blocks.
func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Client) readLoop() {
	buf := make([]byte, minReadBuf)
	small := 0 // consecutive reads that used less than half of buf
	if c.leaf != nil && len(c.leaf.opts.FirstInfo) > 0 {
		err := c.leaf.parser.Parse(c.leaf.opts.FirstInfo, (*leafHandler)(c))
		c.flushReceivers()
		if err != nil {
			c.protocolError(err)
			c.drain(buf)
			close(c.readDone)
			c.teardown()
			return
		}
	}
	for {
		n, err := c.conn.Read(buf)
		if n > 0 {
			c.lastIn.Store(time.Now().UnixNano())
			c.stalled = 0
			var perr error
			if !c.started {
				c.started = true
				perr = c.checkFirstOp(buf[0])
			}
			switch {
			case perr != nil:
			case c.leaf != nil:
				perr = c.leaf.parser.Parse(buf[:n], (*leafHandler)(c))
			default:
				perr = c.parser.Parse(buf[:n], c)
			}
			c.flushReceivers()
			if perr != nil {
				c.protocolError(perr)
				c.drain(buf)
				break
			}
			// The parser keeps nothing of buf: resize it to the traffic.
			// A full read asks for more; a run of small ones gives back.
			switch {
			case n == len(buf) && len(buf) < maxReadBuf:
				buf, small = make([]byte, 2*len(buf)), 0
			case n < len(buf)/2 && len(buf) > minReadBuf:
				if small++; small >= shrinkAfter {
					buf, small = make([]byte, len(buf)/2), 0
				}
			default:
				small = 0
			}
		}
		if err != nil {
			// Flush: a websocket transport may have queued a close frame
			// that must still go out; a dead peer fails the write at once.
			c.closeWith("", readCloseReason(err), true)
			break
		}
	}
	close(c.readDone)
	c.teardown()
}

// checkFirstOp enforces, as nats-server, that a client which must
// authenticate starts with CONNECT: any other first byte is an
// 'Authorization Violation', unless the client is admitted without one
// (no_auth_user).
func (c *Client) checkFirstOp(b byte) error {
	if c.leaf != nil || !c.needAuth || c.authed || b|0x20 == 'c' {
		return nil
	}
	return c.checkAuth()
}

// drain reads and discards until the connection fails, which the write
// loop makes happen once it has written the last bytes and lingered.
func (c *Client) drain(buf []byte) {
	for {
		if _, err := c.conn.Read(buf); err != nil {
			return
		}
	}
}

func readCloseReason(err error) transport.CloseReason {
	switch {
	case errors.Is(err, io.EOF):
		return transport.ClientClosed
	case errors.Is(err, net.ErrClosed):
		return transport.ServerShutdown
	}
	return transport.ReadError
}

// Read buffer sizes of a connection, in bytes: it starts small (an idle
// browser costs little), doubles on full reads up to maxReadBuf, and halves
// after shrinkAfter reads that used less than half of it. Larger payloads
// are assembled by the parser.
const (
	minReadBuf  = 512
	maxReadBuf  = 64 << 10
	shrinkAfter = 4
)

// flushReceivers signals every connection this read delivered to.
func (c *Client) flushReceivers() {
	for r := range c.pcd {
		r.signal()
	}
	clear(c.pcd)
}

// protocolError closes the client after a parser or handler error.
func (c *Client) protocolError(err error) {
	var ce *closeError
	if errors.As(err, &ce) {
		c.closeWith(ce.text, ce.reason, true)
		return
	}
	text, ok := proto.ClientErrText(err)
	reason := transport.ProtocolViolation
	switch {
	case !ok:
		// Bad arguments: nats-server closes without a -ERR.
	case errors.Is(err, proto.ErrMaxControlLine):
		reason = transport.MaxControlLineExceeded
	case errors.Is(err, proto.ErrMaxPayload):
		reason = transport.MaxPayloadExceeded
	default:
		reason = transport.ParseError
	}
	c.log.Debug("protocol error", "err", err)
	c.closeWith(text, reason, true)
}

// closeError is returned by a handler to close the client with an -ERR.
type closeError struct {
	text   string
	reason transport.CloseReason
}

func (e *closeError) Error() string { return e.text }

// teardown leaves the account and tells the host; it runs once, on the read
// loop, after the connection is closing.
func (c *Client) teardown() {
	<-c.done
	c.mu.Lock()
	subs := make([]*sublist.Subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, &s.Subscription)
	}
	clear(c.subs)
	c.mu.Unlock()
	if acc := c.acc.Load(); acc != nil {
		if c.leaf != nil {
			acc.removeLink(c)
		}
		if len(subs) > 0 {
			acc.Sublist.RemoveBatch(subs)
			for _, s := range subs {
				acc.subRemoved(s.Owner.(*subscription))
			}
		}
	}
	c.host.Closed(c)
}

func (c *Client) authTimeout() {
	c.mu.Lock()
	authed := c.authed
	c.mu.Unlock()
	if !authed {
		c.CloseWithError("Authentication Timeout", transport.AuthenticationTimeout)
	}
}

func (c *Client) pingTimer() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	interval := c.cfg.PingInterval
	if since := time.Since(time.Unix(0, c.lastIn.Load())); since < interval && c.pingsOut == 0 {
		// The client talked to us recently: no need to ask.
		c.pingTmr.Reset(interval - since)
		c.mu.Unlock()
		return
	}
	if c.pingsOut+1 > c.cfg.PingMax {
		c.mu.Unlock()
		c.CloseWithError("Stale Connection", transport.StaleConnection)
		return
	}
	c.pingsOut++
	_, cut := c.queueLocked(pingProto)
	c.pingTmr.Reset(interval)
	c.mu.Unlock()
	if cut {
		c.cutSlow()
		return
	}
	c.signal()
}

var (
	pingProto = []byte("PING\r\n")
	pongProto = []byte("PONG\r\n")
	okProto   = []byte("+OK\r\n")
)
