// The authentication and authorization keys of a configuration file:
// authorization, accounts, no_auth_user, operator, system_account,
// resolver, resolver_preload, and the websocket block's authorization and
// no_auth_user. Semantics and error texts are nats-server's where it has
// them (nats-ws-spec §1.1, §4).

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wsbroker/broker"
)

// Defaults of nats-server's allow_responses.
const (
	defaultResponseMaxMsgs = 1
	defaultResponseExpires = 2 * time.Minute
	// highAuthTimeout is where nats-server starts warning about an auth
	// timeout: usually an unquoted duration (1m is a size: 1000000).
	highAuthTimeout = 60 * time.Second
)

// knownConnectionTypes are the values of allowed_connection_types.
var knownConnectionTypes = []string{
	broker.ConnectionTypeStandard, broker.ConnectionTypeWebsocket,
	broker.ConnectionTypeLeafnode, broker.ConnectionTypeLeafnodeWS,
	broker.ConnectionTypeMQTT, broker.ConnectionTypeMQTTWS,
	broker.ConnectionTypeInProcess,
}

// authConfig is the top-level authentication and authorization.
type authConfig struct {
	// Users are the single authorization user, or the users of the
	// authorization block and of every account, in file order.
	Users         []broker.User
	Token         string
	Timeout       time.Duration // 0: the broker default
	NoAuthUser    string
	Operators     []string // operator JWTs or paths of files holding one
	SystemAccount string
	Preload       map[string]string // account public key → account JWT
}

// authState is what the loader remembers of the auth keys until every key
// is read: most checks involve several keys, in any order.
type authState struct {
	user, pass   string // the authorization block's single user
	authBlock    *entry // the authorization key
	usersKey     *entry // the authorization block's users key
	accountUsers *entry // the first users key of an account
	accounts     *entry // an accounts key naming at least one account
	listUsers    map[string]bool
	noAuthUser   *entry
	wsNoAuthUser *entry
	operator     *entry
	resolver     *entry // a resolver key with an accepted value
	systemAcc    *entry
	preload      *entry
}

func (c *authConfig) options() []broker.Option {
	var opts []broker.Option
	if len(c.Users) > 0 {
		opts = append(opts, broker.WithUsers(c.Users...))
	}
	if c.Token != "" {
		opts = append(opts, broker.WithToken(c.Token))
	}
	if c.Timeout > 0 {
		opts = append(opts, broker.WithAuthTimeout(c.Timeout))
	}
	if c.NoAuthUser != "" {
		opts = append(opts, broker.WithNoAuthUser(c.NoAuthUser))
	}
	if len(c.Operators) > 0 {
		opts = append(opts, broker.WithTrustedOperators(c.Operators...))
	}
	if c.SystemAccount != "" {
		opts = append(opts, broker.WithSystemAccount(c.SystemAccount))
	}
	if len(c.Preload) > 0 {
		opts = append(opts, broker.WithResolverPreload(c.Preload))
	}
	return opts
}

func (ws *wsConfig) authOptions() []broker.Option {
	var opts []broker.Option
	if ws.NoAuthUser != "" {
		opts = append(opts, broker.WithWebsocketNoAuthUser(ws.NoAuthUser))
	}
	if ws.User != "" {
		opts = append(opts, broker.WithWebsocketAuth(ws.User, ws.Password))
	}
	if ws.Token != "" {
		opts = append(opts, broker.WithWebsocketToken(ws.Token))
	}
	if ws.AuthTimeout > 0 {
		opts = append(opts, broker.WithWebsocketAuthTimeout(ws.AuthTimeout))
	}
	return opts
}

// topAuth handles a top-level auth key and reports whether key is one.
func (l *loader) topAuth(e entry) bool {
	a, s := &l.cfg.Auth, &l.auth
	switch strings.ToLower(e.key) {
	case "authorization":
		l.authorization(e)
	case "authentication":
		// Only the websocket block has this alias in nats-server.
		l.unsupported(e, "use authorization: nats-server has no top-level authentication block")
	case "accounts":
		l.accounts(e)
	case "no_auth_user":
		if l.strTo(e, &a.NoAuthUser) {
			s.noAuthUser = &e
		}
	case "operator", "operators", "root", "roots", "root_operator", "root_operators":
		if ops := l.stringList(e); len(ops) > 0 {
			a.Operators = ops
			s.operator = &e
		}
	case "system_account", "system":
		if l.strTo(e, &a.SystemAccount) {
			s.systemAcc = &e
		}
	case "resolver", "account_resolver", "accounts_resolver":
		l.resolver(e)
	case "resolver_preload":
		l.preload(e)
	default:
		return false
	}
	return true
}

