package proto

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkAllSplits parses in one chunk, byte by byte and at every 2-way split
// point, and asserts that all give want and wantErr.
func checkAllSplits(t *testing.T, newParser func() *Parser, in string, want []string, wantErr error) {
	t.Helper()
	checkSplits(t, func(chunks ...[]byte) ([]string, error) { return parseChunks(newParser(), chunks...) }, in, want, wantErr)
}

// checkSplits feeds in to parse (a fresh parser each call) in one chunk,
// byte by byte and at every 2-way split point, and asserts that all give
// want and wantErr. Both parsers' tests use it.
func checkSplits(t *testing.T, parse func(chunks ...[]byte) ([]string, error), in string, want []string, wantErr error) {
	t.Helper()
	check := func(how string, events []string, err error) {
		t.Helper()
		assert.Equal(t, want, events, how)
		if wantErr == nil {
			assert.NoError(t, err, how)
		} else {
			assert.ErrorIs(t, err, wantErr, how)
		}
	}
	events, err := parse([]byte(in))
	check("one chunk", events, err)

	var bytewise [][]byte
	for i := 0; i < len(in); i++ {
		bytewise = append(bytewise, []byte{in[i]})
	}
	events, err = parse(bytewise...)
	check("byte by byte", events, err)

	for cut := 1; cut < len(in); cut++ {
		events, err = parse([]byte(in[:cut]), []byte(in[cut:]))
		check(fmt.Sprintf("split at %d", cut), events, err)
		if t.Failed() {
			t.Logf("split at %d: %q | %q", cut, in[:cut], in[cut:])
			return
		}
	}
}

func defaultParser() *Parser { return &Parser{} }

func TestParseOps(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"connect", "CONNECT {\"a\":1}\r\n", []string{evConnect(`{"a":1}`)}},
		{"connect lowercase tab", "connect\t{\"a\": 1}\r\n", []string{evConnect(`{"a": 1}`)}},
		{"connect no space", "CONNECT{}\r\n", []string{evConnect(`{}`)}},
		{"connect empty", "CONNECT\r\n", []string{evConnect(``)}},
		{"connect spaces inside", "CONNECT  {\"name\":\"x  y\"} \r\n", []string{evConnect(`{"name":"x  y"} `)}},
		{"connect bare LF", "CONNECT {}\n", []string{evConnect(`{}`)}},
		{"ping", "PING\r\n", []string{"PING"}},
		{"ping mixed case", "pInG\r\n", []string{"PING"}},
		{"ping bare LF", "PING\n", []string{"PING"}},
		{"ping trailing blanks", "PING  \t\r\n", []string{"PING"}},
		{"ping trailing junk tolerated", "PINGX\r\n", []string{"PING"}},
		{"pong", "PONG\r\n", []string{"PONG"}},
		{"pong lowercase", "pong\r\n", []string{"PONG"}},
		{"+ok ignored", "+OK\r\nPING\r\n", []string{"PING"}},
		{"info reported to InfoHandler", "INFO {\"x\":1}\r\n", []string{`INFO "{\"x\":1}"`}},
		{"pub", "PUB foo 5\r\nhello\r\n", []string{evPub("foo", "", -1, "hello")}},
		{"pub reply", "PUB foo bar 5\r\nhello\r\n", []string{evPub("foo", "bar", -1, "hello")}},
		{"pub lowercase tabs", "pub\tfoo\t\tbar \t5\r\nhello\r\n", []string{evPub("foo", "bar", -1, "hello")}},
		{"pub trailing blank", "PUB foo 5 \r\nhello\r\n", []string{evPub("foo", "", -1, "hello")}},
		{"pub zero", "PUB foo 0\r\n\r\n", []string{evPub("foo", "", -1, "")}},
		{"pub payload with CRLF", "PUB foo 4\r\n\r\n\r\n\r\n", []string{evPub("foo", "", -1, "\r\n\r\n")}},
		{"pub bare LF line", "PUB foo 2\nhi\r\n", []string{evPub("foo", "", -1, "hi")}},
		{"pub leading zeros", "PUB foo 000000002\r\nhi\r\n", []string{evPub("foo", "", -1, "hi")}},
		{"hpub", "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", []string{evPub("foo", "", 12, "NATS/1.0\r\n\r\nhi")}},
		{"hpub reply", "HPUB foo r 12 12\r\nNATS/1.0\r\n\r\n\r\n", []string{evPub("foo", "r", 12, "NATS/1.0\r\n\r\n")}},
		{"hpub zero", "hpub foo 0 0\r\n\r\n", []string{evPub("foo", "", 0, "")}},
		{"hpub header equals total", "HPUB\tfoo\t2\t2\r\nab\r\n", []string{evPub("foo", "", 2, "ab")}},
		{"sub", "SUB foo 1\r\n", []string{evSub("foo", "", "1")}},
		{"sub queue", "SUB foo bar 1\r\n", []string{evSub("foo", "bar", "1")}},
		{"sub lowercase blanks", "sub \t foo\t\tbar  1  \r\n", []string{evSub("foo", "bar", "1")}},
		{"unsub", "UNSUB 1\r\n", []string{evUnsub("1", 0)}},
		{"unsub max", "UNSUB 1 5\r\n", []string{evUnsub("1", 5)}},
		{"unsub bad max is zero", "unsub 1 x\r\n", []string{evUnsub("1", 0)}},
		{"unsub lowercase tabs", "unsub\t1\t\t7\n", []string{evUnsub("1", 7)}},
		{"several ops", "PING\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPONG\r\n",
			[]string{"PING", evSub("a", "", "1"), evPub("a", "", -1, "x"), "PONG"}},
		{"empty input", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAllSplits(t, defaultParser, tt.in, tt.want, nil)
		})
	}
}

