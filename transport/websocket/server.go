package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/wsbroker/broker/transport"
)

// Server upgrades connections to websocket and hands them to a
// transport.Handoff. Create it with NewServer; it is safe for concurrent
// use. The zero value is not usable.
type Server struct {
	cfg        Config
	handoff    transport.Handoff
	origins    *originPolicy
	rawHeaders string
	log        *slog.Logger

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	pending   map[net.Conn]struct{} // accepted, handshake in progress
	conns     map[*Conn]struct{}    // upgraded, not yet closed
	wg        sync.WaitGroup        // accept loops and handshake goroutines
}

// NewServer validates cfg (see ValidateOrigins), applies its defaults and
// returns a Server handing upgraded connections to handoff.
func NewServer(cfg Config, handoff transport.Handoff) (*Server, error) {
	if handoff == nil {
		return nil, errors.New("websocket: nil handoff")
	}
	origins, err := newOriginPolicy(cfg.SameOrigin, cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg.withDefaults(),
		handoff:   handoff,
		origins:   origins,
		log:       cfg.Logger,
		listeners: make(map[net.Listener]struct{}),
		pending:   make(map[net.Conn]struct{}),
		conns:     make(map[*Conn]struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var hdr []byte
	for _, k := range slices.Sorted(maps.Keys(cfg.Headers)) {
		hdr = append(append(append(append(hdr, k...), ": "...), cfg.Headers[k]...), "\r\n"...)
	}
	s.rawHeaders = string(hdr)
	return s, nil
}

// Serve accepts connections on l until Shutdown or Close, upgrading each in
// its own goroutine: TLS handshake (when Config.TLSConfig is set) and
// upgrade request, both within Config.HandshakeTimeout, then the hand-off.
// It returns nil after Shutdown or Close (and closes l) or once l is
// closed; other accept errors (such as running out of file descriptors)
// are retried with a backoff of up to 1 s.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	var backoff time.Duration
	for {
		raw, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				s.mu.Lock()
				delete(s.listeners, l)
				s.mu.Unlock()
				return nil
			}
			// Out of file descriptors (EMFILE is no timeout) or similar:
			// back off and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			raw.Close()
			return nil
		}
		s.pending[raw] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(raw)
	}
}

// serveConn runs the listener-mode handshake of one accepted connection.
func (s *Server) serveConn(raw net.Conn) {
	defer s.wg.Done()
	c, meta, err := s.upgradeConn(raw)
	s.mu.Lock()
	delete(s.pending, raw)
	s.mu.Unlock()
	if err != nil {
		s.log.Debug("websocket handshake error", "remote", raw.RemoteAddr().String(), "error", err.Error())
		raw.Close()
		return
	}
	if c == nil { // refused leaf node upgrade: 101 then close
		return
	}
	s.start(c, meta)
}

// upgradeConn performs the listener-mode handshake on raw: it returns the
// upgraded connection, or nil and an error after writing the refusal.
func (s *Server) upgradeConn(raw net.Conn) (*Conn, transport.Meta, error) {
	if s.cfg.HandshakeTimeout > 0 {
		raw.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	}
	conn := raw
	var tlsState *tls.ConnectionState
	if s.cfg.TLSConfig != nil {
		tc := tls.Server(raw, s.cfg.TLSConfig)
		if err := tc.Handshake(); err != nil {
			return nil, transport.Meta{}, err
		}
		st := tc.ConnectionState()
		tlsState = &st
		conn = tc
	}
	lr := &io.LimitedReader{R: conn, N: int64(s.cfg.MaxHeaderBytes)}
	br := bufio.NewReaderSize(lr, 4096)
	r, err := http.ReadRequest(br)
	if err != nil {
		var ne net.Error
		switch {
		case lr.N <= 0:
			conn.Write(appendErrorResponse(nil, http.StatusRequestHeaderFieldsTooLarge))
		case !errors.As(err, &ne) && !errors.Is(err, io.EOF):
			conn.Write(appendErrorResponse(nil, http.StatusBadRequest))
		}
		return nil, transport.Meta{}, err
	}
	r.TLS = tlsState
	r.RemoteAddr = raw.RemoteAddr().String()
	u, herr := s.checkRequest(r, tlsState != nil)
	if herr == nil && br.Buffered() > 0 {
		// The request was read; anything buffered past it is early client
		// data. nats-server closes without a response after hijacking;
		// we can still answer 400 ([GAP] §7.3 item 5).
		herr = &handshakeError{http.StatusBadRequest, "client sent data before handshake is complete"}
	}
	if herr != nil {
		conn.Write(appendErrorResponse(nil, herr.status))
		return nil, transport.Meta{}, herr
	}
	if _, err := conn.Write(s.appendUpgradeResponse(make([]byte, 0, 256), u)); err != nil {
		return nil, transport.Meta{}, err
	}
	raw.SetDeadline(time.Time{})
	if u.kind == transport.LeafnodeWS && !s.cfg.AcceptLeafnodes {
		s.log.Error("Not configured to accept leaf node connections", "remote", r.RemoteAddr)
		conn.Close()
		return nil, transport.Meta{}, nil
	}
	meta := s.metaFor(r, u)
	meta.RemoteAddr = raw.RemoteAddr()
	meta.TLS = tlsState
	meta.Header = r.Header
	return newConn(conn, u, s), meta, nil
}

