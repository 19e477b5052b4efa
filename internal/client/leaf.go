package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/internal/sublist"
	"github.com/wsbroker/broker/transport"
)

// LeafOptions configures a leaf node link (see NewLeaf).
type LeafOptions struct {
	// Solicited is true on the side that dialled: it is the leaf and the
	// peer is its hub. False on the accepting side (the hub).
	Solicited bool
	// Account is the local account the link serves; on the accepting side
	// it is bound by authentication at CONNECT instead.
	Account *Account
	// Connect returns the CONNECT line the soliciting side sends, given
	// the nonce of the hub's INFO (to sign).
	Connect func(nonce string) ([]byte, error)
	// FirstInfo is the hub's INFO line when the caller already read it
	// (to decide on TLS); it is processed before anything is read.
	FirstInfo []byte
}

// LeafConnect is the CONNECT a leaf sends to its hub.
type LeafConnect struct {
	Version       string `json:"version,omitempty"`
	ServerID      string `json:"server_id,omitempty"`
	Name          string `json:"name,omitempty"`
	Cluster       string `json:"cluster,omitempty"`
	Headers       bool   `json:"headers"`
	RemoteAccount string `json:"remote_account,omitempty"`
	Protocol      int    `json:"protocol,omitempty"`
	User          string `json:"user,omitempty"`
	Pass          string `json:"pass,omitempty"`
	Token         string `json:"auth_token,omitempty"`
	JWT           string `json:"jwt,omitempty"`
	Nkey          string `json:"nkey,omitempty"`
	Sig           string `json:"sig,omitempty"`
	// Lang and Gateway must never be sent by a leaf: a hub seeing them
	// rejects the connection.
	Lang    string `json:"lang,omitempty"`
	Gateway string `json:"gateway,omitempty"`
}

// connectInfoWait is how long a leaf waits for the hub's answer to its
// CONNECT when the hub announced one (info_on_connect), as nats-server.
const connectInfoWait = 2 * time.Second

// ldsPrefix starts loop detection subjects, which permissions never
// filter.
var ldsPrefix = []byte("$LDS.")

// leafInfo is what a leaf reads of its hub's INFO.
type leafInfo struct {
	ServerID      string   `json:"server_id"`
	Name          string   `json:"server_name"`
	Headers       bool     `json:"headers"`
	ClientID      uint64   `json:"client_id"`
	Nonce         string   `json:"nonce"`
	InfoOnConnect bool     `json:"info_on_connect"`
	ConnectInfo   bool     `json:"connect_info"`
	LeafnodeURLs  []string `json:"leafnode_urls"`
	RemoteAccount string   `json:"remote_account"`
	TLSRequired   bool     `json:"tls_required"`
	// Import and Export are the link's permissions as the hub enforces
	// them: what the leaf may receive (subscribe) and send (publish).
	Import *SubjectPermission `json:"import"`
	Export *SubjectPermission `json:"export"`
}

// leafState is the link-specific state of a leaf node link.
type leafState struct {
	opts      LeafOptions
	solicited bool
	parser    proto.LeafParser
	headers   bool   // the peer takes HMSG
	remote    string // peer's server name, for logs
	waiting   bool   // solicited: CONNECT sent, waiting for the connect_info INFO
	linked    bool   // registered with the account
	gotInfo   bool
	infoSeen  atomic.Bool                   // gotInfo, for the first-INFO timer
	subs      map[interestKey]*subscription // the peer's interest, read loop only
	waitTmr   *time.Timer
}

// NewLeaf prepares a leaf node link over conn. It starts nothing; see
// Start (the accepting side passes its INFO, the soliciting side nil).
func NewLeaf(id uint64, conn net.Conn, meta transport.Meta, cfg *Config, host Host, opts LeafOptions) *Client {
	c := New(id, conn, meta, cfg, host)
	c.leaf = &leafState{
		opts:      opts,
		solicited: opts.Solicited,
		subs:      make(map[interestKey]*subscription),
	}
	c.leaf.parser.MaxControlLine = 16 * cfg.MaxControlLine
	c.leaf.parser.MaxPayload = cfg.MaxPayload
	if opts.Solicited {
		c.acc.Store(opts.Account)
	}
	return c
}

// Permissions returns the permissions authentication granted c (nil:
// everything allowed). It must not be modified.
func (c *Client) Permissions() *Permissions { return c.permsSrc }

// IsLeaf reports whether c is a leaf node link.
func (c *Client) IsLeaf() bool { return c.leaf != nil }

// leafHandler gives a link the proto.LeafHandler methods without mixing
// them with the client protocol's.
type leafHandler Client

var _ proto.LeafHandler = (*leafHandler)(nil)