func TestParseAllOpsEverySplit(t *testing.T) {
	checkAllSplits(t, defaultParser, allOps, allOpsEvents, nil)
}

func TestParseUnknownOp(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"garbage", "FOO\r\n", nil},
		{"empty line", "\r\n", nil},
		{"leading blank", " PING\r\n", nil},
		{"misspelled", "PUNG\r\n", nil},
		{"pub without blank", "PUB\r\n", nil},
		{"pubx", "PUBX foo 1\r\n", nil},
		{"sub without blank", "SUBfoo 1\r\n", nil},
		{"-err without blank", "-ERR\r\n", nil},
		{"msg from client", "MSG foo 1 1\r\nx\r\n", nil},
		{"route op", "RS+ foo\r\n", nil},
		{"payload too long", "PUB foo 1\r\nxy\r\n", nil},
		{"payload missing CR", "PUB foo 1\r\nx\n", nil},
		{"payload missing LF", "PUB foo 1\r\nx\rPING\r\n", nil},
		{"after a good op", "PING\r\nXYZ\r\nPING\r\n", []string{"PING"}},
		{"vertical tab is not +", "\x0bOK\r\n", nil},
		{"CR is not -", "\rERR 'x'\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAllSplits(t, defaultParser, tt.in, tt.want, ErrUnknownOp)
			_, err := parseChunks(defaultParser(), []byte(tt.in))
			text, ok := ClientErrText(err)
			assert.True(t, ok)
			assert.Equal(t, "Unknown Protocol Operation", text)
		})
	}
}

func TestParseBadArgs(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason string
	}{
		{"pub no size", "PUB foo\r\n", "wrong number of arguments"},
		{"pub too many", "PUB a b c 1\r\n", "wrong number of arguments"},
		{"pub blank arg", "PUB \r\n", "wrong number of arguments"},
		{"pub bad size", "PUB foo x\r\n", "bad or missing total size"},
		{"pub negative size", "PUB foo -1\r\n", "bad or missing total size"},
		{"pub ten digits", "PUB foo 0000000001\r\n", "bad or missing total size"},
		{"hpub two args", "HPUB foo 1\r\n", "wrong number of arguments"},
		{"hpub five args", "HPUB a b c 1 2\r\n", "wrong number of arguments"},
		{"hpub bad header size", "HPUB foo x 2\r\n", "bad or missing header size"},
		{"hpub bad total size", "HPUB foo 1 x\r\n", "bad or missing total size"},
		{"hpub header larger than total", "HPUB foo 5 4\r\n", "header size larger than total size"},
		{"sub one arg", "SUB foo\r\n", "wrong number of arguments"},
		{"sub four args", "SUB a b c d\r\n", "wrong number of arguments"},
		{"unsub none", "UNSUB \r\n", "wrong number of arguments"},
		{"unsub three", "UNSUB 1 2 3\r\n", "wrong number of arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAllSplits(t, defaultParser, tt.in, nil, ErrBadArgs)
			_, err := parseChunks(defaultParser(), []byte(tt.in))
			var ae *ArgError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.reason, ae.Reason)
			_, ok := ClientErrText(err)
			assert.False(t, ok, "nats-server sends no -ERR for bad arguments")
		})
	}
}

