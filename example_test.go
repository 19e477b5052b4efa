package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsbroker/broker"
)

// A broker with no network at all: nats.go talks to it in-process.
func ExampleBroker_InProcessConn() {
	b, err := broker.New()
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		panic(err)
	}
	defer b.Shutdown(ctx)

	nc, err := nats.Connect("", nats.InProcessServer(b))
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	sub, _ := nc.SubscribeSync("greet.*")
	_ = nc.Publish("greet.joe", []byte("hello"))
	msg, err := sub.NextMsg(time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println(msg.Subject, string(msg.Data))
	// Output: greet.joe hello
}

// A broker serving TCP clients on a random loopback port.
func ExampleNew() {
	b, err := broker.New(broker.WithListen("127.0.0.1:0"), broker.WithMaxPayload(64<<10))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		panic(err)
	}
	defer b.Shutdown(ctx)

	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	fmt.Println(nc.MaxPayload())
	// Output: 65536
}

// Mount NATS-over-websocket on the application's own HTTP server: no
// extra port, the application's TLS and middleware apply.
func ExampleBroker_WebsocketHandler() {
	b, err := broker.New()
	if err != nil {
		panic(err)
	}
	if err := b.Start(context.Background()); err != nil {
		panic(err)
	}
	defer b.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/nats", b.WebsocketHandler())
	mux.Handle("/", http.FileServer(http.Dir("static")))
	_ = &http.Server{Addr: ":8443", Handler: mux} // then ListenAndServeTLS
	// Browsers connect with nats.ws to wss://host:8443/nats.
}

// Every invalid option is reported at once.
func ExampleNew_invalid() {
	_, err := broker.New(broker.WithMaxPayload(0), broker.WithWebsocket("127.0.0.1:8080"))
	fmt.Println(err)
	// Output:
	// broker: WithMaxPayload(0): must be positive
	// broker: WithWebsocket("127.0.0.1:8080"): websocket requires TLS configuration (use WithWebsocketTLS, or WithNoTLS for plain text)
}

// Browsers and Go clients over websocket, on a port of the broker's own.
func ExampleWithWebsocket() {
	b, err := broker.New(
		broker.WithWebsocket("127.0.0.1:0"),
		broker.WithNoTLS(), // loopback only; use WithWebsocketTLS otherwise
		broker.WithCompression(),
	)
	if err != nil {
		panic(err)
	}
	if err := b.Start(context.Background()); err != nil {
		panic(err)
	}
	defer b.Shutdown(context.Background())

	nc, err := nats.Connect(b.WebsocketURL(), nats.Compression(true))
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	sub, _ := nc.SubscribeSync("ws.hello")
	_ = nc.Publish("ws.hello", []byte("over websocket"))
	msg, err := sub.NextMsg(time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(msg.Data))
	// Output: over websocket
}

// Users in accounts, with permissions and the connection types they may
// use.
func ExampleWithUsers() {
	b, err := broker.New(
		broker.WithListen("127.0.0.1:0"),
		broker.WithUsers(
			broker.User{Name: "svc", Password: "s3cret", Account: "APP"},
			broker.User{Name: "reader", Password: "r3ad", Account: "APP",
				Permissions: &broker.Permissions{
					Publish:   &broker.SubjectPermission{Deny: []string{">"}},
					Subscribe: &broker.SubjectPermission{Allow: []string{"news.>"}},
				},
				AllowedConnectionTypes: []string{broker.ConnectionTypeStandard},
			},
		),
	)
	if err != nil {
		panic(err)
	}
	if err := b.Start(context.Background()); err != nil {
		panic(err)
	}
	defer b.Shutdown(context.Background())

	_, err = nats.Connect(b.ClientURL(), nats.UserInfo("svc", "wrong"))
	fmt.Println(err)

	errs := make(chan error, 1)
	reader, err := nats.Connect(b.ClientURL(), nats.UserInfo("reader", "r3ad"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		panic(err)
	}
	defer reader.Close()
	_ = reader.Publish("news.today", nil)
	fmt.Println(<-errs)
	// Output:
	// nats: Authorization Violation
	// nats: permissions violation: Permissions Violation for Publish to "news.today"
}

// Log browsers in with the application's own session cookie.
func ExampleWithAuthenticator() {
	sessions := map[string]string{"c0ffee": "alice"} // the application's
	b, err := broker.New(broker.WithAuthenticator(broker.AuthenticatorFunc(
		func(req *broker.AuthRequest) (*broker.User, error) {
			for _, c := range req.Cookies {
				if name, ok := sessions[c.Value]; ok && c.Name == "session" {
					return &broker.User{Name: name, Account: "WEB",
						Permissions: &broker.Permissions{Subscribe: &broker.SubjectPermission{
							Allow: []string{"user." + name + ".>", "_INBOX.>"}}}}, nil
				}
			}
			return nil, errors.New("no session")
		})))
	if err != nil {
		panic(err)
	}
	if err := b.Start(context.Background()); err != nil {
		panic(err)
	}
	defer b.Shutdown(context.Background())
	http.Handle("/nats", b.WebsocketHandler()) // same origin is enforced for cookie logins
}

// Join a NATS deployment as a leaf node: local clients reach clients of
// the hub, and back.
func ExampleWithLeafnodeRemote() {
	ctx := context.Background()
	hub, err := broker.New(broker.WithLeafnodeListen("127.0.0.1:0")) // stands for a nats-server hub
	if err != nil {
		panic(err)
	}
	if err := hub.Start(ctx); err != nil {
		panic(err)
	}
	defer hub.Shutdown(ctx)

	leaf, err := broker.New(broker.WithLeafnodeRemote(broker.LeafnodeRemote{
		URLs: []string{hub.LeafnodeURL()}, // or ws://hub:8080, wss://...
	}))
	if err != nil {
		panic(err)
	}
	if err := leaf.Start(ctx); err != nil {
		panic(err)
	}
	defer leaf.Shutdown(ctx)

	svc, _ := nats.Connect("", nats.InProcessServer(hub))
	defer svc.Close()
	_, _ = svc.Subscribe("time", func(m *nats.Msg) { _ = m.Respond([]byte("hub time")) })
	_ = svc.Flush()

	nc, _ := nats.Connect("", nats.InProcessServer(leaf))
	defer nc.Close()
	// Until the link is up and the interest has crossed it, the request
	// has no responders.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := nc.Request("time", nil, time.Second); err == nil {
			fmt.Println(string(resp.Data))
			return
		}
	}
	// Output: hub time
}
