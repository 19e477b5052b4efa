package proto

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLeafParseOps(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"info", "INFO {\"a\":1}\r\n", []string{evInfo(`{"a":1}`)}},
		{"info nats-server trailing space", "INFO {} \r\n", []string{evInfo(`{} `)}},
		{"info lowercase tab no blank", "info\t{}\r\n", []string{evInfo(`{}`)}},
		{"info glued", "INFO{}\r\n", []string{evInfo(`{}`)}},
		{"info empty", "INFO\r\n", []string{evInfo(``)}},
		{"connect", "CONNECT {\"name\":\"a b\"}\r\n", []string{evConnect(`{"name":"a b"}`)}},
		{"connect bare LF", "connect {}\n", []string{evConnect(`{}`)}},
		{"ping", "PING\r\n", []string{"PING"}},
		{"ping mixed case junk", "pInGx \r\n", []string{"PING"}},
		{"pong", "PONG\n", []string{"PONG"}},
		{"+ok ignored", "+OK\r\n+ok\nPING\r\n", []string{"PING"}},
		{"err quoted", "-ERR 'Stale Connection'\r\n", []string{evErr("Stale Connection")}},
		{"err unquoted", "-ERR Stale Connection\r\n", []string{evErr("Stale Connection")}},
		{"err lowercase blanks", "-err \t 'x y'  \r\n", []string{evErr("x y")}},
		{"err inner quotes kept", "-ERR 'a 'b' c'\r\n", []string{evErr("a 'b' c")}},
		{"err one quote kept", "-ERR '\r\n", []string{evErr("'")}},
		{"err only leading quote kept", "-ERR 'abc\r\n", []string{evErr("'abc")}},
		{"err empty quotes", "-ERR ''\r\n", []string{evErr("")}},
		{"err empty", "-ERR \r\n", []string{evErr("")}},
		{"err does not stop", "-ERR 'x'\r\nPING\r\n", []string{evErr("x"), "PING"}},
		{"ls+ plain", "LS+ foo.bar\r\n", []string{evLSPlus("foo.bar", "", 0)}},
		{"ls+ wildcard lowercase", "ls+ wc.>\r\n", []string{evLSPlus("wc.>", "", 0)}},
		{"ls+ dollar subject", "LS+ $LDS.moIysLLWLOuZJFpgOX9HyC\r\n", []string{evLSPlus("$LDS.moIysLLWLOuZJFpgOX9HyC", "", 0)}},
		{"ls+ queue captured", "LS+ baz.* g1 1\r\n", []string{evLSPlus("baz.*", "g1", 1)}},
		{"ls+ queue weight 2", "LS+ baz.* g1 2\r\n", []string{evLSPlus("baz.*", "g1", 2)}},
		{"ls+ max weight", "LS+ q G 999999999\r\n", []string{evLSPlus("q", "G", 999999999)}},
		{"ls+ weight zero is 1", "LS+ q G 0\r\n", []string{evLSPlus("q", "G", 1)}},
		{"ls+ weight not a number is 1", "LS+ q G x\r\n", []string{evLSPlus("q", "G", 1)}},
		{"ls+ weight negative is 1", "LS+ q G -5\r\n", []string{evLSPlus("q", "G", 1)}},
		{"ls+ weight ten digits is 1", "LS+ q G 1000000000\r\n", []string{evLSPlus("q", "G", 1)}},
		{"ls+ blanks", "LS+\t q \t G  3 \r\n", []string{evLSPlus("q", "G", 3)}},
		{"ls+ inner CR separates", "LS+ q\rG 3\r\n", []string{evLSPlus("q", "G", 3)}},
		{"ls- plain", "LS- foo\r\n", []string{evLSMinus("foo", "")}},
		{"ls- queue captured", "LS- baz.* g1\r\n", []string{evLSMinus("baz.*", "g1")}},
		{"ls- lowercase tabs", "ls-\tbaz.*\tg1\t\n", []string{evLSMinus("baz.*", "g1")}},
		{"lmsg plain", "LMSG foo 5\r\nhello\r\n", []string{evLMsg("foo", "", "", -1, "hello")}},
		{"lmsg captured queues only", "LMSG qq | grp 1\r\nx\r\n", []string{evLMsg("qq", "", "grp", -1, "x")}},
		{"lmsg captured reply", "LMSG fromleaf r.1 3\r\nabc\r\n", []string{evLMsg("fromleaf", "r.1", "", -1, "abc")}},
		{"lmsg reply queues", "LMSG foo + r q1 q2 3\r\nabc\r\n", []string{evLMsg("foo", "r", "q1 q2", -1, "abc")}},
		{"lmsg + reply no queues", "LMSG foo + r 3\r\nabc\r\n", []string{evLMsg("foo", "r", "", -1, "abc")}},
		{"lmsg three queues", "LMSG foo | a b c 0\r\n\r\n", []string{evLMsg("foo", "", "a b c", -1, "")}},
		{"lmsg | alone is a reply", "LMSG foo | 1\r\nx\r\n", []string{evLMsg("foo", "|", "", -1, "x")}},
		{"lmsg + alone is a reply", "LMSG foo + 1\r\nx\r\n", []string{evLMsg("foo", "+", "", -1, "x")}},
		{"lmsg lowercase tabs", "lmsg\tfoo\t\t|\tq \t2 \r\nhi\r\n", []string{evLMsg("foo", "", "q", -1, "hi")}},
		{"lmsg payload with CRLF", "LMSG foo 4\r\n\r\n\r\n\r\n", []string{evLMsg("foo", "", "", -1, "\r\n\r\n")}},
		{"lmsg bare LF", "LMSG foo 2\nhi\r\n", []string{evLMsg("foo", "", "", -1, "hi")}},
		{"lmsg leading zeros", "LMSG foo 000000002\r\nhi\r\n", []string{evLMsg("foo", "", "", -1, "hi")}},
		{"hmsg captured", "HMSG foo rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", []string{evLMsg("foo", "rep", "", 12, "NATS/1.0\r\n\r\nhi")}},
		{"hmsg reply queues", "HMSG foo + rep q1 q2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", []string{evLMsg("foo", "rep", "q1 q2", 12, "NATS/1.0\r\n\r\nhi")}},
		{"hmsg + reply no queues", "HMSG foo + rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", []string{evLMsg("foo", "rep", "", 12, "NATS/1.0\r\n\r\nhi")}},
		{"hmsg queues only", "HMSG foo | q1 12 12\r\nNATS/1.0\r\n\r\n\r\n", []string{evLMsg("foo", "", "q1", 12, "NATS/1.0\r\n\r\n")}},
		{"hmsg plain", "hmsg foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", []string{evLMsg("foo", "", "", 12, "NATS/1.0\r\n\r\nhi")}},
		{"hmsg zero", "HMSG foo 0 0\r\n\r\n", []string{evLMsg("foo", "", "", 0, "")}},
		{"hmsg header equals total", "HMSG\tfoo\t2\t2\r\nab\r\n", []string{evLMsg("foo", "", "", 2, "ab")}},
		{"several ops", "PING\r\nLS+ a\r\nLMSG a 1\r\nx\r\nLS- a\r\nPONG\r\n",
			[]string{"PING", evLSPlus("a", "", 0), evLMsg("a", "", "", -1, "x"), evLSMinus("a", ""), "PONG"}},
		{"empty input", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeafAllSplits(t, defaultLeafParser, tt.in, tt.want, nil)
		})
	}
}

