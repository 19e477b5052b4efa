package websocket

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// allowedOrigin is one entry of the allow-list, indexed by lower-cased host.
type allowedOrigin struct {
	scheme string
	port   string
}

// originPolicy implements nats-ws-spec §2.3.
type originPolicy struct {
	same    bool
	allowed map[string][]allowedOrigin // lower-cased host → entries
}

// ValidateOrigins checks allowed-origin entries as nats-server does at
// start-up and returns the first failure with nats-server's text, for
// example `unable to parse allowed origin "ftp://x": allowed origins must
// be absolute URLs with http or https scheme`. It returns nil for a nil or
// empty list.
func ValidateOrigins(origins []string) error {
	for _, ao := range origins {
		u, err := url.ParseRequestURI(ao)
		if err != nil {
			return fmt.Errorf("unable to parse allowed origin: %v", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("unable to parse allowed origin %q: allowed origins must be absolute URLs with http or https scheme", ao)
		}
		if u.Host == "" {
			return fmt.Errorf("unable to parse allowed origin %q: host is required", ao)
		}
		if _, _, err := hostAndPort(u.Scheme == "https", u.Host); err != nil {
			return fmt.Errorf("unable to parse allowed origin: %v", err)
		}
	}
	return nil
}

func newOriginPolicy(same bool, origins []string) (*originPolicy, error) {
	if err := ValidateOrigins(origins); err != nil {
		return nil, err
	}
	p := &originPolicy{same: same}
	for _, ao := range origins {
		u, _ := url.ParseRequestURI(ao)
		h, port, _ := hostAndPort(u.Scheme == "https", u.Host)
		if p.allowed == nil {
			p.allowed = make(map[string][]allowedOrigin)
		}
		p.allowed[h] = append(p.allowed[h], allowedOrigin{scheme: u.Scheme, port: port})
	}
	return p, nil
}

// enabled reports whether any origin check is configured.
func (p *originPolicy) enabled() bool { return p.same || len(p.allowed) > 0 }

// check verifies origin (the Origin or Sec-WebSocket-Origin header value)
// against the policy. reqHost is the request's Host, tls whether the
// connection is TLS. An empty origin is accepted.
func (p *originPolicy) check(origin, reqHost string, tls bool) error {
	if !p.enabled() || origin == "" {
		return nil
	}
	u, err := url.ParseRequestURI(origin)
	if err != nil {
		return err
	}
	oh, op, err := hostAndPort(u.Scheme == "https", u.Host)
	if err != nil {
		return err
	}
	if p.same {
		rh, rp, err := hostAndPort(tls, reqHost)
		if err != nil {
			return err
		}
		rs := "http"
		if tls {
			rs = "https"
		}
		if oh != rh || op != rp || !strings.EqualFold(u.Scheme, rs) {
			return errors.New("not same origin")
		}
	}
	if len(p.allowed) > 0 {
		for _, ao := range p.allowed[oh] {
			if u.Scheme == ao.scheme && op == ao.port {
				return nil
			}
		}
		return errors.New("not in the allowed list")
	}
	return nil
}

// hostAndPort splits hostport, defaulting a missing port to 443 (tls) or
// 80, and lower-cases the host.
func hostAndPort(tls bool, hostport string) (string, string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && strings.Contains(ae.Err, "missing port") {
			err = nil
			host = hostport
			port = "80"
			if tls {
				port = "443"
			}
		}
	}
	return strings.ToLower(host), port, err
}
