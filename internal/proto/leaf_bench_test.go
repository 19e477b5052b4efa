package proto

import (
	"strings"
	"testing"
)

func benchLeafParse(b *testing.B, op string) {
	buf := []byte(op)
	var p LeafParser
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Parse(buf, leafNoop{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLeafParseLMsg parses one LMSG with a reply, one queue group and
// a 128-byte payload per chunk.
func BenchmarkLeafParseLMsg(b *testing.B) {
	benchLeafParse(b, "LMSG foo.bar + _INBOX.abcdef grp 128\r\n"+strings.Repeat("x", 128)+"\r\n")
}

// BenchmarkLeafParseHMsg parses one HMSG with a reply, two queue groups,
// 24 header bytes and a 128-byte payload per chunk.
func BenchmarkLeafParseHMsg(b *testing.B) {
	benchLeafParse(b, "HMSG foo.bar + _INBOX.abcdef q1 q2 24 152\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\n"+strings.Repeat("x", 128)+"\r\n")
}

// BenchmarkLeafParseLSPlus parses a batch of 100 queue LS+ lines, as in an
// interest snapshot.
func BenchmarkLeafParseLSPlus(b *testing.B) {
	benchLeafParse(b, strings.Repeat("LS+ foo.bar.* workers 3\r\n", 100))
}

// BenchmarkAppendLMsgHeader encodes an LMSG control line with a reply and
// one queue group.
func BenchmarkAppendLMsgHeader(b *testing.B) {
	subject, reply := []byte("foo.bar"), []byte("_INBOX.abcdef")
	queues := [][]byte{[]byte("grp")}
	dst := make([]byte, 0, 256)
	b.SetBytes(int64(len(AppendLMsgHeader(nil, subject, reply, queues, -1, 128))))
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendLMsgHeader(dst[:0], subject, reply, queues, -1, 128)
	}
}