func (h *leafHandler) c() *Client { return (*Client)(h) }

// ProcessInfo handles the hub's INFO (soliciting side); the accepting side
// ignores INFO.
func (h *leafHandler) ProcessInfo(arg []byte) error {
	c := h.c()
	l := c.leaf
	if !l.solicited {
		return nil
	}
	var info leafInfo
	if err := json.Unmarshal(arg, &info); err != nil {
		return &closeError{"", transport.ProtocolViolation}
	}
	if !l.gotInfo {
		l.gotInfo = true
		l.infoSeen.Store(true)
		c.mu.Lock()
		if l.waitTmr != nil {
			l.waitTmr.Stop() // the first-INFO timer
		}
		c.mu.Unlock()
		if info.ClientID == 0 || (len(info.LeafnodeURLs) == 0 && !info.InfoOnConnect) {
			c.log.Warn("leafnode: attempted to connect to wrong port (not a leafnode listener)")
			return &closeError{"", transport.ProtocolViolation}
		}
		if info.TLSRequired && c.meta.TLS == nil && c.meta.Kind == transport.Leafnode {
			c.log.Error("leafnode: the hub requires TLS on its leafnode port, which this broker does not speak: use a wss:// URL of its websocket port")
			return &closeError{"", transport.ProtocolViolation}
		}
		l.headers = info.Headers
		l.remote = info.Name
		line, err := l.opts.Connect(info.Nonce)
		if err != nil {
			c.log.Warn("leafnode: cannot build CONNECT", "err", err)
			return &closeError{"", transport.AuthenticationFailure}
		}
		c.queue(line)
		c.mu.Lock()
		c.authed = true
		c.mu.Unlock()
		if !info.InfoOnConnect {
			c.linkUp()
			return nil
		}
		l.waiting = true
		c.mu.Lock()
		l.waitTmr = time.AfterFunc(connectInfoWait, func() {
			c.CloseWithError("Stale Leaf Node Connection - Closing", transport.StaleConnection)
		})
		c.mu.Unlock()
		return nil
	}
	if !l.linked && (info.Import != nil || info.Export != nil) {
		// Honour the hub's permissions so as not to send what it would
		// refuse. They are set before the link is up and not changed
		// afterwards.
		p, err := compilePerms(&Permissions{Publish: info.Export, Subscribe: info.Import})
		if err != nil {
			c.log.Warn("leafnode: hub permissions not usable", "err", err)
		} else {
			c.perms = p
		}
	}
	if info.ConnectInfo && l.waiting {
		l.waiting = false
		c.mu.Lock()
		l.waitTmr.Stop()
		c.mu.Unlock()
		c.linkUp()
	}
	return nil
}

// firstInfoTimeout bounds the wait for the hub's first INFO on a link
// this side dialled (nats-server: first_info_timeout, 1 s).
const firstInfoTimeout = 2 * time.Second

// armFirstInfo closes a solicited link whose hub says nothing.
func (c *Client) armFirstInfo() {
	c.mu.Lock()
	c.leaf.waitTmr = time.AfterFunc(firstInfoTimeout, func() {
		if !c.leaf.infoSeen.Load() {
			c.log.Warn("leafnode: no INFO from the hub in time")
			c.Abort(transport.StaleConnection)
		}
	})
	c.mu.Unlock()
}

// linkUp registers the link with its account, which sends the snapshot of
// interest.
func (c *Client) linkUp() {
	l := c.leaf
	if l.linked {
		return
	}
	l.linked = true
	acc := c.acc.Load()
	c.log.Info("leafnode link up", "remote_server", l.remote, "account", acc.Name, "solicited", l.solicited)
	acc.addLink(c)
}

// ProcessConnect handles a leaf's CONNECT (accepting side).
func (h *leafHandler) ProcessConnect(arg []byte) error {
	c := h.c()
	l := c.leaf
	if l.solicited || c.authed {
		return &closeError{"", transport.ProtocolViolation}
	}
	var lc LeafConnect
	if err := json.Unmarshal(arg, &lc); err != nil {
		return &closeError{"", transport.ProtocolViolation}
	}
	if lc.Lang != "" {
		return &closeError{"attempted to connect to leaf node port", transport.ProtocolViolation}
	}
	if lc.Gateway != "" || strings.ContainsAny(lc.Cluster, " \t") {
		return &closeError{"Authorization Violation", transport.AuthenticationFailure}
	}
	ci := proto.ConnectInfo{User: lc.User, Pass: lc.Pass, Token: lc.Token, JWT: lc.JWT, Nkey: lc.Nkey, Sig: lc.Sig}
	g, err := c.host.Authenticate(c, &ci)
	if err != nil {
		c.log.Debug("leafnode authentication failed", "err", err)
		return &closeError{errAuthViolation, transport.AuthenticationFailure}
	}
	if err := c.applyGrant(g); err != nil {
		return err
	}
	l.headers = lc.Headers
	l.remote = lc.Name
	if info := c.host.LeafConnectInfo(c); len(info) > 0 {
		c.queue(info)
	}
	c.linkUp()
	return nil
}

