package broker_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

// Every test here runs over each transport of the transports table.
func forEachTransport(t *testing.T, fn func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			b := startBroker(t, tr.opts(t)...)
			fn(t, func(t testing.TB, opts ...nats.Option) *nats.Conn { return tr.connect(t, b, opts...) })
		})
	}
}

func nextMsg(t testing.TB, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	return m
}

func TestPubSub(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		pub, sub := connect(t), connect(t)
		s, err := sub.SubscribeSync("greet.joe")
		require.NoError(t, err)
		require.NoError(t, sub.Flush())
		require.NoError(t, pub.Publish("greet.joe", []byte("hello")))
		require.NoError(t, pub.Publish("greet.joe", nil))
		m := nextMsg(t, s)
		assert.Equal(t, "greet.joe", m.Subject)
		assert.Equal(t, "hello", string(m.Data))
		assert.Empty(t, nextMsg(t, s).Data)
	})
}

func TestWildcards(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		nc := connect(t)
		star, err := nc.SubscribeSync("a.*.c")
		require.NoError(t, err)
		full, err := nc.SubscribeSync("a.>")
		require.NoError(t, err)
		for _, subj := range []string{"a.b.c", "a.x.c", "a.b", "a.b.c.d", "b.b.c"} {
			require.NoError(t, nc.Publish(subj, []byte(subj)))
		}
		require.NoError(t, nc.Flush())
		var gotStar, gotFull []string
		waitFor(t, 5*time.Second, func() bool {
			for {
				m, err := star.NextMsg(time.Millisecond)
				if err != nil {
					break
				}
				gotStar = append(gotStar, m.Subject)
			}
			for {
				m, err := full.NextMsg(time.Millisecond)
				if err != nil {
					break
				}
				gotFull = append(gotFull, m.Subject)
			}
			return len(gotStar) == 2 && len(gotFull) == 4
		}, "wildcard deliveries")
		assert.Equal(t, []string{"a.b.c", "a.x.c"}, gotStar)
		assert.Equal(t, []string{"a.b.c", "a.x.c", "a.b", "a.b.c.d"}, gotFull)
	})
}

func TestQueueGroupEachMessageOnce(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		const members, msgs = 3, 300
		var total atomic.Int64
		per := make([]atomic.Int64, members)
		for i := range members {
			nc := connect(t)
			_, err := nc.QueueSubscribe("work", "workers", func(*nats.Msg) {
				per[i].Add(1)
				total.Add(1)
			})
			require.NoError(t, err)
			require.NoError(t, nc.Flush())
		}
		// A plain subscriber gets every message besides the group.
		plain := connect(t)
		var plainN atomic.Int64
		_, err := plain.Subscribe("work", func(*nats.Msg) { plainN.Add(1) })
		require.NoError(t, err)
		require.NoError(t, plain.Flush())

		pub := connect(t)
		for i := range msgs {
			require.NoError(t, pub.Publish("work", []byte(fmt.Sprint(i))))
		}
		require.NoError(t, pub.Flush())
		waitFor(t, 5*time.Second, func() bool { return total.Load() == msgs && plainN.Load() == msgs }, "all deliveries")
		// Let any duplicate arrive before judging.
		require.NoError(t, pub.Flush())
		assert.Equal(t, int64(msgs), total.Load(), "each message to exactly one member")
		for i := range members {
			assert.Positive(t, per[i].Load(), "member %d got nothing", i)
		}
	})
}

func TestRequestReply(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		svc, cli := connect(t), connect(t)
		_, err := svc.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(append([]byte("re:"), m.Data...)) })
		require.NoError(t, err)
		require.NoError(t, svc.Flush())
		for i := range 10 {
			resp, err := cli.Request("echo", []byte(fmt.Sprint(i)), 5*time.Second)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("re:%d", i), string(resp.Data))
		}
	})
}

func TestHeaders(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		nc := connect(t)
		s, err := nc.SubscribeSync("h")
		require.NoError(t, err)
		m := nats.NewMsg("h")
		m.Header.Set("X-Trace", "abc")
		m.Header.Add("X-Multi", "1")
		m.Header.Add("X-Multi", "2")
		m.Data = []byte("body")
		require.NoError(t, nc.PublishMsg(m))
		got := nextMsg(t, s)
		assert.Equal(t, "abc", got.Header.Get("X-Trace"))
		assert.Equal(t, []string{"1", "2"}, got.Header.Values("X-Multi"))
		assert.Equal(t, "body", string(got.Data))
	})
}

func TestHeadersStrippedForClientWithoutHeaders(t *testing.T) {
	b := startBroker(t)
	r := dialRaw(t, b)
	r.line() // INFO
	r.send("CONNECT {\"verbose\":false,\"headers\":false}\r\nSUB h 1\r\nPING\r\n")
	require.Equal(t, "PONG", r.line())
	nc := transports[0].connect(t, b)
	m := nats.NewMsg("h")
	m.Header.Set("K", "V")
	m.Data = []byte("payload")
	require.NoError(t, nc.PublishMsg(m))
	assert.Equal(t, "MSG h 1 7", r.line())
	assert.Equal(t, "payload", r.line())
}

