package websocket

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponseHeaderBytes caps the 101 response head read by Dial.
const maxResponseHeaderBytes = 64 << 10

// pmdOffer is the permessage-deflate offer sent by Dial (as nats-server's
// leaf remotes send it).
const pmdOffer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

// DialOptions configures Dial. Zero value: plain ws://, no compression,
// masking on, 2 s handshake timeout, 1 MiB max payload.
type DialOptions struct {
	// TLSConfig is used for wss:// URLs, and also for ws:// URLs when it is
	// non-nil (as a nats-server leaf remote with a tls block does). It is
	// cloned; an empty ServerName is set to the URL's host. Nil with wss://
	// means a default config (system roots).
	TLSConfig *tls.Config
	// Compression offers permessage-deflate with no context takeover both
	// ways. Compression is on only if the 101 accepts it.
	Compression bool
	// NoMasking asks for "Nats-No-Masking: true"; outbound frames are
	// unmasked only if the 101 echoes that header.
	NoMasking bool
	// Header holds extra request headers (for example Origin or
	// User-Agent). Host overrides the Host line; the websocket headers
	// (Upgrade, Connection, Sec-WebSocket-*, Nats-No-Masking) are ignored.
	Header http.Header
	// HandshakeTimeout bounds the TCP dial, the TLS handshake and the
	// upgrade (request and 101). Default DefaultHandshakeTimeout (2 s) when
	// 0; negative means only ctx bounds it.
	HandshakeTimeout time.Duration
	// MaxPayload bounds inflated bytes per compressed message as
	// Config.MaxPayload does on the server side, and caps the payload of
	// outbound frames. Default DefaultMaxPayload (1 MiB) when 0.
	MaxPayload int
	// NetDialer dials the TCP connection; nil means a zero net.Dialer.
	NetDialer *net.Dialer
}

// HandshakeError is returned by Dial when the server does not complete the
// upgrade: a status other than 101, or a 101 with invalid headers.
type HandshakeError struct {
	// Status is the HTTP status code of the response.
	Status int
	// Reason says what was wrong, for example "unexpected status" or
	// "invalid Sec-WebSocket-Accept".
	Reason string
}

// Error returns the status and reason.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket: handshake failed: status %d %s: %s", e.Status, http.StatusText(e.Status), e.Reason)
}

