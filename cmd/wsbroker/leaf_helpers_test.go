package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	broker "github.com/wsbroker/broker"
)

// Helpers of the leaf node interop tests (leaf_interop_test.go): an
// embedded nats-server and our broker linked as hub and leaf, and traffic
// checks that poll for interest instead of sleeping.

// leafWait bounds one wait of the leaf node tests (propagation, link up).
const leafWait = 5 * time.Second

// logCapture is a nats-server logger that keeps every line, to count
// connection attempts and show the server's view when a test fails.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) add(level, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+" "+fmt.Sprintf(format, v...))
}

func (l *logCapture) Noticef(format string, v ...any) { l.add("INF", format, v...) }
func (l *logCapture) Warnf(format string, v ...any)   { l.add("WRN", format, v...) }
func (l *logCapture) Fatalf(format string, v ...any)  { l.add("FTL", format, v...) }
func (l *logCapture) Errorf(format string, v ...any)  { l.add("ERR", format, v...) }
func (l *logCapture) Debugf(format string, v ...any)  { l.add("DBG", format, v...) }
func (l *logCapture) Tracef(format string, v ...any)  { l.add("TRC", format, v...) }

// count returns the number of lines containing s.
func (l *logCapture) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// natsSrv is an embedded nats-server of a leaf test.
type natsSrv struct {
	*server.Server
	log  *logCapture
	opts *server.Options
}

// clientURL is the nats:// URL of its client port.
func (s natsSrv) clientURL() string { return "nats://" + s.Addr().String() }

// leafURL is the nats-leaf:// URL of its leafnode port.
func (s natsSrv) leafURL() string {
	o := s.opts // the server fills in a random port when it listens
	return fmt.Sprintf("nats-leaf://%s:%d", o.LeafNode.Host, o.LeafNode.Port)
}

// startNatsLeafTest runs an embedded nats-server on loopback with a random
// client port, after mod has adjusted the options. Its log is kept and
// printed if the test fails. It is shut down at the end of the test
// (shutting it down earlier is fine).
func startNatsLeafTest(t *testing.T, name string, mod func(o *server.Options)) natsSrv {
	t.Helper()
	opts := &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       -1,
		NoLog:      true,
		NoSigs:     true,
	}
	if mod != nil {
		mod(opts)
	}
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	lc := &logCapture{}
	s.SetLogger(lc, true, false)
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
		if t.Failed() {
			t.Logf("nats-server %s log:\n%s", name, lc)
		}
	})
	require.True(t, s.ReadyForConnections(10*time.Second), "nats-server %s not ready", name)
	return natsSrv{Server: s, log: lc, opts: opts}
}

// natsHubOptions makes o a leafnode hub: leafnode port and plain-text
// websocket port, random unless given.
func natsHubOptions(leafPort, wsPort int) func(o *server.Options) {
	return func(o *server.Options) {
		o.LeafNode.Host = "127.0.0.1"
		o.LeafNode.Port = leafPort
		o.Websocket.Host = "127.0.0.1"
		o.Websocket.Port = wsPort
		o.Websocket.NoTLS = true
	}
}

// natsLeafOptions makes o a leaf of the hub at rawURL.
func natsLeafOptions(t *testing.T, rawURL string) func(o *server.Options) {
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return func(o *server.Options) {
		o.LeafNode.ReconnectInterval = 100 * time.Millisecond
		o.LeafNode.Remotes = []*server.RemoteLeafOpts{{URLs: []*url.URL{u}}}
	}
}

// hubURL returns the URL a leaf dials: the leafnode port or the websocket
// port of a nats-server hub.
func (s natsSrv) hubURL(ws bool) string {
	if ws {
		return s.WebsocketURL()
	}
	return s.leafURL()
}

// waitLinks waits until s has n leaf node links.
func (s natsSrv) waitLinks(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return s.NumLeafNodes() == n }, leafWait, 5*time.Millisecond,
		"nats-server %s: want %d leaf links, have %d", s.Name(), n, s.NumLeafNodes())
}

// startOursLeafTest runs our broker with a TCP client port and the given
// options, logging at debug level into a buffer printed if the test fails
// (and to stderr with WSBROKER_DEBUG=1).
func startOursLeafTest(t *testing.T, name string, opts ...broker.Option) *broker.Broker {
	t.Helper()
	buf := &syncBuffer{}
	var w interface{ Write([]byte) (int, error) } = buf
	if os.Getenv("WSBROKER_DEBUG") != "" {
		w = teeWriter{buf, os.Stderr}
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("broker", name)
	all := append([]broker.Option{
		broker.WithListen("127.0.0.1:0"),
		broker.WithServerName(name),
		broker.WithLogger(logger),
	}, opts...)
	b, err := broker.New(all...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("wsbroker %s shutdown: %v", name, err)
		}
		if t.Failed() {
			t.Logf("wsbroker %s log:\n%s", name, buf)
		}
	})
	return b
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (w teeWriter) Write(p []byte) (int, error) {
	_, _ = w.b.Write(p)
	return w.a.Write(p)
}

// withUser puts user:pass into a URL.
func withUser(rawURL, user, pass string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	u.User = url.UserPassword(user, pass)
	return u.String()
}

// ---- traffic ----

// probe is the payload of messages sent only to find out whether interest
// has crossed a link; receivers skip it.
const probe = "probe"

