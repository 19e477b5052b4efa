package main

// Differential tests: every scenario runs against an embedded nats-server
// (the behaviour reference) and against our broker, configured with the
// same limits, and what the client observes must be the same. Raw wire
// scenarios compare bytes; nats.go scenarios compare observed results.

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Common CONNECT lines.
const (
	connQuiet   = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n"
	connHeaders = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n"
)

type wireCase struct {
	name  string
	lim   limits
	steps []wireStep
	// knownDiff, when set, describes a reported difference that is not
	// fixed yet: the case is skipped while the transcripts still differ.
	knownDiff string
}

var wireCases = []wireCase{
	// Verbose and pedantic.
	{name: "verbose default before CONNECT", steps: []wireStep{
		step(0, "SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n"),
	}},
	{name: "verbose CONNECT", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\nPONG\r\n"),
	}},
	{name: "verbose error gets no +OK", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":true}\r\nSUB foo..bar 1\r\nPING\r\n"),
	}},
	{name: "pedantic wildcard publish subject", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nSUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\nPING\r\n"),
	}},
	{name: "pedantic empty token publish subject", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nSUB > 1\r\nPUB foo..bar 2\r\nhi\r\nPING\r\n"),
	}},
	{name: "pedantic valid publish subject", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":true,\"pedantic\":true}\r\nSUB foo.* 1\r\nPUB foo.bar 2\r\nhi\r\nPING\r\n"),
	}},
	{name: "non-pedantic wildcard publish subject", steps: []wireStep{
		step(0, connQuiet+"SUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\nPING\r\n"),
	}},

	// Subjects.
	{name: "SUB empty token", steps: []wireStep{step(0, connQuiet+"SUB foo..bar 1\r\nPING\r\n")}},
	{name: "SUB trailing dot", steps: []wireStep{step(0, connQuiet+"SUB foo. 1\r\nPING\r\n")}},
	{name: "SUB leading dot", steps: []wireStep{step(0, connQuiet+"SUB .foo 1\r\nPING\r\n")}},
	{name: "SUB full wildcard not last", steps: []wireStep{step(0, connQuiet+"SUB foo.>.bar 1\r\nPING\r\n")}},
	{name: "SUB star then full wildcard is valid", steps: []wireStep{
		step(0, connQuiet+"SUB *.> 1\r\nPUB a.b.c 1\r\nx\r\nPUB a 1\r\ny\r\nPING\r\n"),
	}},
	{name: "SUB wildcard inside token is literal", steps: []wireStep{
		step(0, connQuiet+"SUB foo* 1\r\nSUB a>.b 2\r\nPUB foo* 1\r\nx\r\nPUB a>.b 1\r\ny\r\nPING\r\n"),
	}},

	// Operations and framing.
	{name: "unknown op", steps: []wireStep{stepClose(0, connQuiet+"FOO bar\r\n")}},
	{name: "MSG from client", steps: []wireStep{stepClose(0, connQuiet+"MSG foo 1 1\r\nx\r\n")}},
	{name: "lowercase ops", steps: []wireStep{
		step(0, "connect {\"verbose\":false,\"headers\":true}\r\nsub foo 1\r\npub foo 2\r\nhi\r\nhpub foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nunsub 1\r\nping\r\n"),
	}},
	{name: "mixed case ops", steps: []wireStep{step(0, "CoNnEcT {\"verbose\":false}\r\nSuB foo 1\r\nPuB foo 1\r\nx\r\nPiNg\r\n")}},
	{name: "tabs as separators", steps: []wireStep{
		step(0, "CONNECT\t{\"verbose\":false}\r\nSUB\tfoo\t1\r\nPUB\tfoo\t\t2\r\nhi\r\nPING\r\n"),
	}},
	{name: "repeated spaces", steps: []wireStep{
		step(0, connQuiet+"SUB   foo    q   1\r\nPUB  foo   bar  2 \r\nhi\r\nPING\r\n"),
	}},
	{name: "bare LF line endings", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":false}\nSUB foo 1\nPUB foo 2\nhi\r\nPING\n"),
	}},
	{name: "payload ended by bare LF", steps: []wireStep{
		stepClose(0, connQuiet+"PUB foo 2\nhi\nPING\n"),
	}},
	{name: "PING PONG", steps: []wireStep{step(0, "PING\r\nPONG\r\nPING\r\nping\r\n")}},
	{name: "PINGX", steps: []wireStep{step(0, connQuiet+"PINGX\r\nPING\r\n")}},
	{name: "PONGX", steps: []wireStep{step(0, connQuiet+"PONGX\r\nPING\r\n")}},
	{name: "empty line", steps: []wireStep{stepClose(0, connQuiet+"\r\nPING\r\n")}},
	{name: "client +OK", steps: []wireStep{step(0, connQuiet+"+OK\r\nPING\r\n")}},
	{name: "client -ERR", steps: []wireStep{stepClose(0, connQuiet+"-ERR 'oops'\r\n")}},
	{name: "payload split across writes", steps: []wireStep{
		stepN(0, connQuiet+"SUB foo 1\r\nPUB foo 5\r\nhe", 0),
		step(0, "llo\r\nPING\r\n"),
	}},
	{name: "control line split across writes", steps: []wireStep{
		stepN(0, connQuiet+"SUB foo 1\r\nPU", 0),
		stepN(0, "B fo", 0),
		step(0, "o 1\r\nx\r\nPING\r\n"),
	}},

	// CONNECT.
	{name: "CONNECT invalid JSON", steps: []wireStep{stepClose(0, "CONNECT {bad json\r\n")}},
	{name: "CONNECT without JSON", steps: []wireStep{stepClose(0, "CONNECT\r\n")}},
	{name: "CONNECT wrong JSON type", steps: []wireStep{stepClose(0, "CONNECT {\"verbose\":\"yes\"}\r\n")}},
	{name: "CONNECT protocol 2", steps: []wireStep{stepClose(0, "CONNECT {\"verbose\":false,\"protocol\":2}\r\n")}},
	{name: "CONNECT protocol 1", steps: []wireStep{step(0, "CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")}},
	{name: "CONNECT unknown fields", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":false,\"foo\":1,\"bar\":{\"x\":[1,\"y\"]},\"lang\":\"zz\",\"version\":\"9\"}\r\nSUB foo 1\r\nPUB foo 0\r\n\r\nPING\r\n"),
	}},
	{name: "CONNECT twice", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nCONNECT {\"verbose\":false}\r\nSUB b 2\r\nPING\r\n"),
	}},
	{name: "no_responders without headers", steps: []wireStep{
		stepClose(0, "CONNECT {\"verbose\":false,\"no_responders\":true}\r\n"),
	}},

	// PUB / HPUB arguments.
	{name: "PUB bad size", steps: []wireStep{stepClose(0, connQuiet+"PUB foo abc\r\n")}},
	{name: "PUB missing size", steps: []wireStep{stepClose(0, connQuiet+"PUB foo\r\n")}},
	{name: "PUB negative size", steps: []wireStep{stepClose(0, connQuiet+"PUB foo -1\r\n")}},
	{name: "PUB too many args", steps: []wireStep{stepClose(0, connQuiet+"PUB foo bar baz 1\r\nx\r\n")}},
	{name: "PUB payload not followed by CRLF", steps: []wireStep{stepClose(0, connQuiet+"PUB foo 2\r\nabc\r\n")}},
	{name: "PUB zero-length payload", steps: []wireStep{
		step(0, connHeaders+"SUB foo 1\r\nPUB foo 0\r\n\r\nPUB foo r 0\r\n\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n"),
	}},
	{name: "PUB payload with CRLF inside", steps: []wireStep{
		step(0, connQuiet+"SUB foo 1\r\nPUB foo 6\r\na\r\nb\r\n\r\nPING\r\n"),
	}},
	{name: "PUB size overflow", steps: []wireStep{stepClose(0, connQuiet+"PUB foo 99999999999999999999\r\n")}},
	{name: "PUB verbose with reply", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":true}\r\nSUB foo q 1\r\nPUB foo bar 1\r\nx\r\nPING\r\nPUB foo 1\r\ny\r\nPING\r\n"),
	}},
	{name: "PUB reply subject", steps: []wireStep{
		step(0, connQuiet+"SUB foo 1\r\nPUB foo bar.baz 2\r\nhi\r\nPING\r\n"),
	}},
	{name: "HPUB without headers negotiated", steps: []wireStep{
		stepClose(0, connQuiet+"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"),
	}},
	{name: "HPUB header larger than total", steps: []wireStep{
		stepClose(0, connHeaders+"HPUB foo 14 12\r\nNATS/1.0\r\n\r\nhi\r\n"),
	}},
	{name: "HPUB missing total", steps: []wireStep{stepClose(0, connHeaders+"HPUB foo 12\r\n")}},
	{name: "HPUB round trip", steps: []wireStep{
		step(0, connHeaders+"SUB foo 1\r\nHPUB foo r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n"),
	}},

	// SUB / UNSUB.
	{name: "SUB too many args", steps: []wireStep{stepClose(0, connQuiet+"SUB foo bar baz 1\r\n")}},
	{name: "SUB missing sid", steps: []wireStep{stepClose(0, connQuiet+"SUB foo\r\n")}},
	{name: "UNSUB unknown sid", steps: []wireStep{step(0, connQuiet+"UNSUB 99\r\nUNSUB 99 5\r\nPING\r\n")}},
	{name: "UNSUB twice", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nUNSUB 1\r\nUNSUB 1\r\nPUB foo 1\r\na\r\nPING\r\n"),
	}},
	{name: "SUB queue group with wildcard", steps: []wireStep{
		unordered(step(0, connQuiet+"SUB foo q.* 1\r\nSUB foo q.> 2\r\nPUB foo 1\r\na\r\nPING\r\n")),
	}},
	{name: "UNSUB bad max", steps: []wireStep{step(0, connQuiet+"SUB foo 1\r\nUNSUB 1 x\r\nPUB foo 1\r\na\r\nPING\r\n")}},
	{name: "UNSUB with max then messages", steps: []wireStep{
		step(0, connQuiet+"SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n"),
	}},
	{name: "UNSUB max already reached", steps: []wireStep{
		step(0, connQuiet+"SUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nUNSUB 1 1\r\nPUB foo 1\r\nc\r\nPING\r\n"),
	}},
	{name: "duplicate sid", steps: []wireStep{
		step(0, connQuiet+"SUB foo 1\r\nSUB bar 1\r\nPUB foo 1\r\na\r\nPUB bar 1\r\nb\r\nPING\r\n"),
	}},
	{name: "queue and plain sub same client", steps: []wireStep{
		// The order between groups is not defined either.
		unordered(step(0, connQuiet+"SUB foo q 1\r\nSUB foo 2\r\nSUB foo r 3\r\nPUB foo 1\r\na\r\nPING\r\n")),
	}},
	{name: "overlapping subs same client", steps: []wireStep{
		unordered(step(0, connQuiet+"SUB foo.bar 1\r\nSUB foo.* 2\r\nSUB > 3\r\nPUB foo.bar 1\r\na\r\nPING\r\n")),
	}},

	// Echo, headers and no responders.
	{name: "echo false", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n"),
	}},
	{name: "HMSG to client without headers", steps: []wireStep{
		step(0, connQuiet+"SUB foo 1\r\nPING\r\n"),
		step(1, connHeaders+"HPUB foo 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n"),
		step(0, "PING\r\n"),
	}},
	{name: "no responders HMSG", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB reply 1\r\nPUB nobody reply 0\r\n\r\nPUB nobody reply 2\r\nhi\r\nPUB nobody 0\r\n\r\nPING\r\n"),
	}},
	{name: "no responders not sent when someone listens", steps: []wireStep{
		step(0, "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB reply 1\r\nSUB svc 2\r\nPUB svc reply 2\r\nhi\r\nPING\r\n"),
	}},

	// Limits.
	{name: "max payload exceeded", lim: limits{maxPayload: 16}, steps: []wireStep{
		step(0, connQuiet+"SUB foo 1\r\nPUB foo 16\r\n0123456789abcdef\r\nPING\r\n"),
		stepClose(0, "PUB foo 17\r\n0123456789abcdefg\r\n"),
	}},
	{name: "max payload exceeded by HPUB", lim: limits{maxPayload: 16}, steps: []wireStep{
		stepClose(0, connHeaders+"HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"),
	}},
	{name: "max control line exceeded", lim: limits{maxControlLine: 256}, steps: []wireStep{
		// Longer than nats-server's first read (512 bytes): it checks
		// the limit only for a line that spans reads.
		stepClose(0, connQuiet+"SUB "+strings.Repeat("a", 1000)+" 1\r\n"),
	}},
	{name: "max control line exceeded in one read", lim: limits{maxControlLine: 64}, steps: []wireStep{
		stepClose(0, connQuiet+"SUB "+strings.Repeat("a", 80)+" 1\r\n"),
	}},
	{name: "max control line exceeded by PUB", lim: limits{maxControlLine: 64}, steps: []wireStep{
		stepClose(0, connQuiet+"PUB "+strings.Repeat("a", 80)+" 1\r\nx\r\n"),
	}},
	{name: "max control line exceeded by CONNECT", lim: limits{maxControlLine: 64}, steps: []wireStep{
		stepClose(0, "CONNECT {\"verbose\":false,\"name\":\""+strings.Repeat("a", 80)+"\"}\r\n"),
	}},
	{name: "max control line not exceeded", lim: limits{maxControlLine: 64}, steps: []wireStep{
		step(0, connQuiet+"SUB "+strings.Repeat("a", 40)+" 1\r\nPING\r\n"),
	}},
	{name: "max connections", lim: limits{maxConn: 1}, steps: []wireStep{
		step(0, connQuiet+"PING\r\n"),
		stepClose(1, ""),
		step(0, "PING\r\n"),
	}},
}

