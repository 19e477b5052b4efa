package websocket

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsbroker/broker/transport"
)

const (
	// browserFrameMax is the largest payload of one outbound frame for
	// browser clients (spec §3.4).
	browserFrameMax = 4096
	// compressThreshold: outbound data of at most this many bytes is sent
	// uncompressed even when compression was negotiated (spec §3.5).
	compressThreshold = 64
	// closeWriteTimeout bounds writing the final frames in CloseWithReason.
	closeWriteTimeout = time.Second
	// maxCloseReason is the longest close reason text sent (RFC 6455 §5.5).
	maxCloseReason = 123
)

// SetWaker registers wake, called (from the reading goroutine, or from
// Server.Shutdown) when the connection has control frames of its own to
// write; the engine's write loop must then call WriteBuffers, possibly with
// no data. wake must not block.
func (c *Conn) SetWaker(wake func()) {
	c.mu.Lock()
	c.wake = wake
	c.mu.Unlock()
}

// queuePong queues a pong echoing payload and wakes the writer. Only the
// pong for the latest ping is kept (RFC 6455 §5.5.3 allows it), so a peer
// that pings without reading cannot grow the queue. Pongs are dropped once
// a close frame is pending.
func (c *Conn) queuePong(payload []byte) {
	c.mu.Lock()
	if c.closeQueued {
		c.mu.Unlock()
		return
	}
	c.ctrl = c.appendControl(c.ctrl[:0], bitFin|opPong, payload)
	wake := c.wake
	c.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// queueClose queues frame as the connection's close frame, unless one is
// already pending or written, and wakes the writer.
func (c *Conn) queueClose(frame []byte) {
	c.mu.Lock()
	if c.closeQueued {
		c.mu.Unlock()
		return
	}
	c.closeQueued = true
	c.closeFrame = frame
	wake := c.wake
	c.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// requestShutdown queues close 1001 "Server Shutdown" (Server.Shutdown).
func (c *Conn) requestShutdown() {
	c.queueClose(c.closeFrameFor(closeGoingAway, string(transport.ServerShutdown)))
}

// takeControl returns the queued pong frames and the pending close frame.
func (c *Conn) takeControl() (ctrl, closing []byte) {
	c.mu.Lock()
	c.ctrl, c.ctrlW = c.ctrlW[:0], c.ctrl
	closing, c.closeFrame = c.closeFrame, nil
	c.mu.Unlock()
	return c.ctrlW, closing
}

// Write writes p as one message; it is WriteBuffers with one buffer.
func (c *Conn) Write(p []byte) (int, error) {
	c.one[0] = p
	n, err := c.WriteBuffers(c.one[:])
	c.one[0] = nil
	return int(n), err
}

// WriteBuffers writes the queued control frames, then all of bufs as one
// binary message, then a pending close frame, in one vectored write.
// Browser clients get uncompressed data as frames of at most 4096 payload
// bytes, each a complete message. With compression negotiated, data over
// 64 bytes is deflated into one RSV1 message (fragmented into 4096-byte
// frames for browsers other than Safari). In client mode each frame is
// masked with a fresh key, in a copy: bufs are not modified. bufs may be
// empty. It returns the number of data bytes written, and ErrCloseSent
// for data after a close frame.
func (c *Conn) WriteBuffers(bufs net.Buffers) (int64, error) {
	ctrl, closing := c.takeControl()
	var total int64
	for _, b := range bufs {
		total += int64(len(b))
	}
	if c.closeWritten {
		if total > 0 {
			return 0, ErrCloseSent
		}
		return 0, nil
	}
	vec := c.vec[:0]
	c.hdrs = c.hdrs[:0]
	c.mbuf = c.mbuf[:0]
	if len(ctrl) > 0 {
		vec = append(vec, ctrl)
	}
	if total > 0 {
		var err error
		if vec, err = c.appendData(vec, bufs, int(total)); err != nil {
			return 0, err
		}
	}
	if closing != nil {
		vec = append(vec, closing)
		c.closeWritten = true
	}
	err := c.writeVec(vec)
	if cap(c.mbuf) > keepBufferCap {
		c.mbuf = nil
	}
	if err != nil {
		return 0, err
	}
	return total, nil
}

// appendData appends the frames carrying bufs (total bytes) to vec. No
// frame is larger than c.frameMax (nats.go refuses frames over 8 times the
// max_payload it was told, and a backlog flushed at once could exceed it):
// uncompressed data is cut into complete messages of at most frameMax
// bytes (4096 for browsers); compressed data is deflated in segments of at
// most frameMax input bytes, one message each.
func (c *Conn) appendData(vec net.Buffers, bufs net.Buffers, total int) (net.Buffers, error) {
	if !c.compress || total <= compressThreshold {
		max := c.frameMax
		if c.browser {
			max = browserFrameMax
		}
		return c.appendFrames(vec, bufs, total, max, false), nil
	}
	c.zbuf.b = c.zbuf.b[:0]
	defer func() {
		if cap(c.zbuf.b) > keepBufferCap {
			c.zbuf.b = nil // the frames keep the array alive until written
		}
	}()
	for seg, rest := cutBuffers(bufs, c.frameMax, c.seg[:0]); len(seg) > 0; seg, rest = cutBuffers(rest, c.frameMax, seg[:0]) {
		z, err := c.deflate(seg)
		if err != nil {
			return vec, err
		}
		one := [1][]byte{z}
		fragment := len(z)
		if c.browser && !c.noCompFrag {
			fragment = browserFrameMax
		}
		vec = c.appendFrames(vec, one[:], len(z), max(min(fragment, len(z)), 1), true)
	}
	return vec, nil
}

// cutBuffers returns, in seg, the slices of bufs holding its first max
// bytes (splitting a buffer if needed), and the remaining buffers.
func cutBuffers(bufs net.Buffers, max int, seg net.Buffers) (net.Buffers, net.Buffers) {
	n := 0
	for len(bufs) > 0 && n < max {
		b := bufs[0]
		if n+len(b) > max {
			k := max - n
			seg = append(seg, b[:k])
			bufs = append(net.Buffers{b[k:]}, bufs[1:]...)
			return seg, bufs
		}
		seg = append(seg, b)
		n += len(b)
		bufs = bufs[1:]
	}
	return seg, bufs
}

// appendFrames appends headers and payload slices of bufs (total bytes) cut
// into frames of at most max bytes. Uncompressed: every frame is a complete
// binary message. Compressed: one fragmented message, RSV1 on the first
// frame, FIN on the last.
func (c *Conn) appendFrames(vec net.Buffers, bufs net.Buffers, total, max int, compressed bool) net.Buffers {
	nframes := (total + max - 1) / max
	if c.maskOut {
		return c.appendMaskedFrames(vec, bufs, total, max, nframes, compressed)
	}
	// Headers accumulate in c.hdrs over one WriteBuffers: earlier frames of
	// this flush still point into it. Growing it leaves them on the old
	// array, which stays valid.
	hdrs := c.hdrs
	if cap(hdrs)-len(hdrs) < 10*nframes {
		hdrs = make([]byte, 0, 10*nframes)
	}
	bi, off := 0, 0
	for i := 0; i < nframes; i++ {
		n := min(max, total-i*max)
		b0 := dataB0(i, nframes, compressed)
		start := len(hdrs)
		hdrs = appendHeader(hdrs, b0, n)
		vec = append(vec, hdrs[start:])
		for n > 0 {
			b := bufs[bi][off:]
			if len(b) > n {
				vec = append(vec, b[:n])
				off += n
				break
			}
			if len(b) > 0 {
				vec = append(vec, b)
			}
			n -= len(b)
			bi, off = bi+1, 0
		}
	}
	c.hdrs = hdrs
	return vec
}

// dataB0 returns the first header byte of frame i of nframes (see
// appendFrames).
func dataB0(i, nframes int, compressed bool) byte {
	if !compressed {
		return bitFin | opBinary
	}
	var b0 byte
	if i == 0 {
		b0 = opBinary | bitRsv1
	}
	if i == nframes-1 {
		b0 |= bitFin
	}
	return b0
}

// appendMaskedFrames is appendFrames in client mode with masking: each
// frame (header, fresh mask key, payload) is copied into c.mbuf and masked
// there, since the caller's buffers must not be modified.
func (c *Conn) appendMaskedFrames(vec net.Buffers, bufs net.Buffers, total, max, nframes int, compressed bool) net.Buffers {
	// As c.hdrs: frames already in vec keep the old array if mbuf grows.
	mb := c.mbuf
	if need := total + 14*nframes; cap(mb)-len(mb) < need {
		mb = make([]byte, 0, need)
	}
	bi, off := 0, 0
	for i := 0; i < nframes; i++ {
		n := min(max, total-i*max)
		key := newMaskKey()
		start := len(mb)
		mb = append(appendHeaderMask(mb, dataB0(i, nframes, compressed), bitMask, n), key[:]...)
		pstart := len(mb)
		for n > 0 {
			b := bufs[bi][off:]
			if len(b) > n {
				mb = append(mb, b[:n]...)
				off += n
				break
			}
			mb = append(mb, b...)
			n -= len(b)
			bi, off = bi+1, 0
		}
		ws.Cipher(mb[pstart:], key, 0)
		vec = append(vec, mb[start:])
	}
	c.mbuf = mb
	return vec
}

// newMaskKey returns a fresh random masking key (RFC 6455 §5.3).
func newMaskKey() [4]byte {
	var k [4]byte
	rand.Read(k[:]) // never fails (crypto/rand, Go 1.24+)
	return k
}

// appendControl appends a complete control frame with payload: masked
// with a fresh key in client mode with masking, unmasked otherwise.
func (c *Conn) appendControl(b []byte, b0 byte, payload []byte) []byte {
	if !c.maskOut {
		return appendFrame(b, b0, payload)
	}
	key := newMaskKey()
	b = append(appendHeaderMask(b, b0, bitMask, len(payload)), key[:]...)
	start := len(b)
	b = append(b, payload...)
	ws.Cipher(b[start:], key, 0)
	return b
}

// closeFrameFor encodes a close frame as closeFrame does, masked when
// appendControl masks.
func (c *Conn) closeFrameFor(status int, text string) []byte {
	if !c.maskOut {
		return closeFrame(status, text)
	}
	if len(text) > maxCloseReason {
		text = text[:maxCloseReason-3] + "..."
	}
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(text)), uint16(status))
	return c.appendControl(nil, bitFin|opClose, append(payload, text...))
}

