package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/transport"
)

func closePayload(status int, text string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(status)), text...)
}

func TestFrameViolations(t *testing.T) {
	long := make([]byte, 126)
	tests := []struct {
		name   string
		frames [][]byte
		reason string
	}{
		{"rsv2", [][]byte{frame(0x82|0x20, []byte("x"), true)}, "RSV2 and RSV3 must be clear"},
		{"rsv3", [][]byte{frame(0x82|0x10, []byte("x"), true)}, "RSV2 and RSV3 must be clear"},
		{"rsv1 without deflate", [][]byte{frame(0xC2, []byte("x"), true)}, "compressed frame received without negotiated permessage-deflate"},
		{"unmasked", [][]byte{frame(0x82, []byte("x"), false)}, "mask bit missing"},
		{"long ping", [][]byte{frame(0x89, long, true)}, "control frame length bigger than maximum allowed of 125 bytes"},
		{"ping without fin", [][]byte{frame(0x09, nil, true)}, "control frame does not have final bit set"},
		{"new message inside fragmented", [][]byte{frame(0x02, []byte("a"), true), frame(0x82, []byte("b"), true)},
			"new message started before final frame for previous message was received"},
		{"orphan continuation", [][]byte{frame(0x80, []byte("a"), true)}, "invalid continuation frame"},
		{"opcode 3", [][]byte{frame(0x83, nil, true)}, "unknown opcode 3"},
		{"opcode 11", [][]byte{frame(0x8B, nil, true)}, "unknown opcode 11"},
		{"64-bit top bit", [][]byte{{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}}, "invalid 64-bit payload length"},
		{"close 1 byte", [][]byte{frame(0x88, []byte{3}, true)}, "close frame payload cannot be 1 byte"},
		{"close status 999", [][]byte{frame(0x88, closePayload(999, ""), true)}, "invalid close status code 999"},
		{"close status 1005", [][]byte{frame(0x88, closePayload(1005, ""), true)}, "invalid close status code 1005"},
		{"close status 2000", [][]byte{frame(0x88, closePayload(2000, ""), true)}, "invalid close status code 2000"},
		{"close status 5000", [][]byte{frame(0x88, closePayload(5000, ""), true)}, "invalid close status code 5000"},
	}
	e := newEchoEngine()
	_, addr := startServer(t, Config{}, e)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tt.frames...)
			status, text := c.readClose()
			assert.Equal(t, 1002, status)
			assert.Equal(t, tt.reason, text)
			var pe *ProtocolError
			require.ErrorAs(t, <-e.errs, &pe)
			assert.Equal(t, tt.reason, pe.Reason)
			_, err := c.br.ReadByte()
			assert.ErrorIs(t, err, io.EOF, "connection closed after the close frame")
		})
	}
	t.Run("control with rsv1 when compressed", func(t *testing.T) {
		e := newEchoEngine()
		_, addr := startServer(t, Config{Compression: true}, e)
		c := dial(t, addr, "Sec-WebSocket-Extensions: permessage-deflate")
		c.send(frame(0xC9, nil, true))
		_, text := c.readClose()
		assert.Equal(t, "control frame must not be compressed", text)
		c.send() // continuation with rsv1 is checked on a fresh conn
		c2 := dial(t, addr, "Sec-WebSocket-Extensions: permessage-deflate")
		c2.send(frame(0x02, []byte("a"), true), frame(0xC0, []byte("b"), true))
		_, text = c2.readClose()
		assert.Equal(t, "invalid continuation frame", text)
	})
}

