// Package transport is the contract between the edge of the broker (TCP,
// websocket, in-process) and its engine. A transport turns whatever it
// accepts into a byte stream (a net.Conn) plus Meta, and hands both to a
// Handoff. The engine never learns how the bytes were framed: websocket
// framing, TLS and HTTP live entirely on the transport's side.
//
// A connection may implement the optional interfaces below; the engine
// checks for them with a type assertion:
//
//   - BuffersWriter: the engine's single write loop hands it all pending
//     output at once (websocket: one frame per flush, header and data in one
//     vectored write).
//   - Waker: the transport has output of its own (a websocket pong or close
//     echo produced while reading) and asks the engine's write loop to run,
//     so that the socket keeps exactly one writer.
//   - ReasonCloser and Finisher: the engine says why it closes (websocket:
//     the close status and reason text of the close frame); a Finisher
//     also lets the engine linger until the peer has read the last bytes.
package transport

import (
	"crypto/tls"
	"net"
)

// Kind is the connection type of an accepted connection. Its String form is
// the jwt/v2 connection type constant used in allowed_connection_types.
type Kind uint8

// Connection kinds. The zero value is Standard (a plain TCP client).
const (
	Standard   Kind = iota // STANDARD: NATS clients over TCP (or TLS)
	Websocket              // WEBSOCKET: NATS clients over websocket
	InProcess              // IN_PROCESS: in-process clients (Broker.InProcessConn)
	Leafnode               // LEAFNODE: leaf node links over TCP
	LeafnodeWS             // LEAFNODE_WS: leaf node links over websocket
	MQTT                   // MQTT: reserved, not served
	MQTTWS                 // MQTT_WS: reserved, not served
)

// String returns the jwt/v2 connection type name of k (for example
// "WEBSOCKET").
func (k Kind) String() string {
	switch k {
	case Standard:
		return "STANDARD"
	case Websocket:
		return "WEBSOCKET"
	case InProcess:
		return "IN_PROCESS"
	case Leafnode:
		return "LEAFNODE"
	case LeafnodeWS:
		return "LEAFNODE_WS"
	case MQTT:
		return "MQTT"
	case MQTTWS:
		return "MQTT_WS"
	}
	return "UNKNOWN"
}

// Meta describes an accepted connection. Fields a transport does not know
// are left zero (a TCP connection has no Origin, no cookies, no path).
type Meta struct {
	Kind       Kind
	RemoteAddr net.Addr
	// TLS is the negotiated TLS state, nil for plain-text connections.
	TLS *tls.ConnectionState
	// Origin, UserAgent, Path and XForwardedFor come from the websocket
	// upgrade request, verbatim.
	Origin        string
	UserAgent     string
	Path          string
	XForwardedFor string
	// Cookies holds the values of the configured cookie names that the
	// upgrade request carried (name → value); nil when none.
	Cookies map[string]string
	// Header is the full upgrade request header of a websocket connection
	// (nil for other kinds). It must be treated as read-only.
	Header map[string][]string
}

// Handoff receives an accepted connection. It owns conn from then on and
// must eventually close it. It is called on the transport's goroutine and
// should return promptly (the engine starts its own goroutines).
type Handoff func(conn net.Conn, meta Meta)

// BuffersWriter is implemented by connections that write a batch of buffers
// as one unit (a websocket connection writes them as one frame). bufs may be
// empty: the connection then writes only output of its own (see Waker).
type BuffersWriter interface {
	WriteBuffers(bufs net.Buffers) (int64, error)
}

// Waker is implemented by connections whose read side produces output of
// their own (a websocket pong). The engine registers wake before its first
// Read; the connection calls it when it has such output, and the engine's
// write loop then calls WriteBuffers, possibly with no data.
type Waker interface {
	SetWaker(wake func())
}

// CloseReason is why the engine closes a connection. Its value is the text
// nats-server uses for the closed state (for example "Stale Connection").
type CloseReason string

// Close reasons used by the engine. Transports map them onto their own
// close signalling (websocket close status codes, nats-ws-spec §3.3).
const (
	ClientClosed                CloseReason = "Client Closed"
	ServerShutdown              CloseReason = "Server Shutdown"
	WriteError                  CloseReason = "Write Error"
	ReadError                   CloseReason = "Read Error"
	StaleConnection             CloseReason = "Stale Connection"
	ParseError                  CloseReason = "Parse Error"
	ProtocolViolation           CloseReason = "Protocol Violation"
	BadClientProtocol           CloseReason = "Bad Client Protocol Version"
	AuthenticationTimeout       CloseReason = "Authentication Timeout"
	AuthenticationFailure       CloseReason = "Authentication Failure"
	AuthenticationExpired       CloseReason = "Authentication Expired"
	SlowConsumerPending         CloseReason = "Slow Consumer (Pending Bytes)"
	SlowConsumerDeadline        CloseReason = "Slow Consumer (Write Deadline)"
	MaxConnectionsExceeded      CloseReason = "Maximum Connections Exceeded"
	MaxControlLineExceeded      CloseReason = "Maximum Control Line Exceeded"
	MaxSubscriptionsExceeded    CloseReason = "Maximum Subscriptions Exceeded"
	MaxPayloadExceeded          CloseReason = "Maximum Message Payload Exceeded"
	MissingAccount              CloseReason = "Missing Account"
	CredentialsRevoked          CloseReason = "Credentials Revoked"
	NoRespondersRequiresHeaders CloseReason = "No Responders Requires Headers"
)

// ReasonCloser is implemented by connections that can tell the peer why
// they close (websocket: a close frame). CloseWithReason writes that and
// closes the connection. The engine calls it from its write loop, after the
// last data was written, when it does not linger (see Finisher).
type ReasonCloser interface {
	CloseWithReason(reason CloseReason) error
}

// Finisher is implemented by connections that can end their output and
// still be read: Finish tells the peer why the connection ends (websocket:
// a close frame) and half-closes the write side. The engine then keeps
// reading (and discarding) until the peer closes or a short linger time
// passes, and calls Close. Closing a socket whose peer is still writing
// would make the kernel reset the connection, and the peer could lose the
// last -ERR before reading it. Plain TCP connections get the same effect
// from CloseWrite.
type Finisher interface {
	Finish(reason CloseReason) error
}
