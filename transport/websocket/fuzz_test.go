package websocket

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzFrameReader(f *testing.F) {
	f.Add(frame(0x82, []byte("hello"), true), false)
	f.Add(append(frame(0x02, []byte("a"), true), frame(0x80, []byte("b"), true)...), false)
	f.Add(frame(0xC2, deflateMsg(f, []byte("compressed payload compressed payload")), true), true)
	f.Add(frame(0x88, closePayload(1000, "x"), true), false)
	f.Add([]byte{0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, true)
	srv, err := NewServer(Config{MaxPayload: 4096}, noHandoff)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, in []byte, compress bool) {
		c, _ := memConnWith(in, upgrade{compress: compress}, srv)
		buf := make([]byte, 61)
		for range 1 << 16 {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		if cap(c.cbuf) > 8*4096+len(inflateTail)+64 {
			t.Fatalf("compressed buffer beyond bound: %d", cap(c.cbuf))
		}
		_, err := c.WriteBuffers(nil)
		require.NoError(t, err)
	})
}

func FuzzHandshake(f *testing.F) {
	f.Add([]byte(upgradeRequest("/")))
	f.Add([]byte(upgradeRequest("/leafnode", "Origin: http://a")))
	f.Add([]byte(upgradeRequest("/", "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10")))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	srv, err := NewServer(Config{Compression: true, SameOrigin: true, MaxHeaderBytes: 2048, Cookies: []string{"jwt"}}, noHandoff)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, in []byte) {
		m := &memConn{r: bytes.NewReader(in)}
		c, _, err := srv.upgradeConn(m)
		out := m.written()
		if err != nil {
			require.Nil(t, c)
			return
		}
		if c != nil {
			require.True(t, bytes.HasPrefix(out, []byte("HTTP/1.1 101 Switching Protocols\r\n")))
			_, _ = io.Copy(io.Discard, c)
		}
	})
}