func TestControlFrames(t *testing.T) {
	tests := []struct {
		name       string
		send       []byte
		wantStatus int
		wantText   string
	}{
		{"empty close echoed empty", frame(0x88, nil, true), 0, ""},
		{"status echoed", frame(0x88, closePayload(1000, ""), true), 1000, ""},
		{"status and reason echoed", frame(0x88, closePayload(4001, "bye now"), true), 4001, "bye now"},
		{"invalid utf8 reason", frame(0x88, closePayload(1000, "\xff\xfe"), true), 1007, "invalid utf8 body in close frame"},
	}
	e := newEchoEngine()
	_, addr := startServer(t, Config{}, e)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(frame(0x89, []byte("ping-1"), true))
			h, p := c.readFrame()
			require.Equal(t, ws.OpPong, h.OpCode)
			require.Equal(t, "ping-1", string(p))
			// One write: data left unread in the server's socket after its
			// close would make the kernel reset the connection.
			c.send(slices.Concat(frame(0x8A, []byte("unsolicited"), true), tt.send, frame(0x82, []byte("after close"), true)))
			status, text := c.readClose()
			assert.Equal(t, tt.wantStatus, status)
			assert.Equal(t, tt.wantText, text)
			assert.ErrorIs(t, <-e.errs, io.EOF)
			_, err := c.br.ReadByte()
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestFragmentationWithPing(t *testing.T) {
	_, addr := startServer(t, Config{}, newEchoEngine())
	c := dial(t, addr)
	c.send(frame(0x01, []byte("hel"), true), frame(0x89, []byte("p"), true),
		frame(0x00, nil, true), frame(0x00, []byte("lo "), true), frame(0x8A, nil, true), frame(0x80, []byte("world"), true))
	var got []byte
	var pongs int
	for len(got) < len("hello world") {
		h, p := c.readFrame()
		if h.OpCode == ws.OpPong {
			pongs++
			assert.Equal(t, "p", string(p))
			continue
		}
		got = append(got, p...)
	}
	assert.Equal(t, "hello world", string(got))
	assert.Equal(t, 1, pongs)
}

// memConnWith returns a Conn reading the given client bytes.
func memConnWith(in []byte, u upgrade, srv *Server) (*Conn, *memConn) {
	m := &memConn{r: bytes.NewReader(in)}
	return newConn(m, u, srv), m
}

func TestReadSmallBuffers(t *testing.T) {
	payload := []byte(strings.Repeat("0123456789abcdef", 2000))
	tests := []struct {
		name    string
		bufSize int
		in      []byte
	}{
		{"1-byte reads of a 16-bit frame", 1, frame(0x82, payload[:300], true)},
		{"7-byte reads of a 64-bit frame", 7, frame(0x82, payload, true)},
		{"4096-byte reads, three frames", 4096, append(append(frame(0x02, payload[:5000], true), frame(0x00, payload[5000:9000], true)...), frame(0x80, payload[9000:], true)...)},
		{"zero-length frames skipped", 3, append(frame(0x82, nil, true), frame(0x82, payload[:10], true)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := memConnWith(tt.in, upgrade{}, nil)
			var got []byte
			buf := make([]byte, tt.bufSize)
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					require.ErrorIs(t, err, io.EOF)
					break
				}
			}
			want := payload[:len(got)]
			assert.Equal(t, want, got)
			assert.NotEmpty(t, got)
		})
	}
	t.Run("eof inside frame", func(t *testing.T) {
		in := frame(0x82, payload[:100], true)
		c, _ := memConnWith(in[:50], upgrade{}, nil)
		_, err := io.ReadAll(c)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
}

func deflateMsg(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	require.NoError(t, err)
	_, err = w.Write(p)
	require.NoError(t, err)
	require.NoError(t, w.Flush())
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

func noHandoff(net.Conn, transport.Meta) {}

func TestCompressedInbound(t *testing.T) {
	srv, err := NewServer(Config{MaxPayload: 1000}, noHandoff)
	require.NoError(t, err)
	good := []byte(strings.Repeat("PUB a 5\r\nhello\r\n", 50)) // 800 bytes
	z := deflateMsg(t, good)
	bomb := deflateMsg(t, make([]byte, 1<<20))
	// Over MaxPayload in total but under 8x: streamed through ([GAP]).
	big := []byte("PUB a 1000\r\n" + strings.Repeat("x", 1000) + "\r\n" + strings.Repeat("PUB b 5\r\nhello\r\n", 300))
	zbig := deflateMsg(t, big)
	// A valid deflate prefix, then a block of the reserved type 3.
	corruptLate := append(bytes.Clone(z[:len(z)/2]), 0xff, 0xff, 0xff)
	const tooBig, invalid = "Maximum Message Payload Exceeded", "invalid compressed data"
	tests := []struct {
		name       string
		in         []byte
		want       []byte
		wantErr    error
		wantStatus int // of the close frame queued by Read; 0: none
		wantText   string
	}{
		{"single frame", frame(0xC2, z, true), good, io.EOF, 0, ""},
		{"fragmented", append(append(frame(0x42, z[:10], true), frame(0x89, nil, true)...), frame(0x80, z[10:], true)...), good, io.EOF, 0, ""},
		{"then uncompressed", append(frame(0xC2, z, true), frame(0x82, []byte("tail"), true)...), append(bytes.Clone(good), "tail"...), io.EOF, 0, ""},
		{"bigger than max payload, legal ops", frame(0xC2, zbig, true), big, io.EOF, 0, ""},
		{"corrupt", frame(0xC2, []byte{0xff, 0xff, 0xff, 0xff, 0x00}, true), nil, ErrInvalidCompressedData, 1007, invalid},
		{"corrupt after a valid prefix", frame(0xC2, corruptLate, true), nil, ErrInvalidCompressedData, 1007, invalid},
		// Streamed: the bound (8x MaxPayload) is delivered, then the error.
		{"bomb over the inflated bound", frame(0xC2, bomb, true), make([]byte, 8000), ErrMaxPayload, 1009, tooBig},
		{"compressed over 8x max payload", frame(0xC2, make([]byte, 8001), true), nil, ErrMaxPayload, 1009, tooBig},
		{"fragments over 8x max payload", append(frame(0x42, make([]byte, 8000), true), frame(0x80, []byte{1}, true)...), nil, ErrMaxPayload, 1009, tooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m := memConnWith(tt.in, upgrade{compress: true}, srv)
			var got []byte
			buf := make([]byte, 100)
			var rerr error
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					rerr = err
					break
				}
			}
			require.ErrorIs(t, rerr, tt.wantErr)
			if tt.name != "corrupt after a valid prefix" { // some output may precede the error
				assert.True(t, bytes.Equal(tt.want, got), "got %d bytes, want %d", len(got), len(tt.want))
			}
			assert.LessOrEqual(t, cap(c.cbuf), 8*1000+len(inflateTail)+64, "compressed buffer bounded")
			assert.Nil(t, c.zr, "inflater not released")
			assert.Empty(t, m.written(), "Read never writes")
			// The queued close frame wins over the engine's generic reason.
			require.NoError(t, c.CloseWithReason(transport.ReadError))
			want := wantCloseFrame(1001, "Read Error")
			if tt.wantStatus != 0 {
				want = wantCloseFrame(tt.wantStatus, tt.wantText)
			}
			out := m.written()
			require.True(t, bytes.HasSuffix(out, want), "close frame: got % x, want % x", out, want)
			assert.NotContains(t, string(out[:len(out)-len(want)]), "\x88", "one close frame")
		})
	}
}

