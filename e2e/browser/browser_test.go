// Package browser_test proves that a real browser running the real NATS
// JavaScript websocket client (@nats-io/nats-core, bundled with esbuild)
// works against the broker: headless Chromium, driven by playwright-core
// from run.mjs, loads page.html from an httptest server that also mounts
// Broker.WebsocketHandler at /nats; a nats.go client connected in-process
// plays the other side.
//
// It needs Debian's Chromium at /usr/bin/chromium (or $CHROMIUM) and the
// npm packages of package-lock.json in node_modules: ./setup.sh installs
// both. Without them the test skips, unless WSBROKER_E2E=1, when it fails.
package browser_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wsbroker/broker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	// bigSize is the size of the large payloads: many 4096-byte browser
	// frames, and an odd length.
	bigSize = 65537
	// nodeTimeout bounds each node process; run.mjs gives up on its own
	// well before (E2E_TIMEOUT_MS).
	nodeTimeout = 60 * time.Second
)

// payload returns n deterministic bytes; page.mjs has the same generator:
// xorshift32 picks tokens that include NUL, CR LF, bytes that are not
// valid UTF-8 and protocol words. The token sequence leaves deflate
// repeats to find, as real messages do. (Data without repeats would not
// do: klauspost/compress at BestSpeed sends it as stored blocks.)
func payload(n int, seed uint32) []byte {
	tokens := [16]string{"MSG ", "PUB ", "\r\n", "\x00\xff\x80", "\xc3\x28", `{"subject":"`, "browser.big", `","n":`,
		"0123", "456789", "}", " ", "HPUB ", "\x00", "NATS/1.0\r\n", "\xe2\x82"}
	out := make([]byte, 0, n+16)
	x := seed
	for len(out) < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out = append(out, tokens[x&15]...)
	}
	return out[:n]
}

// e2eEnv is what the test needs from the machine.
type e2eEnv struct {
	node     string // node binary
	chromium string // Chromium binary
	dir      string // this directory (package.json, run.mjs, page files)
	bundle   string // the bundled client, served as /nats.js
}

// requireEnv skips the test when Chromium, node or the npm packages are
// missing, or fails it when WSBROKER_E2E=1 says they must be there.
func requireEnv(t *testing.T) *e2eEnv {
	t.Helper()
	required := os.Getenv("WSBROKER_E2E") == "1"
	missing := func(format string, args ...any) {
		t.Helper()
		if required {
			t.Fatalf("WSBROKER_E2E=1 but "+format+" (run e2e/browser/setup.sh)", args...)
		}
		t.Skipf("browser e2e skipped: "+format+" (run e2e/browser/setup.sh, or set WSBROKER_E2E=1 to make this a failure)", args...)
	}
	if testing.Short() && !required {
		t.Skip("browser e2e skipped in -short mode")
	}
	dir, err := os.Getwd()
	require.NoError(t, err)
	env := &e2eEnv{dir: dir, chromium: "/usr/bin/chromium"}
	if c := os.Getenv("CHROMIUM"); c != "" {
		env.chromium = c
	}
	if runtime.GOOS != "linux" {
		missing("this test runs Debian's Chromium on linux, not on %s", runtime.GOOS)
	}
	if fi, err := os.Stat(env.chromium); err != nil || fi.IsDir() {
		missing("no Chromium at %s", env.chromium)
	}
	if env.node, err = exec.LookPath("node"); err != nil {
		missing("node is not on PATH")
	}
	for _, p := range []string{"playwright-core", "esbuild", "@nats-io/nats-core"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			missing("node_modules/%s is not installed", p)
		}
	}
	return env
}

func TestBrowser(t *testing.T) {
	env := requireEnv(t)
	start := time.Now()
	env.bundle = filepath.Join(t.TempDir(), "nats.js")
	out, err := runNode(t, env, "build.mjs", env.bundle)
	require.NoError(t, err, "bundling the NATS client with esbuild: %s", out.stderr)
	t.Logf("client bundled in %v", time.Since(start).Round(time.Millisecond))

	t.Run("plain", func(t *testing.T) { testPage(t, env, false) })
	t.Run("compression", func(t *testing.T) { testPage(t, env, true) })
}

