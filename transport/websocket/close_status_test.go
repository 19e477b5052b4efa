package websocket

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wantCloseFrame spells out the bytes of an unmasked close frame with a
// short reason: FIN|close, length, status (big-endian), reason.
func wantCloseFrame(status int, reason string) []byte {
	b := []byte{0x88, byte(2 + len(reason)), byte(status >> 8), byte(status)}
	return append(b, reason...)
}

// readCloseFrame reads server frames, discarding data frames, and returns
// the first close frame exactly as received (header and payload).
func (c *client) readCloseFrame() []byte {
	c.t.Helper()
	for {
		hdr := make([]byte, 2, 10)
		_, err := io.ReadFull(c.br, hdr)
		require.NoError(c.t, err)
		require.Zero(c.t, hdr[1]&0x80, "server frames are unmasked")
		n := uint64(hdr[1] & 0x7F)
		switch n {
		case 126:
			hdr = hdr[:4]
			_, err = io.ReadFull(c.br, hdr[2:])
			n = uint64(binary.BigEndian.Uint16(hdr[2:]))
		case 127:
			hdr = hdr[:10]
			_, err = io.ReadFull(c.br, hdr[2:])
			n = binary.BigEndian.Uint64(hdr[2:])
		}
		require.NoError(c.t, err)
		require.Less(c.t, n, uint64(1<<20), "frame length")
		p := make([]byte, n)
		_, err = io.ReadFull(c.br, p)
		require.NoError(c.t, err)
		if hdr[0]&0x0F == opClose {
			return append(hdr, p...)
		}
	}
}

// waitUntracked polls until srv tracks no connection: the server side has
// closed the socket.
func waitUntracked(t *testing.T, srv *Server) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		srv.mu.Lock()
		n := len(srv.conns)
		srv.mu.Unlock()
		if n == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d connections still open", n)
		time.Sleep(time.Millisecond)
	}
}

// A compressed message the transport refuses gets the RFC 6455 status for
// what is wrong with it, not the 1001 "Read Error" the engine closes with:
// 1009 for a message over its bounds, 1007 for corrupt deflate data. The
// transport queues that close frame itself before Read fails, so it wins.
func TestCompressedMessageCloseStatus(t *testing.T) {
	const maxPayload = 1000 // bounds: 8000 bytes compressed or inflated
	tests := []struct {
		name    string
		send    []byte
		wantErr error
		want    []byte
	}{
		{
			// About 1 KiB of deflate data inflating to 1 MiB.
			name:    "inflates past the bound",
			send:    frame(0xC2, deflateMsg(t, make([]byte, 1<<20)), true),
			wantErr: ErrMaxPayload,
			want:    wantCloseFrame(1009, "Maximum Message Payload Exceeded"),
		},
		{
			// Only the header of a frame announcing 8001 compressed bytes:
			// refused before its payload is read (sending the payload
			// would leave it unread and make the kernel reset the socket).
			name:    "compressed size past the bound",
			send:    frame(0xC2, make([]byte, 8001), true)[:2+2+4],
			wantErr: ErrMaxPayload,
			want:    wantCloseFrame(1009, "Maximum Message Payload Exceeded"),
		},
		{
			// BFINAL set, BTYPE 11: a reserved block type.
			name:    "corrupt deflate data",
			send:    frame(0xC2, []byte{0xff, 0xff, 0xff, 0xff, 0x00}, true),
			wantErr: ErrInvalidCompressedData,
			want:    wantCloseFrame(1007, "invalid compressed data"),
		},
		{
			name:    "corrupt deflate data in fragments",
			send:    append(frame(0x42, []byte{0xff, 0xff}, true), frame(0x80, []byte{0xff, 0xff, 0x00}, true)...),
			wantErr: ErrInvalidCompressedData,
			want:    wantCloseFrame(1007, "invalid compressed data"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEchoEngine()
			srv, addr := startServer(t, Config{Compression: true, MaxPayload: maxPayload}, e)
			c := dial(t, addr, "Sec-WebSocket-Extensions: permessage-deflate")
			c.send(tt.send)
			assert.Equal(t, tt.want, c.readCloseFrame())
			select {
			case err := <-e.errs:
				assert.ErrorIs(t, err, tt.wantErr)
			case <-time.After(testTimeout):
				t.Fatal("no read error")
			}
			_, err := c.br.ReadByte()
			assert.ErrorIs(t, err, io.EOF, "connection closed after the close frame")
			waitUntracked(t, srv)
		})
	}
}
