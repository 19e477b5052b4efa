package main

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// BenchmarkIdleConnMemory: the heap one idle connection costs (CONNECT, one
// subscription, a PING answered), over TCP and websocket, for nats-server
// and wsbroker in the same process. Reported as heap-B/conn; each op opens
// idleConns more connections, all kept open until the end (so that no
// asynchronous clean-up lands inside a measurement). The raw client sockets
// are counted for both servers alike (no client library, no buffers kept).
func BenchmarkIdleConnMemory(b *testing.B) {
	const idleConns = 500
	for _, tr := range []string{"tcp", "ws"} {
		for i, name := range []string{"nats-server", "wsbroker"} {
			b.Run(tr+"/"+name, func(b *testing.B) {
				ep := startBoth(b, limits{})[i]
				var conns []net.Conn
				b.Cleanup(func() {
					for _, c := range conns {
						_ = c.Close()
					}
				})
				var total float64
				for range b.N {
					runtime.GC()
					var m0, m1 runtime.MemStats
					runtime.ReadMemStats(&m0)
					for range idleConns {
						conns = append(conns, idleConn(b, ep, tr))
					}
					runtime.GC()
					runtime.ReadMemStats(&m1)
					total += float64(int64(m1.HeapInuse)-int64(m0.HeapInuse)) / idleConns
				}
				b.ReportMetric(total/float64(b.N), "heap-B/conn")
			})
		}
	}
}

// idleConn opens a connection that has subscribed once and had its PING
// answered, so the server has finished setting it up.
func idleConn(b *testing.B, ep endpoint, tr string) net.Conn {
	const hello = "CONNECT {\"verbose\":false}\r\nSUB idle 1\r\nPING\r\n"
	if tr == "tcp" {
		c, err := net.Dial("tcp", ep.tcp)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write([]byte(hello)); err != nil {
			b.Fatal(err)
		}
		var got []byte
		var buf [512]byte
		for !strings.Contains(string(got), "PONG\r\n") {
			n, err := c.Read(buf[:])
			if err != nil {
				b.Fatal(err)
			}
			got = append(got, buf[:n]...)
		}
		return c
	}
	c, br, _, err := ws.Dial(b.Context(), ep.ws)
	if err != nil {
		b.Fatal(err)
	}
	if br != nil {
		ws.PutReader(br)
	}
	if err := wsutil.WriteClientBinary(c, []byte(hello)); err != nil {
		b.Fatal(err)
	}
	var got strings.Builder
	for !strings.Contains(got.String(), "PONG") {
		data, err := wsutil.ReadServerBinary(c)
		if err != nil {
			b.Fatal(fmt.Errorf("ws read: %w", err))
		}
		got.Write(data)
	}
	return c
}