func TestLeafParseAllOpsEverySplit(t *testing.T) {
	checkLeafAllSplits(t, defaultLeafParser, allLeafOps, allLeafOpsEvents, nil)
}

func TestLeafParseUnknownOp(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"garbage", "FOO\r\n", nil},
		{"empty line", "\r\n", nil},
		{"leading blank", " PING\r\n", nil},
		{"pub", "PUB foo 1\r\nx\r\n", nil},
		{"hpub", "HPUB foo 0 1\r\nx\r\n", nil},
		{"sub", "SUB foo 1\r\n", nil},
		{"unsub", "UNSUB 1\r\n", nil},
		{"msg", "MSG foo 1 1\r\nx\r\n", nil},
		{"route rs+", "RS+ $G foo\r\n", nil},
		{"route rmsg", "RMSG $G foo 1\r\nx\r\n", nil},
		{"lx", "LX foo\r\n", nil},
		{"ls without sign", "LS foo\r\n", nil},
		{"ls vertical tab is not +", "LS\x0b foo\r\n", nil},
		{"ls- vertical tab is not -", "LS\x0d foo\r\n", nil},
		{"ls+ without blank", "LS+foo\r\n", nil},
		{"ls+ line end at once", "LS+\r\n", nil},
		{"lmsgx", "LMSGX foo 1\r\n", nil},
		{"lmsg without blank", "LMSG\r\n", nil},
		{"lsmg", "LSMG foo 1\r\n", nil},
		{"hmsg misspelled", "HMSH foo 0 0\r\n", nil},
		{"-err without blank", "-ERR\r\n", nil},
		{"+ko", "+KO\r\n", nil},
		{"payload too long", "LMSG foo 1\r\nxy\r\n", nil},
		{"payload missing CR", "LMSG foo 1\r\nx\n", nil},
		{"payload missing LF", "LMSG foo | q 1\r\nx\rPING\r\n", nil},
		{"hmsg payload too long", "HMSG foo 0 1\r\nxy\r\n", nil},
		{"after good ops", "PING\r\nLS+ a\r\nXYZ\r\nPING\r\n", []string{"PING", evLSPlus("a", "", 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeafAllSplits(t, defaultLeafParser, tt.in, tt.want, ErrUnknownOp)
			_, err := parseLeafChunks(defaultLeafParser(), []byte(tt.in))
			text, ok := ClientErrText(err)
			assert.True(t, ok)
			assert.Equal(t, "Unknown Protocol Operation", text)
		})
	}
}

