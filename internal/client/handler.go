package client

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/internal/sublist"
	"github.com/wsbroker/broker/transport"
)

// subscription is one SUB of a client, as stored in the account's sublist
// (Owner points back here).
type subscription struct {
	sublist.Subscription
	client    *Client
	sid       []byte       // SID as bytes, for encoding MSG lines
	checkDeny bool         // wildcard subscription of a client with denied subjects
	qweight   atomic.Int32 // queue members behind a link's queue subscription
	queueB    []byte       // Queue as bytes, for LMSG lines
	max       atomic.Int64 // auto-unsubscribe after max deliveries; 0 = none
	delivered atomic.Int64
}

// Errors sent to clients, byte-exact with nats-server.
const (
	errAuthViolation   = "Authorization Violation"
	errInvalidSubject  = "Invalid Subject"
	errInvalidPubSubj  = "Invalid Publish Subject"
	errBadProtocol     = "invalid client protocol"
	errNoRespNoHeaders = "no responders requires headers support"
	errTooManySubs     = "maximum subscriptions exceeded"
)

var _ proto.Handler = (*Client)(nil)

// checkAuth enforces that CONNECT comes first when auth is required,
// unless the host admits the client without one (no_auth_user).
func (c *Client) checkAuth() error {
	if !c.needAuth || c.authed {
		return nil
	}
	g, err := c.host.Authenticate(c, nil)
	if err != nil {
		c.log.Debug("authentication failed", "err", err, "before", "CONNECT")
		return &closeError{errAuthViolation, transport.AuthenticationFailure}
	}
	return c.applyGrant(g)
}

// applyGrant puts what authentication granted into effect.
func (c *Client) applyGrant(g *Grant) error {
	p, err := compilePerms(g.Permissions)
	if err != nil {
		c.log.Warn("bad permissions", "user", g.User, "err", err)
		return &closeError{errAuthViolation, transport.AuthenticationFailure}
	}
	c.acc.Store(g.Account)
	c.perms = p
	c.permsSrc = g.Permissions
	c.maxSubs = g.MaxSubs
	if m := c.cfg.MaxSubs; m > 0 && (c.maxSubs <= 0 || m < c.maxSubs) {
		c.maxSubs = m
	}
	c.user = g.User
	if g.MaxPayload > 0 && g.MaxPayload < c.cfg.MaxPayload {
		c.parser.MaxPayload = g.MaxPayload
	}
	c.mu.Lock()
	c.authed = true
	if c.authTmr != nil {
		c.authTmr.Stop()
	}
	if !g.Expires.IsZero() && !c.closing {
		c.expTmr = time.AfterFunc(time.Until(g.Expires), func() {
			c.CloseWithError("User Authentication Expired", transport.AuthenticationExpired)
		})
	}
	c.mu.Unlock()
	return nil
}

// ProcessConnect handles CONNECT.
func (c *Client) ProcessConnect(arg []byte) error {
	ci := c.opts
	// Fields absent from the JSON keep their current value, as nats-server.
	if err := json.Unmarshal(arg, &ci); err != nil {
		// nats-server closes without a word.
		c.log.Debug("bad CONNECT", "err", err)
		return &closeError{"", transport.ProtocolViolation}
	}
	if ci.Protocol < 0 || ci.Protocol > 1 {
		return &closeError{errBadProtocol, transport.BadClientProtocol}
	}
	if ci.NoResponders && !ci.Headers {
		return &closeError{errNoRespNoHeaders, transport.NoRespondersRequiresHeaders}
	}
	if c.needAuth && !c.authed {
		g, err := c.host.Authenticate(c, &ci)
		if err != nil {
			c.log.Debug("authentication failed", "err", err)
			return &closeError{errAuthViolation, transport.AuthenticationFailure}
		}
		if err := c.applyGrant(g); err != nil {
			return err
		}
	}
	c.opts = ci
	c.echo.Store(ci.Echo)
	c.headers.Store(ci.Headers)
	c.log.Debug("client connected", "name", ci.Name, "lang", ci.Lang, "version", ci.Version)
	c.sendOK()
	return nil
}