// authorization handles the top-level authorization block.
func (l *loader) authorization(e entry) {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map, got %s", typeName(e.v))
		return
	}
	a, s := &l.cfg.Auth, &l.auth
	s.authBlock = &e
	var users []broker.User
	var defaults *broker.Permissions
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "user", "username":
			l.strTo(k, &s.user)
		case "pass", "password":
			l.strTo(k, &s.pass)
		case "token":
			l.strTo(k, &a.Token)
		case "timeout":
			if d, ok := l.authTimeout(k, true); ok {
				a.Timeout = d
			}
		case "users":
			s.usersKey = &k
			users = l.users(k, "")
		case "default_permission", "default_permissions", "permissions":
			defaults = l.permissions(k)
		case "auth_callout", "auth_hook", "proxy_required":
			l.unsupported(k, "")
		default:
			l.unknownField(k)
		}
	}
	a.Users = append(a.Users, withDefaultPermissions(users, defaults)...)
	switch {
	case (s.user != "" || s.pass != "") && a.Token != "":
		l.errorf(e, "Cannot have a user/pass and token")
	case s.user == "" && s.pass != "":
		l.warnf(e, "password without user: ignored")
	}
}

// accounts handles the accounts block: a map of account name to account,
// or an array of account names (accounts without users).
func (l *loader) accounts(e entry) {
	switch v := e.v.(type) {
	case []any:
		seen := make(map[string]bool, len(v))
		for i, item := range v {
			ie := l.element(e, i, item)
			name, ok := l.str(ie)
			switch {
			case !ok:
			case name == "$G":
				l.errorf(ie, "%q is a Reserved Account", name)
			case seen[name]:
				l.errorf(ie, "Duplicate Account Entry: %s", name)
			default:
				seen[name] = true
				l.auth.accounts = &e
			}
		}
	case map[string]any:
		for _, acc := range l.entries(e.path, v) {
			if acc.tk != nil && acc.tk.IsUsedVariable() {
				continue
			}
			l.account(acc)
			l.auth.accounts = &e
		}
	default:
		l.errorf(e, "expected a map of accounts or an array of account names, got %s", typeName(e.v))
	}
}

// account handles one account of the accounts block: only its users (and
// their default_permissions) are supported.
func (l *loader) account(e entry) {
	m, ok := e.v.(map[string]any)
	switch {
	case !ok:
		l.errorf(e, "Expected map entries for accounts")
		return
	case e.key == "$G":
		l.errorf(e, "%q is a Reserved Account", e.key)
		return
	}
	var users []broker.User
	var defaults *broker.Permissions
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "users":
			if l.auth.accountUsers == nil {
				l.auth.accountUsers = &k
			}
			users = l.users(k, e.key)
		case "default_permissions":
			defaults = l.permissions(k)
		case "nkey", "imports", "exports", "jetstream", "mappings", "maps", "limits", "msg_trace", "trace_dest":
			l.unsupported(k, "")
		default:
			l.unknownField(k)
		}
	}
	l.cfg.Auth.Users = append(l.cfg.Auth.Users, withDefaultPermissions(users, defaults)...)
}

// withDefaultPermissions gives users without permissions the defaults.
func withDefaultPermissions(users []broker.User, defaults *broker.Permissions) []broker.User {
	for i := range users {
		if users[i].Permissions == nil {
			users[i].Permissions = defaults
		}
	}
	return users
}

// users handles a users array; account is "" outside the accounts block.
func (l *loader) users(e entry, account string) []broker.User {
	list, ok := e.v.([]any)
	if !ok {
		l.errorf(e, "expected an array of users, got %s", typeName(e.v))
		return nil
	}
	if l.auth.listUsers == nil {
		l.auth.listUsers = make(map[string]bool)
	}
	out := make([]broker.User, 0, len(list))
	for i, item := range list {
		ue := l.element(e, i, item)
		u, ok := l.user(ue, account)
		if !ok {
			continue
		}
		id, what := u.Name, "user"
		if u.Nkey != "" {
			id, what = u.Nkey, "nkey"
		}
		if l.auth.listUsers[id] {
			l.errorf(ue, "Duplicate %s %q detected", what, id)
			continue
		}
		l.auth.listUsers[id] = true
		out = append(out, u)
	}
	return out
}

