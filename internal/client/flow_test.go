package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/pipe"
	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/transport"
)

// fillPending queues n bytes on c as if messages were waiting for it.
func fillPending(c *Client, n int) {
	c.mu.Lock()
	c.appendLocked(make([]byte, n))
	c.mu.Unlock()
}

func TestStallBoundedPerRead(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPending = 1 << 20
	rc := newTestClient(t, nil) // its writer never runs: it lags for good
	rc.cfg = cfg
	c := newTestClient(t, nil)
	fillPending(rc, int(rc.stallAt()))

	msg := make([]byte, 100)
	require.True(t, c.enqueueMsg(rc, []byte("MSG a 1 100\r\n"), msg, nil), "lagging, not over the limit: queued after the wait")
	assert.GreaterOrEqual(t, c.stalled, stallPerRead, "the producer waited its whole budget for a receiver that does not drain")
	spent := c.stalled
	require.True(t, c.enqueueMsg(rc, []byte("MSG a 1 100\r\n"), msg, nil))
	assert.Equal(t, spent, c.stalled, "no more waiting in the same read once the budget is spent")

	c.stalled = 0 // the next read
	require.True(t, c.enqueueMsg(rc, []byte("MSG a 1 100\r\n"), msg, nil))
	assert.GreaterOrEqual(t, c.stalled, stallPerRead, "each read has its own budget")
	takeOut(rc)
	takeOut(c)
}

func TestStallReleasedWhenReceiverDrains(t *testing.T) {
	a, peer := pipe.New()
	defer peer.Close()
	cfg := testConfig()
	cfg.MaxPending = 32 << 20
	rc := New(nextID.Add(1), a, transport.Meta{}, cfg, newFakeHost())
	startWriteLoop(t, rc)
	c := newTestClient(t, nil)

	// The peer reads nothing yet: rc's writer blocks once the pipe is full.
	fillPending(rc, int(rc.stallAt())+pipe.Limit+1<<20)
	rc.signal()

	done := make(chan bool)
	go func() { done <- c.enqueueMsg(rc, []byte("MSG a 1 5\r\n"), []byte("hello"), nil) }()
	// The producer waits on rc's stall channel.
	require.Eventually(t, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.stall != nil
	}, 5*time.Second, time.Millisecond, "producer stalls on a lagging receiver")

	// The peer reads: pending falls and the producer goes on.
	var got bytes.Buffer
	readDone := make(chan error, 1)
	go func() { _, err := io.Copy(&got, peer); readDone <- err }()
	select {
	case ok := <-done:
		assert.True(t, ok, "queued once rc drained")
	case <-time.After(10 * time.Second):
		t.Fatal("producer still stalled")
	}
	rc.mu.Lock()
	closing := rc.closing
	rc.mu.Unlock()
	assert.False(t, closing, "a receiver that drains is not cut")
	_ = peer.Close()
	<-readDone
}

func TestStallReleasedWhenReceiverCloses(t *testing.T) {
	rc := newTestClient(t, nil)
	rc.cfg = &Config{MaxPending: 1 << 20, Logger: rc.cfg.Logger}
	c := newTestClient(t, nil)
	fillPending(rc, int(rc.stallAt())+1)
	rc.mu.Lock()
	ch := rc.stallChanLocked()
	rc.mu.Unlock()
	rc.Abort(transport.ClientClosed)
	select {
	case <-ch:
	default:
		t.Fatal("closing a receiver must release its producers")
	}
	assert.False(t, c.enqueueMsg(rc, []byte("MSG a 1 0\r\n"), nil, nil), "nothing queued for a closing receiver")
	takeOut(rc)
}

// logCounter counts the log records at or above Warn whose message
// contains a substring.
type logCounter struct {
	mu    sync.Mutex
	lines []string
}

func (h *logCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.lines = append(h.lines, r.Message)
	h.mu.Unlock()
	return nil
}
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }
func (h *logCounter) count(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range h.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

func TestSlowConsumerCutOnceAndLoggedOnce(t *testing.T) {
	logs := &logCounter{}
	cfg := testConfig()
	cfg.MaxPending = 64 << 10
	cfg.Logger = slog.New(logs)
	rc := newTestClient(t, nil)
	rc.cfg, rc.log = cfg, cfg.Logger
	fillPending(rc, int(cfg.MaxPending)-10)

	// Several producers hit the limit at once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			p := newTestClient(t, nil)
			p.stalled = stallPerRead // budget spent: straight to the limit
			for range 10 {
				p.enqueueMsg(rc, []byte("MSG a 1 100\r\n"), make([]byte, 100), nil)
			}
		})
	}
	wg.Wait()
	rc.mu.Lock()
	reason, pending := rc.reason, rc.pending
	rc.mu.Unlock()
	assert.Equal(t, transport.SlowConsumerPending, reason)
	assert.LessOrEqual(t, pending, cfg.MaxPending, "nothing queued past the limit")
	assert.Equal(t, 1, logs.count("slow consumer"), "one event, one line")
	takeOut(rc)
}

