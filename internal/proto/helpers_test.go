package proto

import (
	"errors"
	"fmt"
	"strings"
)

// recorder is a Handler that records every operation as a string, copying
// the arguments during the call. failOn makes the named operation fail.
type recorder struct {
	events []string
	failOn string
}

var errHandler = errors.New("handler failed")

func (r *recorder) add(op, ev string) error {
	r.events = append(r.events, ev)
	if op == r.failOn {
		return errHandler
	}
	return nil
}

func (r *recorder) ProcessConnect(arg []byte) error {
	return r.add("CONNECT", fmt.Sprintf("CONNECT %q", arg))
}

func (r *recorder) ProcessPub(subject, reply []byte, hdrLen int, msg []byte) error {
	return r.add("PUB", fmt.Sprintf("PUB %q %q %d %q nilreply=%t", subject, reply, hdrLen, msg, reply == nil))
}

func (r *recorder) ProcessSub(subject, queue, sid []byte) error {
	return r.add("SUB", fmt.Sprintf("SUB %q %q %q nilqueue=%t", subject, queue, sid, queue == nil))
}

func (r *recorder) ProcessUnsub(sid []byte, max int) error {
	return r.add("UNSUB", fmt.Sprintf("UNSUB %q %d", sid, max))
}

func (r *recorder) ProcessPing() error { return r.add("PING", "PING") }
func (r *recorder) ProcessPong() error { return r.add("PONG", "PONG") }
func (r *recorder) ProcessInfo(arg []byte) error {
	return r.add("INFO", fmt.Sprintf("INFO %q", arg))
}

// Expected event strings.
func evPub(subject, reply string, hdr int, msg string) string {
	var rb []byte
	if reply != "" {
		rb = []byte(reply)
	}
	return fmt.Sprintf("PUB %q %q %d %q nilreply=%t", subject, rb, hdr, msg, rb == nil)
}

func evSub(subject, queue, sid string) string {
	var qb []byte
	if queue != "" {
		qb = []byte(queue)
	}
	return fmt.Sprintf("SUB %q %q %q nilqueue=%t", subject, qb, sid, qb == nil)
}

func evUnsub(sid string, max int) string { return fmt.Sprintf("UNSUB %q %d", sid, max) }
func evConnect(arg string) string        { return fmt.Sprintf("CONNECT %q", arg) }

// parseChunks feeds chunks through one reused read buffer that is scribbled
// over after every Parse call, as a real read loop would do, and returns the
// events and the first error.
func parseChunks(p *Parser, chunks ...[]byte) ([]string, error) {
	r := &recorder{}
	var readBuf []byte
	for _, c := range chunks {
		readBuf = append(readBuf[:0], c...)
		err := p.Parse(readBuf, r)
		for i := range readBuf {
			readBuf[i] = 'X'
		}
		if err != nil {
			return r.events, err
		}
	}
	return r.events, nil
}

// errKey reduces an error to a comparable string.
func errKey(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// noop is a Handler that does nothing, for allocation tests and benchmarks.
type noop struct{}

func (noop) ProcessConnect([]byte) error                  { return nil }
func (noop) ProcessPub([]byte, []byte, int, []byte) error { return nil }
func (noop) ProcessSub([]byte, []byte, []byte) error      { return nil }
func (noop) ProcessUnsub([]byte, int) error               { return nil }
func (noop) ProcessPing() error                           { return nil }
func (noop) ProcessPong() error                           { return nil }

// allOps is a stream holding every operation and argument shape.
var allOps = strings.Join([]string{
	`CONNECT {"verbose":false,"name":"a b"}` + "\r\n",
	"PING\r\n",
	"pong\r\n",
	"SUB foo 1\r\n",
	"sub\tfoo.*  q1 \t 2\r\n",
	"PUB foo 5\r\nhello\r\n",
	"pub foo reply.1 0\r\n\r\n",
	"HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
	"hpub  foo  _INBOX.x  0  3\r\nabc\r\n",
	"PUB bare 2\nhi\r\n",
	"UNSUB 1\r\n",
	"unsub 2 10\r\n",
	"+OK\r\n",
	"INFO {}\r\n",
	"Ping \r\n",
}, "")

var allOpsEvents = []string{
	evConnect(`{"verbose":false,"name":"a b"}`),
	"PING",
	"PONG",
	evSub("foo", "", "1"),
	evSub("foo.*", "q1", "2"),
	evPub("foo", "", -1, "hello"),
	evPub("foo", "reply.1", -1, ""),
	evPub("foo", "", 12, "NATS/1.0\r\n\r\nhello"),
	evPub("foo", "_INBOX.x", 0, "abc"),
	evPub("bare", "", -1, "hi"),
	evUnsub("1", 0),
	evUnsub("2", 10),
	`INFO "{}"`,
	"PING",
}
