package proto

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAppendMsg(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		sid     string
		reply   string
		payload string
		want    string
	}{
		{"plain", "foo", "1", "", "hello", "MSG foo 1 5\r\nhello\r\n"},
		{"reply", "foo.bar", "22", "_INBOX.x", "hi", "MSG foo.bar 22 _INBOX.x 2\r\nhi\r\n"},
		{"empty payload", "a", "9", "", "", "MSG a 9 0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendMsg([]byte("prefix:"), []byte(tt.subject), []byte(tt.sid), []byte(tt.reply), []byte(tt.payload))
			assert.Equal(t, "prefix:"+tt.want, string(got))
		})
	}
}

func TestAppendHMsg(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		sid     string
		reply   string
		hdrLen  int
		msg     string
		want    string
	}{
		{"plain", "foo", "1", "", 12, "NATS/1.0\r\n\r\nhi", "HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"},
		{"reply", "foo", "1", "r", 12, "NATS/1.0\r\n\r\n", "HMSG foo 1 r 12 12\r\nNATS/1.0\r\n\r\n\r\n"},
		{"negative header is zero", "foo", "1", "", -1, "x", "HMSG foo 1 0 1\r\nx\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendHMsg(nil, []byte(tt.subject), []byte(tt.sid), []byte(tt.reply), tt.hdrLen, []byte(tt.msg))
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestAppendMsgHeader(t *testing.T) {
	tests := []struct {
		name          string
		reply         string
		hdrLen, total int
		want          string
	}{
		{"msg", "", -1, 128, "MSG s 7 128\r\n"},
		{"msg reply", "r", -1, 0, "MSG s 7 r 0\r\n"},
		{"hmsg", "", 10, 1048576, "HMSG s 7 10 1048576\r\n"},
		{"hmsg reply", "r", 0, 3, "HMSG s 7 r 0 3\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendMsgHeader(nil, []byte("s"), []byte("7"), []byte(tt.reply), tt.hdrLen, tt.total)
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestAppendErrAndConstants(t *testing.T) {
	assert.Equal(t, "-ERR 'Unknown Protocol Operation'\r\n", string(AppendErr(nil, ErrTextUnknownOp)))
	assert.Equal(t, "-ERR 'maximum control line exceeded'\r\n", string(AppendErr(nil, ErrTextMaxControlLine)))
	assert.Equal(t, "-ERR 'Maximum Payload Violation'\r\n", string(AppendErr(nil, ErrTextMaxPayload)))
	assert.Equal(t, "PING\r\n", PingProto)
	assert.Equal(t, "PONG\r\n", PongProto)
	assert.Equal(t, "+OK\r\n", OKProto)
}

func TestAppendNoResponders(t *testing.T) {
	got := AppendNoResponders(nil, []byte("_INBOX.abc.1"), []byte("3"), []byte("svc.echo"))
	// nats-server: header length is 32 + len(subject).
	want := "HMSG _INBOX.abc.1 3 40 40\r\nNATS/1.0 503\r\nNats-Subject: svc.echo\r\n\r\n\r\n"
	assert.Equal(t, want, string(got))
	assert.Equal(t, 32+len("svc.echo"), NoRespondersHeaderLen([]byte("svc.echo")))

	// The header block is a well-formed status header of the stated size.
	hdr := got[len("HMSG _INBOX.abc.1 3 40 40\r\n") : len(got)-2]
	assert.Len(t, hdr, 40)
	assert.Equal(t, NoRespondersStatus, string(hdr[:len(NoRespondersStatus)]))
}

func TestEncodersAllocFree(t *testing.T) {
	subject, sid, reply := []byte("foo.bar"), []byte("12"), []byte("_INBOX.x")
	payload := make([]byte, 128)
	dst := make([]byte, 0, 4096)
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendMsg", func() { dst = AppendMsg(dst[:0], subject, sid, reply, payload) }},
		{"AppendHMsg", func() { dst = AppendHMsg(dst[:0], subject, sid, reply, 10, payload) }},
		{"AppendMsgHeader", func() { dst = AppendMsgHeader(dst[:0], subject, sid, reply, 10, 1000) }},
		{"AppendErr", func() { dst = AppendErr(dst[:0], ErrTextUnknownOp) }},
		{"AppendNoResponders", func() { dst = AppendNoResponders(dst[:0], reply, sid, subject) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(1000, tt.fn))
			assert.NotEmpty(t, dst)
		})
	}
}
