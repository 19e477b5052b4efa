// Package broker is an embeddable message broker that speaks the NATS
// client protocol. Real NATS clients connect to it unchanged: nats.go over
// TCP, over websocket (ws:// and wss://) or in-process, nats.ws in a
// browser, and the nats CLI.
//
//	b, err := broker.New(
//		broker.WithListen("127.0.0.1:4222"),
//		broker.WithWebsocket("127.0.0.1:8080"),
//		broker.WithNoTLS(),
//	)
//	if err != nil { ... }
//	if err := b.Start(ctx); err != nil { ... }
//	defer b.Shutdown(ctx)
//	nc, err := nats.Connect(b.ClientURL())
//
// The behaviour reference is nats-server 2.15: the same operations, the
// same wildcard and queue-group semantics, the same -ERR texts (clients
// parse them), the same limits and their defaults.
//
// # Lifecycle
//
// New validates every option and reports all problems at once; it starts
// nothing. Start binds every configured listener and returns bind errors;
// the broker accepts connections when it returns. Shutdown stops
// accepting, writes what is queued for each client, closes every
// connection (websocket clients get a close frame 1001) and waits for
// every goroutine the broker started, bounded by its context. Close does
// the same at once, dropping queued output. Both are idempotent. The
// broker installs no signal handlers, never exits the process, keeps no
// global state and logs nothing unless given WithLogger.
//
// # Transports
//
// Three ways in for clients, one engine: TCP (WithListen), websocket (WithWebsocket
// for a listener of the broker's own, or WebsocketHandler to mount on the
// application's HTTP server at any path, behind its TLS and middleware)
// and in-process (InProcessConn, which nats.go uses through
// nats.InProcessServer). The websocket framing lives entirely in
// transport/websocket: the engine sees a byte stream and never branches on
// how the bytes arrived.
//
// # Concurrency
//
// Every connection has one read loop, which parses the stream in place
// (no allocation per message) and routes each message, and one write loop,
// the only goroutine that writes to the socket. A published message is
// copied once into the output of each receiving connection; each receiver
// is woken once per read of the publisher, not once per message, and writes
// everything pending with one vectored write (one websocket frame).
// Publishers never wait for receivers: a receiver with more than
// WithMaxPending bytes pending, or whose write blocks past
// WithWriteDeadline, is disconnected as a slow consumer. All methods of
// Broker are safe for concurrent use.
//
// # Security defaults
//
// The websocket listener requires TLS (WithWebsocketTLS) unless
// WithNoTLS is given, as in nats-server. Unlike nats-server, the websocket
// handshake is bounded (WithHandshakeTimeout, default 2 s) and the upgrade
// request size is capped. Compression is off unless WithCompression.
// Origins are checked only when WithSameOrigin or WithAllowedOrigins is
// given; requests without an Origin header (non-browser clients) are
// always accepted.
//
// # Authentication and authorization
//
// As in nats-server: users with plain or bcrypt passwords (WithUsers), a
// token (WithToken), nkey users (the client signs the nonce of INFO),
// operator mode with JWTs (WithTrustedOperators, WithResolverPreload),
// accounts that isolate subjects (User.Account), per-user publish and
// subscribe permissions with allow_responses, per-user allowed connection
// types (STANDARD, WEBSOCKET, IN_PROCESS, LEAFNODE, LEAFNODE_WS, ...), a
// no_auth_user (WithNoAuthUser; unlike nats-server it also works for a
// user with a bcrypt password), and the websocket block's overrides. A
// websocket client may authenticate with cookies of its upgrade request
// (WithJWTCookie and friends), and an embedder may decide itself with
// WithAuthenticator, which sees the upgrade's headers and cookies. Any
// cookie-based login turns the same-origin check on unless an origin
// policy is set or WithInsecureCookieAuth is given: a browser sends
// cookies with any page's websocket. Rejected clients get -ERR
// 'Authorization Violation' (websocket: then close 1008).
//
// # Leaf nodes
//
// The broker grows past one machine by joining a real NATS deployment as
// a leaf node (WithLeafnodeRemote, over the hub's leafnode port or its
// websocket port) and by accepting nats-server leaves
// (WithLeafnodeListen, or /leafnode on the websocket port). Interest
// crosses a link as LS+/LS- per subject and queue group, messages as
// LMSG/HMSG, once per link; a queue group prefers a local member and
// each message reaches one member in the whole topology. Only one local
// account crosses a link. It does not cluster by itself.
//
// # Limits
//
// Every resource is bounded, each bound with its option: payload size
// (WithMaxPayload, 1 MiB), protocol line (WithMaxControlLine, 4 KiB),
// pending output per client (WithMaxPending, 64 MiB), write time
// (WithWriteDeadline, 10 s), connections (WithMaxConnections, unlimited),
// liveness (WithPingInterval, 2 min, and WithPingMax, 2: a client that
// leaves that many PINGs unanswered is closed with 'Stale Connection').
package broker