func TestLeafParseBadArgs(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		op     string
		reason string
	}{
		{"ls+ two args", "LS+ a b\r\n", "LS+", "wrong number of arguments"},
		{"ls+ four args", "LS+ a b 1 d\r\n", "LS+", "wrong number of arguments"},
		{"ls+ many args", "LS+" + strings.Repeat(" a", 100) + "\r\n", "LS+", "wrong number of arguments"},
		{"ls+ blank arg", "LS+ \r\n", "LS+", "wrong number of arguments"},
		{"ls- three args", "LS- a b c\r\n", "LS-", "wrong number of arguments"},
		{"ls- blank arg", "LS-  \t\r\n", "LS-", "wrong number of arguments"},
		{"lmsg subject only", "LMSG foo\r\n", "LMSG", "wrong number of arguments"},
		{"lmsg blank", "LMSG \r\n", "LMSG", "wrong number of arguments"},
		{"lmsg bad indicator", "LMSG a x b 1\r\n", "LMSG", "bad or missing reply indicator"},
		{"lmsg long indicator", "LMSG a ++ r q 1\r\n", "LMSG", "bad or missing reply indicator"},
		{"lmsg bad size", "LMSG foo x\r\n", "LMSG", "bad or missing total size"},
		{"lmsg negative size", "LMSG foo r -1\r\n", "LMSG", "bad or missing total size"},
		{"lmsg ten digits", "LMSG foo 0000000001\r\n", "LMSG", "bad or missing total size"},
		{"lmsg queues bad size", "LMSG foo | q 1x\r\n", "LMSG", "bad or missing total size"},
		{"lmsg queues no size", "LMSG foo + r q1 q2\r\n", "LMSG", "bad or missing total size"},
		{"hmsg two args", "HMSG foo 1\r\n", "HMSG", "wrong number of arguments"},
		{"hmsg bad indicator", "HMSG a x b 1 2\r\n", "HMSG", "bad or missing reply indicator"},
		{"hmsg bad header size", "HMSG foo x 2\r\n", "HMSG", "bad or missing header size"},
		{"hmsg queues bad header size", "HMSG foo | q x 4\r\n", "HMSG", "bad or missing header size"},
		{"hmsg bad total size", "HMSG foo r 1 x\r\n", "HMSG", "bad or missing total size"},
		{"hmsg header larger than total", "HMSG foo 5 4\r\n", "HMSG", "header size larger than total size"},
		{"hmsg queues header larger", "HMSG foo + r q 5 4\r\n", "HMSG", "header size larger than total size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeafAllSplits(t, defaultLeafParser, tt.in, nil, ErrBadArgs)
			_, err := parseLeafChunks(defaultLeafParser(), []byte(tt.in))
			var ae *ArgError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.op, ae.Op)
			assert.Equal(t, tt.reason, ae.Reason)
			_, ok := ClientErrText(err)
			assert.False(t, ok, "nats-server sends no -ERR for bad arguments")
		})
	}
}