// user handles one entry of a users array.
func (l *loader) user(e entry, account string) (broker.User, bool) {
	u := broker.User{Account: account}
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map (a user entry), got %s", typeName(e.v))
		return u, false
	}
	ok = true
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "user", "username":
			ok = l.strTo(k, &u.Name) && ok
		case "pass", "password":
			ok = l.strTo(k, &u.Password) && ok
		case "nkey":
			ok = l.strTo(k, &u.Nkey) && ok
		case "permission", "permissions", "authorization":
			u.Permissions = l.permissions(k)
		case "allowed_connection_types", "connection_types", "clients":
			u.AllowedConnectionTypes = l.connectionTypes(k)
		case "proxy_required":
			l.unsupported(k, "")
		default:
			l.unknownField(k)
		}
	}
	switch {
	case !ok:
		return u, false
	case u.Nkey == "" && u.Name == "":
		l.errorf(e, "User entry requires a user")
		return u, false
	case u.Nkey != "" && (u.Name != "" || u.Password != ""):
		l.errorf(e, "Nkey users do not take usernames or passwords")
		return u, false
	}
	return u, true
}

// permissions handles a permissions map: publish, subscribe,
// allow_responses (and nats-server's aliases).
func (l *loader) permissions(e entry) *broker.Permissions {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map of permissions, got %s", typeName(e.v))
		return nil
	}
	p := &broker.Permissions{}
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "pub", "publish", "import":
			p.Publish = l.subjectPermission(k, false)
		case "sub", "subscribe", "export":
			p.Subscribe = l.subjectPermission(k, true)
		case "allow_responses", "publish_allow_responses":
			p.Response = l.allowResponses(k)
		default:
			if k.tk == nil || !k.tk.IsUsedVariable() {
				l.errorf(k, "Unknown field %q parsing permissions", k.key)
			}
		}
	}
	if p.Response != nil && (p.Publish == nil || len(p.Publish.Allow) == 0) {
		// nats-server: allow_responses turns off the blanket publish
		// allow, so that the user may publish replies only. An empty
		// Allow allows everything in the broker: deny everything instead
		// (responses are checked after the deny list).
		if p.Publish == nil {
			p.Publish = &broker.SubjectPermission{}
		}
		p.Publish.Deny = append(p.Publish.Deny, ">")
	}
	return p
}

// subjectPermission handles publish or subscribe: a subject, an array of
// subjects (both allowed), or a map with allow and/or deny. Subscribe
// subjects may name a queue group after a space.
func (l *loader) subjectPermission(e entry, queues bool) *broker.SubjectPermission {
	m, ok := e.v.(map[string]any)
	if !ok {
		allow := l.subjects(e, queues)
		if allow == nil {
			return nil
		}
		return &broker.SubjectPermission{Allow: allow}
	}
	if len(m) == 0 {
		return nil
	}
	p := &broker.SubjectPermission{}
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "allow":
			p.Allow = l.subjects(k, queues)
		case "deny":
			p.Deny = l.subjects(k, queues)
		default:
			if k.tk == nil || !k.tk.IsUsedVariable() {
				l.errorf(k, "Unknown field name %q parsing subject permissions, only 'allow' or 'deny' are permitted", k.key)
			}
		}
	}
	return p
}

