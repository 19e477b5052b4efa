package broker

import (
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/wsbroker/broker/internal/client"
)

// Connection types, as in allowed_connection_types: the jwt/v2 constants.
const (
	ConnectionTypeStandard   = jwt.ConnectionTypeStandard   // "STANDARD": TCP clients
	ConnectionTypeWebsocket  = jwt.ConnectionTypeWebsocket  // "WEBSOCKET"
	ConnectionTypeInProcess  = jwt.ConnectionTypeInProcess  // "IN_PROCESS"
	ConnectionTypeLeafnode   = jwt.ConnectionTypeLeafnode   // "LEAFNODE"
	ConnectionTypeLeafnodeWS = jwt.ConnectionTypeLeafnodeWS // "LEAFNODE_WS"
	ConnectionTypeMQTT       = jwt.ConnectionTypeMqtt       // "MQTT"
	ConnectionTypeMQTTWS     = jwt.ConnectionTypeMqttWS     // "MQTT_WS"
)

var knownConnectionTypes = []string{
	ConnectionTypeStandard, ConnectionTypeWebsocket, ConnectionTypeInProcess,
	ConnectionTypeLeafnode, ConnectionTypeLeafnodeWS, ConnectionTypeMQTT, ConnectionTypeMQTTWS,
}

// SubjectPermission lists subjects a user may (Allow) and may not (Deny)
// use; wildcards allowed. An empty Allow allows every subject not denied.
// Subscribe entries may name a queue group after a space: "jobs.* workers".
type SubjectPermission struct {
	Allow []string
	Deny  []string
}

// ResponsePermission lets a user publish to the reply subject of each
// request it receives, whatever its publish permissions: at most MaxMsgs
// replies (default 1; negative: unlimited) within Expires (default 2
// minutes; negative: no expiry).
type ResponsePermission struct {
	MaxMsgs int
	Expires time.Duration
}

// Permissions restricts what a user may publish and subscribe to. A nil
// field restricts nothing.
type Permissions struct {
	Publish   *SubjectPermission
	Subscribe *SubjectPermission
	Response  *ResponsePermission
}

// User is an identity that may connect. It has either a Name (with a
// Password, plain text or a bcrypt hash starting with "$2") or an Nkey
// (a user public key starting with "U"; the client signs the INFO nonce).
type User struct {
	Name     string
	Password string
	Nkey     string
	// Account is the account the user belongs to; "" is the global
	// account. Subjects are isolated per account.
	Account string
	// Permissions restricts the user; nil allows everything.
	Permissions *Permissions
	// AllowedConnectionTypes lists the connection types the user may
	// connect with (ConnectionType* values, case-insensitive); empty
	// allows every type.
	AllowedConnectionTypes []string
}

// id names the user in logs and errors.
func (u *User) id() string {
	if u.Nkey != "" {
		return u.Nkey
	}
	return u.Name
}

// AuthRequest is what an Authenticator sees of a connecting client.
type AuthRequest struct {
	// ConnectionType is the ConnectionType* value of the connection.
	ConnectionType string
	RemoteAddr     net.Addr
	// TLS is the TLS state of the connection (nil for plain text).
	TLS *tls.ConnectionState
	// Origin, Header and Cookies come from the websocket upgrade request
	// (empty for other connections). Header must not be modified.
	Origin  string
	Header  http.Header
	Cookies []*http.Cookie
	// The credentials and identity fields of CONNECT.
	User, Password, Token, JWT, Nkey string
	Name, Lang, Version              string
}

