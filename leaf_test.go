package broker_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

func debugLogger() broker.Option {
	if os.Getenv("WSBROKER_DEBUG") == "" {
		return broker.WithServerName("quiet")
	}
	return broker.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// leafPair starts a hub and a leaf of ours linked over TCP or websocket.
func leafPair(t *testing.T, ws bool) (hub, leaf *broker.Broker) {
	hubOpts := []broker.Option{broker.WithLeafnodeListen("127.0.0.1:0"), debugLogger()}
	if ws {
		hubOpts = append(hubOpts, plainWS(t)...)
	}
	hub = startBroker(t, hubOpts...)
	url := hub.LeafnodeURL()
	if ws {
		url = hub.WebsocketURL()
	}
	leaf = startBroker(t, broker.WithLeafnodeRemote(broker.LeafnodeRemote{URLs: []string{url}, ReconnectInterval: 50 * time.Millisecond}), debugLogger())
	return hub, leaf
}

// waitInterest waits until a request on subject from nc finds a responder
// (interest has crossed the link).
func waitInterest(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool {
		_, err := nc.Request(subject, nil, 200*time.Millisecond)
		return err == nil
	}, "interest on "+subject+" across the link")
}

func TestLeafOurs(t *testing.T) {
	for _, ws := range []bool{false, true} {
		t.Run(fmt.Sprintf("ws=%v", ws), func(t *testing.T) {
			hub, leaf := leafPair(t, ws)
			waitFor(t, 10*time.Second, func() bool { return hub.NumLeafNodes() == 1 && leaf.NumLeafNodes() == 1 }, "link up")
			assert.Equal(t, 0, hub.NumClients())
			hc := transportNamed("tcp").connect(t, hub)
			lc := transportNamed("tcp").connect(t, leaf)

			// Request/reply both ways.
			_, err := hc.Subscribe("hub.svc", func(m *nats.Msg) { _ = m.Respond([]byte("hub:" + string(m.Data))) })
			require.NoError(t, err)
			_, err = lc.Subscribe("leaf.svc", func(m *nats.Msg) { _ = m.Respond([]byte("leaf:" + string(m.Data))) })
			require.NoError(t, err)
			require.NoError(t, hc.Flush())
			require.NoError(t, lc.Flush())
			waitInterest(t, lc, "hub.svc")
			waitInterest(t, hc, "leaf.svc")
			resp, err := lc.Request("hub.svc", []byte("x"), 5*time.Second)
			require.NoError(t, err)
			assert.Equal(t, "hub:x", string(resp.Data))
			resp, err = hc.Request("leaf.svc", []byte("y"), 5*time.Second)
			require.NoError(t, err)
			assert.Equal(t, "leaf:y", string(resp.Data))

			// A queue group behind the link: each message to one member.
			var n [2]atomic.Int64
			for i := range n {
				nc := transportNamed("tcp").connect(t, hub)
				_, err := nc.QueueSubscribe("work", "g", func(m *nats.Msg) {
					if m.Reply != "" {
						_ = m.Respond(nil)
						return
					}
					n[i].Add(1)
				})
				require.NoError(t, err)
				require.NoError(t, nc.Flush())
			}
			waitInterest(t, lc, "work")
			const msgs = 200
			for i := range msgs {
				require.NoError(t, lc.Publish("work", []byte(fmt.Sprint(i))))
			}
			require.NoError(t, lc.Flush())
			waitFor(t, 10*time.Second, func() bool { return n[0].Load()+n[1].Load() == msgs }, "queue deliveries")
			require.NoError(t, lc.Flush())
			require.NoError(t, hc.Flush())
			assert.Equal(t, int64(msgs), n[0].Load()+n[1].Load(), "each message exactly once")
			assert.Positive(t, n[0].Load())
			assert.Positive(t, n[1].Load())

			// Headers cross.
			s, err := hc.SubscribeSync("h")
			require.NoError(t, err)
			require.NoError(t, hc.Flush())
			waitFor(t, 10*time.Second, func() bool {
				m := nats.NewMsg("h")
				m.Header.Set("K", "V")
				require.NoError(t, lc.PublishMsg(m))
				got, err := s.NextMsg(100 * time.Millisecond)
				return err == nil && got.Header.Get("K") == "V"
			}, "header message across")

			// Unsubscribe removes remote interest: no responders again.
			sub, err := hc.Subscribe("gone", func(m *nats.Msg) { _ = m.Respond(nil) })
			require.NoError(t, err)
			require.NoError(t, hc.Flush())
			waitInterest(t, lc, "gone")
			require.NoError(t, sub.Unsubscribe())
			require.NoError(t, hc.Flush())
			waitFor(t, 10*time.Second, func() bool {
				_, err := lc.Request("gone", nil, time.Second)
				return err == nats.ErrNoResponders
			}, "fast no responders after unsubscribe")
		})
	}
}

