// The leafnodes block of a configuration file: accepting leaf nodes
// (listen, authorization, tls) and joining NATS deployments as a leaf node
// (remotes). Semantics and error texts are nats-server's where it has them
// (leafnode-spec §8, §9); every leafnodes key wsbroker does not implement
// is an error, so that a file never means more than the broker does.

package main

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsbroker/broker"
)

// leafConfig is the leafnodes block.
type leafConfig struct {
	Listen  string        // host:port of the leafnode listener; "" = no listener
	Users   []broker.User // authorization: the single user or the users array
	Account string        // authorization.account
	// TLS is the tls block: TLS required from leaves on the leafnode port
	// (INFO in plain text, then the handshake, as nats-server); nil: plain.
	TLS     *tls.Config
	Remotes []broker.LeafnodeRemote
	// Reconnect is reconnect_interval, applied to every remote; 0 is the
	// broker default (1 s).
	Reconnect time.Duration
}

// leafState is what the loader remembers of the leafnodes block until
// every key is read (account and operator checks need the whole file).
type leafLoadState struct {
	block    *entry
	auth     *entry   // the authorization key
	accounts []*entry // every key naming a local account, with its name in v
	users    *entry   // authorization.users
	remotes  []*entry // the remotes[i] entries, for operator-mode checks
}

// Why nats-server's leafnodes keys are not supported: every one of them is
// an error with this reason, so that nothing is silently ignored.
var (
	leafUnsupported = map[string]string{
		"advertise":                 "wsbroker does not send URL gossip; leaves dial the URLs they are configured with",
		"leafnode_advertise":        "wsbroker does not send URL gossip; leaves dial the URLs they are configured with",
		"no_advertise":              "wsbroker does not send URL gossip",
		"compression":               "S2 compression is not supported; links run uncompressed",
		"min_version":               "",
		"minimum_version":           "",
		"isolate_leafnode_interest": "",
		"isolate":                   "",
		"write_deadline":            "the top-level write_deadline applies to leaf node links",
		"write_timeout":             "",
		"dial_timeout":              "",
	}
	leafAuthUnsupported = map[string]string{
		"timeout":        "leaves have the top-level authorization timeout",
		"nkey":           "use user/password, or users",
		"proxy_required": "",
	}
	remoteUnsupported = map[string]string{
		"nkey":                      "use credentials (a .creds file)",
		"seed":                      "use credentials (a .creds file)",
		"hub":                       "",
		"deny_imports":              "leaf node permissions are not supported",
		"deny_import":               "leaf node permissions are not supported",
		"deny_exports":              "leaf node permissions are not supported",
		"deny_export":               "leaf node permissions are not supported",
		"compression":               "S2 compression is not supported; links run uncompressed",
		"no_randomize":              "",
		"dont_randomize":            "",
		"ignore_discovered_servers": "",
		"request_isolation":         "",
		"isolate_leafnode_interest": "",
		"isolate":                   "",
		"first_info_timeout":        "",
		"dial_timeout":              "",
		"disabled":                  "",
		"proxy":                     "",
		"jetstream_cluster_migrate": "JetStream is not supported",
		"js_cluster_migrate":        "JetStream is not supported",
	}
)

func (c *leafConfig) options() []broker.Option {
	var opts []broker.Option
	if c.Listen != "" {
		opts = append(opts, broker.WithLeafnodeListen(c.Listen))
		if len(c.Users) > 0 {
			opts = append(opts, broker.WithLeafnodeUsers(c.Users...))
		}
		if c.Account != "" {
			opts = append(opts, broker.WithLeafnodeAccount(c.Account))
		}
		if c.TLS != nil {
			opts = append(opts, broker.WithLeafnodeTLS(c.TLS))
		}
	}
	for _, r := range c.Remotes {
		if r.ReconnectInterval == 0 {
			r.ReconnectInterval = c.Reconnect
		}
		opts = append(opts, broker.WithLeafnodeRemote(r))
	}
	return opts
}