// sendOK acknowledges an operation in verbose mode.
func (c *Client) sendOK() {
	if c.opts.Verbose {
		c.queue(okProto)
	}
}

// queue appends p to the client's own output (PONG, +OK, -ERR, ...); the
// read loop flushes it. It counts against MaxPending like any message: a
// client that keeps asking without reading the answers is cut off as a
// slow consumer.
func (c *Client) queue(p []byte) {
	c.mu.Lock()
	ok, cut := c.queueLocked(p)
	c.mu.Unlock()
	if cut {
		c.cutSlow()
	}
	if ok {
		c.pcd[c] = struct{}{}
	}
}

// sendErr queues -ERR 'text' without closing.
func (c *Client) sendErr(text string) {
	c.queue(proto.AppendErr(c.scratch[:0], text))
}

// ProcessPing answers PING.
func (c *Client) ProcessPing() error {
	if err := c.checkAuth(); err != nil {
		return err
	}
	c.queue(pongProto)
	return nil
}

// ProcessPong records the answer to our PING.
func (c *Client) ProcessPong() error {
	c.mu.Lock()
	c.pingsOut = 0
	c.mu.Unlock()
	return nil
}

// ProcessSub handles SUB.
func (c *Client) ProcessSub(subject, queue, sid []byte) error {
	if c.gone.Load() {
		return errGone
	}
	if err := c.checkAuth(); err != nil {
		return err
	}
	if c.perms != nil && !c.perms.canSubscribe(subject, string(queue)) {
		if len(queue) > 0 {
			c.sendErr(fmt.Sprintf("Permissions Violation for Subscription to %q using queue %q", subject, queue))
		} else {
			c.sendErr(fmt.Sprintf("Permissions Violation for Subscription to %q", subject))
		}
		c.log.Debug("subscription violation", "subject", string(subject), "queue", string(queue), "user", c.user)
		return nil
	}
	acc := c.acc.Load()
	c.mu.Lock()
	if c.maxSubs > 0 && len(c.subs) >= c.maxSubs {
		c.mu.Unlock()
		c.sendErr(errTooManySubs)
		return nil
	}
	if _, dup := c.subs[string(sid)]; dup || c.closing {
		// nats-server keeps the first subscription of a sid.
		c.mu.Unlock()
		c.sendOK()
		return nil
	}
	s := &subscription{client: c}
	s.Subject = string(subject)
	s.Queue = string(queue)
	s.SID = string(sid)
	s.sid = []byte(s.SID)
	s.Owner = s
	s.checkDeny = c.perms != nil && c.perms.subDeny != nil && !sublist.IsValidPublishSubject(s.Subject)
	if err := acc.Sublist.Insert(&s.Subscription); err != nil {
		c.mu.Unlock()
		c.sendErr(errInvalidSubject)
		return nil
	}
	c.subs[s.SID] = s
	c.mu.Unlock()
	acc.subAdded(s)
	c.sendOK()
	return nil
}

// ProcessUnsub handles UNSUB.
func (c *Client) ProcessUnsub(sid []byte, max int) error {
	if err := c.checkAuth(); err != nil {
		return err
	}
	c.mu.Lock()
	s := c.subs[string(sid)]
	c.mu.Unlock()
	if s != nil {
		if max > 0 && int64(max) > s.delivered.Load() {
			s.max.Store(int64(max))
		} else {
			c.unsubscribe(s)
		}
	}
	c.sendOK()
	return nil
}

// unsubscribe removes s from its client and account; safe to call more
// than once and from any goroutine.
func (c *Client) unsubscribe(s *subscription) {
	c.mu.Lock()
	if c.subs[s.SID] != s {
		c.mu.Unlock()
		return
	}
	delete(c.subs, s.SID)
	c.mu.Unlock()
	if acc := c.acc.Load(); acc != nil {
		_ = acc.Sublist.Remove(&s.Subscription)
		acc.subRemoved(s)
	}
}

// errGone stops the parser of a connection that is closing: nothing it
// still sends takes effect.
var errGone = &closeError{"", transport.ClientClosed}

