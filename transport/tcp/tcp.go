// Package tcp accepts plain TCP (optionally TLS) connections and hands them
// to the engine as STANDARD clients.
package tcp

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/wsbroker/broker/transport"
)

// Server runs an accept loop over a listener.
type Server struct {
	handoff transport.Handoff
	tls     *tls.Config
	kind    transport.Kind

	mu     sync.Mutex
	ln     net.Listener
	closed bool
}

// NewServer returns a Server handing connections of kind to handoff. With a
// non-nil tlsConf every connection is wrapped in TLS (the handshake runs
// lazily on the first read or write, on the engine's goroutines).
func NewServer(kind transport.Kind, tlsConf *tls.Config, handoff transport.Handoff) *Server {
	return &Server{handoff: handoff, tls: tlsConf, kind: kind}
}

// Serve accepts connections on ln until Close (or until ln is closed) and
// returns nil then. Other accept errors (such as running out of file
// descriptors) are retried with a backoff of up to 1 s.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors (EMFILE is no timeout) or similar:
			// back off and retry; only a closed listener ends the loop.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		meta := transport.Meta{Kind: s.kind, RemoteAddr: conn.RemoteAddr()}
		if s.tls != nil {
			conn = tls.Server(conn, s.tls)
		}
		s.handoff(conn, meta)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting; connections already handed off are not touched.
// It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.ln != nil {
		return s.ln.Close()
	}
	return nil
}