// pageReport is the JSON that page.mjs writes and run.mjs prints.
type pageReport struct {
	OK              bool     `json:"ok"`
	Error           string   `json:"error"`
	Partial         string   `json:"partial"`
	Steps           []string `json:"steps"`
	URL             string   `json:"url"`
	UserAgent       string   `json:"userAgent"`
	ConnectedServer string   `json:"connectedServer"`
	Server          struct {
		Version    string `json:"version"`
		Proto      int    `json:"proto"`
		Headers    bool   `json:"headers"`
		MaxPayload int    `json:"max_payload"`
	} `json:"server"`
	Echo   string `json:"echo"`
	PageIn struct {
		Data    string              `json:"data"`
		Headers map[string][]string `json:"headers"`
	} `json:"pageIn"`
	BigEcho *struct {
		Len int  `json:"len"`
		OK  bool `json:"ok"`
	} `json:"bigEcho"`
	PageBig *struct {
		Len    int    `json:"len"`
		OK     bool   `json:"ok"`
		SHA256 string `json:"sha256"`
	} `json:"pageBig"`
	NoResponders struct {
		Error          bool   `json:"error"`
		Name           string `json:"name"`
		Message        string `json:"message"`
		CauseName      string `json:"causeName"`
		IsNoResponders bool   `json:"isNoResponders"`
		MS             int    `json:"ms"`
	} `json:"noResponders"`
	NoRespondersRaw struct {
		Code        int    `json:"code"`
		Status      string `json:"status"`
		Description string `json:"description"`
		Len         int    `json:"len"`
	} `json:"noRespondersRaw"`
	Closed     string   `json:"closed"`
	PageErrors []string `json:"pageErrors"`
	Handshakes []struct {
		URL        string            `json:"url"`
		Status     int               `json:"status"`
		Request    map[string]string `json:"request"`
		Response   map[string]string `json:"response"`
		FrameError string            `json:"frameError"`
	} `json:"handshakes"`
}