// Dial connects to rawURL (ws:// or wss://, any path, port default 80 or
// 443) and upgrades. The request path (and query) is the URL's, "/" when
// empty: a caller dialing a leaf node hub appends "/leafnode" itself.
// User information in the URL is not sent. The returned *Conn is in client
// mode: its outbound frames are masked with a fresh random key per frame
// (unless no-masking was negotiated), and a masked frame from the server
// is a protocol error (close 1002 "mask bit set"). Bytes the server sent
// right after the 101 are kept for the first Read. The Conn has the same
// concurrency contract as a server-side one (one reader, one writer,
// control frames written through the waker). A refused upgrade yields a
// *HandshakeError; a timeout an error whose Timeout method reports true.
func Dial(ctx context.Context, rawURL string, opts DialOptions) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket: dial: %w", err)
	}
	var secure bool
	switch u.Scheme {
	case "ws":
	case "wss":
		secure = true
	default:
		return nil, fmt.Errorf("websocket: dial %s: scheme must be ws or wss", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("websocket: dial %s: missing host", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)

	timeout := opts.HandshakeTimeout
	if timeout == 0 {
		timeout = DefaultHandshakeTimeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	fail := func(err error) error {
		var he *HandshakeError
		if !errors.As(err, &he) && ctx.Err() != nil {
			err = fmt.Errorf("%w: %v", ctx.Err(), err)
		}
		return fmt.Errorf("websocket: dial %s: %w", u.Redacted(), err)
	}

	d := opts.NetDialer
	if d == nil {
		d = &net.Dialer{}
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fail(err)
	}
	// The deadline bounds blocking I/O; cancelling ctx interrupts it.
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	c, err := clientHandshake(ctx, raw, u, secure, opts)
	if !stop() && err == nil {
		// ctx ended as the handshake completed: the deadline may have been
		// set after being cleared.
		c.raw.Close()
		err = ctx.Err()
	}
	if err != nil {
		raw.Close()
		return nil, fail(err)
	}
	c.raw.SetDeadline(time.Time{})
	return c, nil
}

// clientHandshake runs TLS (when used) and the upgrade on raw.
func clientHandshake(ctx context.Context, raw net.Conn, u *url.URL, secure bool, opts DialOptions) (*Conn, error) {
	conn := raw
	if secure || opts.TLSConfig != nil {
		cfg := &tls.Config{}
		if opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		conn = tc
	}

	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(opts.Header)+6),
		Host:       u.Host,
	}
	for k, vs := range opts.Header {
		switch k = http.CanonicalHeaderKey(k); k {
		case "Host":
			if len(vs) > 0 {
				req.Host = vs[0]
			}
		case "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
			"Sec-Websocket-Extensions", "Sec-Websocket-Accept", noMaskingHeader:
		default:
			req.Header[k] = append(req.Header[k], vs...)
		}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // none rather than Go's default
	}
	req.Header["Upgrade"] = []string{"websocket"}
	req.Header["Connection"] = []string{"Upgrade"}
	req.Header["Sec-Websocket-Key"] = []string{key}
	req.Header["Sec-Websocket-Version"] = []string{"13"}
	if opts.Compression {
		req.Header["Sec-Websocket-Extensions"] = []string{pmdOffer}
	}
	if opts.NoMasking {
		req.Header[noMaskingHeader] = []string{noMaskingValue}
	}
	bw := bufio.NewWriterSize(conn, 1024)
	if err := req.Write(bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}

	// The reader stays the Conn's: bytes after the 101 (the server's first
	// INFO) are already buffered in it. The limit is lifted afterwards.
	lr := &io.LimitedReader{R: conn, N: maxResponseHeaderBytes}
	br := bufio.NewReaderSize(lr, readBufferSize)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if lr.N <= 0 {
			return nil, errors.New("websocket: response header too large")
		}
		return nil, err
	}
	lr.N = math.MaxInt64
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, &HandshakeError{Status: resp.StatusCode, Reason: "unexpected status"}
	}
	bad := func(reason string) error {
		return &HandshakeError{Status: resp.StatusCode, Reason: reason}
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return nil, bad("invalid Upgrade header")
	}
	if !headerContains(resp.Header, "Connection", "Upgrade") {
		return nil, bad("invalid Connection header")
	}
	if resp.Header.Get("Sec-Websocket-Accept") != acceptKey(key) {
		return nil, bad("invalid Sec-WebSocket-Accept")
	}
	compress := false
	if exts := resp.Header.Values("Sec-Websocket-Extensions"); len(exts) > 0 {
		if !opts.Compression {
			return nil, bad("unexpected Sec-WebSocket-Extensions")
		}
		if err := checkDeflateResponse(exts); err != nil {
			return nil, bad(err.Error())
		}
		compress = true
	}
	noMasking := opts.NoMasking && resp.Header.Get(noMaskingHeader) == noMaskingValue

	c := newConn(conn, upgrade{compress: compress, noMasking: noMasking}, nil)
	c.br = br
	c.client = true
	c.maskOut = !noMasking
	if opts.MaxPayload > 0 {
		c.maxPayload = opts.MaxPayload
		c.maxComp = compressedCap(c.maxPayload)
		c.frameMax = c.maxPayload
	}
	return c, nil
}

// checkDeflateResponse accepts a permessage-deflate response to pmdOffer
// (RFC 7692 §5, §7.1): exactly one extension, permessage-deflate, with
// server_no_context_takeover (our inflater is reset per message); it may
// add client_no_context_takeover (we never take over context),
// server_max_window_bits (any window inflates) and client_max_window_bits=15
// (our deflater uses a 32 KiB window).
func checkDeflateResponse(lines []string) error {
	n := 0
	for _, line := range lines {
		for ext := range strings.SplitSeq(line, ",") {
			if strings.Trim(ext, " \t") == "" {
				continue
			}
			n++
			params := strings.Split(ext, ";")
			if !strings.EqualFold(strings.Trim(params[0], " \t"), pmdExtension) {
				return fmt.Errorf("unexpected extension %q", strings.Trim(params[0], " \t"))
			}
			serverNoCtx := false
			for _, p := range params[1:] {
				name, val, hasVal := strings.Cut(strings.Trim(p, " \t"), "=")
				name = strings.ToLower(strings.TrimSpace(name))
				val = strings.Trim(strings.TrimSpace(val), `"`)
				switch name {
				case "server_no_context_takeover":
					serverNoCtx = true
				case "client_no_context_takeover":
				case "server_max_window_bits":
					if bits, err := strconv.Atoi(val); !hasVal || err != nil || bits < 8 || bits > 15 {
						return errors.New("compression negotiation error: invalid server_max_window_bits")
					}
				case "client_max_window_bits":
					if val != "15" {
						return errors.New("compression negotiation error: unsupported client_max_window_bits")
					}
				default:
					return fmt.Errorf("compression negotiation error: unknown parameter %q", name)
				}
			}
			if !serverNoCtx {
				return errors.New("compression negotiation error: server_no_context_takeover missing")
			}
		}
	}
	if n != 1 {
		return errors.New("compression negotiation error: several extensions")
	}
	return nil
}
