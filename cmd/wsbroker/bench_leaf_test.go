package main

// Leaf node benchmarks: publisher and subscriber on either side of one
// leaf link, for every pairing of nats-server and wsbroker as hub and as
// leaf, over TCP (nats-leaf://) and websocket (ws://), in one run:
//
//	go test -run '^$' -bench Leaf -benchtime 100000x -count 3 ./cmd/wsbroker/
//
// Names are BenchmarkLeafPubSub/<transport>/<hub>Hub-<leaf>Leaf (publisher
// on the leaf, subscriber on the hub) and BenchmarkLeafPubSubReverse/...
// (publisher on the hub, subscriber on the leaf). Metrics as in
// bench_test.go: msgs/s until the subscriber has everything, and
// cpu-ns/msg, the CPU of the whole process (both servers and both clients)
// per message. nats-server's leafnodes compression default (s2_auto) makes
// a nats-server–nats-server link run S2 framing (s2_uncompressed on
// loopback); links with a wsbroker end run without S2, which wsbroker does
// not implement.

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

// leafBenchPairs are the hub/leaf pairings; the first is the reference.
var leafBenchPairs = []struct{ hub, leaf string }{
	{"nats", "nats"}, {"nats", "ours"}, {"ours", "nats"}, {"ours", "ours"},
}

// leafBenchNode is one running server of a leaf benchmark.
type leafBenchNode struct {
	client string // nats:// URL for the clients
	leaf   string // nats-leaf:// URL of the leafnode listener (hubs)
	ws     string // ws:// URL of the websocket listener (hubs)
}

// leafBenchHub starts a hub ("nats" or "ours") accepting leaves over TCP
// and websocket; stopped at the end of the test.
func leafBenchHub(tb testing.TB, kind string) leafBenchNode {
	tb.Helper()
	if kind == "nats" {
		o := leafBenchNatsOptions("hub")
		o.LeafNode.Host, o.LeafNode.Port = "127.0.0.1", -1
		s := leafBenchNatsStart(tb, o)
		v, err := s.Varz(nil) // the leafnode port picked
		require.NoError(tb, err)
		return leafBenchNode{
			client: s.ClientURL(),
			leaf:   fmt.Sprintf("nats-leaf://127.0.0.1:%d", v.LeafNode.Port),
			ws:     s.WebsocketURL(),
		}
	}
	b := leafBenchOursStart(tb, broker.WithServerName("hub"), broker.WithLeafnodeListen("127.0.0.1:0"))
	return leafBenchNode{client: b.ClientURL(), leaf: b.LeafnodeURL(), ws: b.WebsocketURL()}
}

// leafBenchLeaf starts a leaf ("nats" or "ours") of hubURL.
func leafBenchLeaf(tb testing.TB, kind, hubURL string) leafBenchNode {
	tb.Helper()
	if kind == "nats" {
		u, err := url.Parse(hubURL)
		require.NoError(tb, err)
		o := leafBenchNatsOptions("leaf")
		o.LeafNode.ReconnectInterval = 100 * time.Millisecond
		o.LeafNode.Remotes = []*server.RemoteLeafOpts{{URLs: []*url.URL{u}}}
		return leafBenchNode{client: leafBenchNatsStart(tb, o).ClientURL()}
	}
	b := leafBenchOursStart(tb, broker.WithServerName("leaf"), broker.WithLeafnodeRemote(broker.LeafnodeRemote{
		URLs: []string{hubURL}, ReconnectInterval: 100 * time.Millisecond,
	}))
	return leafBenchNode{client: b.ClientURL()}
}

func leafBenchNatsOptions(name string) *server.Options {
	o := &server.Options{
		ServerName: name, Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		MaxPayload: int32(benchLimits.maxPayload),
	}
	o.Websocket.Host, o.Websocket.Port, o.Websocket.NoTLS = "127.0.0.1", -1, true
	return o
}

func leafBenchNatsStart(tb testing.TB, o *server.Options) *server.Server {
	tb.Helper()
	s, err := server.NewServer(o)
	require.NoError(tb, err)
	s.Start()
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(tb, s.ReadyForConnections(10*time.Second), "nats-server not ready")
	return s
}

