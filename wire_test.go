package broker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

func readInfo(t *testing.T, r *rawConn) map[string]any {
	t.Helper()
	l := r.line()
	require.True(t, strings.HasPrefix(l, "INFO "), "first line %q", l)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(l, "INFO ")), &info))
	return info
}

func TestInfoFirst(t *testing.T) {
	b := startBroker(t, broker.WithServerName("edge-1"), broker.WithMaxPayload(4096))
	r := dialRaw(t, b)
	info := readInfo(t, r)
	assert.Equal(t, "edge-1", info["server_name"])
	assert.Equal(t, broker.ProtocolVersion, info["version"])
	assert.Equal(t, float64(1), info["proto"])
	assert.Equal(t, true, info["headers"])
	assert.Equal(t, float64(4096), info["max_payload"])
	assert.Equal(t, "127.0.0.1", info["client_ip"])
	assert.Equal(t, "127.0.0.1", info["host"])
	assert.NotZero(t, info["port"])
	assert.NotZero(t, info["client_id"])
	assert.Regexp(t, `^N[A-Z2-7]{55}$`, info["server_id"])
	assert.Regexp(t, `^go1\.`, info["go"])
	assert.NotContains(t, info, "auth_required")
}

// TestWireExchanges drives the protocol by hand and checks the exact bytes
// the server answers, nats-server's texts included.
func TestWireExchanges(t *testing.T) {
	cases := []struct {
		name   string
		opts   []broker.Option
		send   string
		expect []string
		closed bool
	}{
		{name: "verbose by default before CONNECT", send: "SUB foo 1\r\nPING\r\n", expect: []string{"+OK", "PONG"}},
		{name: "verbose CONNECT acknowledged", send: "CONNECT {\"verbose\":true}\r\nPING\r\n", expect: []string{"+OK", "PONG"}},
		{name: "quiet CONNECT", send: "CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\n", expect: []string{"MSG foo 1 2", "hi"}},
		{name: "reply subject", send: "CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo bar 2\r\nhi\r\n", expect: []string{"MSG foo 1 bar 2", "hi"}},
		{name: "lower case ops and tabs", send: "connect {\"verbose\":false}\r\nsub\tfoo\t 7\r\npub foo 1\r\nx\r\n", expect: []string{"MSG foo 7 1", "x"}},
		{name: "HPUB delivered as HMSG", send: "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB h 1\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", expect: []string{"HMSG h 1 12 14", "NATS/1.0", "", "hi"}},
		{name: "queue subscription", send: "CONNECT {\"verbose\":false}\r\nSUB q grp 1\r\nPUB q 1\r\nx\r\n", expect: []string{"MSG q 1 1", "x"}},
		{name: "unsubscribe", send: "CONNECT {\"verbose\":false}\r\nSUB u 1\r\nUNSUB 1\r\nPUB u 1\r\nx\r\nPING\r\n", expect: []string{"PONG"}},
		{name: "unsubscribe after max", send: "CONNECT {\"verbose\":false}\r\nSUB u 1\r\nUNSUB 1 1\r\nPUB u 1\r\nx\r\nPUB u 1\r\ny\r\nPING\r\n", expect: []string{"MSG u 1 1", "x", "PONG"}},
		{name: "no responders", send: "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.a.* 1\r\nPUB svc _INBOX.a.1 0\r\n\r\n", expect: []string{"HMSG _INBOX.a.1 1 35 35", "NATS/1.0 503", "Nats-Subject: svc", "", ""}},
		{name: "echo off", send: "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB e 1\r\nPUB e 1\r\nx\r\nPING\r\n", expect: []string{"PONG"}},
		{name: "invalid subject stays connected", send: "CONNECT {\"verbose\":false}\r\nSUB foo..bar 1\r\nPING\r\n", expect: []string{"-ERR 'Invalid Subject'", "PONG"}},
		{name: "pedantic publish subject", send: "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nSUB foo.* 1\r\nPUB foo.* 1\r\nx\r\nPING\r\n", expect: []string{"-ERR 'Invalid Publish Subject'", "MSG foo.* 1 1", "x", "PONG"}},
		{name: "unknown operation", send: "FOO bar\r\n", expect: []string{"-ERR 'Unknown Protocol Operation'"}, closed: true},
		{name: "bad protocol version", send: "CONNECT {\"protocol\":2}\r\n", expect: []string{"-ERR 'invalid client protocol'"}, closed: true},
		{name: "no responders without headers", send: "CONNECT {\"no_responders\":true}\r\n", expect: []string{"-ERR 'no responders requires headers support'"}, closed: true},
		{name: "HPUB without headers closes silently", send: "CONNECT {\"verbose\":false}\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", closed: true},
		{name: "bad CONNECT JSON closes silently", send: "CONNECT {bad json\r\n", closed: true},
		{name: "max payload", opts: []broker.Option{broker.WithMaxPayload(8)}, send: "CONNECT {\"verbose\":false}\r\nPUB foo 9\r\n123456789\r\n", expect: []string{"-ERR 'Maximum Payload Violation'"}, closed: true},
		{name: "max control line", opts: []broker.Option{broker.WithMaxControlLine(32)}, send: "CONNECT {\"verbose\":false}\r\nSUB " + strings.Repeat("a", 40) + " 1\r\n", expect: []string{"-ERR 'maximum control line exceeded'"}, closed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, tc.opts...)
			r := dialRaw(t, b)
			readInfo(t, r)
			r.send(tc.send)
			for _, want := range tc.expect {
				assert.Equal(t, want, r.line())
			}
			if tc.closed {
				r.expectClosed()
			}
		})
	}
}