// unordered marks a step whose MSG frames are compared as a set.
func unordered(s wireStep) wireStep {
	s.unordered = true
	return s
}

func TestDiffWire(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			eps := startBoth(t, tc.lim)
			ref := runWire(t, eps[0].tcp, tc.steps)
			ours := runWire(t, eps[1].tcp, tc.steps)
			assert.NotContains(t, ref.transcript, "<timeout", "scenario waits for something nats-server never sends")
			if tc.knownDiff != "" {
				if ref.transcript != ours.transcript {
					t.Logf("nats-server:\n%s\nwsbroker:\n%s", ref.transcript, ours.transcript)
					t.Skip("known difference: " + tc.knownDiff)
				}
				t.Logf("known difference is gone, remove its note: %s", tc.knownDiff)
			}
			assert.Equal(t, ref.transcript, ours.transcript, "transcripts differ (expected: nats-server, actual: wsbroker)")
			// We may send fewer INFO keys than nats-server, never others.
			assert.Equal(t, len(ref.infoKeys), len(ours.infoKeys), "INFO lines")
			for i := range min(len(ref.infoKeys), len(ours.infoKeys)) {
				assert.Subset(t, ref.infoKeys[i], ours.infoKeys[i], "INFO keys that nats-server does not send")
			}
		})
	}
}