func leafBenchOursStart(tb testing.TB, opts ...broker.Option) *broker.Broker {
	tb.Helper()
	b, err := broker.New(append([]broker.Option{
		broker.WithListen("127.0.0.1:0"),
		broker.WithWebsocket("127.0.0.1:0"),
		broker.WithNoTLS(),
		broker.WithMaxPayload(benchLimits.maxPayload),
	}, opts...)...)
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
	return b
}

// leafBenchSetup starts hub and leaf linked over transport and returns
// the URLs the publisher and the subscriber connect to.
func leafBenchSetup(tb testing.TB, transport, hubKind, leafKind string, reverse bool) (pubURL, subURL string) {
	tb.Helper()
	hub := leafBenchHub(tb, hubKind)
	hubURL := hub.leaf
	if transport == "ws" {
		hubURL = hub.ws
	}
	leaf := leafBenchLeaf(tb, leafKind, hubURL)
	if reverse {
		return hub.client, leaf.client
	}
	return leaf.client, hub.client
}

// leafPubSub connects a subscriber to subURL and a publisher to pubURL,
// waits until the subscriber's interest has crossed the link (probe
// messages, shorter than the payload, until one arrives), and returns run,
// which publishes n messages and waits until all have arrived.
func leafPubSub(tb testing.TB, pubURL, subURL string) func(n int) {
	var (
		received atomic.Int64
		want     atomic.Int64
		probed   atomic.Bool
		done     = make(chan struct{}, 1)
	)
	sc := benchConnect(tb, subURL)
	sub, err := sc.Subscribe("bench", func(m *nats.Msg) {
		if len(m.Data) != benchPayloadSize {
			probed.Store(true)
			return
		}
		if received.Add(1) == want.Load() {
			done <- struct{}{}
		}
	})
	require.NoError(tb, err)
	require.NoError(tb, sub.SetPendingLimits(-1, -1))
	require.NoError(tb, sc.Flush())
	pub := benchConnect(tb, pubURL)
	deadline := time.Now().Add(20 * time.Second)
	for !probed.Load() {
		require.NoError(tb, pub.Publish("bench", []byte("p")))
		require.NoError(tb, pub.Flush())
		require.True(tb, time.Now().Before(deadline), "no interest across the leaf link")
		time.Sleep(10 * time.Millisecond)
	}
	// Probes still in flight are ignored by size; a round trip through
	// both servers lets them drain before counting starts.
	require.NoError(tb, pub.Flush())
	payload := make([]byte, benchPayloadSize)
	return func(n int) {
		received.Store(0)
		want.Store(int64(n))
		for range n {
			if err := pub.Publish("bench", payload); err != nil {
				tb.Fatalf("publish: %v", err)
			}
		}
		if err := pub.FlushTimeout(benchTimeout); err != nil {
			tb.Fatalf("flush: %v", err)
		}
		if n == 0 {
			return
		}
		select {
		case <-done:
		case <-time.After(benchTimeout):
			tb.Fatalf("received %d of %d messages", received.Load(), n)
		}
	}
}

func leafBenchMatrix(b *testing.B, reverse bool) {
	for _, transport := range benchTransports {
		b.Run(transport, func(b *testing.B) {
			for _, p := range leafBenchPairs {
				b.Run(p.hub+"Hub-"+p.leaf+"Leaf", func(b *testing.B) {
					pubURL, subURL := leafBenchSetup(b, transport, p.hub, p.leaf, reverse)
					run := leafPubSub(b, pubURL, subURL)
					run(10) // warm up
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

func BenchmarkLeafPubSub(b *testing.B)        { leafBenchMatrix(b, false) }
func BenchmarkLeafPubSubReverse(b *testing.B) { leafBenchMatrix(b, true) }

// TestLeafBenchSetup runs every leaf benchmark topology with a few
// messages, so that ordinary test runs exercise the harness.
func TestLeafBenchSetup(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 5
	}
	for _, transport := range benchTransports {
		for _, p := range leafBenchPairs {
			for _, reverse := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%sHub-%sLeaf/reverse=%v", transport, p.hub, p.leaf, reverse), func(t *testing.T) {
					pubURL, subURL := leafBenchSetup(t, transport, p.hub, p.leaf, reverse)
					run := leafPubSub(t, pubURL, subURL)
					for i := range 3 {
						run(n + i)
					}
				})
			}
		}
	}
}