// Authenticator decides who a connecting client is. It returns the user
// the client connects as (its Account, Permissions and
// AllowedConnectionTypes apply; Name is used in logs), or an error to
// reject the client with 'Authorization Violation' (the error is logged
// at debug level). It runs on the client's goroutine and may block, up to
// the auth timeout.
type Authenticator interface {
	Authenticate(req *AuthRequest) (*User, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(req *AuthRequest) (*User, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(req *AuthRequest) (*User, error) { return f(req) }

var _ Authenticator = AuthenticatorFunc(nil)

// authOptions is the auth configuration.
type authOptions struct {
	users        []User
	token        string
	timeout      time.Duration
	noAuthUser   string
	operators    []string // JWTs or file paths
	systemAcc    string
	preload      map[string]string
	hook         Authenticator
	insecureCook bool // cookie auth without origin policy, explicitly
	ws           wsAuthOptions
}

// wsAuthOptions is the websocket block's authorization override.
type wsAuthOptions struct {
	user, password, token string
	timeout               time.Duration
	noAuthUser            string
}

// override reports whether the websocket authorization override is active
// (nats-ws-spec §4.2: a websocket user, token or no_auth_user).
func (w *wsAuthOptions) override() bool {
	return w.user != "" || w.token != "" || w.noAuthUser != ""
}

// WithUsers adds users that may connect (see User). Default: none, and
// without users, token, operators or an Authenticator anyone may connect.
func WithUsers(users ...User) Option {
	return optionFunc(func(o *options) {
		for _, u := range users {
			u.AllowedConnectionTypes = slices.Clone(u.AllowedConnectionTypes)
			o.auth.users = append(o.auth.users, u)
		}
	})
}

// WithToken requires clients to present token (CONNECT auth_token).
// Default: no token.
func WithToken(token string) Option {
	return optionFunc(func(o *options) {
		if token == "" {
			o.problem("WithToken: token must not be empty")
		}
		o.auth.token = token
	})
}

// WithAuthTimeout sets how long a client has to authenticate, when
// authentication is required, before it is closed with 'Authentication
// Timeout'. Default DefaultAuthTimeout (2 s).
func WithAuthTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d <= 0 {
			o.problem("WithAuthTimeout(%v): must be positive", d)
		}
		o.auth.timeout = d
	})
}

// WithNoAuthUser names the user (of WithUsers) a client connects as when
// it presents no credentials at all. Default: none.
func WithNoAuthUser(name string) Option {
	return optionFunc(func(o *options) { o.auth.noAuthUser = name })
}

// WithWebsocketAuth sets the user and password websocket clients must
// present instead of the top-level credentials (the websocket block's
// authorization override). Default: none.
func WithWebsocketAuth(user, password string) Option {
	return optionFunc(func(o *options) {
		if user == "" {
			o.problem("WithWebsocketAuth: user must not be empty")
		}
		o.auth.ws.user, o.auth.ws.password = user, password
	})
}

// WithWebsocketToken sets the token websocket clients must present
// instead of the top-level credentials. Default: none.
func WithWebsocketToken(token string) Option {
	return optionFunc(func(o *options) {
		if token == "" {
			o.problem("WithWebsocketToken: token must not be empty")
		}
		o.auth.ws.token = token
	})
}

// WithWebsocketNoAuthUser names the user websocket clients without
// credentials connect as, instead of WithNoAuthUser's. Default: none.
func WithWebsocketNoAuthUser(name string) Option {
	return optionFunc(func(o *options) { o.auth.ws.noAuthUser = name })
}

// WithWebsocketAuthTimeout overrides WithAuthTimeout for websocket
// clients. Default 0: the general auth timeout applies.
func WithWebsocketAuthTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d < 0 {
			o.problem("WithWebsocketAuthTimeout(%v): must not be negative", d)
		}
		o.auth.ws.timeout = d
	})
}

// WithTrustedOperators turns on operator (JWT) mode: clients authenticate
// with a user JWT issued, through an account, by one of these operators.
// Each entry is an operator JWT or the path of a file holding one.
// Account JWTs come from WithResolverPreload. Default: off.
func WithTrustedOperators(jwtsOrPaths ...string) Option {
	return optionFunc(func(o *options) {
		o.auth.operators = append(o.auth.operators, jwtsOrPaths...)
	})
}

// WithSystemAccount names the system account (an account public key) in
// operator mode. Default: the operator's.
func WithSystemAccount(pub string) Option {
	return optionFunc(func(o *options) { o.auth.systemAcc = pub })
}

// WithResolverPreload gives the account JWTs of operator mode (account
// public key → account JWT), as nats-server's MEMORY resolver with
// resolver_preload. Default: none.
func WithResolverPreload(accounts map[string]string) Option {
	return optionFunc(func(o *options) {
		if o.auth.preload == nil {
			o.auth.preload = make(map[string]string, len(accounts))
		}
		for k, v := range accounts {
			o.auth.preload[k] = v
		}
	})
}

// WithAuthenticator hands authentication of every client to a. It
// replaces the built-in users, token and operator checks. A websocket
// client's request carries the upgrade headers and cookies, so an
// application can log browsers in with its own session cookie. Like every
// cookie-based login it turns the same-origin check on unless an origin
// policy is set or WithInsecureCookieAuth is given. Default: none.
func WithAuthenticator(a Authenticator) Option {
	return optionFunc(func(o *options) {
		if a == nil {
			o.problem("WithAuthenticator(nil): authenticator must not be nil")
		}
		o.auth.hook = a
	})
}