// A leaf bound to a user with permissions: what it sends and receives is
// bounded by them, and the link stays up.
func TestLeafUserPermissions(t *testing.T) {
	hub := startBroker(t, broker.WithLeafnodeListen("127.0.0.1:0"), broker.WithLeafnodeUsers(broker.User{
		Name: "edge", Password: "p", Permissions: &broker.Permissions{
			Publish:   &broker.SubjectPermission{Allow: []string{"up.>"}},
			Subscribe: &broker.SubjectPermission{Allow: []string{"down.>"}},
		},
	}), debugLogger())
	url := strings.Replace(hub.LeafnodeURL(), "nats-leaf://", "nats-leaf://edge:p@", 1)
	leaf := startBroker(t, broker.WithLeafnodeRemote(broker.LeafnodeRemote{URLs: []string{url}}), debugLogger())
	waitFor(t, 10*time.Second, func() bool { return hub.NumLeafNodes() == 1 }, "link up")
	hc := transportNamed("tcp").connect(t, hub)
	lc := transportNamed("tcp").connect(t, leaf)

	up, err := hc.SubscribeSync("up.>")
	require.NoError(t, err)
	secretUp, err := hc.SubscribeSync("secret.>")
	require.NoError(t, err)
	require.NoError(t, hc.Flush())
	down, err := lc.SubscribeSync("down.x")
	require.NoError(t, err)
	all, err := lc.SubscribeSync(">")
	require.NoError(t, err)
	require.NoError(t, lc.Flush())

	// Allowed both ways.
	waitFor(t, 10*time.Second, func() bool {
		require.NoError(t, lc.Publish("up.1", nil))
		_, err := up.NextMsg(100 * time.Millisecond)
		return err == nil
	}, "leaf -> hub on up.>")
	waitFor(t, 10*time.Second, func() bool {
		require.NoError(t, hc.Publish("down.x", nil))
		_, err := down.NextMsg(100 * time.Millisecond)
		return err == nil
	}, "hub -> leaf on down.x")
	// Not allowed: nothing crosses, the link stays.
	require.NoError(t, lc.Publish("secret.1", []byte("no")))
	require.NoError(t, hc.Publish("secret.2", []byte("no")))
	require.NoError(t, lc.Flush())
	require.NoError(t, hc.Flush())
	for {
		m, err := secretUp.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		assert.NotEqual(t, "secret.1", m.Subject, "leaf published outside its permission")
	}
	for {
		m, err := all.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		assert.NotEqual(t, "secret.2", m.Subject, "leaf received outside its permission")
	}
	assert.Equal(t, 1, hub.NumLeafNodes(), "link dropped")
}

