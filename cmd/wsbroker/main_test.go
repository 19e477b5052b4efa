package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// binary is the wsbroker command built once by TestMain.
var binary string

// waitTimeout bounds every wait of these tests.
const waitTimeout = 15 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wsbroker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wsbroker")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	out, err := exec.CommandContext(ctx, "go", "build", "-o", binary, ".").CombinedOutput()
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building wsbroker: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	clientURLRE = regexp.MustCompile(`msg="wsbroker ready" client_url=(nats://\S+)`)
	wsURLRE     = regexp.MustCompile(`msg="wsbroker ready" .*websocket_url=(wss?://\S+)`)
	readyRE     = regexp.MustCompile(`msg="wsbroker ready".*\n`)
)

// proc is a running wsbroker command.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
}

// startBinary runs the built command with args; the process is killed at
// the end of the test if it is still running.
func startBinary(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(waitTimeout):
			t.Errorf("wsbroker pid %d did not exit after kill", p.cmd.Process.Pid)
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(waitTimeout):
		t.Fatalf("wsbroker did not exit; output:\n%s", p.stderr)
		return -1
	}
}

// readyLine waits for the line the command logs once it listens.
func readyLine(t *testing.T, out fmt.Stringer, done <-chan struct{}) string {
	t.Helper()
	var line string
	require.Eventually(t, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		line = readyRE.FindString(out.String())
		return line != ""
	}, waitTimeout, 10*time.Millisecond)
	require.NotEmpty(t, line, "wsbroker exited before it was ready; output:\n%s", out)
	return line
}

// roundTrip subscribes and publishes through url and checks the message
// comes back.
func roundTrip(t *testing.T, url string, opts ...nats.Option) {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(5 * time.Second), nats.NoReconnect()}, opts...)...)
	require.NoError(t, err)
	defer nc.Close()
	sub, err := nc.SubscribeSync("greet.>")
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	require.NoError(t, nc.Publish("greet.joe", []byte("hello")))
	msg, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "greet.joe", msg.Subject)
	assert.Equal(t, "hello", string(msg.Data))
}

// testRoundTrips runs a TCP and, when the broker has a websocket
// listener, a websocket round trip against the ready line.
func testRoundTrips(t *testing.T, line string) {
	t.Run("tcp", func(t *testing.T) {
		m := clientURLRE.FindStringSubmatch(line)
		require.NotNil(t, m, "no client_url in %q", line)
		roundTrip(t, m[1])
	})
	t.Run("websocket", func(t *testing.T) {
		m := wsURLRE.FindStringSubmatch(line)
		if m == nil {
			t.Skip("the broker reports no websocket URL: websocket transport not available yet")
		}
		roundTrip(t, m[1])
	})
}

const loopbackConf = `listen: "127.0.0.1:-1"
websocket {
  listen: "127.0.0.1:-1"
  no_tls: true
}
`

func TestCommandServesAndStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			path := writeConf(t, t.TempDir(), "wsbroker.conf", loopbackConf)
			p := startBinary(t, "-c", path)
			line := readyLine(t, p.stderr, p.done)
			testRoundTrips(t, line)
			require.NoError(t, p.cmd.Process.Signal(sig))
			assert.Equal(t, 0, p.wait(t), "output:\n%s", p.stderr)
			assert.Contains(t, p.stderr.String(), "msg=stopped")
		})
	}
}

func TestCommandWebsocketTLS(t *testing.T) {
	certFile, keyFile := tlsFiles(t)
	conf := fmt.Sprintf("listen: \"127.0.0.1:-1\"\nws {\n listen: \"127.0.0.1:-1\"\n tls { cert_file: %q, key_file: %q }\n}\n", certFile, keyFile)
	path := writeConf(t, t.TempDir(), "wsbroker.conf", conf)
	p := startBinary(t, "-c", path)
	line := readyLine(t, p.stderr, p.done)
	t.Run("wss", func(t *testing.T) {
		m := wsURLRE.FindStringSubmatch(line)
		if m == nil {
			t.Skip("the broker reports no websocket URL: websocket transport not available yet")
		}
		require.True(t, strings.HasPrefix(m[1], "wss://"), "websocket URL %q", m[1])
		pemBytes, err := os.ReadFile(certFile)
		require.NoError(t, err)
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(pemBytes))
		roundTrip(t, m[1], nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	})
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.wait(t), "output:\n%s", p.stderr)
}

func TestCommandLogSettings(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		want    []string
		notWant []string
	}{
		{
			name:    "logtime false drops the time",
			conf:    "listen: \"127.0.0.1:-1\"\nlogtime: false\n",
			want:    []string{"level=INFO msg=\"wsbroker ready\""},
			notWant: []string{"time="},
		},
		{
			name: "default logs the time",
			conf: "listen: \"127.0.0.1:-1\"\n",
			want: []string{"time="},
		},
		{
			name: "warnings are logged",
			conf: "listen: \"127.0.0.1:-1\"\nping_interval: 60\n",
			want: []string{"level=WARN", "ping_interval should be converted to a duration"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, t.TempDir(), "wsbroker.conf", tt.conf)
			p := startBinary(t, "-c", path)
			readyLine(t, p.stderr, p.done)
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			assert.Equal(t, 0, p.wait(t))
			out := p.stderr.String()
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			for _, w := range tt.notWant {
				assert.NotContains(t, out, w)
			}
		})
	}
}

