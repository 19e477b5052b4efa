package broker

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/wsbroker/broker/internal/client"
	"github.com/wsbroker/broker/internal/jwtauth"
	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/transport"
)

// globalAccount is the name of the account of users without one.
const globalAccount = "$G"

// errNotAuthorized is the generic reason logged when no credential matched.
var errNotAuthorized = errors.New("no credentials matched")

// authenticator holds the compiled auth configuration of a broker.
type authenticator struct {
	opts     *authOptions
	leaf     *leafOptions
	users    map[string]*User // by name
	nkeys    map[string]*User // by public key
	verifier *jwtauth.Verifier
	cookies  *wsOptions

	mu       sync.Mutex
	accounts map[string]*client.Account
}

func newAuthenticator(o *options) (*authenticator, error) {
	a := &authenticator{
		opts:     &o.auth,
		leaf:     &o.leaf,
		users:    make(map[string]*User),
		nkeys:    make(map[string]*User),
		cookies:  &o.ws,
		accounts: map[string]*client.Account{globalAccount: client.NewAccount(globalAccount)},
	}
	for i := range o.auth.users {
		u := &o.auth.users[i]
		if u.Nkey != "" {
			a.nkeys[u.Nkey] = u
		} else {
			a.users[u.Name] = u
		}
	}
	if len(o.auth.operators) > 0 {
		var cfg jwtauth.Config
		for _, op := range o.auth.operators {
			oc, err := jwtauth.LoadOperator(op)
			if err != nil {
				return nil, fmt.Errorf("broker: WithTrustedOperators: %w", err)
			}
			cfg.Operators = append(cfg.Operators, oc)
		}
		res, err := jwtauth.NewMemResolver(o.auth.preload)
		if err != nil {
			return nil, fmt.Errorf("broker: WithResolverPreload: %w", err)
		}
		cfg.Resolver = res
		cfg.SystemAccount = o.auth.systemAcc
		if a.verifier, err = jwtauth.NewVerifier(cfg); err != nil {
			return nil, fmt.Errorf("broker: WithTrustedOperators: %w", err)
		}
	}
	return a, nil
}

