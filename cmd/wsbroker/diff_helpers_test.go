package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	broker "github.com/wsbroker/broker"
)

// limits are configured identically on both servers of a comparison.
// Zero means the server's default (the defaults are the same: 1 MiB
// payload, 4 KiB control line, no connection cap).
type limits struct {
	maxPayload     int
	maxControlLine int
	maxConn        int
}

// endpoint is one running server of a comparison.
type endpoint struct {
	name string // "nats-server" or "wsbroker"
	tcp  string // host:port
	ws   string // ws://host:port
}

func (e endpoint) natsURL() string { return "nats://" + e.tcp }

// startReference runs an embedded nats-server on random loopback ports
// (TCP and plain-text websocket); it is shut down at the end of the test.
func startReference(tb testing.TB, lim limits) endpoint {
	tb.Helper()
	opts := &server.Options{
		Host:   "127.0.0.1",
		Port:   -1,
		NoLog:  true,
		NoSigs: true,
		// No HTTP monitoring, no cluster, no JetStream.
		MaxPayload:     int32(lim.maxPayload),
		MaxControlLine: int32(lim.maxControlLine),
		MaxConn:        lim.maxConn,
	}
	opts.Websocket.Host = "127.0.0.1"
	opts.Websocket.Port = -1
	opts.Websocket.NoTLS = true
	s, err := server.NewServer(opts)
	require.NoError(tb, err)
	s.Start()
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(tb, s.ReadyForConnections(10*time.Second), "nats-server not ready")
	addr := s.Addr().(*net.TCPAddr)
	return endpoint{name: "nats-server", tcp: addr.String(), ws: s.WebsocketURL()}
}

// startOurs runs a broker on random loopback ports (TCP and plain-text
// websocket); it is shut down at the end of the test.
func startOurs(tb testing.TB, lim limits) endpoint {
	tb.Helper()
	opts := []broker.Option{
		broker.WithListen("127.0.0.1:0"),
		broker.WithWebsocket("127.0.0.1:0"),
		broker.WithNoTLS(),
	}
	if lim.maxPayload > 0 {
		opts = append(opts, broker.WithMaxPayload(lim.maxPayload))
	}
	if lim.maxControlLine > 0 {
		opts = append(opts, broker.WithMaxControlLine(lim.maxControlLine))
	}
	if lim.maxConn > 0 {
		opts = append(opts, broker.WithMaxConnections(lim.maxConn))
	}
	b, err := broker.New(opts...)
	require.NoError(tb, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(tb, b.Start(ctx))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			tb.Errorf("wsbroker shutdown: %v", err)
		}
	})
	return endpoint{name: "wsbroker", tcp: b.Addr().String(), ws: b.WebsocketURL()}
}

// startBoth returns the reference server first, then ours.
func startBoth(tb testing.TB, lim limits) []endpoint {
	tb.Helper()
	return []endpoint{startReference(tb, lim), startOurs(tb, lim)}
}

// ---- raw wire transcripts ----

// wireStep sends bytes on one connection and reads the answer.
type wireStep struct {
	conn   int    // connection index; the first use of an index dials it
	send   string // bytes written, exactly
	pongs  int    // read until this many "PONG\r\n" lines have arrived
	closed bool   // read until the server closes the connection instead
	// unordered compares the MSG frames of a run of consecutive MSGs as a
	// set: the order in which one publish reaches several subscriptions
	// of the same connection is not part of the protocol.
	unordered bool
}

// step sends data on conn and waits for one PONG per line of data that a
// NATS server answers with PONG ("PING", any case, anything after it on
// the line).
func step(conn int, data string) wireStep {
	n := 0
	for line := range strings.SplitSeq(data, "\n") {
		if len(line) >= 4 && strings.EqualFold(line[:4], "PING") {
			n++
		}
	}
	return wireStep{conn: conn, send: data, pongs: n}
}

// stepN sends data on conn and waits for exactly pongs PONGs.
func stepN(conn int, data string, pongs int) wireStep {
	return wireStep{conn: conn, send: data, pongs: pongs}
}

// stepClose sends data on conn and reads until the server closes it.
func stepClose(conn int, data string) wireStep {
	return wireStep{conn: conn, send: data, closed: true}
}

// wireTimeout bounds the wait of one step. A well-formed scenario never
// reaches it on the reference server.
const wireTimeout = 5 * time.Second

var (
	nkeyServerRE = regexp.MustCompile(`^N[A-Z2-7]{55}$`)
	semverRE     = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
)

// infoClaimed lists the INFO fields whose presence, type and (where
// comparable) value we claim to match.
var infoClaimed = []string{
	"server_id", "version", "proto", "headers", "max_payload", "host", "port",
	"client_id", "client_ip", "auth_required", "tls_required",
}