func TestLeafParseMaxControlLine(t *testing.T) {
	const mcl = 16
	newP := func() *LeafParser { return &LeafParser{MaxControlLine: mcl} }
	arg16 := "foo.bar | g1 g 1" // 16 bytes
	require.Len(t, arg16, mcl)
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"lmsg at limit", "LMSG " + arg16 + "\r\nx\r\n", []string{evLMsg("foo.bar", "", "g1 g", -1, "x")}, nil},
		{"lmsg at limit bare LF", "LMSG " + arg16 + "\nx\r\n", []string{evLMsg("foo.bar", "", "g1 g", -1, "x")}, nil},
		{"ls+ at limit", "LS+ abcdefghijkl q 1\r\n", []string{evLSPlus("abcdefghijkl", "q", 1)}, nil},
		{"blanks after op not counted", "LS+     abcdefghijkl q 1\n", []string{evLSPlus("abcdefghijkl", "q", 1)}, nil},
		{"lmsg over limit", "LMSG foo.bar | g1 gg 1\r\nx\r\n", nil, ErrMaxControlLine},
		{"over limit without line end", "LS+ " + arg16 + "x", nil, ErrMaxControlLine},
		{"info over limit", "INFO {\"a\":\"bcdefghijkl\"}\r\n", nil, ErrMaxControlLine},
		{"err over limit", "-ERR 'abcdefghijklmnop'\r\n", nil, ErrMaxControlLine},
		{"too many blanks", "LS+" + strings.Repeat(" ", mcl+2) + "a\r\n", nil, ErrMaxControlLine},
		{"pong junk over limit", "PONG" + strings.Repeat(" ", mcl+1) + "\r\n", nil, ErrMaxControlLine},
		{"good op before", "PING\r\nLS- " + arg16 + "x\r\n", []string{"PING"}, ErrMaxControlLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeafAllSplits(t, newP, tt.in, tt.want, tt.err)
			if tt.err != nil {
				_, err := parseLeafChunks(newP(), []byte(tt.in))
				text, ok := ClientErrText(err)
				assert.True(t, ok)
				assert.Equal(t, "maximum control line exceeded", text)
			}
		})
	}
	t.Run("default is 64 KiB", func(t *testing.T) {
		assert.Equal(t, 65536, DefaultLeafMaxControlLine)
		subj := strings.Repeat("a", DefaultLeafMaxControlLine-2)
		events, err := parseLeafChunks(defaultLeafParser(), []byte("LMSG "+subj[:100]), []byte(subj[100:]+" 1\r\nx\r\n"))
		require.NoError(t, err)
		assert.Equal(t, []string{evLMsg(subj, "", "", -1, "x")}, events)
		_, err = parseLeafChunks(defaultLeafParser(), []byte("LMSG "+subj+"a 1\r\nx\r\n"))
		assert.ErrorIs(t, err, ErrMaxControlLine)
	})
}

func TestLeafParseMaxPayload(t *testing.T) {
	newP := func() *LeafParser { return &LeafParser{MaxPayload: 8} }
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"lmsg at limit", "LMSG a 8\r\n12345678\r\n", []string{evLMsg("a", "", "", -1, "12345678")}, nil},
		{"lmsg over limit", "LMSG a 9\r\n123456789\r\n", nil, ErrMaxPayload},
		{"checked before payload arrives", "LMSG a | q 9\r\n", nil, ErrMaxPayload},
		{"hmsg total over limit", "HMSG a + r q 2 9\r\n", nil, ErrMaxPayload},
		{"header check first", "HMSG a 10 9\r\n", nil, ErrBadArgs},
		{"indicator check first", "LMSG a x q 9\r\n", nil, ErrBadArgs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeafAllSplits(t, newP, tt.in, tt.want, tt.err)
		})
	}
	t.Run("client text", func(t *testing.T) {
		_, err := parseLeafChunks(newP(), []byte("LMSG a 9\r\n"))
		text, ok := ClientErrText(err)
		assert.True(t, ok)
		assert.Equal(t, "Maximum Payload Violation", text)
	})
	t.Run("default is 1 MiB", func(t *testing.T) {
		_, err := parseLeafChunks(defaultLeafParser(), []byte("LMSG a 1048577\r\n"))
		assert.ErrorIs(t, err, ErrMaxPayload)
		payload := strings.Repeat("z", 1<<20)
		events, err := parseLeafChunks(defaultLeafParser(), []byte("LMSG a | q 1048576\r\n"+payload[:1000]), []byte(payload[1000:]+"\r\n"))
		require.NoError(t, err)
		assert.Equal(t, []string{evLMsg("a", "", "q", -1, payload)}, events)
	})
}