func TestNoResponders(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		nc := connect(t)
		start := time.Now()
		_, err := nc.Request("nobody.home", []byte("?"), 5*time.Second)
		require.ErrorIs(t, err, nats.ErrNoResponders)
		assert.Less(t, time.Since(start), 2*time.Second, "no-responders must be immediate")
	})
}

func TestNoEcho(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		quiet := connect(t, nats.NoEcho())
		other := connect(t)
		own, err := quiet.SubscribeSync("e")
		require.NoError(t, err)
		require.NoError(t, quiet.Flush())
		require.NoError(t, quiet.Publish("e", []byte("mine")))
		require.NoError(t, other.Publish("e", []byte("theirs")))
		assert.Equal(t, "theirs", string(nextMsg(t, own).Data))
		_, err = own.NextMsg(100 * time.Millisecond)
		assert.ErrorIs(t, err, nats.ErrTimeout, "own message echoed")
	})
}

func TestAutoUnsubscribe(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		nc := connect(t)
		var n atomic.Int64
		s, err := nc.Subscribe("au", func(*nats.Msg) { n.Add(1) })
		require.NoError(t, err)
		require.NoError(t, s.AutoUnsubscribe(3))
		for range 10 {
			require.NoError(t, nc.Publish("au", nil))
		}
		require.NoError(t, nc.Flush())
		waitFor(t, 5*time.Second, func() bool { return n.Load() == 3 }, "3 deliveries")
		// The server dropped the interest: a request now has no responders.
		_, err = nc.Request("au", nil, 5*time.Second)
		assert.ErrorIs(t, err, nats.ErrNoResponders)
		assert.Equal(t, int64(3), n.Load())
	})
}

func TestUnsubscribe(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		nc := connect(t)
		s, err := nc.SubscribeSync("u")
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		require.NoError(t, s.Unsubscribe())
		_, err = nc.Request("u", nil, 5*time.Second)
		assert.ErrorIs(t, err, nats.ErrNoResponders)
	})
}

func TestLargePayload(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		nc := connect(t)
		s, err := nc.SubscribeSync("big")
		require.NoError(t, err)
		payload := make([]byte, 1<<20) // exactly max_payload
		for i := range payload {
			payload[i] = byte(i)
		}
		require.NoError(t, nc.Publish("big", payload))
		assert.Equal(t, payload, nextMsg(t, s).Data)
	})
}

func TestManyPublishersManySubscribers(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		const pubs, subs, msgs = 4, 4, 500
		var got atomic.Int64
		for range subs {
			nc := connect(t)
			_, err := nc.Subscribe("fan.>", func(*nats.Msg) { got.Add(1) })
			require.NoError(t, err)
			require.NoError(t, nc.Flush())
		}
		var wg sync.WaitGroup
		errs := make(chan error, pubs)
		for p := range pubs {
			nc := connect(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range msgs {
					if err := nc.Publish(fmt.Sprintf("fan.%d", p), []byte(fmt.Sprint(i))); err != nil {
						errs <- err
						return
					}
				}
				errs <- nc.Flush()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		waitFor(t, 10*time.Second, func() bool { return got.Load() == pubs*subs*msgs }, "every delivery")
	})
}

func TestMaxPayloadRejected(t *testing.T) {
	forEachTransport(t, func(t *testing.T, connect func(testing.TB, ...nats.Option) *nats.Conn) {
		nc := connect(t)
		err := nc.Publish("big", make([]byte, 1<<20+1))
		require.Error(t, err)
		assert.True(t, errors.Is(err, nats.ErrMaxPayload), "got %v", err)
	})
}

// TestCrossTransportDelivery: clients on every transport of one broker see
// each other's messages.
func TestCrossTransportDelivery(t *testing.T) {
	var opts []broker.Option
	for _, tr := range transports {
		if tr.name != "wss" { // one websocket listener per broker: plain here
			opts = append(opts, tr.opts(t)...)
		}
	}
	b := startBroker(t, opts...)
	var conns []*nats.Conn
	var subs []*nats.Subscription
	for _, tr := range transports {
		if tr.name == "wss" {
			continue
		}
		nc := tr.connect(t, b)
		s, err := nc.SubscribeSync("cross.>")
		require.NoError(t, err)
		require.NoError(t, nc.Flush())
		conns = append(conns, nc)
		subs = append(subs, s)
	}
	for i, nc := range conns {
		require.NoError(t, nc.Publish(fmt.Sprintf("cross.%d", i), []byte(fmt.Sprint(i))))
	}
	for _, s := range subs {
		got := map[string]bool{}
		for range conns {
			got[nextMsg(t, s).Subject] = true
		}
		assert.Len(t, got, len(conns))
	}
}