// normalizeInfo turns an INFO line into a comparable description of the
// claimed fields: values that legitimately differ between servers (ids,
// ports) are replaced by what they must satisfy. Extra keys are returned.
func normalizeInfo(line string, port int) (string, []string) {
	body := strings.TrimSuffix(strings.TrimPrefix(line, "INFO "), "\r\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return fmt.Sprintf("INFO <bad json: %v> %q", err, line), nil
	}
	var parts []string
	for _, k := range infoClaimed {
		v, ok := m[k]
		if !ok {
			parts = append(parts, k+"=<absent>")
			continue
		}
		var d string
		switch k {
		case "server_id":
			s, _ := v.(string)
			d = fmt.Sprintf("%T", v)
			if nkeyServerRE.MatchString(s) {
				d += ":nkey"
			} else {
				d += fmt.Sprintf(":%q", s)
			}
		case "version":
			s, _ := v.(string)
			d = fmt.Sprintf("%T", v)
			if semverRE.MatchString(s) {
				d += ":semver"
			} else {
				d += fmt.Sprintf(":%q", s)
			}
		case "port":
			f, _ := v.(float64)
			d = fmt.Sprintf("%T", v)
			if int(f) == port {
				d += ":dialed-port"
			} else {
				d += fmt.Sprintf(":%v", v)
			}
		case "client_id":
			f, _ := v.(float64)
			d = fmt.Sprintf("%T", v)
			if f > 0 && f == float64(int64(f)) {
				d += ":positive-int"
			} else {
				d += fmt.Sprintf(":%v", v)
			}
		default:
			d = fmt.Sprintf("%T:%v", v, v)
		}
		parts = append(parts, k+"="+d)
	}
	var extra []string
	for k := range m {
		if !slices.Contains(infoClaimed, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return "INFO {" + strings.Join(parts, " ") + "}\r\n", extra
}

// wireResult is what a client observed in a raw scenario.
type wireResult struct {
	transcript string     // comparable byte for byte
	infoKeys   [][]string // INFO keys outside infoClaimed, per INFO line
}

// runWire plays steps against the TCP listener at addr.
func runWire(t *testing.T, addr string, steps []wireStep) wireResult {
	t.Helper()
	_, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	type wconn struct {
		c      net.Conn
		r      *bufio.Reader
		closed bool
	}
	conns := map[int]*wconn{}
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.c.Close()
		}
	})
	var out strings.Builder
	var extra [][]string
	// readLine reads one line, or what precedes EOF; err reports the end.
	readLine := func(w *wconn) (string, error) {
		_ = w.c.SetReadDeadline(time.Now().Add(wireTimeout))
		s, err := w.r.ReadString('\n')
		return s, err
	}
	var lines []string // received in the current step
	record := func(i int, w *wconn, line string) {
		if strings.HasPrefix(line, "INFO ") {
			n, keys := normalizeInfo(line, port)
			line = n
			extra = append(extra, keys)
		}
		lines = append(lines, fmt.Sprintf("c%d< %q\n", i, line))
	}
	flush := func(unordered bool) {
		if unordered {
			lines = sortMsgRuns(lines)
		}
		for _, l := range lines {
			out.WriteString(l)
		}
		lines = lines[:0]
	}
	// end records why reading stopped.
	end := func(i int, w *wconn, err error) {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			lines = append(lines, fmt.Sprintf("c%d: <timeout: still open>\n", i))
		default:
			// EOF and connection reset both mean the server closed it.
			w.closed = true
			lines = append(lines, fmt.Sprintf("c%d: <closed>\n", i))
		}
	}
	for _, s := range steps {
		w := conns[s.conn]
		if w == nil {
			c, err := net.DialTimeout("tcp", addr, wireTimeout)
			require.NoError(t, err)
			w = &wconn{c: c, r: bufio.NewReader(c)}
			conns[s.conn] = w
			fmt.Fprintf(&out, "c%d: <dial>\n", s.conn)
			line, err := readLine(w)
			if line != "" {
				record(s.conn, w, line)
			}
			if err != nil {
				end(s.conn, w, err)
			}
			flush(false)
		}
		if w.closed {
			fmt.Fprintf(&out, "c%d: <not sent: closed>\n", s.conn)
			continue
		}
		if s.send != "" {
			fmt.Fprintf(&out, "c%d> %q\n", s.conn, s.send)
			_ = w.c.SetWriteDeadline(time.Now().Add(wireTimeout))
			if _, err := io.WriteString(w.c, s.send); err != nil {
				fmt.Fprintf(&out, "c%d: <write failed>\n", s.conn)
			}
		}
		for pongs := 0; s.closed || pongs < s.pongs; {
			line, err := readLine(w)
			if line != "" {
				record(s.conn, w, line)
			}
			if err != nil {
				end(s.conn, w, err)
				break
			}
			if line == "PONG\r\n" {
				pongs++
			}
		}
		flush(s.unordered)
	}
	return wireResult{transcript: out.String(), infoKeys: extra}
}

// sortMsgRuns sorts each run of consecutive MSG frames (a MSG line and
// its one-line payload) of a transcript.
func sortMsgRuns(lines []string) []string {
	var out, run []string
	isMsg := func(l string) bool { return strings.Contains(l, "< \"MSG ") }
	for i := 0; i < len(lines); i++ {
		if isMsg(lines[i]) && i+1 < len(lines) {
			run = append(run, lines[i]+lines[i+1])
			i++
			continue
		}
		slices.Sort(run)
		out = append(out, run...)
		run = run[:0]
		out = append(out, lines[i])
	}
	slices.Sort(run)
	return append(out, run...)
}