func TestServerPingsAndStaleConnection(t *testing.T) {
	b := startBroker(t, broker.WithPingInterval(50*time.Millisecond), broker.WithPingMax(2))
	r := dialRaw(t, b)
	readInfo(t, r)
	r.send("CONNECT {\"verbose\":false}\r\n")
	// Answering keeps the connection alive.
	assert.Equal(t, "PING", r.line())
	r.send("PONG\r\n")
	assert.Equal(t, "PING", r.line())
	r.send("PONG\r\n")
	// Silence: two more PINGs, then the server gives up.
	assert.Equal(t, "PING", r.line())
	assert.Equal(t, "PING", r.line())
	assert.Equal(t, "-ERR 'Stale Connection'", r.line())
	r.expectClosed()
}

func TestMaxConnections(t *testing.T) {
	b := startBroker(t, broker.WithMaxConnections(1))
	first := dialRaw(t, b)
	readInfo(t, first)
	first.send("PING\r\n")
	require.Equal(t, "PONG", first.line())

	second := dialRaw(t, b)
	readInfo(t, second)
	assert.Equal(t, "-ERR 'maximum connections exceeded'", second.line())
	second.expectClosed()

	// The first one is unaffected.
	first.send("PING\r\n")
	assert.Equal(t, "PONG", first.line())
}

func TestBadInputLeavesOthersAlone(t *testing.T) {
	b := startBroker(t)
	good := dialRaw(t, b)
	readInfo(t, good)
	good.send("CONNECT {\"verbose\":false}\r\nSUB x 1\r\nPING\r\n")
	require.Equal(t, "PONG", good.line())

	bad := dialRaw(t, b)
	readInfo(t, bad)
	bad.send("CONNECT {\"verbose\":false}\r\nPUB x 3\r\nabcdef\r\n")
	assert.Equal(t, "-ERR 'Unknown Protocol Operation'", bad.line())
	bad.expectClosed()

	pub := dialRaw(t, b)
	readInfo(t, pub)
	pub.send("CONNECT {\"verbose\":false}\r\nPUB x 2\r\nok\r\n")
	assert.Equal(t, "MSG x 1 2", good.line())
	assert.Equal(t, "ok", good.line())
}

// Malformed arguments close the connection without -ERR, as nats-server.
func TestBadArgumentsCloseSilently(t *testing.T) {
	for name, send := range map[string]string{
		"PUB without size":  "PUB foo\r\n",
		"PUB bad size":      "PUB foo x1\r\n",
		"SUB too many args": "SUB a b c d\r\n",
		"HPUB hdr > total":  "CONNECT {\"headers\":true,\"verbose\":false}\r\nHPUB foo 10 5\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			b := startBroker(t)
			r := dialRaw(t, b)
			readInfo(t, r)
			r.send(send)
			r.expectClosed()
		})
	}
}

// Once the server closes a client (here 'Stale Connection'), nothing the
// client still sends takes effect while the close lingers.
func TestClosingClientIsIgnored(t *testing.T) {
	b := startBroker(t, broker.WithPingInterval(100*time.Millisecond), broker.WithPingMax(1))
	watcher := transportNamed("tcp").connect(t, b)
	s, err := watcher.SubscribeSync("foo")
	require.NoError(t, err)
	require.NoError(t, watcher.Flush())

	r := dialRaw(t, b)
	readInfo(t, r)
	r.send("CONNECT {\"verbose\":false}\r\n")
	for l := r.line(); l != "-ERR 'Stale Connection'"; l = r.line() {
		require.Equal(t, "PING", l)
	}
	for range 20 {
		r.send("PUB foo 5\r\nstale\r\n")
	}
	// A message published afterwards by a live client arrives alone.
	require.NoError(t, watcher.Publish("foo", []byte("live")))
	m, err := s.NextMsg(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "live", string(m.Data))
	_, err = s.NextMsg(100 * time.Millisecond)
	assert.ErrorIs(t, err, nats.ErrTimeout, "a closed client's PUB was routed")
}