// leafnodes handles the leafnodes block. As in nats-server, leaves are
// accepted only if a non-zero port is set (-1 picks a free one), on the
// leafnode port and then also on the websocket port (path /leafnode). The
// tls block (cert_file and key_file, as the top-level tls) applies to the
// leafnode port; leaves over websocket use the websocket block's TLS.
func (l *loader) leafnodes(e entry) {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map, got %s", typeName(e.v))
		return
	}
	lc := &leafConfig{}
	l.leaf.block = &e
	var host string
	var port int
	var tlsKey *entry
	for _, k := range l.entries(e.path, m) {
		key := strings.ToLower(k.key)
		switch key {
		case "listen":
			if h, p, ok := l.hostPort(k); ok {
				host, port = h, p
			}
		case "port":
			if p, ok := l.portValue(k); ok {
				port = p
			}
		case "host", "net":
			if s, ok := l.str(k); ok {
				host = s
			}
		case "tls":
			tlsKey = &k
			lc.TLS = l.tlsBlock(k)
		case "authorization":
			l.leafAuthorization(k, lc)
		case "remotes":
			lc.Remotes = l.leafRemotes(k)
		case "reconnect", "reconnect_delay", "reconnect_interval":
			if d, ok := l.duration(k, true); ok {
				lc.Reconnect = d
			}
		default:
			if why, ok := leafUnsupported[key]; ok {
				l.unsupported(k, why)
			} else {
				l.unknownField(k)
			}
		}
	}
	switch port {
	case 0:
		if l.leaf.auth != nil {
			l.warnf(*l.leaf.auth, "no port set: leaf node connections are not accepted")
		}
		if tlsKey != nil && lc.TLS != nil {
			l.warnf(*tlsKey, "no port set: leaf node connections are not accepted")
		}
	case randomPort:
		port = 0
		fallthrough
	default:
		if host == "" {
			host = defaultFileHost
		}
		lc.Listen = net.JoinHostPort(host, strconv.Itoa(port))
	}
	l.cfg.Leafnodes = lc
}

// leafAuthorization handles leafnodes.authorization: a single user
// (user, password, account) or a users array, and the account of leaves
// when no authentication applies.
func (l *loader) leafAuthorization(e entry, lc *leafConfig) {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map, got %s", typeName(e.v))
		return
	}
	l.leaf.auth = &e
	var user, pass string
	var users []broker.User
	for _, k := range l.entries(e.path, m) {
		key := strings.ToLower(k.key)
		switch key {
		case "user", "username":
			l.strTo(k, &user)
		case "pass", "password":
			l.strTo(k, &pass)
		case "account":
			if l.strTo(k, &lc.Account) {
				l.leaf.accounts = append(l.leaf.accounts, &k)
			}
		case "users":
			l.leaf.users = &k
			users = l.leafUsers(k)
		default:
			if why, ok := leafAuthUnsupported[key]; ok {
				l.unsupported(k, why)
			} else {
				l.unknownField(k)
			}
		}
	}
	switch {
	case user != "" && l.leaf.users != nil:
		l.errorf(e, "can not have a single user/pass and a users array")
	case user != "":
		lc.Users = []broker.User{{Name: user, Password: pass, Account: lc.Account}}
	case pass != "":
		l.warnf(e, "password without user: ignored")
	default:
		lc.Users = users
	}
}

// leafUsers handles leafnodes.authorization.users.
func (l *loader) leafUsers(e entry) []broker.User {
	list, ok := e.v.([]any)
	if !ok {
		l.errorf(e, "expected an array of users, got %s", typeName(e.v))
		return nil
	}
	seen := make(map[string]bool, len(list))
	out := make([]broker.User, 0, len(list))
	for i, item := range list {
		ue := l.element(e, i, item)
		m, ok := ue.v.(map[string]any)
		if !ok {
			l.errorf(ue, "expected a map (a user entry), got %s", typeName(ue.v))
			continue
		}
		var u broker.User
		good := true
		for _, k := range l.entries(ue.path, m) {
			switch strings.ToLower(k.key) {
			case "user", "username":
				good = l.strTo(k, &u.Name) && good
			case "pass", "password":
				good = l.strTo(k, &u.Password) && good
			case "account":
				if l.strTo(k, &u.Account) {
					l.leaf.accounts = append(l.leaf.accounts, &k)
				} else {
					good = false
				}
			case "proxy_required":
				l.unsupported(k, "")
				good = false
			default:
				l.unknownField(k)
				good = false
			}
		}
		switch {
		case !good:
		case u.Name == "":
			l.errorf(ue, "User entry requires a user")
		case seen[u.Name]:
			l.errorf(ue, "duplicate user %q detected in leafnode authorization", u.Name)
		default:
			seen[u.Name] = true
			out = append(out, u)
		}
	}
	return out
}