func TestParseMaxControlLine(t *testing.T) {
	const mcl = 16
	newP := func() *Parser { return &Parser{MaxControlLine: mcl} }
	arg16 := "foo.bar.baz.q 12" // 16 bytes
	require.Len(t, arg16, mcl)
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"sub at limit", "SUB " + arg16 + "\r\n", []string{evSub("foo.bar.baz.q", "", "12")}, nil},
		{"sub at limit bare LF", "SUB " + arg16 + "\n", []string{evSub("foo.bar.baz.q", "", "12")}, nil},
		{"blanks after op not counted", "SUB    " + arg16 + "\r\n", []string{evSub("foo.bar.baz.q", "", "12")}, nil},
		{"sub over limit", "SUB " + arg16 + "3\r\n", nil, ErrMaxControlLine},
		{"over limit without line end", "SUB " + arg16 + "3", nil, ErrMaxControlLine},
		{"over limit after CR", "SUB " + arg16 + "\r3\r\n", nil, ErrMaxControlLine},
		{"connect over limit", "CONNECT {\"name\":\"abcdefghij\"}\r\n", nil, ErrMaxControlLine},
		{"pub over limit", "PUB foo.bar.baz.quux 1\r\nx\r\n", nil, ErrMaxControlLine},
		{"too many blanks", "SUB" + strings.Repeat(" ", mcl+2) + "a 1\r\n", nil, ErrMaxControlLine},
		{"ping junk over limit", "PING" + strings.Repeat(" ", mcl+1) + "\r\n", nil, ErrMaxControlLine},
		{"ping junk at limit", "PING" + strings.Repeat(" ", mcl-1) + "\r\n", []string{"PING"}, nil},
		{"good op before", "PING\r\nSUB " + arg16 + "3\r\n", []string{"PING"}, ErrMaxControlLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAllSplits(t, newP, tt.in, tt.want, tt.err)
			if tt.err != nil {
				_, err := parseChunks(newP(), []byte(tt.in))
				text, ok := ClientErrText(err)
				assert.True(t, ok)
				assert.Equal(t, "maximum control line exceeded", text)
			}
		})
	}
	t.Run("default is 4096", func(t *testing.T) {
		ok := "SUB " + strings.Repeat("a", 4094) + " 1\r\n"
		checkAllSplits(t, defaultParser, ok, []string{evSub(strings.Repeat("a", 4094), "", "1")}, nil)
		_, err := parseChunks(defaultParser(), []byte("SUB "+strings.Repeat("a", 4095)+" 1\r\n"))
		assert.ErrorIs(t, err, ErrMaxControlLine)
	})
}

func TestParseMaxPayload(t *testing.T) {
	newP := func() *Parser { return &Parser{MaxPayload: 8} }
	tests := []struct {
		name string
		in   string
		want []string
		err  error
	}{
		{"pub at limit", "PUB a 8\r\n12345678\r\n", []string{evPub("a", "", -1, "12345678")}, nil},
		{"pub over limit", "PUB a 9\r\n123456789\r\n", nil, ErrMaxPayload},
		{"checked before payload arrives", "PUB a 9\r\n", nil, ErrMaxPayload},
		{"hpub total over limit", "HPUB a 2 9\r\n", nil, ErrMaxPayload},
		{"header check first", "HPUB a 10 9\r\n", nil, ErrBadArgs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAllSplits(t, newP, tt.in, tt.want, tt.err)
		})
	}
	t.Run("client text", func(t *testing.T) {
		_, err := parseChunks(newP(), []byte("PUB a 9\r\n"))
		text, ok := ClientErrText(err)
		assert.True(t, ok)
		assert.Equal(t, "Maximum Payload Violation", text)
	})
	t.Run("default is 1 MiB", func(t *testing.T) {
		_, err := parseChunks(defaultParser(), []byte("PUB a 1048577\r\n"))
		assert.ErrorIs(t, err, ErrMaxPayload)
		payload := strings.Repeat("z", 1<<20)
		events, err := parseChunks(defaultParser(), []byte("PUB a 1048576\r\n"+payload[:1000]), []byte(payload[1000:]+"\r\n"))
		require.NoError(t, err)
		assert.Equal(t, []string{evPub("a", "", -1, payload)}, events)
	})
}

func TestParseRemoteErr(t *testing.T) {
	checkAllSplits(t, defaultParser, "PING\r\n-ERR 'boom'\r\n", []string{"PING"}, ErrRemoteErr)
	_, err := parseChunks(defaultParser(), []byte("-err  'boom'\r\n"))
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "'boom'", re.Text)
	_, ok := ClientErrText(err)
	assert.False(t, ok)
}