// checkLinked refuses operations before the link is up.
func (h *leafHandler) checkLinked() error {
	c := h.c()
	if !c.leaf.solicited && !c.authed {
		return &closeError{errAuthViolation, transport.AuthenticationFailure}
	}
	return nil
}

// ProcessPing answers PING (also before CONNECT, as nats-server).
func (h *leafHandler) ProcessPing() error {
	h.c().queue(pongProto)
	return nil
}

// ProcessPong records the answer to our PING.
func (h *leafHandler) ProcessPong() error { return h.c().ProcessPong() }

// ProcessErr logs an -ERR from the peer; the peer closes if it means to.
func (h *leafHandler) ProcessErr(text []byte) error {
	h.c().log.Warn("leafnode: error from peer", "err", string(text))
	return nil
}

// ProcessLSPlus records interest of the peer.
func (h *leafHandler) ProcessLSPlus(subject, queue []byte, weight int) error {
	if h.c().gone.Load() {
		return errGone
	}
	if err := h.checkLinked(); err != nil {
		return err
	}
	c := h.c()
	acc := c.acc.Load()
	if string(subject) == acc.lds {
		text := fmt.Sprintf("Loop detected for leafnode account=%q. Delaying attempt to reconnect for 30s", acc.Name)
		c.log.Warn("leafnode: " + text)
		return &closeError{text, transport.ProtocolViolation}
	}
	if c.perms != nil && !c.leaf.solicited && !bytes.HasPrefix(subject, ldsPrefix) &&
		sublist.IsValidPublishSubject(string(subject)) && !c.perms.canSubscribe(subject, string(queue)) {
		// The leaf user's subscribe permission bounds what the leaf may
		// receive; wildcard interest is filtered per message instead.
		// nats-server closes the link here; a leaf that does not filter
		// its own interest would then never stay up, so the interest is
		// ignored instead.
		c.log.Debug("leafnode: interest outside the subscribe permission ignored", "subject", string(subject))
		return nil
	}
	k := interestKey{string(subject), string(queue)}
	if s := c.leaf.subs[k]; s != nil {
		if k.queue != "" {
			acc.setWeight(s, weight)
		}
		return nil
	}
	s := &subscription{client: c}
	s.qweight.Store(int32(weight))
	s.Subject, s.Queue = k.subject, k.queue
	if k.queue != "" {
		s.queueB = []byte(k.queue) // set before anyone can route to s
	}
	s.Owner = s
	if err := acc.Sublist.Insert(&s.Subscription); err != nil {
		c.log.Debug("leafnode: invalid interest", "subject", k.subject, "queue", k.queue)
		return nil
	}
	c.leaf.subs[k] = s
	c.mu.Lock()
	c.subs[k.subject+" "+k.queue] = s
	c.mu.Unlock()
	acc.subAdded(s)
	return nil
}

// ProcessLSMinus forgets interest of the peer.
func (h *leafHandler) ProcessLSMinus(subject, queue []byte) error {
	if err := h.checkLinked(); err != nil {
		return err
	}
	c := h.c()
	k := interestKey{string(subject), string(queue)}
	s := c.leaf.subs[k]
	if s == nil {
		return nil
	}
	delete(c.leaf.subs, k)
	c.mu.Lock()
	delete(c.subs, k.subject+" "+k.queue)
	c.mu.Unlock()
	acc := c.acc.Load()
	_ = acc.Sublist.Remove(&s.Subscription)
	acc.subRemoved(s)
	return nil
}

// ProcessLMsg routes a message from the peer.
func (h *leafHandler) ProcessLMsg(subject, reply []byte, queues [][]byte, hdrLen int, msg []byte) error {
	if h.c().gone.Load() {
		return errGone
	}
	if err := h.checkLinked(); err != nil {
		return err
	}
	c := h.c()
	if c.perms != nil && !c.leaf.solicited && !c.perms.canPublish(subject) {
		// The leaf user's publish permission bounds what the leaf sends:
		// the message is dropped (nats-server closes the link).
		c.log.Debug("leafnode: message outside the publish permission dropped", "subject", string(subject))
		return nil
	}
	c.route(c.acc.Load(), subject, reply, hdrLen, msg, queues, true)
	return nil
}