// testPage runs page.html once in Chromium against a fresh broker and
// checks every step from both sides.
func testPage(t *testing.T, env *e2eEnv, compression bool) {
	// The broker, with no listener of its own: the websocket endpoint is
	// mounted on the test's HTTP server.
	var opts []broker.Option
	if compression {
		opts = append(opts, broker.WithCompression())
	}
	b, err := broker.New(opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, b.Shutdown(ctx))
	})

	// The Go side, in-process: an echo service, and a subscriber to
	// everything the page publishes that answers browser.hello on page.in
	// and browser.big on page.big.
	nc, err := nats.Connect("", nats.InProcessServer(b), nats.NoReconnect(), nats.Name("e2e-go"))
	require.NoError(t, err)
	t.Cleanup(nc.Close)

	var mu sync.Mutex
	var echoed [][]byte
	var fromPage []*nats.Msg
	var goErrs []error
	record := func(err error) {
		if err != nil {
			mu.Lock()
			goErrs = append(goErrs, err)
			mu.Unlock()
		}
	}
	_, err = nc.Subscribe("svc.echo", func(m *nats.Msg) {
		mu.Lock()
		echoed = append(echoed, m.Data)
		mu.Unlock()
		record(m.Respond(append([]byte("echo:"), m.Data...)))
	})
	require.NoError(t, err)
	_, err = nc.Subscribe("browser.>", func(m *nats.Msg) {
		mu.Lock()
		fromPage = append(fromPage, m)
		mu.Unlock()
		switch m.Subject {
		case "browser.hello":
			reply := nats.NewMsg("page.in")
			reply.Data = []byte("hello page from go")
			reply.Header.Set("X-From", "go")
			record(nc.PublishMsg(reply))
		case "browser.big":
			record(nc.Publish("page.big", payload(bigSize, 3)))
		}
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	// The HTTP server: the page, its script, the bundled client and the
	// broker at /nats. Connections are recorded so that the frames that
	// crossed the websocket can be checked.
	wsConns := &connList{}
	mux := http.NewServeMux()
	wsHandler := b.WebsocketHandler()
	mux.Handle("/nats", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(*recordConn); ok {
			wsConns.add(c)
		}
		wsHandler.ServeHTTP(w, r)
	}))
	serve := func(name, file, ctype string) {
		mux.HandleFunc("/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "no-store")
			http.ServeFile(w, r, file)
		})
	}
	serve("page.html", filepath.Join(env.dir, "page.html"), "text/html; charset=utf-8")
	serve("page.mjs", filepath.Join(env.dir, "page.mjs"), "text/javascript; charset=utf-8")
	serve("nats.js", env.bundle, "text/javascript; charset=utf-8")

	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = recordListener{srv.Listener}
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	srv.Start()
	// Cleanups run last-in first-out: this one before nc.Close and
	// b.Shutdown. The websocket connection was hijacked, so it is the
	// broker's to close, not the server's.
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)

	// The browser.
	profile := t.TempDir()
	pageURL := srv.URL + "/page.html?big=" + strconv.Itoa(bigSize)
	start := time.Now()
	res, runErr := runNode(t, env, "run.mjs", pageURL, profile)
	elapsed := time.Since(start)
	noProcessLeft(t, profile)
	t.Logf("node run.mjs took %v", elapsed.Round(time.Millisecond))
	if runErr != nil || testing.Verbose() {
		t.Logf("run.mjs stderr:\n%s", res.stderr)
	}
	var rep pageReport
	line := lastLine(res.stdout)
	require.NoError(t, json.Unmarshal([]byte(line), &rep), "run.mjs stdout is not the JSON report: %q (exit: %v)\nstderr:\n%s", res.stdout, runErr, res.stderr)
	t.Logf("page report: %s", line)
	require.Empty(t, rep.Error, "page failed after steps %v; partial report: %s", rep.Steps, rep.Partial)
	defer func() {
		// Last, so that the checks below say what went wrong first.
		assert.NoError(t, runErr, "run.mjs failed")
		assert.True(t, rep.OK, "page's own checks")
		assert.Empty(t, rep.PageErrors)
	}()

	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, goErrs, "errors on the Go side")

	// The handshake as Chromium saw it.
	require.Len(t, rep.Handshakes, 1, "one websocket, no reconnect")
	hs := rep.Handshakes[0]
	assert.Equal(t, strings.Replace(srv.URL, "http://", "ws://", 1)+"/nats", hs.URL)
	assert.Equal(t, 101, hs.Status)
	assert.Empty(t, hs.FrameError)
	assert.Contains(t, hs.Request["sec-websocket-extensions"], "permessage-deflate", "Chromium offers compression")
	assert.NotContains(t, hs.Response, "sec-websocket-protocol", "no subprotocol is sent back")
	if compression {
		assert.Contains(t, hs.Response["sec-websocket-extensions"], "permessage-deflate", "compression negotiated")
	} else {
		assert.NotContains(t, hs.Response, "sec-websocket-extensions", "no compression unless WithCompression")
	}
	assert.True(t, strings.HasPrefix(rep.UserAgent, "Mozilla/"), rep.UserAgent)

	// INFO as the JS client parsed it.
	assert.True(t, rep.Server.Headers, "INFO headers")
	assert.NotEmpty(t, rep.Server.Version, "INFO version")
	assert.GreaterOrEqual(t, rep.Server.Proto, 1, "INFO proto")
	assert.Greater(t, rep.Server.MaxPayload, bigSize, "INFO max_payload")

	// What nats.go received from the page, in order, headers included.
	subjects := make([]string, len(fromPage))
	for i, m := range fromPage {
		subjects[i] = m.Subject
	}
	require.Equal(t, []string{"browser.hello", "browser.big"}, subjects)
	hello := fromPage[0]
	assert.Equal(t, "hi from browser", string(hello.Data))
	assert.Equal(t, "chromium", hello.Header.Get("X-E2E"))
	assert.Equal(t, []string{"one", "two"}, hello.Header.Values("X-Multi"))
	assert.Empty(t, hello.Reply)
	assert.True(t, bytes.Equal(payload(bigSize, 1), fromPage[1].Data), "browser.big arrived intact (%d bytes)", len(fromPage[1].Data))

	// The echo service saw both requests intact, and the page saw the replies.
	require.Len(t, echoed, 2)
	assert.Equal(t, "ping", string(echoed[0]))
	assert.True(t, bytes.Equal(payload(bigSize, 2), echoed[1]), "large request arrived intact (%d bytes)", len(echoed[1]))
	assert.Equal(t, "echo:ping", rep.Echo)
	require.NotNil(t, rep.BigEcho)
	assert.Equal(t, bigSize+5, rep.BigEcho.Len)
	assert.True(t, rep.BigEcho.OK, "large reply arrived intact in the page")

	// What the page received from Go.
	assert.Equal(t, "hello page from go", rep.PageIn.Data)
	assert.Equal(t, map[string][]string{"X-From": {"go"}}, rep.PageIn.Headers)
	require.NotNil(t, rep.PageBig)
	sum := sha256.Sum256(payload(bigSize, 3))
	assert.Equal(t, bigSize, rep.PageBig.Len)
	assert.True(t, rep.PageBig.OK, "page.big arrived intact in the page")
	assert.Equal(t, hex.EncodeToString(sum[:]), rep.PageBig.SHA256)

	// No responders: the request fails at once with the typed error, and
	// the status message is a bare 503.
	nr := rep.NoResponders
	assert.True(t, nr.Error, "request to nobody must fail")
	assert.Equal(t, "RequestError", nr.Name)
	assert.Equal(t, "NoResponders", nr.CauseName)
	assert.True(t, nr.IsNoResponders, "RequestError.isNoResponders()")
	assert.Contains(t, nr.Message, "no responders")
	assert.Less(t, nr.MS, 2000, "no-responders must not wait for the 10 s request timeout")
	assert.Equal(t, 503, rep.NoRespondersRaw.Code)
	assert.Equal(t, 0, rep.NoRespondersRaw.Len)

	// The page drained and closed cleanly; the broker has only nats.go left.
	assert.Empty(t, rep.Closed)
	assert.Eventually(t, func() bool { return b.NumClients() == 1 }, 5*time.Second, 20*time.Millisecond,
		"browser connection still counted: %d clients", b.NumClients())

	// The websocket's TCP connection, both ways. Bytes against the large
	// payloads carried each way (two each way: the publish and the echo):
	// without compression every payload byte crosses; with it both
	// Chromium and the broker deflate them (the payloads compress to about
	// a quarter). Frames: the broker sends only binary frames, and to a
	// browser none with more than 4096 payload bytes; compressed messages
	// are fragmented (RSV1 on the first frame, continuation frames after).
	conns := wsConns.all()
	require.Len(t, conns, 1, "one websocket connection")
	toBrowser, fromBrowser := conns[0].captured()
	carried := 2 * bigSize
	t.Logf("websocket bytes: broker→browser %d, browser→broker %d, large payloads %d each way", len(toBrowser), len(fromBrowser), carried)
	out := frameStats(t, toBrowser)
	in := frameStats(t, fromBrowser)
	t.Logf("broker→browser frames: %+v", out)
	t.Logf("browser→broker frames: %+v", in)
	assert.Zero(t, out.text, "the broker sends binary frames only")
	assert.LessOrEqual(t, out.maxPayload, 4096, "browser frames are at most 4096 bytes")
	assert.Zero(t, out.masked, "server frames are not masked")
	assert.Equal(t, in.frames, in.masked, "client frames are masked")
	if compression {
		assert.Less(t, len(toBrowser), carried/2, "broker→browser data was compressed")
		assert.Less(t, len(fromBrowser), carried/2, "browser→broker data was compressed")
		assert.GreaterOrEqual(t, out.rsv1, 5, "compressed messages from the broker (the large publish, the echo, the INFO...)")
		assert.Positive(t, out.continuation, "a compressed message over 4096 bytes is fragmented")
		assert.Positive(t, in.rsv1, "Chromium compresses")
	} else {
		assert.GreaterOrEqual(t, len(toBrowser), carried)
		assert.GreaterOrEqual(t, len(fromBrowser), carried)
		assert.Zero(t, out.rsv1+in.rsv1, "nothing compressed")
		assert.Zero(t, out.continuation, "uncompressed browser frames are whole messages")
		assert.Equal(t, 4096, out.maxPayload, "large messages are split into 4096-byte frames")
	}
}

