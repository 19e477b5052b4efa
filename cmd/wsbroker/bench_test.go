package main

// Comparison benchmarks: the same nats.go clients against an embedded
// nats-server and against our broker, over TCP and over websocket, in one
// run so that benchstat can compare them:
//
//	go test -run '^$' -bench . -benchtime 200000x -count 3 ./cmd/wsbroker/
//
// Sub-benchmarks are named <Topology>/<transport>/<server>. Besides ns/op
// (one op = one published message) and MB/s (payload bytes published),
// each reports msgs/s (published messages per second, until every
// subscriber has received everything) and cpu-ns/msg: the process CPU time
// (user+sys, getrusage) spent during the run divided by the published
// messages. The clients run in the same process as the server, so
// cpu-ns/msg is client+server CPU; the clients are the same for both
// servers, so the difference between the two is the servers'.

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// benchPayloadSize is the payload of every benchmark message.
const benchPayloadSize = 128

// benchTimeout bounds the wait for the last message of a run.
const benchTimeout = 2 * time.Minute

// benchServers and benchTransports span the comparison matrix.
var (
	benchServers    = []string{"nats-server", "wsbroker"}
	benchTransports = []string{"tcp", "ws"}
)

// benchLimits are the limits of both servers. max_payload is 8 MiB, not
// the default 1 MiB, because nats.go refuses websocket frames over 8 ×
// max_payload and both servers send a whole backlog as one frame: with 1
// MiB, a subscriber falling 8 MiB behind is disconnected (see
// TestWebsocketBacklogFrameSize). 8 × 8 MiB = 64 MiB = max_pending.
var benchLimits = limits{maxPayload: 8 << 20}

// benchURL starts server and returns the URL of its transport listener.
func benchURL(tb testing.TB, server, transport string) string {
	tb.Helper()
	var ep endpoint
	if server == "nats-server" {
		ep = startReference(tb, benchLimits)
	} else {
		ep = startOurs(tb, benchLimits)
	}
	if transport == "ws" {
		return ep.ws
	}
	return ep.natsURL()
}

// benchConnect connects nats.go to url; closed at the end of the run.
func benchConnect(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, nats.Timeout(10*time.Second), nats.NoReconnect())
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	return nc
}

// cpuTime returns the CPU time (user+sys) used by this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// topology is one benchmark scenario: setup connects its clients and
// returns run, which publishes n messages and returns once they have all
// been handled.
type topology func(tb testing.TB, url string) (run func(n int))

// pubSub publishes to subs subscribers (each on its own connection); with
// no subscriber it measures the server's parsing of PUBs (the run ends
// with a flush, so every PUB has been processed).
func pubSub(subs int) topology {
	return func(tb testing.TB, url string) func(n int) {
		var (
			received atomic.Int64
			want     atomic.Int64
			done     = make(chan struct{}, 1)
		)
		for range subs {
			nc := benchConnect(tb, url)
			sub, err := nc.Subscribe("bench", func(*nats.Msg) {
				if received.Add(1) == want.Load() {
					done <- struct{}{}
				}
			})
			require.NoError(tb, err)
			require.NoError(tb, sub.SetPendingLimits(-1, -1))
			require.NoError(tb, nc.Flush())
		}
		pub := benchConnect(tb, url)
		payload := make([]byte, benchPayloadSize)
		return func(n int) {
			received.Store(0)
			want.Store(int64(n * subs))
			for range n {
				if err := pub.Publish("bench", payload); err != nil {
					tb.Fatalf("publish: %v", err)
				}
			}
			if err := pub.FlushTimeout(benchTimeout); err != nil {
				tb.Fatalf("flush: %v", err)
			}
			if subs == 0 || n == 0 {
				return
			}
			select {
			case <-done:
			case <-time.After(benchTimeout):
				tb.Fatalf("received %d of %d messages", received.Load(), n*subs)
			}
		}
	}
}

// requestReply measures synchronous request latency: one request in
// flight at a time.
func requestReply(tb testing.TB, url string) func(n int) {
	svc := benchConnect(tb, url)
	_, err := svc.Subscribe("bench.svc", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	require.NoError(tb, err)
	require.NoError(tb, svc.Flush())
	nc := benchConnect(tb, url)
	payload := make([]byte, benchPayloadSize)
	return func(n int) {
		for range n {
			if _, err := nc.Request("bench.svc", payload, 10*time.Second); err != nil {
				tb.Fatalf("request: %v", err)
			}
		}
	}
}

// benchMatrix runs top for every transport and server.
func benchMatrix(b *testing.B, top topology) {
	for _, transport := range benchTransports {
		b.Run(transport, func(b *testing.B) {
			for _, server := range benchServers {
				b.Run(server, func(b *testing.B) {
					run := top(b, benchURL(b, server, transport))
					run(10) // warm up connections and subscriptions
					b.SetBytes(benchPayloadSize)
					b.ReportAllocs()
					cpu0 := cpuTime()
					b.ResetTimer()
					start := time.Now()
					run(b.N)
					elapsed := time.Since(start)
					b.StopTimer()
					cpu := cpuTime() - cpu0
					b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
				})
			}
		})
	}
}

func BenchmarkPubSub(b *testing.B)       { benchMatrix(b, pubSub(1)) }
func BenchmarkPubOnly(b *testing.B)      { benchMatrix(b, pubSub(0)) }
func BenchmarkFanout(b *testing.B)       { benchMatrix(b, pubSub(4)) }
func BenchmarkRequestReply(b *testing.B) { benchMatrix(b, requestReply) }

// TestBenchSetup runs every benchmark topology with a few messages, so
// that the harness is exercised by ordinary test runs.
func TestBenchSetup(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 5
	}
	tops := map[string]topology{
		"PubSub": pubSub(1), "PubOnly": pubSub(0), "Fanout": pubSub(4), "RequestReply": requestReply,
	}
	for _, name := range []string{"PubSub", "PubOnly", "Fanout", "RequestReply"} {
		for _, transport := range benchTransports {
			for _, server := range benchServers {
				t.Run(fmt.Sprintf("%s/%s/%s", name, transport, server), func(t *testing.T) {
					run := tops[name](t, benchURL(t, server, transport))
					for i := range 3 {
						run(n + i) // repeated runs reuse the clients
					}
					require.Greater(t, cpuTime(), time.Duration(0), "getrusage")
				})
			}
		}
	}
}