// leafRemotes handles leafnodes.remotes: the NATS deployments this broker
// joins as a leaf node.
func (l *loader) leafRemotes(e entry) []broker.LeafnodeRemote {
	list, ok := e.v.([]any)
	if !ok {
		l.errorf(e, "Expected remotes field to be an array, got %s", typeName(e.v))
		return nil
	}
	names := make(map[string]bool, len(list))
	out := make([]broker.LeafnodeRemote, 0, len(list))
	for i, item := range list {
		re := l.element(e, i, item)
		r, ok := l.leafRemote(re)
		if !ok {
			continue
		}
		name := fmt.Sprintf("urls=%q, account=%q", redactedURLs(r.URLs), cmp.Or(r.Account, "$G"))
		if r.Credentials != "" {
			name += fmt.Sprintf(", credentials=%q", r.Credentials)
		}
		if names[name] {
			l.errorf(re, "duplicate remote %s", name)
			continue
		}
		names[name] = true
		l.leaf.remotes = append(l.leaf.remotes, &re)
		out = append(out, r)
	}
	return out
}

// leafRemote handles one entry of leafnodes.remotes.
func (l *loader) leafRemote(e entry) (broker.LeafnodeRemote, bool) {
	var r broker.LeafnodeRemote
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "Expected remote leafnode entry to be a map/struct, got %s", typeName(e.v))
		return r, false
	}
	good := true
	var wsKeys []entry
	for _, k := range l.entries(e.path, m) {
		key := strings.ToLower(k.key)
		switch key {
		case "url", "urls":
			urls, ok := l.leafURLs(k)
			good = ok && good
			r.URLs = append(r.URLs, urls...)
		case "account", "local":
			if l.strTo(k, &r.Account) {
				l.leaf.accounts = append(l.leaf.accounts, &k)
			} else {
				good = false
			}
		case "creds", "credentials":
			good = l.credentials(k, &r.Credentials) && good
		case "tls":
			r.TLS = l.remoteTLS(k)
			good = r.TLS != nil && good
		case "ws_compress", "ws_compression", "websocket_compress", "websocket_compression":
			l.boolean(k, &r.WSCompression)
			wsKeys = append(wsKeys, k)
		case "ws_no_masking", "websocket_no_masking":
			l.boolean(k, &r.WSNoMasking)
			wsKeys = append(wsKeys, k)
		default:
			if why, ok := remoteUnsupported[key]; ok {
				l.unsupported(k, why)
			} else {
				l.unknownField(k)
			}
			good = false
		}
	}
	if !good {
		return r, false
	}
	if len(r.URLs) == 0 {
		l.errorf(e, "remote leafnode has no url (set url or urls)")
		return r, false
	}
	ws := 0
	for _, s := range r.URLs {
		u, _ := url.Parse(s) // parsed by leafURLs
		switch strings.ToLower(u.Scheme) {
		case "ws", "wss":
			ws++
		}
	}
	if ws > 0 && ws != len(r.URLs) {
		l.errorf(e, "remote leaf node configuration cannot have a mix of websocket and non-websocket urls: %q", redactedURLs(r.URLs))
		return r, false
	}
	if ws == 0 {
		for _, k := range wsKeys {
			l.warnf(k, "ignored: the remote has no websocket URL")
		}
	}
	return r, true
}

// leafURLs handles a remote's url or urls: a URL or an array of URLs.
// User info in a URL is the leaf's user and password. tls:// and wss://
// URLs always use TLS (with the remote's tls block, or the system roots).
func (l *loader) leafURLs(e entry) ([]string, bool) {
	var list []entry
	switch v := e.v.(type) {
	case string:
		list = []entry{e}
	case []any:
		for i, item := range v {
			list = append(list, l.element(e, i, item))
		}
	default:
		l.errorf(e, "Expected remote leafnode url to be an array or string, got %s", typeName(e.v))
		return nil, false
	}
	out := make([]string, 0, len(list))
	good := true
	for _, ue := range list {
		s, ok := l.str(ue)
		if !ok {
			good = false
			continue
		}
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		switch {
		case err != nil:
			l.errorf(ue, "error parsing leafnode url [%q]", s)
		case u.Host == "":
			l.errorf(ue, "invalid leafnode url %q: no host (want e.g. nats-leaf://host:7422 or wss://host)", u.Redacted())
		default:
			out = append(out, s)
			continue
		}
		good = false
	}
	return out, good
}