// ProcessPub routes a published message.
func (c *Client) ProcessPub(subject, reply []byte, hdrLen int, msg []byte) error {
	if c.gone.Load() {
		return errGone
	}
	if err := c.checkAuth(); err != nil {
		return err
	}
	if hdrLen >= 0 && !c.opts.Headers {
		// nats-server closes without a word.
		c.log.Debug("HPUB without headers negotiated")
		return &closeError{"", transport.ProtocolViolation}
	}
	if c.opts.Pedantic && !sublist.IsValidPublishSubject(string(subject)) {
		// nats-server complains and delivers anyway.
		c.sendErr(errInvalidPubSubj)
	}
	if c.perms != nil && !c.perms.canPublish(subject) && !c.useReply(subject) {
		c.sendErr(fmt.Sprintf("Permissions Violation for Publish to %q", subject))
		c.log.Debug("publish violation", "subject", string(subject), "user", c.user)
		return nil
	}
	c.sendOK()
	acc := c.acc.Load()
	if !c.route(acc, subject, reply, hdrLen, msg, nil, false) && len(reply) > 0 && c.opts.NoResponders {
		c.noResponders(acc, subject, reply)
	}
	return nil
}

// noResponders tells a requester that nobody listens on subject, with the
// status message nats-server sends, on the requester's own reply
// subscription.
func (c *Client) noResponders(acc *Account, subject, reply []byte) {
	r := acc.Sublist.Match(reply)
	for _, ps := range r.Psubs {
		s := ps.Owner.(*subscription)
		if s.client != c {
			continue
		}
		b := proto.AppendNoResponders(c.scratch[:0], reply, s.sid, subject)
		c.scratch = b
		c.queue(b)
		return
	}
}

// deliver copies one message into the output of s's client. It runs on the
// publisher's read loop; the receiver is signalled after the read.
func (c *Client) deliver(s *subscription, subject, reply []byte, hdrLen int, msg []byte) bool {
	rc := s.client
	if s.checkDeny && rc.perms.deniedDelivery(subject) {
		return false
	}
	if max := s.max.Load(); max > 0 {
		n := s.delivered.Add(1)
		if n > max {
			// Also when UNSUB's max raced with deliveries: the
			// subscription must not outlive its limit.
			rc.unsubscribe(s)
			return false
		}
		if n == max {
			defer rc.unsubscribe(s)
		}
	} else {
		s.delivered.Add(1)
	}
	if hdrLen >= 0 && !rc.headers.Load() {
		// The receiver did not ask for headers: it gets the payload only.
		msg = msg[hdrLen:]
		hdrLen = -1
	}
	b := proto.AppendMsgHeader(c.scratch[:0], subject, s.sid, reply, hdrLen, len(msg))
	c.scratch = b
	return c.enqueueMsg(rc, b, msg, reply)
}

var crlf = []byte("\r\n")

// maxReplies bounds the reply subjects remembered for one client under
// ResponsePermission; expired ones are dropped first.
const maxReplies = 4096

// allowReplyLocked lets the client answer reply (c.mu held).
func (c *Client) allowReplyLocked(reply []byte) {
	now := time.Now()
	if c.replies == nil {
		c.replies = make(map[string]replyGrant)
	}
	if len(c.replies) >= maxReplies {
		for k, r := range c.replies {
			if !r.expires.IsZero() && now.After(r.expires) {
				delete(c.replies, k)
			}
		}
		if len(c.replies) >= maxReplies {
			return
		}
	}
	g := replyGrant{left: c.perms.resp.MaxMsgs}
	if c.perms.resp.Expires > 0 {
		g.expires = now.Add(c.perms.resp.Expires)
	}
	c.replies[string(reply)] = g
}

// useReply reports whether subject is a reply the client may still answer,
// and counts the answer.
func (c *Client) useReply(subject []byte) bool {
	if c.perms.resp == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.replies[string(subject)]
	if !ok {
		return false
	}
	// A negative count is unlimited, a zero expiry never expires.
	if (!r.expires.IsZero() && time.Now().After(r.expires)) || r.left == 0 {
		delete(c.replies, string(subject))
		return false
	}
	if r.left > 0 {
		r.left--
		if r.left == 0 {
			delete(c.replies, string(subject))
		} else {
			c.replies[string(subject)] = r
		}
	}
	return true
}
