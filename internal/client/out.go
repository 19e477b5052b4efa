package client

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/wsbroker/broker/transport"
)

// chunkSize is the size of one pooled output chunk, in bytes. Output is
// appended into chunks and written with one vectored write per wake-up, so
// a large backlog never needs one large contiguous buffer.
const chunkSize = 32 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

func getChunk() []byte { return chunkPool.Get().(*[chunkSize]byte)[:0] }

func putChunk(b []byte) {
	if cap(b) == chunkSize {
		chunkPool.Put((*[chunkSize]byte)(b[:chunkSize]))
	}
}

// appendLocked queues p for writing. c.mu must be held. It copies p.
func (c *Client) appendLocked(p []byte) {
	c.pending += int64(len(p))
	for len(p) > 0 {
		n := len(c.out)
		if n == 0 || cap(c.out[n-1])-len(c.out[n-1]) == 0 {
			c.out = append(c.out, getChunk())
			n++
		}
		last := c.out[n-1]
		k := copy(last[len(last):cap(last)], p)
		c.out[n-1] = last[:len(last)+k]
		p = p[k:]
	}
}

// writeLoop is the only goroutine that writes to the connection.
func (c *Client) writeLoop() {
	defer close(c.done)
	var (
		batch   net.Buffers // what is being written (consumed by WriteTo)
		written []([]byte)  // the chunks of batch, to return to the pool
	)
	for range c.wake {
		c.mu.Lock()
		batch = append(batch[:0], c.out...)
		written = append(written[:0], c.out...)
		clear(c.out)
		c.out = c.out[:0]
		closing, flush, reason := c.closing, c.flushOut, c.reason
		c.mu.Unlock()

		var err error
		if len(batch) > 0 || c.bw != nil {
			if !closing || flush {
				err = c.write(batch)
			}
		}
		var n int64
		for i, b := range written {
			n += int64(len(b))
			putChunk(b)
			written[i] = nil
		}
		clear(batch[:cap(batch)])
		c.mu.Lock()
		c.pending -= n
		c.mu.Unlock()

		if err != nil && !closing {
			reason := transport.WriteError
			if errors.Is(err, os.ErrDeadlineExceeded) {
				reason = transport.SlowConsumerDeadline
				c.log.Info("slow consumer: write deadline exceeded")
			}
			c.closeWith("", reason, false)
			// closeWith signalled us: the next turn closes the connection.
			continue
		}
		if closing {
			c.closeConn(reason, flush && err == nil)
			return
		}
	}
}

// write writes bufs with one vectored write, bounded by the write deadline.
func (c *Client) write(bufs net.Buffers) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteDeadline)); err != nil {
		return err
	}
	var err error
	if c.bw != nil {
		_, err = c.bw.WriteBuffers(bufs)
	} else {
		_, err = bufs.WriteTo(c.conn)
	}
	return err
}

// lingerTime is how long a graceful close waits for the peer to close its
// side after ours is finished, so that it reads our last bytes (an -ERR)
// rather than losing them to a connection reset.
const lingerTime = 2 * time.Second

// closeConn closes the socket. When graceful, it first tells the peer why
// (a websocket close frame), half-closes, and waits for the read loop to
// see the peer go (or lingerTime).
func (c *Client) closeConn(reason transport.CloseReason, graceful bool) {
	if graceful {
		_ = c.conn.SetWriteDeadline(time.Now().Add(c.cfg.WriteDeadline))
		var err error
		switch conn := c.conn.(type) {
		case transport.Finisher:
			err = conn.Finish(reason)
		case interface{ CloseWrite() error }:
			err = conn.CloseWrite()
		case transport.ReasonCloser:
			_ = conn.CloseWithReason(reason)
			return
		default:
			err = errors.ErrUnsupported
		}
		if err == nil {
			t := time.NewTimer(lingerTime)
			select {
			case <-c.readDone:
			case <-t.C:
			}
			t.Stop()
		}
	}
	_ = c.conn.Close()
}
