package pipe

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
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ net.Conn = (*Conn)(nil)

// Both ends write at once without reading first: no lock-step.
func TestFullDuplexWithoutLockStep(t *testing.T) {
	a, b := New()
	defer a.Close()
	defer b.Close()
	_, err := a.Write([]byte("from a"))
	require.NoError(t, err)
	_, err = b.Write([]byte("from b"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err := b.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "from a", string(buf[:n]))
	n, err = a.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "from b", string(buf[:n]))
}

func TestLargeTransferInOrder(t *testing.T) {
	a, b := New()
	defer a.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB > Limit
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = a.Write(data)
		_ = a.CloseWrite()
	}()
	got, err := io.ReadAll(b)
	require.NoError(t, err)
	wg.Wait()
	assert.True(t, bytes.Equal(data, got))
	_ = b.Close()
}

func TestDeadlines(t *testing.T) {
	a, b := New()
	defer a.Close()
	defer b.Close()
	require.NoError(t, b.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := b.Read(make([]byte, 1))
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)

	// A writer blocked on a full direction times out.
	require.NoError(t, a.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	n, err := a.Write(make([]byte, Limit+1))
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
	assert.Equal(t, Limit, n)

	// Clearing the deadline makes reads block again until data arrives.
	require.NoError(t, b.SetReadDeadline(time.Time{}))
	buf := make([]byte, 10)
	n, err = b.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, 10, n)
}

func TestCloseSemantics(t *testing.T) {
	a, b := New()
	_, err := a.Write([]byte("last words"))
	require.NoError(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "Close twice")
	got, err := io.ReadAll(b)
	require.NoError(t, err, "peer reads what was written, then EOF")
	assert.Equal(t, "last words", string(got))
	_, err = b.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = a.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	require.NoError(t, b.Close())
}

func TestCloseWakesBlockedReader(t *testing.T) {
	a, b := New()
	done := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 1))
		done <- err
	}()
	require.NoError(t, b.Close())
	select {
	case err := <-done:
		assert.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("reader not woken by Close")
	}
	_ = a.Close()
}
