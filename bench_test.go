package broker_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// BenchmarkPubSub: one nats.go publisher, one nats.go subscriber, 128-byte
// payloads, over each transport. Side-by-side figures against nats-server
// are in cmd/wsbroker (bench_test.go there).
func BenchmarkPubSub(b *testing.B) {
	for _, tr := range transports {
		if tr.name == "handler" || tr.name == "wss" {
			continue
		}
		b.Run(tr.name, func(b *testing.B) {
			br := startBroker(b, tr.opts(b)...)
			sub := tr.connect(b, br)
			pub := tr.connect(b, br)
			var got atomic.Int64
			done := make(chan struct{})
			n := int64(b.N)
			s, err := sub.Subscribe("bench", func(*nats.Msg) {
				if got.Add(1) == n {
					close(done)
				}
			})
			require.NoError(b, err)
			require.NoError(b, s.SetPendingLimits(-1, -1))
			require.NoError(b, sub.Flush())
			payload := make([]byte, 128)
			b.SetBytes(128)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := pub.Publish("bench", payload); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-done:
			case <-time.After(time.Minute):
				b.Fatalf("received %d of %d", got.Load(), n)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