// ---- nats.go scenarios ----

// clientCase runs nats.go against url and returns what it observed; the
// observations of both servers must be equal.
type clientCase struct {
	name string
	run  func(t *testing.T, url string) []string
}

// connect returns a nats.go connection closed at the end of the test.
func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(5 * time.Second), nats.NoReconnect()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// next returns the data of the next message of sub, or the error.
func next(sub *nats.Subscription) string {
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		return "error: " + err.Error()
	}
	return m.Subject + " " + m.Reply + " " + string(m.Data)
}

// none reports whether sub has a message pending after a round trip.
func none(t *testing.T, nc *nats.Conn, sub *nats.Subscription) string {
	t.Helper()
	require.NoError(t, nc.Flush())
	n, _, err := sub.Pending()
	require.NoError(t, err)
	return fmt.Sprintf("pending=%d", n)
}

var clientCases = []clientCase{
	{"pub sub in order", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		sub, err := nc.SubscribeSync("foo")
		require.NoError(t, err)
		for i := range 20 {
			require.NoError(t, nc.Publish("foo", []byte(strconv.Itoa(i))))
		}
		var got []string
		for range 20 {
			got = append(got, next(sub))
		}
		return append(got, none(t, nc, sub))
	}},
	{"wildcards", func(t *testing.T, url string) []string {
		pub := connect(t, url)
		nc := connect(t, url)
		subs := map[string]*nats.Subscription{}
		for _, s := range []string{"foo.*", "foo.>", "*.bar", ">", "foo.bar.*"} {
			sub, err := nc.SubscribeSync(s)
			require.NoError(t, err)
			subs[s] = sub
		}
		require.NoError(t, nc.Flush())
		for _, s := range []string{"foo.bar", "foo.bar.baz", "x.bar", "foo", "a.b.c.d"} {
			require.NoError(t, pub.Publish(s, []byte(s)))
		}
		require.NoError(t, pub.Flush())
		require.NoError(t, nc.Flush())
		var got []string
		for _, s := range slices.Sorted(maps.Keys(subs)) {
			n, _, err := subs[s].Pending()
			require.NoError(t, err)
			var recv []string
			for range n {
				recv = append(recv, next(subs[s]))
			}
			got = append(got, fmt.Sprintf("%s: %v", s, recv))
		}
		return got
	}},
	{"queue group delivers each message once", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		pub := connect(t, url)
		const n = 200
		var mu sync.Mutex
		seen := map[string]int{}
		members := map[int]int{}
		for i := range 3 {
			_, err := nc.QueueSubscribe("work", "q", func(m *nats.Msg) {
				mu.Lock()
				seen[string(m.Data)]++
				members[i]++
				mu.Unlock()
			})
			require.NoError(t, err)
		}
		plain, err := nc.SubscribeSync("work")
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		for i := range n {
			require.NoError(t, pub.Publish("work", []byte(strconv.Itoa(i))))
		}
		require.NoError(t, pub.Flush())
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == n
		}, waitTimeout, 5*time.Millisecond)
		require.NoError(t, nc.Flush())
		mu.Lock()
		defer mu.Unlock()
		dup := 0
		for _, c := range seen {
			dup += c - 1
		}
		pending, _, err := plain.Pending()
		require.NoError(t, err)
		return []string{
			fmt.Sprintf("distinct=%d duplicates=%d", len(seen), dup),
			fmt.Sprintf("plain subscriber=%d", pending),
			fmt.Sprintf("members used=%d", len(members)),
		}
	}},
	{"request reply", func(t *testing.T, url string) []string {
		svc := connect(t, url)
		nc := connect(t, url)
		_, err := svc.Subscribe("svc.echo", func(m *nats.Msg) {
			_ = m.Respond(append([]byte("re:"), m.Data...))
		})
		require.NoError(t, err)
		require.NoError(t, svc.Flush())
		var got []string
		for i := range 5 {
			m, err := nc.Request("svc.echo", []byte(strconv.Itoa(i)), 5*time.Second)
			if err != nil {
				got = append(got, "error: "+err.Error())
				continue
			}
			got = append(got, string(m.Data))
		}
		// The old-style request: one subscription per request.
		old := connect(t, url, nats.UseOldRequestStyle())
		m, err := old.Request("svc.echo", []byte("old"), 5*time.Second)
		require.NoError(t, err)
		return append(got, string(m.Data))
	}},
	{"no responders", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		_, err := nc.Request("nobody.home", []byte("x"), 5*time.Second)
		old := connect(t, url, nats.UseOldRequestStyle())
		_, errOld := old.Request("nobody.home", []byte("x"), 5*time.Second)
		return []string{fmt.Sprint(err), fmt.Sprint(errOld), fmt.Sprint(errors.Is(err, nats.ErrNoResponders))}
	}},
	{"headers round trip", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		sub, err := nc.SubscribeSync("h")
		require.NoError(t, err)
		m := nats.NewMsg("h")
		m.Header.Add("A", "1")
		m.Header.Add("A", "2")
		m.Header.Set("Content-Type", "text/plain")
		m.Header.Set("X-Empty", "")
		m.Data = []byte("body")
		require.NoError(t, nc.PublishMsg(m))
		hm := nats.NewMsg("h") // headers, no payload
		hm.Header.Set("Only", "headers")
		require.NoError(t, nc.PublishMsg(hm))
		var got []string
		for range 2 {
			r, err := sub.NextMsg(5 * time.Second)
			require.NoError(t, err)
			keys := slices.Sorted(maps.Keys(r.Header))
			for _, k := range keys {
				got = append(got, fmt.Sprintf("%s=%q", k, r.Header.Values(k)))
			}
			got = append(got, fmt.Sprintf("data=%q", r.Data))
		}
		return got
	}},
	{"auto unsubscribe", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		sub, err := nc.SubscribeSync("auto")
		require.NoError(t, err)
		require.NoError(t, sub.AutoUnsubscribe(3))
		for i := range 5 {
			require.NoError(t, nc.Publish("auto", []byte(strconv.Itoa(i))))
		}
		require.NoError(t, nc.Flush())
		var got []string
		for range 3 {
			got = append(got, next(sub))
		}
		_, err = sub.NextMsg(50 * time.Millisecond)
		return append(got, fmt.Sprint(err), fmt.Sprint(sub.IsValid()))
	}},
	{"unsubscribe", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		pub := connect(t, url)
		var n atomic.Int32
		sub, err := nc.Subscribe("u", func(*nats.Msg) { n.Add(1) })
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		require.NoError(t, pub.Publish("u", nil))
		require.NoError(t, pub.Flush())
		require.Eventually(t, func() bool { return n.Load() == 1 }, waitTimeout, 5*time.Millisecond)
		require.NoError(t, sub.Unsubscribe())
		require.NoError(t, nc.Flush())
		require.NoError(t, pub.Publish("u", nil))
		require.NoError(t, pub.Flush())
		require.NoError(t, nc.Flush())
		return []string{fmt.Sprint(n.Load())}
	}},
	{"subscription drain", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		var n atomic.Int32
		sub, err := nc.Subscribe("d", func(*nats.Msg) {
			n.Add(1)
		})
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		for range 50 {
			require.NoError(t, nc.Publish("d", []byte("x")))
		}
		require.NoError(t, sub.Drain())
		require.Eventually(t, func() bool { return !sub.IsValid() }, waitTimeout, 5*time.Millisecond)
		return []string{fmt.Sprint(n.Load())}
	}},
	{"connection drain", func(t *testing.T, url string) []string {
		closed := make(chan struct{})
		nc := connect(t, url, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
		var n atomic.Int32
		_, err := nc.Subscribe("cd", func(*nats.Msg) { n.Add(1) })
		require.NoError(t, err)
		for range 50 {
			require.NoError(t, nc.Publish("cd", []byte("x")))
		}
		require.NoError(t, nc.Drain())
		select {
		case <-closed:
		case <-time.After(waitTimeout):
			t.Fatal("drain did not close the connection")
		}
		return []string{fmt.Sprint(n.Load()), nc.Status().String()}
	}},
	{"flush and rtt", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		err := nc.FlushTimeout(5 * time.Second)
		rtt, rttErr := nc.RTT()
		return []string{fmt.Sprint(err), fmt.Sprint(rttErr), fmt.Sprint(rtt > 0)}
	}},
	{"no echo", func(t *testing.T, url string) []string {
		nc := connect(t, url, nats.NoEcho())
		other := connect(t, url)
		own, err := nc.SubscribeSync("e")
		require.NoError(t, err)
		theirs, err := other.SubscribeSync("e")
		require.NoError(t, err)
		require.NoError(t, other.Flush())
		require.NoError(t, nc.Publish("e", []byte("x")))
		require.NoError(t, nc.Flush())
		return []string{next(theirs), none(t, nc, own)}
	}},
	{"server info seen by nats.go", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		return []string{
			fmt.Sprint(nc.MaxPayload()), fmt.Sprint(nc.HeadersSupported()),
			fmt.Sprint(nc.AuthRequired()), fmt.Sprint(nc.TLSRequired()),
			fmt.Sprint(len(nc.Servers())), fmt.Sprint(nc.ConnectedServerId() != ""),
		}
	}},
	{"payload limit", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		sub, err := nc.SubscribeSync("big")
		require.NoError(t, err)
		big := make([]byte, nc.MaxPayload())
		for i := range big {
			big[i] = byte(i)
		}
		require.NoError(t, nc.Publish("big", big))
		m, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		tooBig := nc.Publish("big", append(big, 0))
		return []string{fmt.Sprint(bytes.Equal(m.Data, big)), fmt.Sprint(tooBig)}
	}},
	{"many subjects one connection", func(t *testing.T, url string) []string {
		nc := connect(t, url)
		var subs []*nats.Subscription
		for i := range 100 {
			sub, err := nc.SubscribeSync(fmt.Sprintf("many.%d", i))
			require.NoError(t, err)
			subs = append(subs, sub)
		}
		for i := range 100 {
			require.NoError(t, nc.Publish(fmt.Sprintf("many.%d", i), []byte(strconv.Itoa(i))))
		}
		bad := 0
		for i, sub := range subs {
			if next(sub) != fmt.Sprintf("many.%d  %d", i, i) {
				bad++
			}
		}
		return []string{fmt.Sprintf("wrong=%d", bad)}
	}},
}

