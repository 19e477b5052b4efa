package client

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/pipe"
	"github.com/wsbroker/broker/transport"
)

// linkPeer is the far end of a running leaf node link.
type linkPeer struct {
	t    *testing.T
	link *Client
	conn *pipe.Conn
	r    *bufio.Reader
	host *fakeHost
	acc  *Account
}

// startLink runs a leaf node link of acc over a pipe, both loops included.
func startLink(t *testing.T, acc *Account, opts LeafOptions, info string) *linkPeer {
	t.Helper()
	a, peer := pipe.New()
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	host := newFakeHost()
	host.acc = acc
	link := NewLeaf(nextID.Add(1), a, transport.Meta{Kind: transport.Leafnode}, testConfig(), host, opts)
	var wg sync.WaitGroup
	link.Start(&wg, []byte(info), nil)
	t.Cleanup(func() {
		_ = peer.Close()
		link.Abort(transport.ClientClosed)
		wg.Wait()
	})
	return &linkPeer{t: t, link: link, conn: peer, r: bufio.NewReader(peer), host: host, acc: acc}
}

func (p *linkPeer) send(s string) {
	p.t.Helper()
	_, err := p.conn.Write([]byte(s))
	require.NoError(p.t, err)
}

// line reads one protocol line, without its CRLF.
func (p *linkPeer) line() string {
	p.t.Helper()
	l, err := p.r.ReadString('\n')
	require.NoError(p.t, err, "reading a line (got %q)", l)
	return strings.TrimSuffix(l, "\r\n")
}

// rest reads until the link closes its side.
func (p *linkPeer) rest() string {
	p.t.Helper()
	b, err := io.ReadAll(p.r)
	require.NoError(p.t, err)
	return string(b)
}

func TestLeafAcceptedLink(t *testing.T) {
	acc := NewAccount("A")
	p := startLink(t, acc, LeafOptions{}, "INFO {\"leafnode\":true}\r\n")
	assert.True(t, p.link.IsLeaf())
	assert.Equal(t, `INFO {"leafnode":true}`, p.line())

	// PING is answered before CONNECT, as nats-server.
	p.send("PING\r\n")
	assert.Equal(t, "PONG", p.line())

	local := newTestClient(t, acc)
	addSub(t, acc, local, "early", "", 0)

	p.send(`CONNECT {"name":"leafy","headers":false}` + "\r\n")
	// The snapshot: the account's interest, then the loop subject.
	assert.Equal(t, "LS+ early", p.line())
	assert.Equal(t, "LS+ "+acc.LoopSubject(), p.line())
	assert.Equal(t, acc, p.link.Account())

	// Local interest is told as it changes, aggregated.
	addSub(t, acc, local, "foo", "q", 0)
	assert.Equal(t, "LS+ foo q 1", p.line())
	addSub(t, acc, newTestClient(t, acc), "foo", "q", 0)
	assert.Equal(t, "LS+ foo q 2", p.line())

	// The peer's interest enters the account; a weight update replaces it.
	p.send("LS+ bar\r\nLS+ work q 3\r\nLS+ work q 5\r\n")
	require.Eventually(t, func() bool {
		r := acc.Sublist.Match([]byte("work"))
		return acc.Sublist.HasInterest([]byte("bar")) && len(r.Qsubs) == 1 &&
			r.Qsubs[0][0].Owner.(*subscription).weight() == 5
	}, 10*time.Second, time.Millisecond)

	// A local publish reaches the peer.
	require.True(t, local.route(acc, []byte("bar"), nil, -1, []byte("hi"), nil, false))
	local.flushReceivers()
	assert.Equal(t, "LMSG bar 2", p.line())
	assert.Equal(t, "hi", p.line())

	// The peer's message reaches the local subscriber.
	p.send("LMSG early 3\r\nabc\r\n")
	require.Eventually(t, func() bool { return strings.Contains(peekOut(local), "MSG early ") }, 10*time.Second, time.Millisecond)
	assert.Equal(t, 1, strings.Count(takeOut(local), "\r\nabc\r\n"))

	// LS- withdraws the peer's interest.
	p.send("LS- bar\r\nLS- work q\r\nLS- never\r\n")
	require.Eventually(t, func() bool {
		return !acc.Sublist.HasInterest([]byte("bar")) && !acc.Sublist.HasInterest([]byte("work"))
	}, 10*time.Second, time.Millisecond)

	// Our own loop subject coming back is a loop.
	p.send("LS+ " + acc.LoopSubject() + "\r\n")
	assert.Equal(t, `-ERR 'Loop detected for leafnode account="A". Delaying attempt to reconnect for 30s'`, p.line())
	assert.Empty(t, p.rest())
	_ = p.conn.Close()
	assert.Equal(t, transport.ProtocolViolation, p.host.waitClosed(t))
	acc.mu.Lock()
	assert.NotContains(t, acc.links, p.link, "teardown removes the link")
	acc.mu.Unlock()
}

// peekOut returns what is queued on c without taking it.
func peekOut(c *Client) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sb strings.Builder
	for _, b := range c.out {
		sb.Write(b)
	}
	return sb.String()
}