// credentials handles a remote's credentials: the path of a .creds file
// ("~" is the home directory, as in nats-server). The file must exist; it
// is read at every connection attempt.
func (l *loader) credentials(e entry, dst *string) bool {
	p, ok := l.str(e)
	if !ok {
		return false
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			l.errorf(e, "%v", err)
			return false
		}
		p = filepath.Join(home, p[1:])
	}
	if _, err := os.Stat(p); err != nil {
		l.errorf(e, "%v", err)
		return false
	}
	*dst = p
	return true
}

// remoteTLS builds the client TLS configuration of a remote: cert_file and
// key_file (a client certificate, both or neither) and ca_file (the roots
// that verify the hub; default the system roots). As in nats-server, a tls
// block makes the link use TLS whatever the URL scheme (nats-leaf://,
// tls://, ws:// or wss://); without one, TLS is used for tls:// and wss://
// URLs and when the hub's INFO requires it.
func (l *loader) remoteTLS(e entry) *tls.Config {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map, got %s", typeName(e.v))
		return nil
	}
	var certFile, keyFile, caFile string
	good := true
	for _, k := range l.entries(e.path, m) {
		switch strings.ToLower(k.key) {
		case "cert_file":
			good = l.strTo(k, &certFile) && good
		case "key_file":
			good = l.strTo(k, &keyFile) && good
		case "ca_file":
			good = l.strTo(k, &caFile) && good
		default:
			l.unsupported(k, "")
			good = false
		}
	}
	if !good {
		return nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case certFile != "" && keyFile == "":
		l.errorf(e, "missing 'key_file' in TLS configuration")
		return nil
	case certFile == "" && keyFile != "":
		l.errorf(e, "missing 'cert_file' in TLS configuration")
		return nil
	case certFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			l.errorf(e, "error parsing X509 certificate/key pair: %v", err)
			return nil
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			l.errorf(e, "failed reading root ca certificate: %v", err)
			return nil
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			l.errorf(e, "failed to parse root ca certificate")
			return nil
		}
		tc.RootCAs = pool
	}
	return tc
}

// finishLeaf runs the checks that involve other blocks: the accounts that
// leafnodes names must exist (in operator mode: be account public keys, and
// the leafnodes users array is not allowed), as in nats-server.
func (l *loader) finishLeaf() {
	if l.leaf.block == nil {
		return
	}
	if l.auth.operator != nil {
		if l.leaf.users != nil {
			l.errorf(*l.leaf.users, "operator mode does not allow specifying users in leafnode config")
		}
		for _, re := range l.leaf.remotes {
			if acc := remoteAccount(re); !isAccountKey(acc) {
				l.errorf(*re, "operator mode requires account nkeys in remotes. "+
					"Please add an `account` key to each remote in your `leafnodes` section, to assign it to an account. "+
					"Each account value should be a 56 character public key, starting with the letter 'A'")
			}
		}
		return
	}
	known := l.accountNames()
	for _, k := range l.leaf.accounts {
		name := k.v.(string)
		if name == "" || name == "$G" || known[name] {
			continue
		}
		where := "authorization"
		if strings.Contains(k.path, ".remotes[") {
			where = "remote"
		}
		l.errorf(*k, "cannot find local account %q specified in leafnode %s", name, where)
	}
}

// remoteAccount returns the account a remote entry names, "" for none.
func remoteAccount(re *entry) string {
	m, _ := re.v.(map[string]any)
	for k, v := range m {
		if k := strings.ToLower(k); k != "account" && k != "local" {
			continue
		}
		if tk, ok := v.(token); ok {
			v = tk.Value()
		}
		s, _ := v.(string)
		return s
	}
	return ""
}

// isAccountKey reports whether s looks like an account public key (the
// library checks the key itself).
func isAccountKey(s string) bool {
	return len(s) == 56 && s[0] == 'A' && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == ""
}

// accountNames returns the accounts the accounts block defines.
func (l *loader) accountNames() map[string]bool {
	names := make(map[string]bool)
	e := l.auth.accounts
	if e == nil {
		return names
	}
	switch v := e.v.(type) {
	case map[string]any:
		for name := range v {
			names[name] = true
		}
	case []any:
		for _, item := range v {
			if tk, ok := item.(token); ok {
				item = tk.Value()
			}
			if s, ok := item.(string); ok {
				names[s] = true
			}
		}
	}
	return names
}

// redactedURLs returns the URLs with their passwords hidden.
func redactedURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, s := range urls {
		out[i] = s
		if u, err := url.Parse(s); err == nil {
			out[i] = u.Redacted()
		}
	}
	return slices.Clip(out)
}