func TestDiffClient(t *testing.T) {
	eps := startBoth(t, limits{})
	for _, tc := range clientCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, kind := range []string{"tcp", "ws"} {
				t.Run(kind, func(t *testing.T) {
					var got [2][]string
					for i, ep := range eps {
						url := ep.natsURL()
						if kind == "ws" {
							url = ep.ws
						}
						t.Run(ep.name, func(t *testing.T) { got[i] = tc.run(t, url) })
					}
					assert.Equal(t, got[0], got[1], "observations differ (expected: nats-server, actual: wsbroker)")
				})
			}
		})
	}
}

// stallDialer dials TCP connections whose reads block while stalled, with
// a small receive buffer, so that output piles up in the server.
type stallDialer struct {
	stalled atomic.Bool
	release chan struct{}
}

func (d *stallDialer) Dial(network, address string) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, 5*time.Second)
	if err != nil {
		return nil, err
	}
	// No small SO_RCVBUF here: on loopback a tiny receive window makes
	// the kernel stall the transfer (zero-window probes back off), which
	// hides what the servers do.
	return &stallConn{Conn: c, d: d}, nil
}

type stallConn struct {
	net.Conn
	d *stallDialer
}

func (c *stallConn) Read(p []byte) (int, error) {
	if c.d.stalled.Load() {
		<-c.d.release
	}
	return c.Conn.Read(p)
}

