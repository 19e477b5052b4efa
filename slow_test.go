package broker_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

// slowConsumerScenario subscribes a raw client that never reads and a
// healthy nats.go client, publishes total bytes, and checks the raw
// client was cut off while the healthy one got everything.
func slowConsumerScenario(t *testing.T, opts ...broker.Option) {
	b := startBroker(t, opts...)
	slow := dialRaw(t, b)
	// A small receive buffer, so the kernel cannot absorb the backlog.
	require.NoError(t, slow.conn.(*net.TCPConn).SetReadBuffer(64<<10))
	readInfo(t, slow)
	slow.send("CONNECT {\"verbose\":false}\r\nSUB data 1\r\nPING\r\n")
	require.Equal(t, "PONG", slow.line())

	healthy := transports[0].connect(t, b)
	var got atomic.Int64
	_, err := healthy.Subscribe("data", func(*nats.Msg) { got.Add(1) })
	require.NoError(t, err)
	require.NoError(t, healthy.Flush())

	pub := transports[0].connect(t, b)
	const msgs, size = 20000, 1024 // 20 MiB, far beyond socket buffers
	payload := make([]byte, size)
	for i := range msgs {
		require.NoError(t, pub.Publish("data", payload))
		if i%250 == 0 {
			// Pace the publisher to what a healthy subscriber can take: the
			// point is the slow one, not a race between the two.
			require.NoError(t, pub.FlushTimeout(10*time.Second))
		}
	}
	require.NoError(t, pub.FlushTimeout(10*time.Second), "publisher stalled by a slow consumer")
	waitFor(t, 20*time.Second, func() bool { return got.Load() == msgs }, "healthy subscriber gets every message")

	// The slow client was disconnected; the other two remain.
	waitFor(t, 10*time.Second, func() bool { return b.NumClients() == 2 }, "slow consumer disconnected")
}

func TestSlowConsumerPendingBytes(t *testing.T) {
	slowConsumerScenario(t, broker.WithMaxPending(4<<20))
}

func TestSlowConsumerWriteDeadline(t *testing.T) {
	slowConsumerScenario(t, broker.WithWriteDeadline(200*time.Millisecond))
}
