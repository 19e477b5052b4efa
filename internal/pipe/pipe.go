// Package pipe provides an in-memory, buffered, full-duplex net.Conn pair.
// Unlike net.Pipe, a Write does not wait for the peer to Read: each
// direction has its own buffer, so both ends can write at once without
// lock-step. Each direction holds at most Limit bytes; a writer beyond that
// waits (bounded by its write deadline), which is how the broker's slow
// consumer policy sees a reader that does not keep up.
package pipe

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Limit is the most bytes buffered in one direction: 4 MiB.
const Limit = 4 << 20

// addr is the address of both ends of a pipe.
type addr struct{}

func (addr) Network() string { return "pipe" }
func (addr) String() string  { return "in-process" }

// half is one direction of the pipe.
type half struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte // buf[r:] is unread; the array is reused once drained
	r      int
	closed bool // no more writes: reader gets io.EOF once drained
}

// keepCap is the largest buffer kept for reuse once drained, in bytes: a
// busy pipe keeps its buffer (at most Limit plus one write) instead of
// growing a new one after every drain.
const keepCap = 2 * Limit

// unread returns the number of buffered bytes.
func (h *half) unread() int { return len(h.buf) - h.r }

func newHalf() *half {
	h := &half{}
	h.cond = sync.NewCond(&h.mu)
	return h
}

// Conn is one end of a pipe.
type Conn struct {
	in, out *half
	rd, wd  deadline
	once    sync.Once
}

// New returns the two ends of a new pipe.
func New() (*Conn, *Conn) {
	a, b := newHalf(), newHalf()
	ca := &Conn{in: a, out: b}
	cb := &Conn{in: b, out: a}
	ca.rd.init(a)
	ca.wd.init(b)
	cb.rd.init(b)
	cb.wd.init(a)
	return ca, cb
}

// Read reads buffered bytes, waiting for some if there are none.
func (c *Conn) Read(p []byte) (int, error) {
	h := c.in
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.unread() == 0 {
		if h.closed {
			return 0, io.EOF
		}
		if c.rd.expired() {
			return 0, os.ErrDeadlineExceeded
		}
		h.cond.Wait()
	}
	n := copy(p, h.buf[h.r:])
	h.r += n
	if h.r == len(h.buf) {
		h.r = 0
		h.buf = h.buf[:0]
		if cap(h.buf) > keepCap {
			h.buf = nil
		}
	}
	h.cond.Broadcast() // writers waiting for room
	return n, nil
}

// Write buffers p, waiting while the direction holds Limit bytes.
func (c *Conn) Write(p []byte) (int, error) {
	h := c.out
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for len(p) > 0 {
		if h.closed {
			return n, net.ErrClosed
		}
		if c.wd.expired() {
			return n, os.ErrDeadlineExceeded
		}
		room := Limit - h.unread()
		if room <= 0 {
			h.cond.Wait()
			continue
		}
		k := min(room, len(p))
		if h.r > 0 && len(h.buf)+k > cap(h.buf) {
			// Move the unread bytes to the front before growing.
			n := copy(h.buf, h.buf[h.r:])
			h.buf, h.r = h.buf[:n], 0
		}
		h.buf = append(h.buf, p[:k]...)
		p = p[k:]
		n += k
		h.cond.Broadcast()
	}
	return n, nil
}

// Close closes both directions: the peer reads what was written, then
// io.EOF; further writes fail on both ends.
func (c *Conn) Close() error {
	c.once.Do(func() {
		for _, h := range []*half{c.in, c.out} {
			h.mu.Lock()
			h.closed = true
			if h == c.in {
				h.buf, h.r = nil, 0
			}
			h.cond.Broadcast()
			h.mu.Unlock()
		}
		c.rd.stop()
		c.wd.stop()
	})
	return nil
}

// CloseWrite ends this end's output: the peer reads what was written, then
// io.EOF. This end can still read.
func (c *Conn) CloseWrite() error {
	h := c.out
	h.mu.Lock()
	h.closed = true
	h.cond.Broadcast()
	h.mu.Unlock()
	return nil
}

// LocalAddr returns the in-process address.
func (c *Conn) LocalAddr() net.Addr { return addr{} }

// RemoteAddr returns the in-process address.
func (c *Conn) RemoteAddr() net.Addr { return addr{} }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline; zero means none.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline sets the write deadline; zero means none.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline wakes the waiters of a half when it passes.
type deadline struct {
	h     *half
	mu    sync.Mutex
	t     time.Time
	timer *time.Timer
}

func (d *deadline) init(h *half) { d.h = h }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = t
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	d.timer = time.AfterFunc(max(wait, 0), func() {
		d.h.mu.Lock()
		d.h.cond.Broadcast()
		d.h.mu.Unlock()
	})
}

func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.t.IsZero() && !time.Now().Before(d.t)
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