// WithInsecureCookieAuth keeps the origin check off although credentials
// come from cookies (WithJWTCookie, WithUserCookie, WithPassCookie,
// WithTokenCookie, WithAuthenticator). Without it the broker turns
// WithSameOrigin on in that case: a browser sends cookies with any page's
// websocket, so without an origin check any site could act as the user
// (cross-site websocket hijacking). Default: off (the check is on).
func WithInsecureCookieAuth() Option {
	return optionFunc(func(o *options) { o.auth.insecureCook = true })
}

// validateAuth checks the auth options, with nats-server's texts.
func (o *options) validateAuth() {
	a := &o.auth
	names := make(map[string]bool)
	for i := range a.users {
		u := &a.users[i]
		switch {
		case u.Name == "" && u.Nkey == "":
			o.problem("WithUsers: user %d has neither Name nor Nkey", i)
		case u.Name != "" && u.Nkey != "":
			o.problem("WithUsers: user %q has both Name and Nkey", u.Name)
		case u.Nkey != "" && !nkeys.IsValidPublicUserKey(u.Nkey):
			o.problem("WithUsers: not a valid public nkey for a user: %q", u.Nkey)
		}
		if names[u.id()] {
			o.problem("WithUsers: duplicate user %q", u.id())
		}
		names[u.id()] = true
		var bad []string
		for j, t := range u.AllowedConnectionTypes {
			up := strings.ToUpper(t)
			if !slices.Contains(knownConnectionTypes, up) {
				bad = append(bad, up)
			}
			u.AllowedConnectionTypes[j] = up
		}
		if len(bad) > 0 {
			o.problem("WithUsers: user %q: invalid connection types %q", u.id(), bad)
		}
		if err := client.ValidatePermissions(u.Permissions.internal()); err != nil {
			o.problem("WithUsers: user %q: %v", u.id(), err)
		}
	}
	operatorMode := len(a.operators) > 0
	for _, nau := range []struct{ opt, name string }{{"WithNoAuthUser", a.noAuthUser}, {"WithWebsocketNoAuthUser", a.ws.noAuthUser}} {
		switch {
		case nau.name == "":
		case operatorMode:
			o.problem("%s(%q): no_auth_user not compatible with Trusted Operator", nau.opt, nau.name)
		case len(a.users) == 0:
			o.problem("%s(%q): no_auth_user: %q present, but users/nkeys are not defined", nau.opt, nau.name, nau.name)
		case !names[nau.name]:
			o.problem("%s(%q): no_auth_user: %q not present as user or nkey in authorization block or account configuration", nau.opt, nau.name, nau.name)
		}
	}
	if len(a.users) > 0 && a.ws.user != "" {
		o.problem("WithWebsocketAuth: websocket authentication username not compatible with presence of users/nkeys")
	}
	if len(a.users) > 0 && a.ws.token != "" {
		o.problem("WithWebsocketToken: websocket authentication token not compatible with presence of users/nkeys")
	}
	if o.ws.jwtCookie != "" && !operatorMode {
		o.problem("WithJWTCookie(%q): trusted operators or trusted keys configuration is required for JWT authentication via cookie %q", o.ws.jwtCookie, o.ws.jwtCookie)
	}
	if !operatorMode && (a.systemAcc != "" || len(a.preload) > 0) {
		o.problem("WithSystemAccount/WithResolverPreload: need WithTrustedOperators")
	}
}

// cookieAuth reports whether credentials may come from cookies.
func (o *options) cookieAuth() bool {
	w := &o.ws
	return w.jwtCookie != "" || w.userCookie != "" || w.passCookie != "" || w.tokenCookie != "" || o.auth.hook != nil
}

// internal converts p to the engine's form.
func (p *Permissions) internal() *client.Permissions {
	if p == nil {
		return nil
	}
	cp := &client.Permissions{}
	if p.Publish != nil {
		cp.Publish = &client.SubjectPermission{Allow: slices.Clone(p.Publish.Allow), Deny: slices.Clone(p.Publish.Deny)}
	}
	if p.Subscribe != nil {
		cp.Subscribe = &client.SubjectPermission{Allow: slices.Clone(p.Subscribe.Allow), Deny: slices.Clone(p.Subscribe.Deny)}
	}
	if p.Response != nil {
		cp.Response = &client.ResponsePermission{MaxMsgs: p.Response.MaxMsgs, Expires: p.Response.Expires}
	}
	return cp
}

// connectionTypeAllowed reports whether a user restricted to allowed may
// connect as kind.
func connectionTypeAllowed(allowed []string, kind string) bool {
	return len(allowed) == 0 || slices.Contains(allowed, kind)
}