// subjects accepts a subject or an array of subjects; nil for none.
func (l *loader) subjects(e entry, queues bool) []string {
	if _, ok := e.v.(map[string]any); ok {
		l.errorf(e, "expected a subject or an array of subjects, got map")
		return nil
	}
	list := l.stringList(e)
	for _, s := range list {
		if err := checkPermSubject(s, queues); err != nil {
			l.errorf(e, "%v", err)
			return nil
		}
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

// checkPermSubject checks a permission subject as nats-server does; with
// queues, "subject queue" is accepted too.
func checkPermSubject(s string, queues bool) error {
	if validSubject(s) {
		return nil
	}
	f := strings.Fields(s)
	switch {
	case !queues || len(f) != 2:
		return fmt.Errorf("subject %q is not a valid subject", s)
	case !validSubject(f[0]):
		return fmt.Errorf("subject %q is not a valid subject", f[0])
	case !validSubject(f[1]):
		return fmt.Errorf("queue %q is not a valid queue", f[1])
	}
	return nil
}

// validSubject reports whether s is a valid subject, wildcards allowed:
// no empty token, no white space, ">" only as the last token.
func validSubject(s string) bool {
	if s == "" {
		return false
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		if t == "" || strings.ContainsAny(t, " \t\r\n\f") || (t == ">" && i != len(tokens)-1) {
			return false
		}
	}
	return true
}

// allowResponses handles allow_responses: a boolean, or a map with max
// (replies per request) and expires (a duration string).
func (l *loader) allowResponses(e entry) *broker.ResponsePermission {
	switch v := e.v.(type) {
	case bool:
		if !v {
			return nil
		}
		return &broker.ResponsePermission{MaxMsgs: defaultResponseMaxMsgs, Expires: defaultResponseExpires}
	case map[string]any:
		rp := &broker.ResponsePermission{MaxMsgs: defaultResponseMaxMsgs, Expires: defaultResponseExpires}
		for _, k := range l.entries(e.path, v) {
			switch strings.ToLower(k.key) {
			case "max", "max_msgs", "max_messages", "max_responses":
				n, ok := l.integer(k)
				if ok && n != 0 {
					rp.MaxMsgs = int(n) // negative: unlimited, as nats-server
				}
			case "expires", "expiration", "ttl":
				s, ok := k.v.(string)
				if !ok {
					l.errorf(k, "error parsing expires, not a duration string")
					continue
				}
				d, err := time.ParseDuration(s)
				switch {
				case err != nil:
					l.errorf(k, "error parsing expires: %v", err)
				case d != 0:
					rp.Expires = d // negative: never expires, as nats-server
				}
			default:
				if k.tk == nil || !k.tk.IsUsedVariable() {
					l.errorf(k, "Unknown field %q parsing permissions", k.key)
				}
			}
		}
		return rp
	default:
		l.errorf(e, "error parsing response permissions, expected a boolean or a map")
		return nil
	}
}

// connectionTypes handles allowed_connection_types: a string or an array
// of strings, each a connection type (case-insensitive).
func (l *loader) connectionTypes(e entry) []string {
	var names []string
	switch v := e.v.(type) {
	case string:
		names = []string{v}
	case []any:
		for _, item := range v {
			if tk, ok := item.(token); ok {
				item = tk.Value()
			}
			s, ok := item.(string)
			if !ok {
				l.errorf(e, "error parsing allowed connection types: unsupported type in array %T", item)
				continue
			}
			names = append(names, s)
		}
	default:
		l.errorf(e, "error parsing allowed connection types: unsupported type %T", v)
		return nil
	}
	var out, bad []string
	for _, n := range names {
		up := strings.ToUpper(n)
		if !slices.Contains(knownConnectionTypes, up) {
			bad = append(bad, up)
			continue
		}
		out = append(out, up)
	}
	if len(bad) > 0 {
		l.errorf(e, "invalid connection types %q", bad)
		return nil
	}
	return out
}

// authTimeout handles an authorization timeout: seconds (integer or
// float) or, at the top level (durations), a duration string.
func (l *loader) authTimeout(e entry, durations bool) (time.Duration, bool) {
	var d time.Duration
	switch v := e.v.(type) {
	case int64:
		if v > int64(time.Duration(1<<63-1)/time.Second) {
			l.errorf(e, "value is too big: %d seconds", v)
			return 0, false
		}
		d = time.Duration(v) * time.Second
	case float64:
		if v > float64(time.Duration(1<<63-1)/time.Second) {
			l.errorf(e, "value is too big: %v seconds", v)
			return 0, false
		}
		d = time.Duration(v * float64(time.Second))
	case string:
		if !durations {
			l.errorf(e, "expected a number of seconds, got string")
			return 0, false
		}
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			l.errorf(e, "error parsing authorization config, 'timeout' %v", err)
			return 0, false
		}
	default:
		what := "a number of seconds"
		if durations {
			what += " or a duration"
		}
		l.errorf(e, "expected %s, got %s", what, typeName(e.v))
		return 0, false
	}
	if d < 0 {
		l.errorf(e, "must not be negative, got %v", d)
		return 0, false
	}
	if durations && d > highAuthTimeout {
		l.warnf(e, "timeout of %v (%f seconds) is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example", e.v, d.Seconds())
	}
	return d, true
}

// websocketAuthorization handles the websocket block's authorization: only
// user, password, token and timeout (seconds), as in nats-server.
func (l *loader) websocketAuthorization(e entry, ws *wsConfig) {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map, got %s", typeName(e.v))
		return
	}
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "user", "username":
			l.strTo(k, &ws.User)
		case "pass", "password":
			l.strTo(k, &ws.Password)
		case "token":
			l.strTo(k, &ws.Token)
		case "timeout":
			if d, ok := l.authTimeout(k, false); ok {
				ws.AuthTimeout = d
			}
		default:
			l.unknownField(k)
		}
	}
	if ws.User == "" && ws.Password != "" {
		l.warnf(e, "password without user: ignored")
	}
}