// frameCounts summarises the websocket frames in one direction.
type frameCounts struct {
	frames, text, binary, continuation, control, rsv1, masked, maxPayload int
	truncated                                                             int // bytes of an incomplete last frame
}

// frameStats parses the websocket frames that follow the HTTP upgrade in
// b (RFC 6455 §5.2).
func frameStats(t *testing.T, b []byte) frameCounts {
	t.Helper()
	var fc frameCounts
	i := bytes.Index(b, []byte("\r\n\r\n"))
	require.GreaterOrEqual(t, i, 0, "no HTTP upgrade in %q", b[:min(len(b), 200)])
	b = b[i+4:]
	for len(b) > 0 {
		// A connection closed by one side may end inside a frame: that
		// frame is counted as truncated.
		if len(b) < 2 {
			fc.truncated = len(b)
			break
		}
		b0, b1 := b[0], b[1]
		n, hdr := int(b1&0x7f), 2
		switch n {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		if b1&0x80 != 0 {
			hdr += 4
		}
		if len(b) < hdr {
			fc.truncated = len(b)
			break
		}
		switch n {
		case 126:
			n = int(binary.BigEndian.Uint16(b[2:]))
		case 127:
			n = int(binary.BigEndian.Uint64(b[2:]))
		}
		if len(b) < hdr+n {
			fc.truncated = len(b)
			break
		}
		if b1&0x80 != 0 {
			fc.masked++
		}
		b = b[hdr+n:]
		fc.frames++
		if b0&0x40 != 0 {
			fc.rsv1++
		}
		switch op := b0 & 0x0f; {
		case op == 0:
			fc.continuation++
		case op == 1:
			fc.text++
		case op == 2:
			fc.binary++
		default:
			fc.control++
			continue
		}
		fc.maxPayload = max(fc.maxPayload, n)
	}
	return fc
}

type nodeResult struct{ stdout, stderr string }

// runNode runs `node script args...` in the package directory, bounded by
// nodeTimeout: on expiry node gets SIGTERM (run.mjs then closes Chromium)
// and, 10 s later, SIGKILL.
func runNode(t *testing.T, env *e2eEnv, script string, args ...string) (nodeResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.node, append([]string{script}, args...)...)
	cmd.Dir = env.dir
	// TMPDIR: whatever node, playwright and Chromium leave in a temporary
	// directory goes where the test removes it.
	cmd.Env = append(os.Environ(), "CHROMIUM="+env.chromium, "E2E_TIMEOUT_MS=40000", "TMPDIR="+t.TempDir())
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return nodeResult{stdout.String(), stderr.String()}, err
}

// noProcessLeft fails the test, and kills them, if processes that use the
// Chromium profile directory outlived run.mjs.
func noProcessLeft(t *testing.T, profile string) {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return
	}
	var left []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(profile)) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		left = append(left, strconv.Itoa(pid)+": "+string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(left) > 0 {
		t.Errorf("Chromium processes outlived run.mjs (killed):\n%s", strings.Join(left, "\n"))
	}
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}

type connKey struct{}

// recordConn keeps what was read from and written to a connection.
type recordConn struct {
	net.Conn
	mu            sync.Mutex
	read, written []byte
}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read = append(c.read, p[:n]...)
	c.mu.Unlock()
	return n, err
}

func (c *recordConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.written = append(c.written, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// captured returns copies of what the server wrote and read.
func (c *recordConn) captured() (written, read []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.written), bytes.Clone(c.read)
}

type recordListener struct{ net.Listener }

func (l recordListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordConn{Conn: c}, nil
}

type connList struct {
	mu    sync.Mutex
	conns []*recordConn
}

func (l *connList) add(c *recordConn) {
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
}

func (l *connList) all() []*recordConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*recordConn(nil), l.conns...)
}
