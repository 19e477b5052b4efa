package proto

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bytesList turns a space-separated list into queue names (nil when empty).
func bytesList(s string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(s) {
		out = append(out, []byte(f))
	}
	return out
}

func TestAppendLSPlus(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		queue   string
		weight  int
		want    string
	}{
		{"plain", "foo.bar", "", 0, "LS+ foo.bar\r\n"},
		{"plain ignores weight", "wc.>", "", 7, "LS+ wc.>\r\n"},
		{"queue captured", "baz.*", "g1", 1, "LS+ baz.* g1 1\r\n"},
		{"queue total", "baz.*", "g1", 2, "LS+ baz.* g1 2\r\n"},
		{"weight zero sent as 1", "q", "G", 0, "LS+ q G 1\r\n"},
		{"negative weight sent as 1", "q", "G", -3, "LS+ q G 1\r\n"},
		{"weight clamped to 9 digits", "q", "G", 5_000_000_000, "LS+ q G 999999999\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendLSPlus([]byte("prefix:"), []byte(tt.subject), []byte(tt.queue), tt.weight)
			assert.Equal(t, "prefix:"+tt.want, string(got))
		})
	}
}

func TestAppendLSMinus(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		queue   string
		want    string
	}{
		{"plain", "foo", "", "LS- foo\r\n"},
		{"queue captured", "baz.*", "g1", "LS- baz.* g1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, string(AppendLSMinus(nil, []byte(tt.subject), []byte(tt.queue))))
		})
	}
}

// lmsgLayouts covers every control line layout of AppendLMsgHeader.
var lmsgLayouts = []struct {
	name    string
	subject string
	reply   string
	queues  string
	hdrLen  int
	msg     string
	want    string
}{
	{"lmsg plain", "foo", "", "", -1, "hello", "LMSG foo 5\r\nhello\r\n"},
	{"lmsg reply captured", "fromleaf", "r.1", "", -1, "abc", "LMSG fromleaf r.1 3\r\nabc\r\n"},
	{"lmsg queues captured", "qq", "", "grp", -1, "x", "LMSG qq | grp 1\r\nx\r\n"},
	{"lmsg reply queues", "foo", "_INBOX.a.b", "q1 q2", -1, "abc", "LMSG foo + _INBOX.a.b q1 q2 3\r\nabc\r\n"},
	{"lmsg empty payload", "a", "", "q1 q2 q3", -1, "", "LMSG a | q1 q2 q3 0\r\n\r\n"},
	{"hmsg plain", "foo", "", "", 12, "NATS/1.0\r\n\r\nhi", "HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"},
	{"hmsg reply captured", "foo", "rep", "", 12, "NATS/1.0\r\n\r\nhi", "HMSG foo rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"},
	{"hmsg reply queues", "foo", "rep", "q1 q2", 12, "NATS/1.0\r\n\r\nhi", "HMSG foo + rep q1 q2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"},
	{"hmsg queues", "foo", "", "q1", 12, "NATS/1.0\r\n\r\n", "HMSG foo | q1 12 12\r\nNATS/1.0\r\n\r\n\r\n"},
	{"hmsg zero header", "foo", "", "", 0, "hi", "HMSG foo 0 2\r\nhi\r\n"},
}

func TestAppendLMsg(t *testing.T) {
	for _, tt := range lmsgLayouts {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendLMsg([]byte("prefix:"), []byte(tt.subject), []byte(tt.reply), bytesList(tt.queues), tt.hdrLen, []byte(tt.msg))
			assert.Equal(t, "prefix:"+tt.want, string(got))
			head := AppendLMsgHeader(nil, []byte(tt.subject), []byte(tt.reply), bytesList(tt.queues), tt.hdrLen, len(tt.msg))
			assert.Equal(t, tt.want[:strings.Index(tt.want, "\r\n")+2], string(head))
		})
	}
}

// TestLeafEncodeRoundTrip encodes every layout and parses it back, checking
// that the values survive, at every split point.
func TestLeafEncodeRoundTrip(t *testing.T) {
	for _, tt := range lmsgLayouts {
		t.Run(tt.name, func(t *testing.T) {
			wire := AppendLMsg(nil, []byte(tt.subject), []byte(tt.reply), bytesList(tt.queues), tt.hdrLen, []byte(tt.msg))
			want := []string{evLMsg(tt.subject, tt.reply, tt.queues, tt.hdrLen, tt.msg)}
			checkLeafAllSplits(t, defaultLeafParser, string(wire), want, nil)
		})
	}
	interest := []struct {
		name    string
		subject string
		queue   string
		weight  int
		minus   bool
		want    string
	}{
		{"ls+ plain", "foo.>", "", 0, false, evLSPlus("foo.>", "", 0)},
		{"ls+ queue", "baz.*", "g1", 42, false, evLSPlus("baz.*", "g1", 42)},
		{"ls+ max weight", "baz.*", "g1", MaxLeafQueueWeight, false, evLSPlus("baz.*", "g1", MaxLeafQueueWeight)},
		{"ls- plain", "foo.>", "", 0, true, evLSMinus("foo.>", "")},
		{"ls- queue", "baz.*", "g1", 0, true, evLSMinus("baz.*", "g1")},
	}
	for _, tt := range interest {
		t.Run(tt.name, func(t *testing.T) {
			var wire []byte
			if tt.minus {
				wire = AppendLSMinus(nil, []byte(tt.subject), []byte(tt.queue))
			} else {
				wire = AppendLSPlus(nil, []byte(tt.subject), []byte(tt.queue), tt.weight)
			}
			checkLeafAllSplits(t, defaultLeafParser, string(wire), []string{tt.want}, nil)
		})
	}
	t.Run("error text", func(t *testing.T) {
		wire := AppendErr(nil, "Loop detected for leafnode account=\"$G\"")
		events, err := parseLeafChunks(defaultLeafParser(), wire)
		require.NoError(t, err)
		assert.Equal(t, []string{evErr("Loop detected for leafnode account=\"$G\"")}, events)
	})
}

func TestAppendLeafAllocs(t *testing.T) {
	subject, reply := []byte("foo.bar"), []byte("_INBOX.abcdef")
	queues := [][]byte{[]byte("q1"), []byte("q2")}
	dst := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(1000, func() {
		dst = AppendLMsgHeader(dst[:0], subject, reply, queues, 24, 152)
		dst = AppendLSPlus(dst, subject, queues[0], 3)
		dst = AppendLSMinus(dst, subject, queues[0])
	})
	assert.Zero(t, allocs)
	assert.Equal(t, "HMSG foo.bar + _INBOX.abcdef q1 q2 24 152\r\nLS+ foo.bar q1 3\r\nLS- foo.bar q1\r\n", string(dst))
}