// TLS on a leafnode TCP link: INFO in plain text, then TLS, both ways ours.
func TestLeafTLS(t *testing.T) {
	hub := startBroker(t, broker.WithLeafnodeListen("127.0.0.1:0"), broker.WithLeafnodeTLS(testTLS(t).server), debugLogger())
	leaf := startBroker(t, broker.WithLeafnodeRemote(broker.LeafnodeRemote{
		URLs: []string{hub.LeafnodeURL()}, TLS: testTLS(t).client,
	}), debugLogger())
	waitFor(t, 10*time.Second, func() bool { return hub.NumLeafNodes() == 1 && leaf.NumLeafNodes() == 1 }, "TLS link up")
	hc := transportNamed("tcp").connect(t, hub)
	lc := transportNamed("tcp").connect(t, leaf)
	_, err := hc.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond([]byte("over tls")) })
	require.NoError(t, err)
	require.NoError(t, hc.Flush())
	waitInterest(t, lc, "svc")

	// A leaf without the CA cannot link; the hub stays up for others.
	bad := startBroker(t, broker.WithLeafnodeRemote(broker.LeafnodeRemote{
		URLs: []string{hub.LeafnodeURL()}, ReconnectInterval: 20 * time.Millisecond,
	}))
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		require.Zero(t, bad.NumLeafNodes(), "linked without trusting the hub's certificate")
	}
	resp, err := lc.Request("svc", nil, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "over tls", string(resp.Data))
	assert.Equal(t, 1, hub.NumLeafNodes())
}

// A leaf that ignores the permissions it was sent cannot get around them:
// the hub drops what is outside, and the link stays up.
func TestLeafHubEnforcesPermissions(t *testing.T) {
	hub := startBroker(t, broker.WithLeafnodeListen("127.0.0.1:0"), broker.WithLeafnodeUsers(broker.User{
		Name: "edge", Password: "p", Permissions: &broker.Permissions{
			Publish:   &broker.SubjectPermission{Allow: []string{"up.>"}},
			Subscribe: &broker.SubjectPermission{Allow: []string{"down.>"}},
		},
	}))
	hc := transportNamed("tcp").connect(t, hub)
	all, err := hc.SubscribeSync(">")
	require.NoError(t, err)
	require.NoError(t, hc.Flush())

	addr := strings.TrimPrefix(hub.LeafnodeURL(), "nats-leaf://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	r := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	info := readInfo(t, r)
	assert.Equal(t, true, info["info_on_connect"])
	r.send("CONNECT {\"user\":\"edge\",\"pass\":\"p\",\"headers\":true}\r\n")
	connectInfo := readInfo(t, r)
	assert.Equal(t, map[string]any{"allow": []any{"up.>"}}, connectInfo["export"])
	assert.Equal(t, map[string]any{"allow": []any{"down.>"}}, connectInfo["import"])
	// Interest outside its subscribe permission is ignored; messages
	// outside its publish permission are dropped; allowed ones pass.
	r.send("LS+ secret.x\r\nLS+ >\r\nLMSG secret.1 2\r\nno\r\nLMSG up.1 3\r\nyes\r\nPING\r\n")
	for l := r.line(); l != "PONG"; l = r.line() {
		assert.True(t, strings.HasPrefix(l, "LS+ ") || l == "PING", "unexpected %q", l)
	}
	m, err := all.NextMsg(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "up.1", m.Subject)
	// Its wildcard interest is filtered per message.
	require.NoError(t, hc.Publish("secret.x", []byte("not for the leaf")))
	require.NoError(t, hc.Publish("down.1", []byte("for the leaf")))
	require.NoError(t, hc.Flush())
	got := false
	for !got {
		l := r.line()
		assert.False(t, strings.HasPrefix(l, "LMSG secret"), "leaf received %q", l)
		got = strings.HasPrefix(l, "LMSG down.1 ")
	}
	assert.Equal(t, 1, hub.NumLeafNodes())
}

// A websocket hub that upgrades and then says nothing is given up on
// after the first-INFO timeout, and dialled again.
func TestLeafSilentHubIsRedialled(t *testing.T) {
	var attempts atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns sync.WaitGroup
	stop := make(chan struct{})
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				// Answer the upgrade, then stay silent.
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				key := req.Header.Get("Sec-WebSocket-Key")
				h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
					base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n"))
				select {
				case <-stop:
				case <-time.After(10 * time.Second):
				}
			}()
		}
	}()
	t.Cleanup(func() { close(stop); _ = ln.Close(); conns.Wait() })
	startBroker(t, broker.WithLeafnodeRemote(broker.LeafnodeRemote{
		URLs: []string{"ws://" + ln.Addr().String()}, ReconnectInterval: 20 * time.Millisecond,
	}))
	waitFor(t, 10*time.Second, func() bool { return attempts.Load() >= 2 }, "a second attempt after the silent one")
}
