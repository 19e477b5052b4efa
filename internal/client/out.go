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
// appended into chunks and written with vectored writes, so a large backlog
// never needs one large contiguous buffer.
const chunkSize = 32 << 10

// maxWriteChunks is the most chunks handed to one write (64 KiB). Pending
// bytes fall after every write, so they never overstate what is queued by
// more than this: a long backlog is written in steps, not in one call that
// returns only once the peer has read nearly all of it.
const maxWriteChunks = 2

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

func getChunk() []byte { return chunkPool.Get().(*[chunkSize]byte)[:0] }

func putChunk(b []byte) {
	if cap(b) == chunkSize {
		chunkPool.Put((*[chunkSize]byte)(b[:chunkSize]))
	}
}

// appendLocked queues p for writing, whatever is already pending. c.mu
// must be held. It copies p. Only bounded output uses it directly (the
// INFO that opens a connection, the -ERR that closes it); everything else
// goes through queueLocked or enqueueMsg, which enforce MaxPending.
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

// queueLocked queues p unless c is closing or p would take its pending
// output past MaxPending. In that case c starts closing as a slow consumer
// and queueLocked returns false: the caller must call c.cutSlow once it
// has released c.mu. c.mu must be held.
func (c *Client) queueLocked(p []byte) (ok, cut bool) {
	if c.closing {
		return false, false
	}
	if c.pending+int64(len(p)) > c.cfg.MaxPending {
		c.closeLocked("", transport.SlowConsumerPending, false)
		return false, true
	}
	c.appendLocked(p)
	return true, false
}

// cutSlow finishes cutting off c as a slow consumer once queueLocked or
// enqueueMsg has marked it closing: it logs the event (once: only the
// goroutine that marked it gets here) and closes the socket.
func (c *Client) cutSlow() {
	c.log.Warn("slow consumer: pending bytes exceeded", "max_pending", c.cfg.MaxPending)
	c.closeNow()
	c.signal()
}

// Producer flow control. A receiver past stallAt of its MaxPending is
// lagging: a producer about to queue more for it waits for its writer to
// bring it back under (or for the wait to time out) before queueing, so
// that a burst slows its producer instead of cutting the receiver off. The
// wait is bounded per read of the producer, whatever the number of
// receivers: a receiver that stopped reading holds each read of each of
// its producers back for at most stallPerRead, until MaxPending or the
// write deadline cuts it off; from then on it slows nobody.
//
// A receiver whose writer has been blocked in one write for stuckAfter is
// not draining at all: producers stop waiting for it at once (nats-server
// keeps waiting for it on every read until it is cut off).
const (
	stallPerRead = 10 * time.Millisecond
	stuckAfter   = 100 * time.Millisecond
)

// draining reports whether c's writer is making progress: idle, or in a
// write that started less than stuckAfter ago.
func (c *Client) draining() bool {
	t := c.writing.Load()
	return t == 0 || time.Since(time.Unix(0, t)) < stuckAfter
}

// stallAt is the pending level, in bytes, past which c's producers wait:
// three quarters of MaxPending, as nats-server.
func (c *Client) stallAt() int64 { return c.cfg.MaxPending / 4 * 3 }

// stallChanLocked returns the channel c's writer closes when c is no
// longer lagging (or closes). c.mu must be held.
func (c *Client) stallChanLocked() chan struct{} {
	if c.stall == nil {
		c.stall = make(chan struct{})
	}
	return c.stall
}

// releaseStallLocked wakes the producers waiting for c, if any. c.mu must
// be held.
func (c *Client) releaseStallLocked() {
	if c.stall != nil {
		close(c.stall)
		c.stall = nil
	}
}

// waitFor makes c, a producer on its read loop, wait until rc stops
// lagging (ch closes) or c's stall budget for this read is spent. rc has
// been signalled.
func (c *Client) waitFor(ch <-chan struct{}) {
	left := stallPerRead - c.stalled
	if left <= 0 {
		return
	}
	if c.stallTmr == nil {
		c.stallTmr = time.NewTimer(left)
	} else {
		c.stallTmr.Reset(left)
	}
	start := time.Now()
	select {
	case <-ch:
	case <-c.stallTmr.C:
	}
	c.stallTmr.Stop()
	c.stalled += time.Since(start)
}

// writeLoop is the only goroutine that writes to the connection. Each turn
// takes at most maxWriteChunks chunks from the front of the queue, writes
// them, and only then takes pending down by what was written.
func (c *Client) writeLoop() {
	defer close(c.done)
	var batch, written net.Buffers // what is being written; its chunks, for the pool
	for range c.wake {
		// A transport with output of its own (a websocket pong) writes it
		// on the first turn even when there is no data.
		first := true
		for {
			c.mu.Lock()
			k := min(len(c.out), maxWriteChunks)
			batch = append(batch[:0], c.out[:k]...)
			written = append(written[:0], c.out[:k]...)
			rest := copy(c.out, c.out[k:])
			clear(c.out[rest:])
			c.out = c.out[:rest]
			more := rest > 0
			closing, flush, reason := c.closing, c.flushOut, c.reason
			c.mu.Unlock()

			var err error
			if (len(batch) > 0 || (first && c.bw != nil)) && (!closing || flush) {
				c.writing.Store(time.Now().UnixNano())
				err = c.write(batch)
				c.writing.Store(0)
			}
			first = false
			var n int64
			for i, b := range written {
				n += int64(len(b))
				putChunk(b)
				written[i] = nil
			}
			clear(batch[:cap(batch)])
			c.mu.Lock()
			c.pending -= n
			if c.pending <= c.stallAt() || c.closing {
				c.releaseStallLocked()
			}
			c.mu.Unlock()

			if err != nil && !closing {
				reason := transport.WriteError
				if errors.Is(err, os.ErrDeadlineExceeded) {
					reason = transport.SlowConsumerDeadline
					c.log.Warn("slow consumer: write deadline exceeded", "write_deadline", c.cfg.WriteDeadline)
				}
				c.closeWith("", reason, false)
				// closeWith signalled us: the next turn closes the connection.
				break
			}
			if closing && (!more || !flush || err != nil) {
				c.closeConn(reason, flush && err == nil)
				return
			}
			if !more {
				break
			}
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