// resolver accepts only the MEMORY resolver (account JWTs from
// resolver_preload).
func (l *loader) resolver(e entry) {
	switch v := e.v.(type) {
	case string:
		switch s := strings.ToUpper(strings.TrimSpace(v)); {
		case s == "MEM" || s == "MEMORY":
			l.auth.resolver = &e
		case strings.HasPrefix(s, "URL"):
			l.unsupported(e, "only the MEMORY resolver is supported")
		default:
			l.errorf(e, "invalid resolver %q: only MEMORY is supported", v)
		}
	case map[string]any:
		l.unsupported(e, "only the MEMORY resolver is supported")
	default:
		l.errorf(e, "expected a string, got %s", typeName(e.v))
	}
}

// preload handles resolver_preload: account public key → account JWT.
func (l *loader) preload(e entry) {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "preload should be a map of account_public_key:account_jwt")
		return
	}
	a := &l.cfg.Auth
	for _, k := range l.entries(e.path, m) {
		s, ok := k.v.(string)
		if !ok {
			l.errorf(k, "preload map value should be a string JWT")
			continue
		}
		if a.Preload == nil {
			a.Preload = make(map[string]string, len(m))
		}
		a.Preload[k.key] = s
	}
	l.auth.preload = &e
}

// finishAuth runs the checks that involve several keys, and turns the
// single authorization user into a user. Other checks (no nkey is
// malformed, JWTs decode...) are the library's, at broker.New.
func (l *loader) finishAuth() {
	a, s := &l.cfg.Auth, &l.auth
	if s.user != "" {
		a.Users = append([]broker.User{{Name: s.user, Password: s.pass}}, a.Users...)
	}
	if s.authBlock != nil && s.usersKey != nil {
		if s.user != "" {
			l.errorf(*s.authBlock, "Can not have a single user/pass and a users array")
		}
		if a.Token != "" {
			l.errorf(*s.authBlock, "Can not have a token and a users array")
		}
	}
	if s.accountUsers != nil {
		if s.user != "" {
			l.errorf(*s.accountUsers, "Can not have a single user/pass and accounts")
		}
		if a.Token != "" {
			l.errorf(*s.accountUsers, "Can not have a token and accounts")
		}
	}
	if op := s.operator; op != nil {
		if s.resolver == nil {
			l.errorf(*op, "operators require an account resolver to be configured (resolver: MEMORY)")
		}
		if s.accounts != nil {
			l.errorf(*op, "operators do not allow Accounts to be configured directly")
		}
		if len(s.listUsers) > 0 {
			l.errorf(*op, "operators do not allow users to be configured directly")
		}
	} else {
		if s.systemAcc != nil {
			l.errorf(*s.systemAcc, "needs operator: wsbroker has a system account only in operator mode")
		}
		if s.preload != nil {
			l.errorf(*s.preload, "needs operator: account JWTs are used only in operator mode")
		}
	}
	if e := s.noAuthUser; e != nil {
		l.checkNoAuthUser(*e, a.NoAuthUser)
	}
	if ws := l.cfg.Websocket; ws != nil && s.wsNoAuthUser != nil {
		l.checkNoAuthUser(*s.wsNoAuthUser, ws.NoAuthUser)
	}
}

// checkNoAuthUser checks a no_auth_user as nats-server does: it must be a
// user of a users array (the single authorization user does not count).
func (l *loader) checkNoAuthUser(e entry, name string) {
	switch {
	case name == "":
	case l.auth.operator != nil:
		l.errorf(e, "no_auth_user not compatible with Trusted Operator")
	case len(l.auth.listUsers) == 0:
		l.errorf(e, `no_auth_user: "%s" present, but users/nkeys are not defined`, name)
	case !l.auth.listUsers[name]:
		l.errorf(e, `no_auth_user: "%s" not present as user or nkey in authorization block or account configuration`, name)
	}
}

// unknownField reports a key nats-server does not know either, in its
// words, unless it is a variable definition that some value refers to.
func (l *loader) unknownField(e entry) {
	if e.tk != nil && e.tk.IsUsedVariable() {
		return
	}
	l.errorf(e, "unknown field %q", e.key)
}
