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

// start begins inflating msg (a whole compressed message without its
// tail) and returns the pooled inflater to Read from; the caller must call
// stop when done. msg must not change until then.
func (f *inflater) start(msg []byte) (io.ReadCloser, error) {
	f.src.Reset(msg)
	f.mr.msg = &f.src
	f.mr.tail.Reset(inflateTail)
	if v := flateReaders.Get(); v != nil {
		fr := v.(io.ReadCloser)
		if err := fr.(flate.Resetter).Reset(&f.mr, nil); err != nil {
			return nil, err
		}
		return fr, nil
	}
	return flate.NewReader(&f.mr), nil
}

// stop returns fr to the pool.
func (f *inflater) stop(fr io.ReadCloser) {
	f.mr.msg = nil
	flateReaders.Put(fr)
}

// deflate compresses bufs as one message (BestSpeed, sync flush, tail
// stripped; the compressor is reset per message: no context takeover),
// appending to c.zbuf, and returns the compressed bytes. The caller
// empties c.zbuf before the first message of a flush.
func (c *Conn) deflate(bufs net.Buffers) ([]byte, error) {
	start := len(c.zbuf.b)
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
	z := c.zbuf.b[start:]
	if !bytes.HasSuffix(z, deflateTail) {
		return nil, errBadDeflateTail
	}
	c.zbuf.b = c.zbuf.b[:len(c.zbuf.b)-len(deflateTail)]
	return z[:len(z)-len(deflateTail)], nil
}