// account returns the account named name, creating it on first use.
func (a *authenticator) account(name string) *client.Account {
	if name == "" {
		name = globalAccount
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	acc, ok := a.accounts[name]
	if !ok {
		acc = client.NewAccount(name)
		a.accounts[name] = acc
	}
	return acc
}

// required reports whether a client of kind must authenticate.
func (a *authenticator) required(kind transport.Kind) bool {
	o := a.opts
	if kind == transport.Websocket && o.ws.override() {
		return true
	}
	return len(o.users) > 0 || o.token != "" || a.verifier != nil || o.hook != nil
}

// needsNonce reports whether INFO carries a nonce (nkey users or operator
// mode: the client signs it).
func (a *authenticator) needsNonce() bool {
	return len(a.nkeys) > 0 || a.verifier != nil
}

// timeout is the auth timeout for a client of kind.
func (a *authenticator) timeout(kind transport.Kind) time.Duration {
	if kind == transport.Websocket && a.opts.ws.timeout > 0 {
		return a.opts.ws.timeout
	}
	return a.opts.timeout
}

// newNonce returns a random nonce for INFO.
func newNonce() []byte {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	b := make([]byte, base64.RawURLEncoding.EncodedLen(len(raw)))
	base64.RawURLEncoding.Encode(b, raw[:])
	return b
}

// authenticate decides who c is. ci is nil on the no_auth_user fast path
// (first operation not CONNECT).
func (a *authenticator) authenticate(c *client.Client, ci *proto.ConnectInfo) (*client.Grant, error) {
	meta := c.Meta()
	kind := meta.Kind.String()
	if meta.Kind == transport.Leafnode || meta.Kind == transport.LeafnodeWS {
		if ci == nil {
			return nil, errors.New("leafnode: first operation is not CONNECT")
		}
		if len(a.leaf.users) > 0 {
			return a.leafUser(ci)
		}
		if !a.required(transport.Standard) {
			// No authentication configured: leaves join the leafnodes
			// account.
			return &client.Grant{Account: a.account(a.leaf.account), User: "leafnode"}, nil
		}
		// Otherwise leaves authenticate like clients, with their own
		// connection types.
	}
	if ci != nil {
		ci = a.withCookies(meta, ci)
	}
	if a.opts.hook != nil {
		return a.viaHook(c, ci)
	}
	if ci == nil {
		return a.noAuth(meta.Kind, true)
	}
	if a.verifier != nil {
		return a.viaJWT(c, ci)
	}
	wsOverride := meta.Kind == transport.Websocket && a.opts.ws.override()
	switch {
	case ci.Nkey != "":
		u := a.nkeys[ci.Nkey]
		if u == nil {
			return nil, fmt.Errorf("unknown nkey %q", ci.Nkey)
		}
		if err := verifyNonceSig(ci.Nkey, c.Nonce(), ci.Sig); err != nil {
			return nil, fmt.Errorf("nkey %q: %w", ci.Nkey, err)
		}
		return a.grant(u, kind)
	case wsOverride && a.opts.ws.token != "":
		if !secureEqual(ci.Token, a.opts.ws.token) {
			return nil, errors.New("websocket token mismatch")
		}
		return &client.Grant{Account: a.account(""), User: "websocket token"}, nil
	case wsOverride && a.opts.ws.user != "" && (ci.User != "" || ci.Pass != ""):
		if ci.User != a.opts.ws.user || !secureEqual(ci.Pass, a.opts.ws.password) {
			return nil, fmt.Errorf("websocket user %q: bad credentials", ci.User)
		}
		return &client.Grant{Account: a.account(""), User: ci.User}, nil
	case ci.User != "":
		u := a.users[ci.User]
		if u == nil {
			return nil, fmt.Errorf("unknown user %q", ci.User)
		}
		if err := checkPassword(u.Password, ci.Pass); err != nil {
			return nil, fmt.Errorf("user %q: %w", ci.User, err)
		}
		return a.grant(u, kind)
	case ci.Token != "" && !wsOverride && a.opts.token != "":
		if !secureEqual(ci.Token, a.opts.token) {
			return nil, errors.New("token mismatch")
		}
		return &client.Grant{Account: a.account(""), User: "token"}, nil
	case ci.User == "" && ci.Pass == "" && ci.Token == "":
		return a.noAuth(meta.Kind, false)
	}
	return nil, errNotAuthorized
}

// noAuth admits a client without credentials as the no_auth_user, if one
// applies. fastPath is the pre-CONNECT case, where nkey users are not
// eligible.
func (a *authenticator) noAuth(kind transport.Kind, fastPath bool) (*client.Grant, error) {
	name := a.opts.noAuthUser
	switch {
	case kind == transport.Websocket && a.opts.ws.override():
		name = a.opts.ws.noAuthUser
	case kind == transport.LeafnodeWS && a.opts.ws.noAuthUser != "":
		name = a.opts.ws.noAuthUser
	}
	if name == "" {
		if fastPath {
			return nil, errors.New("first operation is not CONNECT and there is no no_auth_user")
		}
		return nil, errNotAuthorized
	}
	u := a.users[name]
	if u == nil && !fastPath {
		u = a.nkeys[name]
	}
	if u == nil {
		return nil, fmt.Errorf("no_auth_user %q cannot be used here", name)
	}
	// No password check: presenting no credentials is what selects this
	// user, bcrypt-hashed passwords included ([GAP] nats-server#6928).
	return a.grant(u, kind.String())
}

// leafUser authenticates a leaf against the leafnodes users.
func (a *authenticator) leafUser(ci *proto.ConnectInfo) (*client.Grant, error) {
	for i := range a.leaf.users {
		u := &a.leaf.users[i]
		if u.Name != ci.User {
			continue
		}
		if err := checkPassword(u.Password, ci.Pass); err != nil {
			return nil, fmt.Errorf("leafnode user %q: %w", u.Name, err)
		}
		return &client.Grant{Account: a.account(u.Account), User: u.Name, Permissions: u.Permissions.internal()}, nil
	}
	return nil, fmt.Errorf("leafnode: unknown user %q", ci.User)
}

// grant checks u's connection types and returns what u is granted.
func (a *authenticator) grant(u *User, kind string) (*client.Grant, error) {
	if !connectionTypeAllowed(u.AllowedConnectionTypes, kind) {
		return nil, fmt.Errorf("user %q: connection type %s not allowed", u.id(), kind)
	}
	return &client.Grant{Account: a.account(u.Account), User: u.id(), Permissions: u.Permissions.internal()}, nil
}

// withCookies fills the credentials CONNECT left empty from the cookies
// of the websocket upgrade (nats-ws-spec §4.5). It returns a copy.
func (a *authenticator) withCookies(meta *transport.Meta, ci *proto.ConnectInfo) *proto.ConnectInfo {
	if len(meta.Cookies) == 0 {
		return ci
	}
	out := *ci
	fill := func(field *string, cookie string) {
		if *field == "" && cookie != "" {
			*field = meta.Cookies[cookie]
		}
	}
	fill(&out.JWT, a.cookies.jwtCookie)
	fill(&out.User, a.cookies.userCookie)
	fill(&out.Pass, a.cookies.passCookie)
	fill(&out.Token, a.cookies.tokenCookie)
	return &out
}

// viaJWT authenticates in operator mode.
func (a *authenticator) viaJWT(c *client.Client, ci *proto.ConnectInfo) (*client.Grant, error) {
	meta := c.Meta()
	req := jwtauth.Request{
		UserJWT:  ci.JWT,
		Nonce:    c.Nonce(),
		Sig:      ci.Sig,
		ConnType: meta.Kind.String(),
		Now:      time.Now(),
	}
	if ta, ok := meta.RemoteAddr.(*net.TCPAddr); ok {
		req.RemoteIP = ta.IP
	}
	res, err := a.verifier.Verify(req)
	if err != nil {
		return nil, err
	}
	g := &client.Grant{
		Account:     a.account(res.Account),
		User:        res.User,
		Permissions: jwtPermissions(&res.Permissions),
		MaxSubs:     int(res.MaxSubs),
		MaxPayload:  int(res.MaxPayload),
		Expires:     res.Expires,
	}
	if !res.AccountExpires.IsZero() && (g.Expires.IsZero() || res.AccountExpires.Before(g.Expires)) {
		g.Expires = res.AccountExpires
	}
	// nats-server: -1 is unlimited; 0 means none allowed.
	if res.MaxSubs == 0 {
		return nil, errors.New("user JWT allows no subscriptions")
	}
	return g, nil
}

// jwtPermissions converts a user claim's permissions.
func jwtPermissions(p *jwt.Permissions) *client.Permissions {
	conv := func(sp jwt.Permission) *client.SubjectPermission {
		if len(sp.Allow) == 0 && len(sp.Deny) == 0 {
			return nil
		}
		return &client.SubjectPermission{Allow: sp.Allow, Deny: sp.Deny}
	}
	cp := &client.Permissions{Publish: conv(p.Pub), Subscribe: conv(p.Sub)}
	if p.Resp != nil {
		cp.Response = &client.ResponsePermission{MaxMsgs: p.Resp.MaxMsgs, Expires: p.Resp.Expires}
	}
	if cp.Publish == nil && cp.Subscribe == nil && cp.Response == nil {
		return nil
	}
	return cp
}

// viaHook asks the embedder's Authenticator.
func (a *authenticator) viaHook(c *client.Client, ci *proto.ConnectInfo) (*client.Grant, error) {
	meta := c.Meta()
	req := &AuthRequest{
		ConnectionType: meta.Kind.String(),
		RemoteAddr:     meta.RemoteAddr,
		TLS:            meta.TLS,
		Origin:         meta.Origin,
		Header:         http.Header(meta.Header),
	}
	if req.Header != nil {
		req.Cookies = (&http.Request{Header: req.Header}).Cookies()
	}
	if ci != nil {
		req.User, req.Password, req.Token, req.JWT, req.Nkey = ci.User, ci.Pass, ci.Token, ci.JWT, ci.Nkey
		req.Name, req.Lang, req.Version = ci.Name, ci.Lang, ci.Version
	}
	u, err := a.opts.hook.Authenticate(req)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, errors.New("authenticator returned no user")
	}
	types := make([]string, len(u.AllowedConnectionTypes))
	for i, t := range u.AllowedConnectionTypes {
		types[i] = strings.ToUpper(t)
	}
	if !connectionTypeAllowed(types, req.ConnectionType) {
		return nil, fmt.Errorf("user %q: connection type %s not allowed", u.id(), req.ConnectionType)
	}
	if err := client.ValidatePermissions(u.Permissions.internal()); err != nil {
		return nil, fmt.Errorf("user %q: %w", u.id(), err)
	}
	return &client.Grant{Account: a.account(u.Account), User: u.id(), Permissions: u.Permissions.internal()}, nil
}

// checkPassword compares a presented password with a configured one,
// plain (constant time) or bcrypt.
func checkPassword(configured, presented string) error {
	if strings.HasPrefix(configured, "$2") {
		if bcrypt.CompareHashAndPassword([]byte(configured), []byte(presented)) != nil {
			return errors.New("bad password")
		}
		return nil
	}
	if !secureEqual(configured, presented) {
		return errors.New("bad password")
	}
	return nil
}

// secureEqual compares secrets in constant time.
func secureEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// verifyNonceSig checks sig (base64, raw URL or standard) of nonce with
// the public nkey pub.
func verifyNonceSig(pub string, nonce []byte, sig string) error {
	if len(nonce) == 0 {
		return errors.New("no nonce was sent")
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return errors.New("signature not valid base64")
		}
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return err
	}
	if err := kp.Verify(nonce, raw); err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}
