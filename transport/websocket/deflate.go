package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/klauspost/compress/flate"
)

// deflateTail is the empty stored block a sync flush ends with; RFC 7692
// strips it from compressed messages.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// inflateTail restores the stripped tail and adds an empty final block, so
// the inflater reports io.EOF at the end of the message.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

var errBadDeflateTail = errors.New("websocket: deflate: unexpected stream tail")

var (
	flateReaders sync.Pool // io.ReadCloser implementing flate.Resetter
	flateWriters sync.Pool // *flate.Writer at BestSpeed
)

// sliceWriter is an io.Writer appending to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// inflater inflates one message at a time (no context takeover).
type inflater struct {
	src bytes.Reader
	mr  multiSrc
}

// multiSrc reads the message and then the tail, without copying.
type multiSrc struct {
	msg  *bytes.Reader
	tail bytes.Reader
}

func (m *multiSrc) Read(p []byte) (int, error) {
	if m.msg.Len() > 0 {
		return m.msg.Read(p)
	}
	return m.tail.Read(p)
}

func (m *multiSrc) ReadByte() (byte, error) {
	if m.msg.Len() > 0 {
		return m.msg.ReadByte()
	}
	return m.tail.ReadByte()
}

// inflate appends the inflated form of msg (a compressed message without
// its tail) to dst. It never grows dst beyond limit+1 bytes and returns
// ErrMaxPayload as soon as the output exceeds limit bytes.
func (f *inflater) inflate(dst, msg []byte, limit int) ([]byte, error) {
	f.src.Reset(msg)
	f.mr.msg = &f.src
	f.mr.tail.Reset(inflateTail)
	var fr io.ReadCloser
	if v := flateReaders.Get(); v != nil {
		fr = v.(io.ReadCloser)
		if err := fr.(flate.Resetter).Reset(&f.mr, nil); err != nil {
			return dst, err
		}
	} else {
		fr = flate.NewReader(&f.mr)
	}
	defer func() {
		f.mr.msg = nil
		flateReaders.Put(fr)
	}()
	for {
		if len(dst) == cap(dst) {
			want := min(max(2*cap(dst), 4096), limit+1)
			if want <= cap(dst) {
				return dst, ErrMaxPayload
			}
			nb := make([]byte, len(dst), want)
			copy(nb, dst)
			dst = nb
		}
		n, err := fr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst[:0], ErrMaxPayload
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:0], err
		}
	}
}

// deflate compresses bufs into c.zbuf as one message (BestSpeed, sync
// flush, tail stripped; the compressor is reset per message: no context
// takeover) and returns the compressed bytes.
func (c *Conn) deflate(bufs net.Buffers) ([]byte, error) {
	c.zbuf.b = c.zbuf.b[:0]
	var fw *flate.Writer
	if v := flateWriters.Get(); v != nil {
		fw = v.(*flate.Writer)
		fw.Reset(&c.zbuf)
	} else {
		var err error
		if fw, err = flate.NewWriter(&c.zbuf, flate.BestSpeed); err != nil {
			return nil, err
		}
	}
	defer flateWriters.Put(fw)
	for _, b := range bufs {
		if _, err := fw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	z := c.zbuf.b
	if !bytes.HasSuffix(z, deflateTail) {
		return nil, errBadDeflateTail
	}
	z = z[:len(z)-len(deflateTail)]
	if cap(c.zbuf.b) > keepBufferCap {
		c.zbuf.b = nil // z stays valid until written
	}
	return z, nil
}