func TestWriteBuffersFraming(t *testing.T) {
	data := bytes.Repeat([]byte("MSG a 1 7\r\nhello!!\r\n"), 500) // 10000 bytes
	tests := []struct {
		name       string
		u          upgrade
		bufs       [][]byte
		wantSizes  []int
		compressed bool
	}{
		{"one frame", upgrade{}, [][]byte{data[:10], data[10:]}, []int{10000}, false},
		{"browser 4096", upgrade{browser: true}, [][]byte{data[:4000], data[4000:4100], data[4100:]}, []int{4096, 4096, 1808}, false},
		{"small data uncompressed", upgrade{compress: true}, [][]byte{data[:64]}, []int{64}, false},
		{"compressed", upgrade{compress: true}, [][]byte{data[:5000], data[5000:]}, nil, true},
		{"compressed browser", upgrade{compress: true, browser: true}, [][]byte{randomish(20000)}, nil, true},
		{"compressed safari", upgrade{compress: true, browser: true, noCompFrag: true}, [][]byte{randomish(20000)}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m := memConnWith(nil, tt.u, nil)
			var want []byte
			for _, b := range tt.bufs {
				want = append(want, b...)
			}
			n, err := c.WriteBuffers(tt.bufs)
			require.NoError(t, err)
			require.Equal(t, int64(len(want)), n)
			r := bytes.NewReader(m.written())
			var msg []byte
			var sizes []int
			var frames int
			for r.Len() > 0 {
				h, err := ws.ReadHeader(r)
				require.NoError(t, err)
				p := make([]byte, h.Length)
				_, err = io.ReadFull(r, p)
				require.NoError(t, err)
				frames++
				sizes = append(sizes, len(p))
				assert.False(t, h.Masked)
				if tt.compressed {
					assert.Equal(t, frames == 1, h.Rsv1(), "RSV1 only on the first frame")
					if frames == 1 {
						assert.Equal(t, ws.OpBinary, h.OpCode)
					} else {
						assert.Equal(t, ws.OpContinuation, h.OpCode)
					}
				} else {
					assert.True(t, h.Fin)
					assert.Equal(t, ws.OpBinary, h.OpCode)
				}
				msg = append(msg, p...)
				if h.Fin && tt.compressed {
					assert.Equal(t, 0, r.Len(), "one message")
				}
			}
			if tt.compressed {
				fr := flate.NewReader(io.MultiReader(bytes.NewReader(msg), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
				msg, err = io.ReadAll(fr)
				require.NoError(t, err)
				switch {
				case tt.u.browser && !tt.u.noCompFrag:
					assert.Greater(t, frames, 1)
					for _, s := range sizes {
						assert.LessOrEqual(t, s, 4096)
					}
				default:
					assert.Equal(t, 1, frames)
				}
			} else {
				assert.Equal(t, tt.wantSizes, sizes)
			}
			assert.Equal(t, want, msg)
		})
	}
}

// randomish returns n poorly compressible bytes, deterministically.
func randomish(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestCloseWithReason(t *testing.T) {
	long := strings.Repeat("x", 130)
	tests := []struct {
		name       string
		queued     []byte // client bytes read first
		reason     transport.CloseReason
		wantStatus int
		wantText   string
	}{
		{"client closed", nil, transport.ClientClosed, 1000, "Client Closed"},
		{"shutdown", nil, transport.ServerShutdown, 1001, "Server Shutdown"},
		{"stale", nil, transport.StaleConnection, 1001, "Stale Connection"},
		{"parse error gap", nil, transport.ParseError, 1002, "Parse Error"},
		{"auth", nil, transport.AuthenticationFailure, 1008, "Authentication Failure"},
		{"slow consumer", nil, transport.SlowConsumerPending, 1008, "Slow Consumer (Pending Bytes)"},
		{"max payload", nil, transport.MaxPayloadExceeded, 1009, "Maximum Message Payload Exceeded"},
		{"other", nil, transport.CloseReason("Kicked"), 1011, "Kicked"},
		{"truncated", nil, transport.CloseReason(long), 1011, long[:120] + "..."},
		{"echo wins", frame(0x88, closePayload(4000, "bye"), true), transport.ClientClosed, 4000, "bye"},
		{"violation wins", frame(0x82, []byte("x"), false), transport.ReadError, 1002, "mask bit missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m := memConnWith(tt.queued, upgrade{}, nil)
			if tt.queued != nil {
				_, err := c.Read(make([]byte, 10))
				require.Error(t, err)
			}
			require.NoError(t, c.CloseWithReason(tt.reason))
			r := bytes.NewReader(m.written())
			h, err := ws.ReadHeader(r)
			require.NoError(t, err)
			require.Equal(t, ws.OpClose, h.OpCode)
			p := make([]byte, h.Length)
			_, err = io.ReadFull(r, p)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, int(binary.BigEndian.Uint16(p)))
			assert.Equal(t, tt.wantText, string(p[2:]))
			assert.Equal(t, 0, r.Len(), "the close frame is the last frame")
			_, err = c.WriteBuffers([][]byte{[]byte("late")})
			assert.ErrorIs(t, err, ErrCloseSent)
		})
	}
}