func TestOwnOutputCountsAgainstMaxPending(t *testing.T) {
	tests := []struct {
		name string
		do   func(c *Client) error
	}{
		{"PONG", func(c *Client) error { return c.ProcessPing() }},
		{"+OK", func(c *Client) error { c.opts.Verbose = true; c.sendOK(); return nil }},
		{"-ERR", func(c *Client) error { c.sendErr("Invalid Publish Subject"); return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxPending = 4 << 10
			c := newTestClient(t, nil)
			c.cfg = cfg
			for i := 0; i < 10000 && !c.gone.Load(); i++ {
				require.NoError(t, tt.do(c))
			}
			c.mu.Lock()
			reason, pending := c.reason, c.pending
			c.mu.Unlock()
			assert.Equal(t, transport.SlowConsumerPending, reason, "a client that never reads its answers is cut off")
			assert.LessOrEqual(t, pending, cfg.MaxPending)
			clear(c.pcd)
			takeOut(c)
		})
	}
}

// authHost requires authentication and admits nobody without CONNECT.
type authHost struct{ *fakeHost }

func (h authHost) AuthRequired(*Client) bool { return true }
func (h authHost) Authenticate(_ *Client, ci *proto.ConnectInfo) (*Grant, error) {
	if ci == nil {
		return nil, errors.New("no CONNECT")
	}
	return &Grant{Account: h.acc}, nil
}

func TestFirstOperationMustBeConnect(t *testing.T) {
	for _, first := range []string{"PING\r\n", "SUB foo 1\r\n", "PUB foo 0\r\n\r\n", "\r\n", "FOO\r\n"} {
		t.Run(strings.TrimSpace(first), func(t *testing.T) {
			a, peer := pipe.New()
			h := authHost{newFakeHost()}
			h.acc = NewAccount("A")
			c := New(nextID.Add(1), a, transport.Meta{}, testConfig(), h)
			var wg sync.WaitGroup
			c.Start(&wg, []byte(testInfo), nil)
			_, err := peer.Write([]byte(first))
			require.NoError(t, err)
			want := testInfo + "-ERR 'Authorization Violation'\r\n"
			got := make([]byte, len(want))
			_, err = io.ReadFull(peer, got)
			require.NoError(t, err)
			assert.Equal(t, want, string(got))
			_ = peer.Close() // the broker lingers until we go
			assert.Equal(t, transport.AuthenticationFailure, h.waitClosed(t))
			_ = peer.Close()
			wg.Wait()
		})
	}
	t.Run("CONNECT first", func(t *testing.T) {
		a, peer := pipe.New()
		h := authHost{newFakeHost()}
		h.acc = NewAccount("A")
		c := New(nextID.Add(1), a, transport.Meta{}, testConfig(), h)
		var wg sync.WaitGroup
		c.Start(&wg, []byte(testInfo), nil)
		_, err := peer.Write([]byte("CONNECT {\"verbose\":false}\r\nPING\r\n"))
		require.NoError(t, err)
		buf := make([]byte, len(testInfo)+6)
		_, err = io.ReadFull(peer, buf)
		require.NoError(t, err)
		assert.Equal(t, testInfo+"PONG\r\n", string(buf))
		_ = peer.Close()
		assert.Equal(t, transport.ClientClosed, h.waitClosed(t))
		wg.Wait()
	})
}

func TestNoStallForStuckReceiver(t *testing.T) {
	rc := newTestClient(t, nil)
	rc.cfg = &Config{MaxPending: 1 << 20, Logger: rc.cfg.Logger}
	c := newTestClient(t, nil)
	fillPending(rc, int(rc.stallAt()))
	// Its writer has been blocked in one write for longer than stuckAfter.
	rc.writing.Store(time.Now().Add(-2 * stuckAfter).UnixNano())
	require.True(t, c.enqueueMsg(rc, []byte("MSG a 1 0\r\n"), nil, nil))
	assert.Zero(t, c.stalled, "nobody waits for a receiver that is not draining")

	rc.writing.Store(time.Now().UnixNano()) // a write just started: draining
	require.True(t, c.enqueueMsg(rc, []byte("MSG a 1 0\r\n"), nil, nil))
	assert.GreaterOrEqual(t, c.stalled, stallPerRead)
	takeOut(rc)
}