func TestLeafAcceptedLinkTeardownWithdrawsInterest(t *testing.T) {
	acc := NewAccount("A")
	other := linkedTo(t, acc, false)
	p := startLink(t, acc, LeafOptions{}, "")
	p.send(`CONNECT {}` + "\r\nLS+ gone\r\nLS+ gq q 4\r\n")
	assert.Equal(t, "LS+ "+acc.LoopSubject(), p.line())
	require.Eventually(t, func() bool { return strings.Count(peekOut(other), "LS+") == 2 }, 10*time.Second, time.Millisecond)
	assert.ElementsMatch(t, []string{"LS+ gone", "LS+ gq q 4"}, protoLines(takeOut(other)))

	_ = p.conn.Close()
	assert.Equal(t, transport.ClientClosed, p.host.waitClosed(t))
	assert.ElementsMatch(t, []string{"LS- gone", "LS- gq q"}, protoLines(takeOut(other)))
	assert.False(t, acc.Sublist.HasInterest([]byte("gone")))
}

func TestLeafAcceptedLinkErrors(t *testing.T) {
	tests := []struct {
		name   string
		send   string
		want   string
		reason transport.CloseReason
	}{
		{"interest before CONNECT", "LS+ foo\r\n", "-ERR 'Authorization Violation'\r\n", transport.AuthenticationFailure},
		{"message before CONNECT", "LMSG foo 0\r\n\r\n", "-ERR 'Authorization Violation'\r\n", transport.AuthenticationFailure},
		{"a client on the leaf port", `CONNECT {"lang":"go"}` + "\r\n", "-ERR 'attempted to connect to leaf node port'\r\n", transport.ProtocolViolation},
		{"a gateway on the leaf port", `CONNECT {"gateway":"g"}` + "\r\n", "-ERR 'Authorization Violation'\r\n", transport.AuthenticationFailure},
		{"bad CONNECT", "CONNECT {\r\n", "", transport.ProtocolViolation},
		{"second CONNECT", "CONNECT {}\r\nCONNECT {}\r\n", "LS+ $LDS", transport.ProtocolViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := NewAccount("A")
			p := startLink(t, acc, LeafOptions{}, "")
			p.send(tt.send)
			got := p.rest()
			if strings.HasPrefix(tt.want, "LS+") {
				assert.Equal(t, "LS+ "+acc.LoopSubject()+"\r\n", got)
			} else {
				assert.Equal(t, tt.want, got)
			}
			_ = p.conn.Close()
			assert.Equal(t, tt.reason, p.host.waitClosed(t))
		})
	}
}

func TestLeafSolicitedLink(t *testing.T) {
	acc := NewAccount("L")
	local := newTestClient(t, acc)
	addSub(t, acc, local, "secret", "", 0)
	addSub(t, acc, local, "imp.a", "", 0)
	nonces := make(chan string, 1)
	p := startLink(t, acc, LeafOptions{
		Solicited: true,
		Account:   acc,
		Connect: func(nonce string) ([]byte, error) {
			nonces <- nonce
			return []byte(`CONNECT {"name":"leaf"}` + "\r\n"), nil
		},
	}, "")

	p.send(`INFO {"server_id":"HUB","client_id":7,"nonce":"abc","info_on_connect":true,"headers":true}` + "\r\n")
	assert.Equal(t, `CONNECT {"name":"leaf"}`, p.line())
	assert.Equal(t, "abc", <-nonces)
	// The hub answers with its permissions for this leaf; only then is the
	// link up.
	p.send(`INFO {"server_id":"HUB","client_id":7,"connect_info":true,"import":{"allow":["imp.>"]},"export":{"allow":["exp.>"]}}` + "\r\n")
	lines := []string{p.line(), p.line()}
	assert.Equal(t, []string{"LS+ imp.a", "LS+ " + acc.LoopSubject()}, lines, "no LS+ the hub's import refuses")

	// What we send the hub is bounded by its export permission.
	addSub(t, acc, p.link, ">", "", 0) // the hub's interest, as learnt
	require.False(t, local.route(acc, []byte("other"), nil, -1, []byte("x"), nil, false))
	require.True(t, local.route(acc, []byte("exp.x"), nil, 2, []byte("h:y"), nil, false))
	local.flushReceivers()
	assert.Equal(t, "HMSG exp.x 2 3", p.line(), "headers kept: the hub takes them")
	assert.Equal(t, "h:y", p.line())
}

func TestLeafSolicitedLinkWithoutInfoOnConnect(t *testing.T) {
	acc := NewAccount("L")
	p := startLink(t, acc, LeafOptions{
		Solicited: true,
		Account:   acc,
		Connect:   func(string) ([]byte, error) { return []byte("CONNECT {}\r\n"), nil },
		FirstInfo: []byte(`INFO {"server_id":"HUB","client_id":7,"leafnode_urls":["nats-leaf://h:7422"]}` + "\r\n"),
	}, "")
	assert.Equal(t, "CONNECT {}", p.line())
	assert.Equal(t, "LS+ "+acc.LoopSubject(), p.line(), "up at once")
}

func TestLeafSolicitedWrongPort(t *testing.T) {
	tests := []struct {
		name string
		info string
	}{
		{"client port (no client id)", `INFO {"server_id":"S"}`},
		{"no leafnode urls and no info_on_connect", `INFO {"server_id":"S","client_id":3}`},
		{"not JSON", `INFO {`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := NewAccount("L")
			p := startLink(t, acc, LeafOptions{
				Solicited: true,
				Account:   acc,
				Connect:   func(string) ([]byte, error) { t.Error("no CONNECT expected"); return nil, nil },
			}, "")
			p.send(tt.info + "\r\n")
			assert.Empty(t, p.rest(), "closed without a word")
			_ = p.conn.Close()
			assert.Equal(t, transport.ProtocolViolation, p.host.waitClosed(t))
		})
	}
}