func TestCommandFailures(t *testing.T) {
	tests := []struct {
		name     string
		conf     string // written to wsbroker.conf, passed with -c
		args     []string
		wantCode int
		want     string // in stderr; "FILE" stands for the config path
	}{
		{name: "unknown key", conf: "listen: \"127.0.0.1:-1\"\nbogus: 1\n", wantCode: 1, want: "wsbroker: FILE:2: bogus: unsupported configuration key"},
		{name: "bad value", conf: "\n\nmax_payload: \"big\"\n", wantCode: 1, want: "wsbroker: FILE:3: max_payload: expected a size in bytes"},
		{name: "websocket without tls", conf: "listen: \"127.0.0.1:-1\"\nws { listen: \"127.0.0.1:-1\" }\n", wantCode: 1, want: "websocket requires TLS configuration"},
		{name: "missing config file", args: []string{"-c", "/nonexistent/wsbroker.conf"}, wantCode: 1, want: "/nonexistent/wsbroker.conf"},
		{name: "unknown flag", args: []string{"-x"}, wantCode: 2, want: "flag provided but not defined: -x"},
		{name: "extra argument", args: []string{"extra"}, wantCode: 2, want: "unexpected argument \"extra\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			want := tt.want
			if tt.conf != "" {
				path := writeConf(t, t.TempDir(), "wsbroker.conf", tt.conf)
				args = append([]string{"-c", path}, args...)
				want = regexp.MustCompile(`FILE`).ReplaceAllLiteralString(want, path)
			}
			p := startBinary(t, args...)
			assert.Equal(t, tt.wantCode, p.wait(t))
			assert.Contains(t, p.stderr.String(), want)
		})
	}
}

func TestCommandPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	path := writeConf(t, t.TempDir(), "wsbroker.conf", fmt.Sprintf("listen: %q\n", ln.Addr().String()))
	p := startBinary(t, "-c", path)
	assert.Equal(t, 1, p.wait(t))
	assert.Contains(t, p.stderr.String(), ln.Addr().String())
}

func TestCommandHelp(t *testing.T) {
	p := startBinary(t, "-h")
	assert.Equal(t, 0, p.wait(t))
	out := p.stderr.String()
	assert.Contains(t, out, "Usage: wsbroker [-c file]")
	assert.Contains(t, out, "-c file")
}

// TestRunInProcess runs the command in this process, so that the race
// detector and goleak see it, and stops it by cancelling its context.
func TestRunInProcess(t *testing.T) {
	path := writeConf(t, t.TempDir(), "wsbroker.conf", loopbackConf+"debug: true\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	code := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		code <- run(ctx, []string{"-c", path}, out)
	}()
	line := readyLine(t, out, done)
	testRoundTrips(t, line)
	cancel()
	select {
	case c := <-code:
		assert.Equal(t, 0, c, "output:\n%s", out)
	case <-time.After(waitTimeout):
		t.Fatalf("run did not return; output:\n%s", out)
	}
	assert.Contains(t, out.String(), "level=INFO msg=stopped")
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "help", args: []string{"-h"}, want: 0},
		{name: "bad flag", args: []string{"-nope"}, want: 2},
		{name: "bad config", args: []string{"-c", "/nonexistent/x.conf"}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			assert.Equal(t, tt.want, run(context.Background(), tt.args, &out))
			assert.NotEmpty(t, out.String())
		})
	}
}

func TestNewLoggerLevels(t *testing.T) {
	tests := []struct {
		name    string
		cfg     fileConfig
		want    []string
		notWant []string
	}{
		{name: "info", cfg: fileConfig{}, want: []string{"level=INFO msg=i"}, notWant: []string{"msg=d", "msg=t", "time="}},
		{name: "debug", cfg: fileConfig{Debug: true}, want: []string{"level=DEBUG msg=d"}, notWant: []string{"msg=t"}},
		{name: "trace", cfg: fileConfig{Trace: true}, want: []string{"level=TRACE msg=t", "level=DEBUG msg=d"}},
		{name: "logtime", cfg: fileConfig{Logtime: true}, want: []string{"time="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			l := newLogger(&out, &tt.cfg)
			l.Log(context.Background(), levelTrace, "t")
			l.Debug("d")
			l.Info("i")
			for _, w := range tt.want {
				assert.Contains(t, out.String(), w)
			}
			for _, w := range tt.notWant {
				assert.NotContains(t, out.String(), w)
			}
		})
	}
}

func TestPrintError(t *testing.T) {
	var out bytes.Buffer
	printError(&out, errors.Join(errors.New("a:1: x: bad"), errors.New("a:2: y: worse")))
	assert.Equal(t, "wsbroker: a:1: x: bad\nwsbroker: a:2: y: worse\n", out.String())
}