func TestPongQueuedNotWritten(t *testing.T) {
	c, m := memConnWith(frame(0x89, []byte("abc"), true), upgrade{}, nil)
	woken := 0
	c.SetWaker(func() { woken++ })
	_, err := c.Read(make([]byte, 10))
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 1, woken)
	assert.Empty(t, m.written())
	_, err = c.WriteBuffers(nil)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x8A, 3, 'a', 'b', 'c'}, m.written())
	assert.True(t, errors.Is(err, nil))
}

// A backlog flushed at once never makes a frame larger than MaxPayload:
// nats.go refuses frames over 8 times the max_payload it was told.
func TestWriteBuffersCapsFrames(t *testing.T) {
	srv, err := NewServer(Config{MaxPayload: 1000}, noHandoff)
	require.NoError(t, err)
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			c, m := memConnWith(nil, upgrade{compress: compress}, srv)
			// Segments of unequal sizes: each frame header must stay its own.
			data := append(randomish(10000), bytes.Repeat([]byte("z"), 700)...)
			_, err := c.WriteBuffers(net.Buffers{data[:3000], data[3000:]})
			require.NoError(t, err)
			r := bytes.NewReader(m.written())
			var got []byte
			messages := 0
			for r.Len() > 0 {
				h, err := ws.ReadHeader(r)
				require.NoError(t, err)
				assert.LessOrEqual(t, h.Length, int64(1000+64), "frame too large")
				p := make([]byte, h.Length)
				_, err = io.ReadFull(r, p)
				require.NoError(t, err)
				require.True(t, h.Fin)
				messages++
				if compress {
					assert.True(t, h.Rsv1())
					fr := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
					p, err = io.ReadAll(fr)
					require.NoError(t, err)
				}
				got = append(got, p...)
			}
			assert.True(t, bytes.Equal(data, got), "payload intact")
			assert.GreaterOrEqual(t, messages, 10)
		})
	}
}

// A peer that pings without reading cannot grow the control queue: only
// the pong for the latest ping is kept.
func TestPingFloodKeepsOnePong(t *testing.T) {
	var in []byte
	for i := range 1000 {
		in = append(in, frame(0x89, []byte(fmt.Sprintf("ping-%04d", i)), true)...)
	}
	c, m := memConnWith(in, upgrade{}, nil)
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	c.mu.Lock()
	queued := len(c.ctrl)
	c.mu.Unlock()
	assert.LessOrEqual(t, queued, 2+len("ping-0999"), "pongs piled up")
	_, err := c.WriteBuffers(nil)
	require.NoError(t, err)
	assert.Equal(t, append([]byte{0x8A, byte(len("ping-0999"))}, "ping-0999"...), m.written())
}
