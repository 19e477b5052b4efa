package proto

import (
	"strings"
	"testing"
)

func benchParse(b *testing.B, op string) {
	buf := []byte(op)
	var p Parser
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Parse(buf, noop{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePub parses one PUB with a 128-byte payload per chunk.
func BenchmarkParsePub(b *testing.B) {
	benchParse(b, "PUB foo.bar _INBOX.abcdef 128\r\n"+strings.Repeat("x", 128)+"\r\n")
}

// BenchmarkParseHPub parses one HPUB with 24 header bytes and a 128-byte
// payload per chunk.
func BenchmarkParseHPub(b *testing.B) {
	benchParse(b, "HPUB foo.bar _INBOX.abcdef 24 152\r\nNATS/1.0\r\nA: b\r\nC: d\r\n\r\n"+strings.Repeat("x", 128)+"\r\n")
}

// BenchmarkParsePubBatch parses a 64 KiB-ish chunk of small PUBs.
func BenchmarkParsePubBatch(b *testing.B) {
	benchParse(b, strings.Repeat("PUB foo.bar 16\r\n0123456789abcdef\r\n", 1800))
}

// BenchmarkParsePubSplit parses one 128-byte PUB delivered in three chunks.
func BenchmarkParsePubSplit(b *testing.B) {
	in := []byte("PUB foo.bar _INBOX.abcdef 128\r\n" + strings.Repeat("x", 128) + "\r\n")
	var p Parser
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range [][]byte{in[:10], in[10:60], in[60:]} {
			if err := p.Parse(c, noop{}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAppendMsg encodes one MSG with a reply and a 128-byte payload.
func BenchmarkAppendMsg(b *testing.B) {
	subject, sid, reply := []byte("foo.bar"), []byte("12"), []byte("_INBOX.abcdef")
	payload := make([]byte, 128)
	dst := make([]byte, 0, 512)
	b.SetBytes(int64(len(AppendMsg(nil, subject, sid, reply, payload))))
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendMsg(dst[:0], subject, sid, reply, payload)
	}
}