// TestWebsocketBacklogFrameSize: a websocket subscriber that stops reading
// for a while, then catches up. nats.go (since 1.4x) refuses websocket
// frames larger than 8 × max_payload ("websocket frame too large"), the
// limit nats-server applies to what it reads. nats-server sends everything
// pending at a flush as one frame, so a backlog over that size disconnects
// the client; its outcome is only logged. wsbroker cuts its output into
// frames of at most max_payload and must deliver everything ([GAP]).
func TestWebsocketBacklogFrameSize(t *testing.T) {
	const maxPayload = 1024 // nats.go accepts frames up to 8 KiB
	const n = 10000         // 5 MB: more than the socket buffers hold
	run := func(t *testing.T, ep endpoint) (int64, error) {
		d := &stallDialer{release: make(chan struct{})}
		var released bool
		release := func() {
			if !released {
				released = true
				close(d.release)
			}
		}
		defer release()
		sc := connect(t, ep.ws, nats.SetCustomDialer(d))
		var got atomic.Int64
		sub, err := sc.Subscribe("backlog", func(*nats.Msg) { got.Add(1) })
		require.NoError(t, err)
		require.NoError(t, sub.SetPendingLimits(-1, -1))
		require.NoError(t, sc.Flush())
		d.stalled.Store(true)
		pc := connect(t, ep.natsURL())
		payload := make([]byte, maxPayload/2)
		for range n {
			require.NoError(t, pc.Publish("backlog", payload))
		}
		// Once the publisher's PING is answered, every message is queued
		// for the subscriber.
		require.NoError(t, pc.Flush())
		d.stalled.Store(false)
		release()
		assert.Eventually(t, func() bool { return got.Load() == n || !sc.IsConnected() },
			waitTimeout, 5*time.Millisecond)
		return got.Load(), sc.LastError()
	}
	eps := startBoth(t, limits{maxPayload: maxPayload})
	refGot, refErr := run(t, eps[0])
	t.Logf("nats-server: received %d of %d, last error %v", refGot, n, refErr)
	got, err := run(t, eps[1])
	// Ours caps every frame at max_payload, so the subscriber catches up.
	assert.Equal(t, int64(n), got, "wsbroker: last error %v", err)
}