func TestParseInfoWithoutInfoHandler(t *testing.T) {
	var p Parser
	require.NoError(t, p.Parse([]byte("INFO {\"x\":1}\r\nPING\r\n"), noop{}))
}

func TestParseHandlerError(t *testing.T) {
	tests := []struct {
		name   string
		failOn string
		in     string
	}{
		{"connect", "CONNECT", "CONNECT {}\r\nPING\r\n"},
		{"pub", "PUB", "PUB a 1\r\nx\r\nPING\r\n"},
		{"split pub", "PUB", "PUB a 1\r\n"},
		{"sub", "SUB", "SUB a 1\r\nPING\r\n"},
		{"unsub", "UNSUB", "UNSUB 1\r\nPING\r\n"},
		{"ping", "PING", "PING\r\nPING\r\n"},
		{"pong", "PONG", "PONG\r\nPING\r\n"},
		{"info", "INFO", "INFO {}\r\nPING\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			r := &recorder{failOn: tt.failOn}
			err := p.Parse([]byte(tt.in), r)
			if tt.name == "split pub" {
				require.NoError(t, err)
				err = p.Parse([]byte("x\r\nPING\r\n"), r)
			}
			require.ErrorIs(t, err, errHandler)
			assert.Len(t, r.events, 1, "parsing stops at the failing operation")
			assert.ErrorIs(t, p.Parse([]byte("PING\r\n"), r), errHandler, "error is sticky")
			assert.Len(t, r.events, 1)
			_, ok := ClientErrText(err)
			assert.False(t, ok)
		})
	}
}

func TestParseScratchReuse(t *testing.T) {
	var p Parser
	// A payload spanning chunks is accumulated; a later one reuses the
	// buffer; a large one is released after use.
	events, err := parseChunks(&p, []byte("PUB a 3\r\nab"), []byte("c\r\nPUB b 2\r\nx"), []byte("y\r\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{evPub("a", "", -1, "abc"), evPub("b", "", -1, "xy")}, events)
	big := strings.Repeat("b", retainScratch+1)
	_, err = parseChunks(&p, []byte("PUB a 65537\r\n"+big[:10]), []byte(big[10:]+"\r\n"))
	require.NoError(t, err)
	assert.Nil(t, p.msg, "large scratch released")
}

func TestClientErrText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		text string
		ok   bool
	}{
		{"nil", nil, "", false},
		{"unknown", ErrUnknownOp, "Unknown Protocol Operation", true},
		{"control line", ErrMaxControlLine, "maximum control line exceeded", true},
		{"payload", ErrMaxPayload, "Maximum Payload Violation", true},
		{"bad args", newArgError("PUB", "x", nil), "", false},
		{"remote", &RemoteError{Text: "x"}, "", false},
		{"foreign", errors.New("other"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, ok := ClientErrText(tt.err)
			assert.Equal(t, tt.text, text)
			assert.Equal(t, tt.ok, ok)
		})
	}
}

func TestArgErrorSnippet(t *testing.T) {
	err := newArgError("SUB", "wrong number of arguments", []byte(strings.Repeat("a", 300)))
	var ae *ArgError
	require.ErrorAs(t, err, &ae)
	assert.Len(t, ae.Arg, snippetLen)
	assert.Contains(t, err.Error(), "SUB: wrong number of arguments")
}

func TestParseAllocs(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"pub", "PUB foo.bar _INBOX.abc 128\r\n" + strings.Repeat("x", 128) + "\r\n"},
		{"hpub", "HPUB foo.bar _INBOX.abc 24 152\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\n" + strings.Repeat("x", 128) + "\r\n"},
		{"all ops", allOps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			buf := []byte(tt.in)
			var err error
			allocs := testing.AllocsPerRun(1000, func() {
				if e := p.Parse(buf, noop{}); e != nil {
					err = e
				}
			})
			require.NoError(t, err)
			assert.Zero(t, allocs)
		})
	}
	t.Run("split pub after warm-up", func(t *testing.T) {
		var p Parser
		in := []byte("PUB foo.bar 128\r\n" + strings.Repeat("x", 128) + "\r\n")
		var err error
		allocs := testing.AllocsPerRun(1000, func() {
			for _, c := range [][]byte{in[:7], in[7:40], in[40:]} {
				if e := p.Parse(c, noop{}); e != nil {
					err = e
				}
			}
		})
		require.NoError(t, err)
		assert.Zero(t, allocs)
	})
}
