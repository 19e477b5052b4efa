package proto

import (
	"fmt"
	"strings"
	"testing"
)

// leafRecorder is a LeafHandler that records every operation as a string,
// copying the arguments during the call. failOn makes the named operation
// fail with errHandler.
type leafRecorder struct {
	events []string
	failOn string
}

func (r *leafRecorder) add(op, ev string) error {
	r.events = append(r.events, ev)
	if op == r.failOn {
		return errHandler
	}
	return nil
}

func (r *leafRecorder) ProcessInfo(arg []byte) error { return r.add("INFO", evInfo(string(arg))) }
func (r *leafRecorder) ProcessConnect(arg []byte) error {
	return r.add("CONNECT", evConnect(string(arg)))
}
func (r *leafRecorder) ProcessPing() error               { return r.add("PING", "PING") }
func (r *leafRecorder) ProcessPong() error               { return r.add("PONG", "PONG") }
func (r *leafRecorder) ProcessErr(text []byte) error     { return r.add("ERR", evErr(string(text))) }
func (r *leafRecorder) ProcessLSMinus(s, q []byte) error { return r.add("LS-", fmtLSMinus(s, q)) }
func (r *leafRecorder) ProcessLSPlus(s, q []byte, w int) error {
	return r.add("LS+", fmtLSPlus(s, q, w))
}
func (r *leafRecorder) ProcessLMsg(s, reply []byte, queues [][]byte, hdr int, msg []byte) error {
	return r.add("LMSG", fmtLMsg(s, reply, queues, hdr, msg))
}

func fmtLSPlus(s, q []byte, w int) string {
	return fmt.Sprintf("LS+ %q %q %d nilqueue=%t", s, q, w, q == nil)
}

func fmtLSMinus(s, q []byte) string {
	return fmt.Sprintf("LS- %q %q nilqueue=%t", s, q, q == nil)
}

func fmtLMsg(s, reply []byte, queues [][]byte, hdr int, msg []byte) string {
	return fmt.Sprintf("LMSG %q %q %q %d %q nilreply=%t nilqueues=%t",
		s, reply, queues, hdr, msg, reply == nil, queues == nil)
}

// Expected event strings.
func evInfo(arg string) string { return fmt.Sprintf("INFO %q", arg) }
func evErr(text string) string { return fmt.Sprintf("ERR %q", text) }

// nilIfEmpty maps "" to a nil slice, the parser's "absent".
func nilIfEmpty(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func evLSPlus(subject, queue string, weight int) string {
	return fmtLSPlus([]byte(subject), nilIfEmpty(queue), weight)
}

func evLSMinus(subject, queue string) string {
	return fmtLSMinus([]byte(subject), nilIfEmpty(queue))
}

// evLMsg expects an LMSG (hdr -1) or HMSG; queues is space-separated.
func evLMsg(subject, reply, queues string, hdr int, msg string) string {
	var qs [][]byte
	for _, q := range strings.Fields(queues) {
		qs = append(qs, []byte(q))
	}
	return fmtLMsg([]byte(subject), nilIfEmpty(reply), qs, hdr, []byte(msg))
}

// parseLeafChunks feeds chunks through one reused read buffer that is
// scribbled over after every Parse call, as a real read loop would do, and
// returns the events and the first error.
func parseLeafChunks(p *LeafParser, chunks ...[]byte) ([]string, error) {
	r := &leafRecorder{}
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

// checkLeafAllSplits parses in one chunk, byte by byte and at every 2-way
// split point, and asserts that all give want and wantErr.
func checkLeafAllSplits(t *testing.T, newParser func() *LeafParser, in string, want []string, wantErr error) {
	t.Helper()
	checkSplits(t, func(chunks ...[]byte) ([]string, error) { return parseLeafChunks(newParser(), chunks...) }, in, want, wantErr)
}

func defaultLeafParser() *LeafParser { return &LeafParser{} }

// leafNoop is a LeafHandler that does nothing, for allocation tests and
// benchmarks.
type leafNoop struct{}

func (leafNoop) ProcessInfo([]byte) error                                { return nil }
func (leafNoop) ProcessConnect([]byte) error                             { return nil }
func (leafNoop) ProcessPing() error                                      { return nil }
func (leafNoop) ProcessPong() error                                      { return nil }
func (leafNoop) ProcessErr([]byte) error                                 { return nil }
func (leafNoop) ProcessLSPlus([]byte, []byte, int) error                 { return nil }
func (leafNoop) ProcessLSMinus([]byte, []byte) error                     { return nil }
func (leafNoop) ProcessLMsg([]byte, []byte, [][]byte, int, []byte) error { return nil }

// allLeafOps is a stream holding every leafnode operation and argument
// shape, including the captured examples of the spec.
var allLeafOps = strings.Join([]string{
	`INFO {"server_id":"NCCQ","leafnode_urls":["127.0.0.1:17422"]} ` + "\r\n",
	`CONNECT {"name":"LEAF","headers":true}` + "\r\n",
	"PING\r\n",
	"pong\r\n",
	"+OK\r\n",
	"LS+ baz.* g1 1\r\n",
	"LS+ baz.* g1 2\r\n",
	"ls+\tw.>\r\n",
	"LS- baz.* g1\r\n",
	"LS- w.>\r\n",
	"LMSG qq | grp 1\r\nx\r\n",
	"LMSG fromleaf r.1 3\r\nabc\r\n",
	"LMSG plain 0\r\n\r\n",
	"lmsg  q2 + _INBOX.a  g1 g2 4\nab\r\n\r\n",
	"HMSG foo rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
	"HMSG foo + rep q1 q2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
	"hmsg foo | q1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
	"HMSG bare 0 2\r\nhi\r\n",
	"-ERR 'Loop detected for leafnode account=\"$G\". Delaying attempt to reconnect for 30s'\r\n",
	"Ping \r\n",
}, "")

var allLeafOpsEvents = []string{
	evInfo(`{"server_id":"NCCQ","leafnode_urls":["127.0.0.1:17422"]} `),
	evConnect(`{"name":"LEAF","headers":true}`),
	"PING",
	"PONG",
	evLSPlus("baz.*", "g1", 1),
	evLSPlus("baz.*", "g1", 2),
	evLSPlus("w.>", "", 0),
	evLSMinus("baz.*", "g1"),
	evLSMinus("w.>", ""),
	evLMsg("qq", "", "grp", -1, "x"),
	evLMsg("fromleaf", "r.1", "", -1, "abc"),
	evLMsg("plain", "", "", -1, ""),
	evLMsg("q2", "_INBOX.a", "g1 g2", -1, "ab\r\n"),
	evLMsg("foo", "rep", "", 12, "NATS/1.0\r\n\r\nhi"),
	evLMsg("foo", "rep", "q1 q2", 12, "NATS/1.0\r\n\r\nhi"),
	evLMsg("foo", "", "q1", 12, "NATS/1.0\r\n\r\n"),
	evLMsg("bare", "", "", 0, "hi"),
	evErr(`Loop detected for leafnode account="$G". Delaying attempt to reconnect for 30s`),
	"PING",
}