// writeVec writes vec: vectored (writev) on TCP, coalesced into one write
// otherwise (TLS: one record instead of one per buffer).
func (c *Conn) writeVec(vec net.Buffers) error {
	defer func() {
		clear(vec[:cap(vec)])
		c.vec = vec[:0]
	}()
	if len(vec) == 0 {
		return nil
	}
	if _, ok := c.raw.(*net.TCPConn); ok {
		v := vec
		_, err := v.WriteTo(c.raw)
		return err
	}
	w := c.wbuf[:0]
	for _, b := range vec {
		w = append(w, b...)
	}
	_, err := c.raw.Write(w)
	if cap(w) <= keepBufferCap {
		c.wbuf = w[:0]
	} else {
		c.wbuf = nil
	}
	return err
}

// Finish writes the queued control frames and the close frame, exactly as
// CloseWithReason, then half-closes the underlying connection (when it
// supports CloseWrite) instead of closing it: the engine may still Read
// (the peer's close reply, or data it sent before seeing ours) and calls
// Close afterwards.
func (c *Conn) Finish(reason transport.CloseReason) error {
	c.writeClose(reason)
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// CloseWithReason writes the queued control frames and a close frame whose
// status is mapped from reason (CloseStatus) with reason as its text (at
// most 123 bytes), then closes the connection. If a close frame was already
// queued (echo of the peer's close, 1002 after a violation, 1001 from
// Shutdown) that frame is written instead; if one was already written,
// nothing is. The write is bounded by one second.
func (c *Conn) CloseWithReason(reason transport.CloseReason) error {
	c.writeClose(reason)
	return c.Close()
}

// writeClose writes the queued control frames and the close frame, once.
func (c *Conn) writeClose(reason transport.CloseReason) {
	ctrl, closing := c.takeControl()
	if !c.closeWritten {
		if closing == nil {
			c.mu.Lock()
			queued := c.closeQueued
			c.closeQueued = true
			c.mu.Unlock()
			if !queued {
				closing = c.closeFrameFor(CloseStatus(reason), string(reason))
			}
		}
		vec := c.vec[:0]
		if len(ctrl) > 0 {
			vec = append(vec, ctrl)
		}
		if closing != nil {
			vec = append(vec, closing)
		}
		c.closeWritten = true
		c.raw.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		_ = c.writeVec(vec)
	}
}

// CloseStatus returns the websocket close status sent for reason (spec
// §3.3): 1000 Client Closed; 1001 Server Shutdown, Write Error, Read
// Error, Stale Connection; 1002 Parse Error, Protocol Violation, Bad Client
// Protocol Version ([GAP]: nats-server sends 1001 Read Error on parse
// errors); 1008 authentication, slow consumer and limit reasons; 1009
// Maximum Message Payload Exceeded; 1011 anything else.
func CloseStatus(reason transport.CloseReason) int {
	switch reason {
	case transport.ClientClosed:
		return closeNormal
	case transport.ServerShutdown, transport.WriteError, transport.ReadError, transport.StaleConnection:
		return closeGoingAway
	case transport.ParseError, transport.ProtocolViolation, transport.BadClientProtocol:
		return closeProtocolError
	case transport.AuthenticationTimeout, transport.AuthenticationFailure, transport.AuthenticationExpired,
		transport.SlowConsumerPending, transport.SlowConsumerDeadline, "Maximum Account Connections Exceeded",
		transport.MaxConnectionsExceeded, transport.MaxControlLineExceeded, transport.MaxSubscriptionsExceeded,
		transport.MissingAccount, transport.CredentialsRevoked:
		return closePolicy
	case transport.MaxPayloadExceeded:
		return closeTooBig
	}
	return closeInternal
}

// appendHeader appends an unmasked frame header.
func appendHeader(b []byte, b0 byte, n int) []byte {
	return appendHeaderMask(b, b0, 0, n)
}

// appendHeaderMask appends a frame header whose second byte carries mask
// (0 or bitMask); the caller appends the key when mask is set.
func appendHeaderMask(b []byte, b0, mask byte, n int) []byte {
	switch {
	case n <= 125:
		return append(b, b0, mask|byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, b0, mask|126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, b0, mask|127), uint64(n))
}

// appendFrame appends a complete unmasked frame.
func appendFrame(b []byte, b0 byte, payload []byte) []byte {
	return append(appendHeader(b, b0, len(payload)), payload...)
}

// closeFrame encodes a close frame with status and text, the text cut to
// 123 bytes (120 + "...").
func closeFrame(status int, text string) []byte {
	if len(text) > maxCloseReason {
		text = text[:maxCloseReason-3] + "..."
	}
	b := appendHeader(make([]byte, 0, 4+2+len(text)), bitFin|opClose, 2+len(text))
	b = binary.BigEndian.AppendUint16(b, uint16(status))
	return append(b, text...)
}
