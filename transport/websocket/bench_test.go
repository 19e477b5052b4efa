package websocket

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// loopReader replays the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func BenchmarkRead(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 128)
	var stream []byte
	for range 256 {
		stream = append(stream, frame(0x82, payload, true)...)
	}
	c := newConn(&memConn{r: &loopReader{data: stream}}, upgrade{}, nil)
	buf := make([]byte, 32<<10)
	b.SetBytes(128)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		got := 0
		for got < 128 {
			n, err := c.Read(buf[:128-got])
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}

// discardConn is a net.Conn that discards writes.
type discardConn struct{ memConn }

func (*discardConn) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkWriteBuffers(b *testing.B) {
	msg := []byte("MSG subject.a 1 128\r\n" + string(bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz012345"), 4)) + "\r\n")
	for _, bc := range []struct {
		name string
		u    upgrade
	}{
		{"plain", upgrade{}},
		{"browser", upgrade{browser: true}},
		{"compressed", upgrade{compress: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newConn(&discardConn{memConn{r: io.MultiReader()}}, bc.u, nil)
			bufs := make(net.Buffers, 0, 64)
			batch := make([][]byte, 64)
			for i := range batch {
				batch[i] = msg
			}
			b.SetBytes(int64(64 * len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				bufs = append(bufs[:0], batch...)
				if _, err := c.WriteBuffers(bufs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
