package client

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wsbroker/broker/internal/pipe"
	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig returns limits suitable for unit tests: generous pending
// bytes, a bounded write deadline, no timers.
func testConfig() *Config {
	return &Config{
		MaxPayload:     1 << 20,
		MaxControlLine: 4096,
		MaxPending:     64 << 20,
		WriteDeadline:  5 * time.Second,
		PingMax:        2,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

// fakeHost is a minimal Host: no authentication, and Closed reports the
// close reason of each client on closed.
type fakeHost struct {
	acc    *Account // granted by Authenticate
	closed chan transport.CloseReason
}

func newFakeHost() *fakeHost { return &fakeHost{closed: make(chan transport.CloseReason, 4)} }

func (h *fakeHost) AuthRequired(*Client) bool { return false }
func (h *fakeHost) Authenticate(*Client, *proto.ConnectInfo) (*Grant, error) {
	return &Grant{Account: h.acc}, nil
}
func (h *fakeHost) LeafConnectInfo(*Client) []byte { return nil }
func (h *fakeHost) Closed(c *Client) {
	c.mu.Lock()
	r := c.reason
	c.mu.Unlock()
	h.closed <- r
}

// waitClosed returns the reason the host was told about, bounded.
func (h *fakeHost) waitClosed(t *testing.T) transport.CloseReason {
	t.Helper()
	select {
	case r := <-h.closed:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("client not closed within 10s")
		return ""
	}
}

var nextID atomic.Uint64

// newTestClient returns an unstarted client of acc over one end of a pipe
// (both ends closed at cleanup). Nothing runs: its output stays in c.out.
func newTestClient(t *testing.T, acc *Account) *Client {
	t.Helper()
	a, b := pipe.New()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	c := New(nextID.Add(1), a, transport.Meta{}, testConfig(), newFakeHost())
	if acc != nil {
		c.acc.Store(acc)
	}
	return c
}

// newTestLink returns an unstarted leaf node link of acc (solicited: we
// dialled, the peer is our hub).
func newTestLink(t *testing.T, acc *Account, solicited bool) *Client {
	t.Helper()
	a, b := pipe.New()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	c := NewLeaf(nextID.Add(1), a, transport.Meta{Kind: transport.Leafnode}, testConfig(), newFakeHost(),
		LeafOptions{Solicited: solicited, Account: acc})
	c.acc.Store(acc)
	return c
}

// newSub makes a subscription of c (not registered anywhere). For a link,
// weight is the queue weight it advertised.
func newSub(c *Client, subject, queue string, weight int) *subscription {
	s := &subscription{client: c}
	s.Subject, s.Queue = subject, queue
	s.SID = fmt.Sprintf("%d", nextID.Add(1))
	s.sid = []byte(s.SID)
	s.Owner = s
	s.qweight.Store(int32(weight))
	if c.leaf != nil && queue != "" {
		s.queueB = []byte(queue) // as ProcessLSPlus
	}
	return s
}

// addSub registers a subscription of c in acc the way ProcessSub and
// ProcessLSPlus do: in the sublist, in c.subs, and with the account's
// interest tracking.
func addSub(t *testing.T, acc *Account, c *Client, subject, queue string, weight int) *subscription {
	t.Helper()
	s := newSub(c, subject, queue, weight)
	require.NoError(t, acc.Sublist.Insert(&s.Subscription))
	c.mu.Lock()
	c.subs[s.SID] = s
	c.mu.Unlock()
	acc.subAdded(s)
	return s
}

// takeOut returns and clears what is queued on c (as the write loop would
// have written it), returning the chunks to the pool.
func takeOut(c *Client) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sb strings.Builder
	for _, b := range c.out {
		sb.Write(b)
		putChunk(b)
	}
	c.out = nil
	c.pending = 0
	return sb.String()
}

// protoLines splits protocol output into lines without their CRLF.
func protoLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
}