// ServeHTTP upgrades r to websocket, with the same checks and responses as
// listener mode (refusals are written with http.Error; the connection
// stays usable for other requests). It can be mounted on any mux and path;
// the path suffixes "/leafnode" and "/mqtt" keep their meaning. The
// hijacked connection's deadlines are cleared and it is tracked until
// closed. After Shutdown or Close it answers 503.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	u, herr := s.checkRequest(r, r.TLS != nil)
	if herr != nil {
		s.refuseHTTP(w, r, herr)
		return
	}
	raw, brw, err := http.NewResponseController(w).Hijack()
	if errors.Is(err, http.ErrNotSupported) {
		s.refuseHTTP(w, r, &handshakeError{http.StatusBadRequest, "websocket upgrade not supported"})
		return
	}
	if err != nil {
		if raw != nil {
			raw.Close()
		}
		s.refuseHTTP(w, r, &handshakeError{http.StatusInternalServerError, err.Error()})
		return
	}
	if brw.Reader.Buffered() > 0 {
		raw.Close()
		s.log.Debug("websocket handshake error", "remote", r.RemoteAddr, "error", "client sent data before handshake is complete")
		return
	}
	if _, err := raw.Write(s.appendUpgradeResponse(make([]byte, 0, 256), u)); err != nil {
		raw.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	if u.kind == transport.LeafnodeWS && !s.cfg.AcceptLeafnodes {
		s.log.Error("Not configured to accept leaf node connections", "remote", r.RemoteAddr)
		raw.Close()
		return
	}
	meta := s.metaFor(r, u)
	meta.RemoteAddr = raw.RemoteAddr()
	meta.TLS = r.TLS
	meta.Header = r.Header
	s.start(newConn(raw, u, s), meta)
}

func (s *Server) refuseHTTP(w http.ResponseWriter, r *http.Request, herr *handshakeError) {
	s.log.Debug("websocket handshake error", "remote", r.RemoteAddr, "error", herr.reason)
	w.Header().Set("Sec-Websocket-Version", "13")
	http.Error(w, http.StatusText(herr.status), herr.status)
}

// start tracks c and hands it off, unless the server is closing.
func (s *Server) start(c *Conn, meta transport.Meta) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.raw.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.handoff(c, meta)
}

// untrack is called once by a Conn when its raw connection is closed.
func (s *Server) untrack(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// beginClose marks the server closed, closes listeners and in-progress
// handshakes, and returns the tracked upgraded connections.
func (s *Server) beginClose() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
		delete(s.listeners, l)
	}
	for c := range s.pending {
		c.Close()
	}
	return slices.Collect(maps.Keys(s.conns))
}

// Shutdown stops accepting, aborts handshakes in progress and asks every
// still-open upgraded connection to close: a close frame 1001 "Server
// Shutdown" is queued on it and its engine's write loop is woken (see
// Conn.SetWaker), so the frame is written by the connection's single
// writer after pending data. It then waits, bounded by ctx, for those
// connections to be closed (by their engines, or by the peer's close
// reply) and for the server's goroutines to end; when ctx is done first
// the remaining connections are closed without a frame and ctx.Err() is
// returned. Shutdown is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.beginClose()
	for _, c := range conns {
		c.requestShutdown()
	}
	var err error
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			err = ctx.Err()
			c.Close()
		}
	}
	s.wg.Wait()
	return err
}

// Close stops accepting and closes every listener, handshake in progress
// and upgraded connection immediately, without close frames, then waits
// for the server's goroutines. It is idempotent.
func (s *Server) Close() error {
	for _, c := range s.beginClose() {
		c.Close()
	}
	s.wg.Wait()
	return nil
}