func TestLeafParseHandlerError(t *testing.T) {
	tests := []struct {
		failOn string
		in     string
	}{
		{"INFO", "INFO {}\r\nPING\r\n"},
		{"CONNECT", "CONNECT {}\r\nPING\r\n"},
		{"PING", "PING\r\nPING\r\n"},
		{"PONG", "PONG\r\nPING\r\n"},
		{"ERR", "-ERR 'x'\r\nPING\r\n"},
		{"LS+", "LS+ a q 1\r\nPING\r\n"},
		{"LS-", "LS- a\r\nPING\r\n"},
		{"LMSG", "LMSG a | q 1\r\nx\r\nPING\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.failOn, func(t *testing.T) {
			for cut := 0; cut < len(tt.in); cut++ {
				var p LeafParser
				r := &leafRecorder{failOn: tt.failOn}
				err := p.Parse([]byte(tt.in[:cut]), r)
				if err == nil {
					err = p.Parse([]byte(tt.in[cut:]), r)
				}
				require.ErrorIs(t, err, errHandler, "cut %d", cut)
				assert.Len(t, r.events, 1, "parsing stops at the failing operation")
				assert.ErrorIs(t, p.Parse([]byte("PING\r\n"), r), errHandler, "error is sticky")
				assert.Len(t, r.events, 1)
				assert.Nil(t, p.queues, "no queues retained")
			}
		})
	}
}

func TestLeafParseScratch(t *testing.T) {
	var p LeafParser
	// A payload spanning chunks is accumulated with its queues; a later
	// one reuses the buffers.
	events, err := parseLeafChunks(&p, []byte("LMSG a + r q1 q2 3\r\nab"), []byte("c\r\nHMSG b | q3 1 2\r\nx"), []byte("y\r\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{evLMsg("a", "r", "q1 q2", -1, "abc"), evLMsg("b", "", "q3", 1, "xy")}, events)
	assert.Nil(t, p.queues, "pending queues cleared after delivery")
	assert.Nil(t, p.subject)

	t.Run("large scratch released", func(t *testing.T) {
		var p LeafParser
		big := strings.Repeat("b", retainScratch+1)
		_, err := parseLeafChunks(&p, []byte("LMSG a 65537\r\n"+big[:10]), []byte(big[10:]+"\r\n"))
		require.NoError(t, err)
		assert.Nil(t, p.msg)

		queues := strings.TrimSpace(strings.Repeat("q ", retainArgs+1))
		events, err := parseLeafChunks(&p, []byte("LMSG a | "+queues+" 1\r\nx\r\n"))
		require.NoError(t, err)
		assert.Equal(t, []string{evLMsg("a", "", queues, -1, "x")}, events)
		assert.Nil(t, p.args)
	})
}

func TestLeafParseAllocs(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"lmsg 2 queues", "LMSG foo.bar + _INBOX.abc q1 q2 128\r\n" + strings.Repeat("x", 128) + "\r\n"},
		{"hmsg", "HMSG foo.bar _INBOX.abc 24 152\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\n" + strings.Repeat("x", 128) + "\r\n"},
		{"hmsg queues", "HMSG foo.bar | q1 q2 q3 24 152\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\n" + strings.Repeat("x", 128) + "\r\n"},
		{"all ops", allLeafOps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p LeafParser
			buf := []byte(tt.in)
			var err error
			allocs := testing.AllocsPerRun(1000, func() {
				if e := p.Parse(buf, leafNoop{}); e != nil {
					err = e
				}
			})
			require.NoError(t, err)
			assert.Zero(t, allocs)
		})
	}
	t.Run("split lmsg after warm-up", func(t *testing.T) {
		var p LeafParser
		in := []byte("LMSG foo.bar | q1 q2 128\r\n" + strings.Repeat("x", 128) + "\r\n")
		var err error
		allocs := testing.AllocsPerRun(1000, func() {
			for _, c := range [][]byte{in[:7], in[7:40], in[40:]} {
				if e := p.Parse(c, leafNoop{}); e != nil {
					err = e
				}
			}
		})
		require.NoError(t, err)
		assert.Zero(t, allocs)
	})
}