// pubUntil publishes probes on m's subject from pub until sub (on the
// other side) receives one, then publishes m once and returns it as
// received (probes skipped).
func pubUntil(t *testing.T, pub *nats.Conn, m *nats.Msg, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	waitProbe(t, pub, m.Subject, sub)
	require.NoError(t, pub.PublishMsg(m))
	for {
		got, err := sub.NextMsg(leafWait)
		require.NoError(t, err, "%q published on %q never reached the subscription on %q", m.Data, m.Subject, sub.Subject)
		if string(got.Data) != probe {
			return got
		}
	}
}

// waitProbe publishes probes on subject from pub until sub receives one
// (interest of sub crossed the link).
func waitProbe(t *testing.T, pub *nats.Conn, subject string, sub *nats.Subscription) {
	t.Helper()
	deadline := time.Now().Add(leafWait)
	for time.Now().Before(deadline) {
		require.NoError(t, pub.Publish(subject, []byte(probe)))
		// Only a probe of this subject counts (sub may match others).
		if m, err := sub.NextMsg(20 * time.Millisecond); err == nil && m.Subject == subject {
			return
		}
	}
	t.Fatalf("probes published on %q never reached the subscription on %q", subject, sub.Subject)
}

// waitResponder requests subject from nc until it is answered (the
// responder's interest has crossed the link).
func waitResponder(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	var last error
	ok := assert.Eventually(t, func() bool {
		_, last = nc.Request(subject, []byte(probe), 250*time.Millisecond)
		return last == nil
	}, leafWait, 5*time.Millisecond)
	require.True(t, ok, "request on %q never answered, last error %v", subject, last)
}

// respond subscribes an echo responder "<tag>:<data>" on subject.
func respond(t *testing.T, nc *nats.Conn, subject, tag string) *nats.Subscription {
	t.Helper()
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond([]byte(tag + ":" + string(m.Data))) })
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return sub
}

// syncSub subscribes synchronously and flushes.
func syncSub(t *testing.T, nc *nats.Conn, subject string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return sub
}

// drain returns the data of every message already pending on sub except
// probes, after a round trip on its connection.
func drain(t *testing.T, nc *nats.Conn, sub *nats.Subscription) []string {
	t.Helper()
	require.NoError(t, nc.Flush())
	var out []string
	for {
		n, _, err := sub.Pending()
		require.NoError(t, err)
		if n == 0 {
			return out
		}
		m, err := sub.NextMsg(time.Second)
		require.NoError(t, err)
		if string(m.Data) != probe {
			out = append(out, string(m.Data))
		}
	}
}

// barrier returns once everything pub published before has been
// processed by the server of far (a request over the same path answered
// by a client of far), then flushes the given connections.
func barrier(t *testing.T, pub, far *nats.Conn, flush ...*nats.Conn) {
	t.Helper()
	subject := nats.NewInbox() + ".barrier"
	sub := respond(t, far, subject, "barrier")
	defer func() { _ = sub.Unsubscribe() }()
	waitResponder(t, pub, subject)
	for _, nc := range flush {
		require.NoError(t, nc.Flush())
	}
}

// freePort returns a loopback port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ---- operator mode fixtures (jwt/v2 + nkeys; internal/jwtauth/jwttest is
// not importable from this module) ----

type operatorFixture struct {
	kp     nkeys.KeyPair
	claims *jwt.OperatorClaims
	jwts   map[string]string // account public key → JWT
	sys    string
}

type accountFixture struct {
	pub string
	kp  nkeys.KeyPair
}

func newOperatorFixture(t *testing.T) *operatorFixture {
	t.Helper()
	kp, err := nkeys.CreateOperator()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	oc := jwt.NewOperatorClaims(pub)
	oc.Name = "OP"
	op := &operatorFixture{kp: kp, jwts: map[string]string{}}
	sys := op.account(t, "SYS")
	oc.SystemAccount = sys.pub
	op.sys = sys.pub
	token, err := oc.Encode(kp)
	require.NoError(t, err)
	op.claims, err = jwt.DecodeOperatorClaims(token)
	require.NoError(t, err)
	return op
}

// account creates an account signed by the operator.
func (op *operatorFixture) account(t *testing.T, name string) accountFixture {
	t.Helper()
	kp, err := nkeys.CreateAccount()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	ac := jwt.NewAccountClaims(pub)
	ac.Name = name
	token, err := ac.Encode(op.kp)
	require.NoError(t, err)
	op.jwts[pub] = token
	return accountFixture{pub: pub, kp: kp}
}

// configure puts the operator, its system account and a memory resolver
// holding every account into o.
func (op *operatorFixture) configure(o *server.Options) {
	o.TrustedOperators = []*jwt.OperatorClaims{op.claims}
	o.SystemAccount = op.sys
	r := &server.MemAccResolver{}
	for pub, token := range op.jwts {
		_ = r.Store(pub, token)
	}
	o.AccountResolver = r
}

// userCreds writes a .creds file of a new user of the account.
func (a accountFixture) userCreds(t *testing.T, dir, name string) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	token, err := uc.Encode(a.kp)
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	creds, err := jwt.FormatUserConfig(token, seed)
	require.NoError(t, err)
	path := filepath.Join(dir, name+".creds")
	require.NoError(t, os.WriteFile(path, creds, 0o600))
	return path
}
