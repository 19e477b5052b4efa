package websocket

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/wsbroker/broker/transport"
)

// Frame opcodes and header bits (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	bitFin  = 0x80
	bitRsv1 = 0x40
	bitsR23 = 0x30
	bitMask = 0x80

	maxControlPayload = 125
	readBufferSize    = 4096
	// keepBufferCap is the largest compression buffer kept between messages.
	keepBufferCap = 64 << 10
)

// Close status codes (RFC 6455 §7.4.1).
const (
	closeNormal        = 1000
	closeGoingAway     = 1001
	closeProtocolError = 1002
	closeInvalidData   = 1007
	closePolicy        = 1008
	closeTooBig        = 1009
	closeInternal      = 1011
)

// Conn is an upgraded websocket connection seen as a byte stream. It
// implements net.Conn, transport.BuffersWriter, transport.Waker and
// transport.ReasonCloser. A Conn returned by Dial is in client mode: the
// frames it writes are masked (unless no-masking was negotiated) and the
// frames it reads must not be (close 1002 "mask bit set").
//
// Concurrency contract: one goroutine calls Read; one goroutine (the
// engine's write loop) calls Write, WriteBuffers and CloseWithReason;
// SetWaker is called once before the first Read. Close and the deadline
// methods may be called from any goroutine. Control frames produced by
// Read (pong, close echo, close after a violation) are queued under a mutex and
// written by the next WriteBuffers; Read never writes to the socket.
type Conn struct {
	raw net.Conn
	srv *Server // nil when not tracked
	br  *bufio.Reader

	compress   bool
	noMasking  bool // server: inbound may be unmasked; client: outbound is unmasked
	client     bool // client mode (Dial): inbound must be unmasked
	maskOut    bool // client mode with masking: outbound frames are masked
	browser    bool
	noCompFrag bool
	maxPayload int
	maxComp    int
	frameMax   int // largest outbound frame payload, bytes

	// Read side, owned by the reading goroutine.
	hdr       [8]byte
	ctl       [maxControlPayload]byte
	rem       uint64 // payload bytes left in the current uncompressed data frame
	mask      [4]byte
	masked    bool
	maskPos   int
	inMsg     bool // a fragmented message is in progress
	msgComp   bool // the message in progress is compressed
	cbuf      []byte
	inflating inflater
	zr        io.ReadCloser // inflating the message in cbuf; nil when none
	zleft     int           // inflated bytes the message may still produce
	rerr      error

	// Shared between reader, writer and Server, guarded by mu.
	mu          sync.Mutex
	ctrl        []byte // encoded pong frames, written ahead of data
	closeFrame  []byte // pending close frame, written after data
	closeQueued bool   // a close frame is pending or written
	wake        func()

	// Write side, owned by the writing goroutine.
	ctrlW        []byte
	closeWritten bool
	vec          net.Buffers
	hdrs         []byte
	wbuf         []byte
	zbuf         sliceWriter
	mbuf         []byte // client mode: masked copies of outbound frames
	seg          net.Buffers
	one          [1][]byte

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

func newConn(raw net.Conn, u upgrade, srv *Server) *Conn {
	c := &Conn{
		raw:        raw,
		srv:        srv,
		br:         bufio.NewReaderSize(raw, readBufferSize),
		compress:   u.compress,
		noMasking:  u.noMasking,
		browser:    u.browser,
		noCompFrag: u.noCompFrag,
		maxPayload: DefaultMaxPayload,
		done:       make(chan struct{}),
	}
	if srv != nil {
		c.maxPayload = srv.cfg.MaxPayload
	}
	c.maxComp = compressedCap(c.maxPayload)
	c.frameMax = c.maxPayload
	return c
}

// Read reads the next bytes of the message stream into p. Uncompressed
// payload is read directly into p and unmasked there; a frame larger than
// p is delivered over several Reads. A compressed message is buffered
// whole (at most min(8*MaxPayload, 64 MiB) compressed bytes) and then
// inflated straight into p, Read by Read, so memory never holds the
// inflated message; it may inflate to the same bound in total. The
// engine's parser applies max_payload to each operation. ([GAP] nats-server
// caps a whole inflated message at max_payload, so a compressed message
// carrying one legal max-size PUB plus its control line is refused.) Control frames
// are handled here: pings are answered and closes echoed through the
// control queue (see SetWaker). After a close frame Read returns io.EOF.
// Every other failure of the peer queues the connection's close frame
// before Read returns the error, so that frame is the one sent whatever
// reason the engine closes with: a framing violation returns a
// *ProtocolError (close 1002 with its reason); a compressed message over
// either bound returns ErrMaxPayload (close 1009 "Maximum Message Payload
// Exceeded"); corrupt deflate data returns an error wrapping
// ErrInvalidCompressedData and the inflater's error (close 1007 "invalid
// compressed data").
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if c.zr != nil {
			n, err := c.zr.Read(p[:min(len(p), c.zleft+1)])
			c.zleft -= n
			switch {
			case c.zleft < 0:
				c.endInflate()
				c.rerr = c.tooBig()
				return 0, c.rerr
			case err == io.EOF:
				c.endInflate()
			case err != nil:
				c.endInflate()
				c.rerr = c.corrupt(err)
				return 0, c.rerr
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		if c.rem > 0 {
			if uint64(len(p)) > c.rem {
				p = p[:c.rem]
			}
			n, err := c.br.Read(p)
			if n > 0 {
				if c.masked {
					ws.Cipher(p[:n], c.mask, c.maskPos)
					c.maskPos += n
				}
				c.rem -= uint64(n)
				return n, nil
			}
			if err != nil {
				c.rerr = unexpected(err)
				return 0, c.rerr
			}
			continue
		}
		if err := c.nextFrame(); err != nil {
			c.rerr = err
			return 0, err
		}
	}
}

// unexpected turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readFull reads len(b) bytes of a frame that has begun.
func (c *Conn) readFull(b []byte) error {
	if _, err := io.ReadFull(c.br, b); err != nil {
		return unexpected(err)
	}
	return nil
}

// nextFrame reads and validates one frame header (spec §3.1) and handles
// control frames and compressed data frames entirely.
func (c *Conn) nextFrame() error {
	if _, err := io.ReadFull(c.br, c.hdr[:2]); err != nil {
		return err // io.EOF between frames: the peer went away
	}
	b0, b1 := c.hdr[0], c.hdr[1]
	op := b0 & 0x0F
	fin := b0&bitFin != 0
	rsv1 := b0&bitRsv1 != 0
	if b0&bitsR23 != 0 {
		return c.protocolError("RSV2 and RSV3 must be clear")
	}
	if rsv1 && !c.compress {
		return c.protocolError("compressed frame received without negotiated permessage-deflate")
	}
	masked := b1&bitMask != 0
	if c.client {
		if masked {
			return c.protocolError("mask bit set")
		}
	} else if !masked && !c.noMasking {
		return c.protocolError("mask bit missing")
	}
	length := uint64(b1 & 0x7F)
	control := false
	switch op {
	case opClose, opPing, opPong:
		control = true
		if length > maxControlPayload {
			return c.protocolError("control frame length bigger than maximum allowed of 125 bytes")
		}
		if !fin {
			return c.protocolError("control frame does not have final bit set")
		}
		if rsv1 {
			return c.protocolError("control frame must not be compressed")
		}
	case opText, opBinary:
		if c.inMsg {
			return c.protocolError("new message started before final frame for previous message was received")
		}
		c.inMsg = !fin
		c.msgComp = rsv1
	case opContinuation:
		if !c.inMsg || rsv1 {
			return c.protocolError("invalid continuation frame")
		}
		c.inMsg = !fin
	default:
		return c.protocolError(fmt.Sprintf("unknown opcode %d", op))
	}
	switch length {
	case 126:
		if err := c.readFull(c.hdr[:2]); err != nil {
			return err
		}
		length = uint64(binary.BigEndian.Uint16(c.hdr[:2]))
	case 127:
		if err := c.readFull(c.hdr[:8]); err != nil {
			return err
		}
		length = binary.BigEndian.Uint64(c.hdr[:8])
		if length>>63 != 0 {
			return c.protocolError("invalid 64-bit payload length")
		}
	}
	c.masked = masked
	c.maskPos = 0
	if masked {
		if err := c.readFull(c.mask[:]); err != nil {
			return err
		}
	}
	if control {
		payload := c.ctl[:length]
		if err := c.readFull(payload); err != nil {
			return err
		}
		if masked {
			ws.Cipher(payload, c.mask, 0)
		}
		return c.control(op, payload)
	}
	if !c.msgComp {
		c.rem = length
		return nil
	}
	if uint64(len(c.cbuf))+length > uint64(c.maxComp) {
		return c.tooBig()
	}
	start := len(c.cbuf)
	c.cbuf = growLen(c.cbuf, int(length))
	if err := c.readFull(c.cbuf[start:]); err != nil {
		return err
	}
	if masked {
		ws.Cipher(c.cbuf[start:], c.mask, 0)
	}
	if c.inMsg {
		return nil
	}
	zr, err := c.inflating.start(c.cbuf)
	if err != nil {
		return err
	}
	c.zr, c.zleft = zr, c.maxComp
	return nil
}

// endInflate releases the inflater and the compressed message.
func (c *Conn) endInflate() {
	c.inflating.stop(c.zr)
	c.zr = nil
	c.cbuf = c.cbuf[:0]
	if cap(c.cbuf) > keepBufferCap {
		c.cbuf = nil
	}
}

// growLen extends b by n bytes, reallocating only when needed.
func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// control handles a ping, pong or close frame (spec §3.2).
func (c *Conn) control(op byte, payload []byte) error {
	switch op {
	case opPing:
		c.queuePong(payload)
	case opClose:
		if len(payload) == 1 {
			return c.protocolError("close frame payload cannot be 1 byte")
		}
		if len(payload) == 0 {
			c.queueClose(c.appendControl(nil, bitFin|opClose, nil))
			return io.EOF
		}
		status := int(binary.BigEndian.Uint16(payload))
		if !validCloseStatus(status) {
			return c.protocolError(fmt.Sprintf("invalid close status code %d", status))
		}
		body := payload[2:]
		if !utf8.Valid(body) {
			c.queueClose(c.closeFrameFor(closeInvalidData, "invalid utf8 body in close frame"))
		} else {
			c.queueClose(c.appendControl(nil, bitFin|opClose, payload))
		}
		return io.EOF
	}
	return nil
}

// validCloseStatus reports whether a received close status is allowed.
func validCloseStatus(s int) bool {
	switch {
	case s < 1000 || s >= 5000:
		return false
	case s == 1004 || s == 1005 || s == 1006 || s == 1015:
		return false
	case s >= 1016 && s <= 2999:
		return false
	}
	return true
}

// protocolError queues a 1002 close frame with reason and returns the
// matching *ProtocolError.
func (c *Conn) protocolError(reason string) error {
	c.queueClose(c.closeFrameFor(closeProtocolError, reason))
	return &ProtocolError{Reason: reason}
}

// tooBig queues close 1009 "Maximum Message Payload Exceeded" (the text
// nats-server sends with 1009) for a compressed message over its bounds
// and returns ErrMaxPayload.
func (c *Conn) tooBig() error {
	c.queueClose(c.closeFrameFor(closeTooBig, string(transport.MaxPayloadExceeded)))
	return ErrMaxPayload
}

// corrupt queues close 1007 "invalid compressed data" for a compressed
// message the inflater refused with err, and returns err wrapped in
// ErrInvalidCompressedData.
func (c *Conn) corrupt(err error) error {
	c.queueClose(c.closeFrameFor(closeInvalidData, reasonInvalidCompressed))
	return fmt.Errorf("%w: %w", ErrInvalidCompressedData, err)
}

// LocalAddr returns the local address of the underlying connection.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the peer address of the underlying connection.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets the read and write deadlines of the underlying
// connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline sets the read deadline of the underlying connection.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline of the underlying connection.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// Close closes the underlying connection without writing a close frame
// (use CloseWithReason from the write loop for that). It is safe to call
// from any goroutine and more than once; later calls return the first
// call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.raw.Close()
		close(c.done)
		if c.srv != nil {
			c.srv.untrack(c)
		}
	})
	return c.closeErr
}
