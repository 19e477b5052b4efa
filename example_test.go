package broker_test

import (
	"context"
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
