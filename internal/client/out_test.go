package client

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/pipe"
	"github.com/wsbroker/broker/transport"
)

// pattern returns n bytes that differ from one offset to the next, so
// that a reordering or a lost piece shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

func TestAppendLockedChunks(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int // appended in turn
	}{
		{"nothing", []int{0}},
		{"one byte", []int{1}},
		{"exactly one chunk", []int{chunkSize}},
		{"one byte short", []int{chunkSize - 1}},
		{"one byte over", []int{chunkSize + 1}},
		{"several chunks", []int{3*chunkSize + 17}},
		{"small then spanning", []int{10, chunkSize}},
		{"fills exactly then more", []int{chunkSize - 5, 5, 1}},
		{"many small", []int{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}},
		{"mixed", []int{7, 2*chunkSize + 3, 0, 11, chunkSize}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, nil)
			var want []byte
			c.mu.Lock()
			for i, n := range tt.sizes {
				p := pattern(n, byte(i))
				want = append(want, p...)
				c.appendLocked(p)
				for j := range p {
					p[j] ^= 0xff // appendLocked must have copied
				}
			}
			out := append(net.Buffers(nil), c.out...)
			pending := c.pending
			c.mu.Unlock()

			assert.Equal(t, int64(len(want)), pending, "pending counts every byte")
			wantChunks := (len(want) + chunkSize - 1) / chunkSize
			require.Len(t, out, wantChunks)
			for i, b := range out {
				assert.Equal(t, chunkSize, cap(b), "chunk %d is a pooled chunk", i)
				if i < len(out)-1 {
					assert.Len(t, b, chunkSize, "chunk %d is full before the next one starts", i)
				}
			}
			assert.True(t, bytes.Equal(want, bytes.Join(out, nil)), "content in order")
			takeOut(c)
		})
	}
}

// startWriteLoop runs c's write loop alone (no read loop): the test plays
// the read loop's part. stop closes c gracefully and waits for the loop.
func startWriteLoop(t *testing.T, c *Client) (stop func()) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(c.writeLoop)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(c.readDone) // nothing to linger for
			c.Close(transport.ClientClosed)
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Error("write loop did not end")
			}
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestWriteLoopWritesEverythingInOrder(t *testing.T) {
	a, peer := pipe.New()
	defer peer.Close()
	c := New(1, a, transport.Meta{}, testConfig(), newFakeHost())
	stop := startWriteLoop(t, c)

	var want []byte
	var msgs [][]byte
	for i, n := range []int{5, chunkSize + 3, 1, 3 * chunkSize, 700, chunkSize - 1, 2, 100_000} {
		p := pattern(n, byte(i))
		msgs = append(msgs, p)
		want = append(want, p...)
	}
	// A producer appends and signals while the write loop writes.
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := range 20 {
			for i, p := range msgs {
				c.mu.Lock()
				c.appendLocked(p)
				c.mu.Unlock()
				if (round+i)%3 == 0 {
					c.signal()
				}
			}
		}
		c.signal()
	})
	got := make([]byte, 20*len(want))
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.ReadFull(peer, got)
	require.NoError(t, err)
	wg.Wait()
	for round := range 20 {
		require.True(t, bytes.Equal(want, got[round*len(want):(round+1)*len(want)]), "round %d in order", round)
	}
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.pending == 0 && len(c.out) == 0
	}, 5*time.Second, time.Millisecond, "pending back to 0 once written")

	stop()
	rest, err := io.ReadAll(peer)
	assert.NoError(t, err, "graceful close: EOF after the last bytes")
	assert.Empty(t, rest)
}

// buffersConn records the vectored writes the write loop makes.
type buffersConn struct {
	net.Conn
	mu    sync.Mutex
	calls []int // number of buffers per call
	bytes int
	got   chan struct{}
	// onWrite, if set, runs at the start of each call (with b.mu free).
	onWrite func()
}

func (b *buffersConn) WriteBuffers(bufs net.Buffers) (int64, error) {
	if b.onWrite != nil {
		b.onWrite()
	}
	var n int
	for _, x := range bufs {
		n += len(x)
	}
	b.mu.Lock()
	b.calls = append(b.calls, len(bufs))
	b.bytes += n
	b.mu.Unlock()
	b.got <- struct{}{}
	return int64(n), nil
}

func (b *buffersConn) take() ([]int, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	calls, n := b.calls, b.bytes
	b.calls, b.bytes = nil, 0
	return calls, n
}

func TestWriteLoopWritesInSteps(t *testing.T) {
	a, peer := pipe.New()
	defer peer.Close()
	bc := &buffersConn{Conn: a, got: make(chan struct{}, 16)}
	c := New(1, bc, transport.Meta{}, testConfig(), newFakeHost())
	require.NotNil(t, c.bw)
	var seen []int64 // pending as each write starts
	bc.onWrite = func() {
		c.mu.Lock()
		seen = append(seen, c.pending)
		c.mu.Unlock()
	}
	startWriteLoop(t, c)

	wait := func() {
		t.Helper()
		select {
		case <-bc.got:
		case <-time.After(10 * time.Second):
			t.Fatal("no write")
		}
	}

	const total = 4*chunkSize + 15
	c.mu.Lock()
	c.appendLocked(make([]byte, 4*chunkSize+10))
	c.appendLocked(make([]byte, 5))
	c.mu.Unlock()
	c.signal()
	wait()
	wait()
	wait()
	calls, n := bc.take()
	assert.Equal(t, []int{maxWriteChunks, maxWriteChunks, 1}, calls, "at most maxWriteChunks chunks per write")
	assert.Equal(t, total, n)
	// Pending falls after each write, not once the whole backlog is out.
	assert.Equal(t, []int64{total, total - 2*chunkSize, 15}, seen)
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.pending == 0
	}, 5*time.Second, time.Millisecond, "pending back to 0 once written")

	// A wake-up without data still calls the transport (its own output,
	// such as a websocket pong).
	c.signal()
	wait()
	calls, n = bc.take()
	assert.Equal(t, []int{0}, calls)
	assert.Zero(t, n)
}

// failConn fails every write with err.
type failConn struct {
	net.Conn
	err error
}

func (f *failConn) Write([]byte) (int, error) { return 0, f.err }

func TestWriteLoopWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want transport.CloseReason
	}{
		{"write error", errors.New("broken pipe"), transport.WriteError},
		{"deadline", os.ErrDeadlineExceeded, transport.SlowConsumerDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, peer := pipe.New()
			defer peer.Close()
			c := New(1, &failConn{Conn: a, err: tt.err}, transport.Meta{}, testConfig(), newFakeHost())
			var wg sync.WaitGroup
			wg.Go(c.writeLoop)
			c.mu.Lock()
			c.appendLocked([]byte("PING\r\n"))
			c.mu.Unlock()
			c.signal()
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("write loop did not end after a write error")
			}
			wg.Wait()
			c.mu.Lock()
			assert.True(t, c.closing)
			assert.False(t, c.flushOut, "aborted")
			assert.Equal(t, tt.want, c.reason)
			assert.Zero(t, c.pending)
			c.mu.Unlock()
			_, err := peer.Read(make([]byte, 1))
			assert.ErrorIs(t, err, io.EOF, "connection closed")
		})
	}
}
