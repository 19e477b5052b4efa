package main

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

// cfgLeafFiles writes a .creds stand-in, a CA certificate and a client
// key pair for the leafnodes tests; conf uses them as CREDS, CA, CERT, KEY.
func cfgLeafFiles(t *testing.T, conf string) (string, map[string]string) {
	t.Helper()
	certFile, keyFile := tlsFiles(t)
	creds := writeConf(t, t.TempDir(), "u.creds", "-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n")
	files := map[string]string{"CREDS": creds, "CA": certFile, "CERT": certFile, "KEY": keyFile}
	r := strings.NewReplacer("CREDS", creds, "CA_FILE", certFile, "CERT_FILE", certFile, "KEY_FILE", keyFile)
	return r.Replace(conf), files
}

func TestParseConfigFileLeafnodes(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want leafConfig // TLS compared apart (see ltls and tls)
		ltls bool       // leafnodes.tls: a server certificate
		tls  []string   // per remote: "" no TLS, "roots", "cert", "roots+cert"
		warn []string   // every warning, "line: key: problem"
	}{
		{name: "listen host:port", conf: `leafnodes { listen: "127.0.0.1:7422" }`, want: leafConfig{Listen: "127.0.0.1:7422"}},
		{name: "leaf alias, listen port only", conf: `leaf { listen: 7422 }`, want: leafConfig{Listen: "0.0.0.0:7422"}},
		{name: "host and port", conf: "leafnodes {\n host: 127.0.0.1\n port: 7500\n}", want: leafConfig{Listen: "127.0.0.1:7500"}},
		{name: "net alias, random port", conf: "leafnodes {\n net: ::1\n port: -1\n}", want: leafConfig{Listen: "[::1]:0"}},
		{name: "listen -1 is a random port", conf: `leafnodes { listen: "127.0.0.1:-1" }`, want: leafConfig{Listen: "127.0.0.1:0"}},
		{name: "last of listen and port wins", conf: "leafnodes {\n listen: \"127.0.0.1:1\"\n port: 2\n}", want: leafConfig{Listen: "127.0.0.1:2"}},
		{name: "no port: no listener", conf: "leafnodes { host: 127.0.0.1 }", want: leafConfig{}},
		{
			name: "tls on the leafnode port",
			conf: `leafnodes {
 listen: "127.0.0.1:7422"
 tls { cert_file: "CERT_FILE", key_file: "KEY_FILE" }
}`,
			want: leafConfig{Listen: "127.0.0.1:7422"},
			ltls: true,
		},
		{
			name: "tls block keys are case-insensitive, with authorization",
			conf: `leafnodes {
 port: -1
 TLS {
  Cert_File: "CERT_FILE"
  Key_file: "KEY_FILE"
 }
 authorization { user: a, password: b }
}`,
			want: leafConfig{Listen: "0.0.0.0:0", Users: []broker.User{{Name: "a", Password: "b"}}},
			ltls: true,
		},
		{
			name: "tls without port warns",
			conf: `leafnodes {
 tls { cert_file: "CERT_FILE", key_file: "KEY_FILE" }
}`,
			want: leafConfig{},
			ltls: true,
			warn: []string{"2: leafnodes.tls: no port set: leaf node connections are not accepted"},
		},
		{
			name: "no port with authorization warns",
			conf: "leafnodes {\n authorization { user: a, password: b }\n}",
			want: leafConfig{Users: []broker.User{{Name: "a", Password: "b"}}},
			warn: []string{"2: leafnodes.authorization: no port set: leaf node connections are not accepted"},
		},
		{
			name: "single user with account",
			conf: "accounts { A {} }\nleafnodes {\n port: 7422\n authorization { user: hub, password: s3cret, account: A }\n}",
			want: leafConfig{Listen: "0.0.0.0:7422", Users: []broker.User{{Name: "hub", Password: "s3cret", Account: "A"}}, Account: "A"},
		},
		{
			name: "username and pass aliases, bcrypt password",
			conf: "leafnodes {\n port: 7422\n authorization { username: hub, pass: \"$2a$11$abcdefghijklmnopqrstuv\" }\n}",
			want: leafConfig{Listen: "0.0.0.0:7422", Users: []broker.User{{Name: "hub", Password: "$2a$11$abcdefghijklmnopqrstuv"}}},
		},
		{
			name: "users array with accounts, account for the rest",
			conf: `accounts: [A, B]
leafnodes {
  port: 7422
  authorization {
    account: B
    users: [
      {user: l1, password: p1, account: A}
      {username: l2, pass: p2}
    ]
  }
}`,
			want: leafConfig{Listen: "0.0.0.0:7422", Account: "B", Users: []broker.User{
				{Name: "l1", Password: "p1", Account: "A"}, {Name: "l2", Password: "p2"}}},
		},
		{
			name: "account only, $G",
			conf: "leafnodes {\n port: 7422\n authorization { account: \"$G\" }\n}",
			want: leafConfig{Listen: "0.0.0.0:7422", Account: "$G"},
		},
		{
			name: "password without user is ignored, with a warning",
			conf: "leafnodes {\n port: 7422\n authorization {\n  password: p\n }\n}",
			want: leafConfig{Listen: "0.0.0.0:7422"},
			warn: []string{"3: leafnodes.authorization: password without user: ignored"},
		},
		{
			name: "remote url with user info, account, credentials",
			conf: "accounts { A {} }\nleafnodes {\n remotes: [\n  { url: \"nats-leaf://u:p@hub.example.com:7422\", account: A, credentials: \"CREDS\" }\n ]\n}",
			want: leafConfig{Remotes: []broker.LeafnodeRemote{{URLs: []string{"nats-leaf://u:p@hub.example.com:7422"}, Account: "A", Credentials: "CREDS"}}},
			tls:  []string{""},
		},
		{
			name: "urls, local and creds aliases, url and urls together",
			conf: "accounts { A {} }\nleafnodes {\n remotes: [\n  { urls: [\"nats://h1:7422\", \"nats-leaf://h2\"], url: \"h3://h3:1\", local: A, creds: \"CREDS\" }\n ]\n}",
			want: leafConfig{Remotes: []broker.LeafnodeRemote{{URLs: []string{"nats://h1:7422", "nats-leaf://h2", "h3://h3:1"}, Account: "A", Credentials: "CREDS"}}},
			tls:  []string{""},
		},
		{
			name: "websocket remotes: ws_compression, ws_no_masking and their aliases, tls",
			conf: `leafnodes {
  remotes: [
    { url: "wss://hub.example.com", ws_compression: true, ws_no_masking: true, tls { ca_file: "CA_FILE", cert_file: "CERT_FILE", key_file: "KEY_FILE" } }
    { urls: ["ws://h1:80/nats", "ws://h2:80"], ws_compress: true, websocket_no_masking: true }
    { url: "ws://h3:80", websocket_compress: true }
    { url: "ws://h4:80", websocket_compression: true }
    { url: "wss://h5", tls { ca_file: "CA_FILE" } }
    { url: "wss://h6", tls { cert_file: "CERT_FILE", key_file: "KEY_FILE" } }
  ]
}`,
			want: leafConfig{Remotes: []broker.LeafnodeRemote{
				{URLs: []string{"wss://hub.example.com"}, WSCompression: true, WSNoMasking: true},
				{URLs: []string{"ws://h1:80/nats", "ws://h2:80"}, WSCompression: true, WSNoMasking: true},
				{URLs: []string{"ws://h3:80"}, WSCompression: true},
				{URLs: []string{"ws://h4:80"}, WSCompression: true},
				{URLs: []string{"wss://h5"}},
				{URLs: []string{"wss://h6"}},
			}},
			tls: []string{"roots+cert", "", "", "", "roots", "cert"},
		},
		{
			name: "TCP remotes with tls: nats-leaf://, nats://, tls:// URLs",
			conf: `leafnodes {
  remotes: [
    { url: "nats-leaf://127.0.0.1:7422", tls { ca_file: "CA_FILE" } }
    { urls: ["nats://h1:7422", "tls://h2:7422"], tls { ca_file: "CA_FILE", cert_file: "CERT_FILE", key_file: "KEY_FILE" } }
    { url: "tls://h3:7422" }
    { url: "nats-leaf://h4", tls { cert_file: "CERT_FILE", key_file: "KEY_FILE" } }
    { url: "nats-leaf://h5", tls {} }
    { url: "ws://h6:80", tls { ca_file: "CA_FILE" } }
  ]
}`,
			want: leafConfig{Remotes: []broker.LeafnodeRemote{
				{URLs: []string{"nats-leaf://127.0.0.1:7422"}},
				{URLs: []string{"nats://h1:7422", "tls://h2:7422"}},
				{URLs: []string{"tls://h3:7422"}},
				{URLs: []string{"nats-leaf://h4"}},
				{URLs: []string{"nats-leaf://h5"}},
				{URLs: []string{"ws://h6:80"}},
			}},
			tls: []string{"roots", "roots+cert", "", "cert", "empty", "roots"},
		},
		{
			name: "websocket keys on a TCP remote warn",
			conf: "leafnodes {\n remotes: [\n  { url: \"nats-leaf://h:1\"\n    ws_compression: true\n    ws_no_masking: false }\n ]\n}",
			want: leafConfig{Remotes: []broker.LeafnodeRemote{{URLs: []string{"nats-leaf://h:1"}, WSCompression: true}}},
			tls:  []string{""},
			warn: []string{
				"4: leafnodes.remotes[0].ws_compression: ignored: the remote has no websocket URL",
				"5: leafnodes.remotes[0].ws_no_masking: ignored: the remote has no websocket URL",
			},
		},
		{name: "reconnect_interval", conf: "leafnodes { reconnect_interval: \"250ms\" }", want: leafConfig{Reconnect: 250 * time.Millisecond}},
		{name: "reconnect alias", conf: "leafnodes { reconnect: \"2s\" }", want: leafConfig{Reconnect: 2 * time.Second}},
		{
			name: "reconnect_delay alias, seconds warn",
			conf: "leafnodes {\n reconnect_delay: 3\n}",
			want: leafConfig{Reconnect: 3 * time.Second},
			warn: []string{`2: leafnodes.reconnect_delay: reconnect_delay should be converted to a duration (e.g. "3s")`},
		},
		{
			name: "operator mode: remote bound to an account key",
			conf: "operator: x\nresolver: MEMORY\nleafnodes {\n remotes: [ { url: \"nats-leaf://h:1\", account: " + testAccountKey + " } ]\n}",
			want: leafConfig{Remotes: []broker.LeafnodeRemote{{URLs: []string{"nats-leaf://h:1"}, Account: testAccountKey}}},
			tls:  []string{""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, files := cfgLeafFiles(t, tt.conf)
			path := writeConf(t, t.TempDir(), "wsbroker.conf", conf)
			c, err := parseConfigFile(path)
			require.NoError(t, err)
			require.NotNil(t, c.Leafnodes)
			got := *c.Leafnodes
			if tt.ltls {
				require.NotNil(t, got.TLS, "leafnodes.tls")
				assert.Equal(t, uint16(0x0303), got.TLS.MinVersion)
				assert.Len(t, got.TLS.Certificates, 1)
			} else {
				assert.Nil(t, got.TLS, "leafnodes.tls")
			}
			got.TLS = nil
			got.Remotes = append([]broker.LeafnodeRemote(nil), got.Remotes...)
			require.Len(t, got.Remotes, len(tt.tls))
			for i := range got.Remotes {
				r := &got.Remotes[i]
				var kind []string
				if r.TLS != nil {
					assert.Equal(t, uint16(0x0303), r.TLS.MinVersion)
					if r.TLS.RootCAs != nil {
						kind = append(kind, "roots")
					}
					if len(r.TLS.Certificates) > 0 {
						kind = append(kind, "cert")
					}
					if len(kind) == 0 {
						kind = append(kind, "empty")
					}
				}
				assert.Equal(t, tt.tls[i], strings.Join(kind, "+"), "remote %d TLS", i)
				r.TLS = nil
				if r.Credentials == files["CREDS"] {
					r.Credentials = "CREDS"
				}
			}
			assert.Equal(t, tt.want, got)
			want := make([]string, len(tt.warn))
			for i, w := range tt.warn {
				want[i] = path + ":" + w
			}
			assert.ElementsMatch(t, want, c.Warnings)
		})
	}
}

func TestParseConfigFileLeafnodesErrors(t *testing.T) {
	type tc struct {
		name string
		conf string
		want []string // every error, each "line: key: problem"
	}
	tests := []tc{
		{name: "not a map", conf: "leafnodes: 7422", want: []string{`1: leafnodes: expected a map, got integer`}},
		{name: "unknown key", conf: "leafnodes {\n cluster: x\n}", want: []string{`2: leafnodes.cluster: unknown field "cluster"`}},
		{name: "listen bad", conf: "leafnodes {\n listen: nope\n}", want: []string{`2: leafnodes.listen: could not parse address string "nope"`}},
		{name: "port bad", conf: "leafnodes {\n port: 70000\n}", want: []string{`2: leafnodes.port: invalid port 70000 (want 1-65535, or -1 for a random port)`}},
		{name: "host not a string", conf: "leafnodes {\n host: 1\n}", want: []string{`2: leafnodes.host: expected a string, got integer`}},
		{name: "reconnect bad", conf: "leafnodes {\n reconnect_interval: \"soon\"\n}", want: []string{`2: leafnodes.reconnect_interval: invalid duration: time: invalid duration "soon"`}},
		{name: "reconnect negative", conf: "leafnodes {\n reconnect: \"-1s\"\n}", want: []string{`2: leafnodes.reconnect: must not be negative, got -1s`}},
		{name: "authorization not a map", conf: "leafnodes {\n authorization: x\n}", want: []string{`2: leafnodes.authorization: expected a map, got string`}},
		{name: "authorization unknown key", conf: "leafnodes {\n authorization {\n  token: x\n }\n}", want: []string{`3: leafnodes.authorization.token: unknown field "token"`}},
		{name: "authorization user not a string", conf: "leafnodes {\n authorization {\n  user: 1\n }\n}", want: []string{`3: leafnodes.authorization.user: expected a string, got integer`}},
		{name: "single user and users", conf: "leafnodes {\n port: 1\n authorization {\n  user: a\n  users: []\n }\n}", want: []string{
			`3: leafnodes.authorization: can not have a single user/pass and a users array`}},
		{name: "users not an array", conf: "leafnodes {\n authorization {\n  users: {a: b}\n }\n}", want: []string{`3: leafnodes.authorization.users: expected an array of users, got map`}},
		{name: "user entry not a map", conf: "leafnodes {\n authorization {\n  users: [\n   joe\n  ]\n }\n}", want: []string{
			`4: leafnodes.authorization.users[0]: expected a map (a user entry), got string`}},
		{name: "user entry without user", conf: "leafnodes {\n authorization {\n  users: [\n   {password: x}\n  ]\n }\n}", want: []string{
			`4: leafnodes.authorization.users[0]: User entry requires a user`}},
		{name: "duplicate user", conf: "leafnodes {\n authorization {\n  users: [\n   {user: a}\n   {user: a}\n  ]\n }\n}", want: []string{
			`5: leafnodes.authorization.users[1]: duplicate user "a" detected in leafnode authorization`}},
		{name: "user unknown key, permissions", conf: "leafnodes {\n authorization {\n  users: [\n   {user: a, permissions: {}}\n  ]\n }\n}", want: []string{
			`4: leafnodes.authorization.users[0].permissions: unknown field "permissions"`}},
		{name: "user proxy_required", conf: "leafnodes {\n authorization {\n  users: [\n   {user: a, proxy_required: true}\n  ]\n }\n}", want: []string{
			`4: leafnodes.authorization.users[0].proxy_required: unsupported configuration key`}},
		{name: "user account not a string", conf: "leafnodes {\n authorization {\n  users: [\n   {user: a, account: 1}\n  ]\n }\n}", want: []string{
			`4: leafnodes.authorization.users[0].account: expected a string, got integer`}},
		{name: "unknown authorization account", conf: "leafnodes {\n authorization {\n  account: X\n }\n}", want: []string{
			`3: leafnodes.authorization.account: cannot find local account "X" specified in leafnode authorization`}},
		{name: "unknown user account", conf: "accounts { A {} }\nleafnodes {\n authorization {\n  users: [\n   {user: a, account: B}\n  ]\n }\n}", want: []string{
			`5: leafnodes.authorization.users[0].account: cannot find local account "B" specified in leafnode authorization`}},
		{name: "unknown remote account", conf: "accounts: [A]\nleafnodes {\n remotes: [\n  {url: \"nats://h:1\", local: C}\n ]\n}", want: []string{
			`4: leafnodes.remotes[0].local: cannot find local account "C" specified in leafnode remote`}},
		{name: "system account outside operator mode", conf: "leafnodes {\n remotes: [\n  {url: \"nats://h:1\", account: \"$SYS\"}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].account: cannot find local account "$SYS" specified in leafnode remote`}},
		{name: "operator mode: leafnodes users", conf: "operator: x\nresolver: MEMORY\nleafnodes {\n authorization {\n  users: [{user: a}]\n }\n}", want: []string{
			`5: leafnodes.authorization.users: operator mode does not allow specifying users in leafnode config`}},
		{name: "operator mode: remote without account key", conf: "operator: x\nresolver: MEMORY\nleafnodes {\n remotes: [\n  {url: \"nats://h:1\", account: A}\n ]\n}", want: []string{
			"5: leafnodes.remotes[0]: operator mode requires account nkeys in remotes. Please add an `account` key to each remote in your `leafnodes` section, to assign it to an account. Each account value should be a 56 character public key, starting with the letter 'A'"}},
		{name: "remotes not an array", conf: "leafnodes {\n remotes: {url: x}\n}", want: []string{`2: leafnodes.remotes: Expected remotes field to be an array, got map`}},
		{name: "remote not a map", conf: "leafnodes {\n remotes: [\n  \"nats://h:1\"\n ]\n}", want: []string{
			`3: leafnodes.remotes[0]: Expected remote leafnode entry to be a map/struct, got string`}},
		{name: "remote unknown key", conf: "leafnodes {\n remotes: [\n  {url: \"nats://h:1\", user: a}\n ]\n}", want: []string{`3: leafnodes.remotes[0].user: unknown field "user"`}},
		{name: "remote per-remote reconnect_interval is not a nats-server key", conf: "leafnodes {\n remotes: [\n  {url: \"nats://h:1\", reconnect_interval: \"1s\"}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].reconnect_interval: unknown field "reconnect_interval"`}},
		{name: "remote without url", conf: "leafnodes {\n remotes: [\n  {account: \"$G\"}\n ]\n}", want: []string{`3: leafnodes.remotes[0]: remote leafnode has no url (set url or urls)`}},
		{name: "url wrong type", conf: "leafnodes {\n remotes: [\n  {url: 5}\n ]\n}", want: []string{`3: leafnodes.remotes[0].url: Expected remote leafnode url to be an array or string, got integer`}},
		{name: "url element wrong type", conf: "leafnodes {\n remotes: [\n  {urls: [\"nats://h:1\", true]}\n ]\n}", want: []string{`3: leafnodes.remotes[0].urls[1]: expected a string, got boolean`}},
		{name: "url does not parse", conf: "leafnodes {\n remotes: [\n  {url: \"nats://[::1\"}\n ]\n}", want: []string{`3: leafnodes.remotes[0].url: error parsing leafnode url ["nats://[::1"]`}},
		{name: "url without host", conf: "leafnodes {\n remotes: [\n  {url: \"hub:7422\"}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].url: invalid leafnode url "hub:7422": no host (want e.g. nats-leaf://host:7422 or wss://host)`}},
		{name: "mix of websocket and non-websocket urls", conf: "leafnodes {\n remotes: [\n  {urls: [\"ws://u:secret@h:1\", \"nats-leaf://h:2\"]}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0]: remote leaf node configuration cannot have a mix of websocket and non-websocket urls: ["ws://u:xxxxx@h:1" "nats-leaf://h:2"]`}},
		{name: "mix of websocket and non-websocket urls, with tls", conf: "leafnodes {\n remotes: [\n  {urls: [\"wss://h:1\", \"tls://h:2\"], tls { ca_file: \"CA_FILE\" }}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0]: remote leaf node configuration cannot have a mix of websocket and non-websocket urls: ["wss://h:1" "tls://h:2"]`}},
		{name: "tls unsupported key on a TCP remote", conf: "leafnodes {\n remotes: [\n  {url: \"nats-leaf://h:1\", tls {\n   verify: true\n  }}\n ]\n}", want: []string{
			`4: leafnodes.remotes[0].tls.verify: unsupported configuration key`}},
		{name: "tls cert without key on a tls:// remote", conf: "leafnodes {\n remotes: [\n  {url: \"tls://h:1\", tls { cert_file: \"CERT_FILE\" }}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].tls: missing 'key_file' in TLS configuration`}},
		{name: "tls ca_file missing on a TCP remote", conf: "leafnodes {\n remotes: [\n  {url: \"nats-leaf://h:1\", tls { ca_file: /nonexistent/ca.pem }}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].tls: failed reading root ca certificate: open /nonexistent/ca.pem: no such file or directory`}},
		{name: "leafnodes tls not a map", conf: "leafnodes {\n port: 1\n tls: true\n}", want: []string{`3: leafnodes.tls: expected a map, got boolean`}},
		{name: "leafnodes tls without cert_file", conf: "leafnodes {\n port: 1\n tls { key_file: \"KEY_FILE\" }\n}", want: []string{
			`3: leafnodes.tls: missing 'cert_file' in TLS configuration`}},
		{name: "leafnodes tls without key_file", conf: "leafnodes {\n port: 1\n tls { cert_file: \"CERT_FILE\" }\n}", want: []string{
			`3: leafnodes.tls: missing 'key_file' in TLS configuration`}},
		{name: "leafnodes tls cert_file not a string", conf: "leafnodes {\n port: 1\n tls { cert_file: 1, key_file: \"KEY_FILE\" }\n}", want: []string{
			`3: leafnodes.tls.cert_file: expected a string, got integer`}},
		{name: "leafnodes tls bad key pair", conf: "leafnodes {\n port: 1\n tls { cert_file: \"KEY_FILE\", key_file: \"KEY_FILE\" }\n}", want: []string{
			`3: leafnodes.tls: error parsing X509 certificate/key pair: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched`}},
		{name: "leafnodes tls missing cert file", conf: "leafnodes {\n port: 1\n tls { cert_file: /nonexistent/cert.pem, key_file: \"KEY_FILE\" }\n}", want: []string{
			`3: leafnodes.tls: error parsing X509 certificate/key pair: open /nonexistent/cert.pem: no such file or directory`}},
		{name: "tls not a map", conf: "leafnodes {\n remotes: [\n  {url: \"wss://h\", tls: true}\n ]\n}", want: []string{`3: leafnodes.remotes[0].tls: expected a map, got boolean`}},
		{name: "tls unsupported key", conf: "leafnodes {\n remotes: [\n  {url: \"wss://h\", tls {\n   insecure: true\n  }}\n ]\n}", want: []string{
			`4: leafnodes.remotes[0].tls.insecure: unsupported configuration key`}},
		{name: "tls cert without key", conf: "leafnodes {\n remotes: [\n  {url: \"wss://h\", tls { cert_file: \"CERT_FILE\" }}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].tls: missing 'key_file' in TLS configuration`}},
		{name: "tls key without cert", conf: "leafnodes {\n remotes: [\n  {url: \"wss://h\", tls { key_file: \"KEY_FILE\" }}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].tls: missing 'cert_file' in TLS configuration`}},
		{name: "tls bad key pair", conf: "leafnodes {\n remotes: [\n  {url: \"wss://h\", tls { cert_file: \"KEY_FILE\", key_file: \"KEY_FILE\" }}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].tls: error parsing X509 certificate/key pair: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched`}},
		{name: "tls ca_file missing", conf: "leafnodes {\n remotes: [\n  {url: \"wss://h\", tls { ca_file: /nonexistent/ca.pem }}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].tls: failed reading root ca certificate: open /nonexistent/ca.pem: no such file or directory`}},
		{name: "tls ca_file not PEM", conf: "leafnodes {\n remotes: [\n  {url: \"wss://h\", tls { ca_file: \"KEY_FILE\" }}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].tls: failed to parse root ca certificate`}},
		{name: "credentials missing", conf: "leafnodes {\n remotes: [\n  {url: \"nats://h:1\", credentials: /nonexistent/u.creds}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].credentials: stat /nonexistent/u.creds: no such file or directory`}},
		{name: "ws_compression not a boolean", conf: "leafnodes {\n remotes: [\n  {url: \"ws://h:1\", ws_compression: \"on\"}\n ]\n}", want: []string{
			`3: leafnodes.remotes[0].ws_compression: expected a boolean, got string`}},
		{name: "duplicate remote", conf: "leafnodes {\n remotes: [\n  {url: \"nats://u:pw@h:1\"}\n  {url: \"nats://u:pw@h:1\", account: \"$G\"}\n ]\n}", want: []string{
			`4: leafnodes.remotes[1]: duplicate remote urls=["nats://u:xxxxx@h:1"], account="$G"`}},
	}
	for _, k := range []string{"ca_file", "verify", "verify_and_map", "timeout", "handshake_first", "pinned_certs", "insecure", "cipher_suites", "min_version"} {
		tests = append(tests, tc{name: "unsupported leafnodes tls " + k,
			conf: "leafnodes {\n port: 1\n tls {\n  cert_file: \"CERT_FILE\"\n  key_file: \"KEY_FILE\"\n  " + k + ": x\n }\n}",
			want: []string{"6: leafnodes.tls." + k + ": unsupported configuration key"}})
	}
	for _, k := range []string{"advertise", "leafnode_advertise", "no_advertise", "compression", "min_version", "minimum_version",
		"isolate_leafnode_interest", "isolate", "write_deadline", "write_timeout", "dial_timeout"} {
		want := "unsupported configuration key"
		if why := leafUnsupported[k]; why != "" {
			want += " (" + why + ")"
		}
		tests = append(tests, tc{name: "unsupported " + k, conf: "leafnodes {\n port: 1\n " + k + ": x\n}", want: []string{"3: leafnodes." + k + ": " + want}})
	}
	for _, k := range []string{"timeout", "nkey", "proxy_required"} {
		want := "unsupported configuration key"
		if why := leafAuthUnsupported[k]; why != "" {
			want += " (" + why + ")"
		}
		tests = append(tests, tc{name: "unsupported authorization " + k, conf: "leafnodes {\n authorization {\n  " + k + ": 1\n }\n}",
			want: []string{"3: leafnodes.authorization." + k + ": " + want}})
	}
	remoteKeys := make([]string, 0, len(remoteUnsupported))
	for k := range remoteUnsupported {
		remoteKeys = append(remoteKeys, k)
	}
	sort.Strings(remoteKeys)
	for _, k := range remoteKeys {
		want := "unsupported configuration key"
		if why := remoteUnsupported[k]; why != "" {
			want += " (" + why + ")"
		}
		tests = append(tests, tc{name: "unsupported remote " + k, conf: "leafnodes {\n remotes: [\n  {url: \"nats://h:1\"\n   " + k + ": false}\n ]\n}",
			want: []string{"4: leafnodes.remotes[0]." + k + ": " + want}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, _ := cfgLeafFiles(t, tt.conf)
			path := writeConf(t, t.TempDir(), "wsbroker.conf", conf+"\n")
			_, err := parseConfigFile(path)
			require.Error(t, err)
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = path + ":" + w
			}
			assert.ElementsMatch(t, want, strings.Split(err.Error(), "\n"))
		})
	}
}

// TestLoadConfigLeafnodes passes the options of full leafnodes blocks to
// broker.New: the library accepts what the loader produces.
func TestLoadConfigLeafnodes(t *testing.T) {
	conf, _ := cfgLeafFiles(t, `listen: "127.0.0.1:-1"
accounts {
  A { users: [{user: a, password: a}] }
  B {}
}
websocket { listen: "127.0.0.1:-1", no_tls: true }
leafnodes {
  listen: "127.0.0.1:-1"
  reconnect_interval: "100ms"
  tls { cert_file: "CERT_FILE", key_file: "KEY_FILE" }
  authorization {
    account: B
    users: [ {user: l1, password: p1, account: A}, {user: l2, password: p2} ]
  }
  remotes: [
    { url: "nats-leaf://u:p@127.0.0.1:1", account: A, credentials: "CREDS" }
    { urls: ["wss://127.0.0.1:2", "wss://localhost:3"], account: B, ws_compression: true, ws_no_masking: true, tls { ca_file: "CA_FILE" } }
    { urls: ["nats-leaf://127.0.0.1:4", "tls://localhost:5"], tls { ca_file: "CA_FILE", cert_file: "CERT_FILE", key_file: "KEY_FILE" } }
  ]
}`)
	path := writeConf(t, t.TempDir(), "wsbroker.conf", conf)
	opts, cfg, err := loadConfig(path)
	require.NoError(t, err)
	require.NotNil(t, cfg.Leafnodes)
	assert.Equal(t, 100*time.Millisecond, cfg.Leafnodes.Reconnect)
	require.NotNil(t, cfg.Leafnodes.TLS)
	require.Len(t, cfg.Leafnodes.Remotes, 3)
	require.NotNil(t, cfg.Leafnodes.Remotes[2].TLS)
	b, err := broker.New(opts...)
	require.NoError(t, err)
	require.NoError(t, b.Close())
}

var leafURLRE = regexp.MustCompile(`msg="listening for leafnode connections" url=(nats-leaf://\S+)`)

// TestCommandLeafnodes runs three servers: a wsbroker hub from a
// configuration file (leafnodes { listen: "127.0.0.1:-1" }), a wsbroker leaf
// of it over websocket, also from a file (with user info in the URL), and
// an embedded nats-server leaf of it over TCP, found through the URL the
// hub logs; then a request from the nats-server leaf is answered by a
// client of the wsbroker leaf, across both links.
func TestCommandLeafnodes(t *testing.T) {
	dir := t.TempDir()
	hubPath := writeConf(t, dir, "hub.conf", `listen: "127.0.0.1:-1"
server_name: hub
websocket { listen: "127.0.0.1:-1", no_tls: true }
leafnodes {
  listen: "127.0.0.1:-1"
  authorization { users: [ {user: leaf, password: s3cret} ] }
}
`)
	hub := startBinary(t, "-c", hubPath)
	hubReady := readyLine(t, hub.stderr, hub.done)
	m := leafURLRE.FindStringSubmatch(hub.stderr.String())
	require.NotNil(t, m, "no leafnode URL logged; output:\n%s", hub.stderr)
	leafURL, err := url.Parse(m[1])
	require.NoError(t, err)
	require.NotEqual(t, "0", leafURL.Port(), "port -1 picks a free port")
	wsm := wsURLRE.FindStringSubmatch(hubReady)
	require.NotNil(t, wsm, "no websocket URL in %q", hubReady)
	wsURL, err := url.Parse(wsm[1])
	require.NoError(t, err)
	wsURL.User = url.UserPassword("leaf", "s3cret")

	leafPath := writeConf(t, dir, "leaf.conf", fmt.Sprintf(`listen: "127.0.0.1:-1"
server_name: ours-leaf
leafnodes {
  reconnect_interval: "100ms"
  remotes: [ { url: %q } ]
}
`, wsURL.String()))
	ours := startBinary(t, "-c", leafPath)
	oursReady := readyLine(t, ours.stderr, ours.done)
	cm := clientURLRE.FindStringSubmatch(oursReady)
	require.NotNil(t, cm, "no client_url in %q", oursReady)

	leafURL.User = url.UserPassword("leaf", "s3cret")
	ns, err := server.NewServer(&server.Options{
		ServerName: "nats-leaf", Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		LeafNode: server.LeafNodeOpts{ReconnectInterval: 100 * time.Millisecond, Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{leafURL}}}},
	})
	require.NoError(t, err)
	ns.Start()
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	require.True(t, ns.ReadyForConnections(waitTimeout))

	svc, err := nats.Connect(cm[1], nats.Timeout(5*time.Second), nats.NoReconnect())
	require.NoError(t, err)
	defer svc.Close()
	_, err = svc.Subscribe("greet.>", func(m *nats.Msg) { _ = m.Respond([]byte("hello " + m.Subject)) })
	require.NoError(t, err)
	require.NoError(t, svc.Flush())

	nc, err := nats.Connect(ns.ClientURL(), nats.Timeout(5*time.Second), nats.NoReconnect())
	require.NoError(t, err)
	defer nc.Close()
	var reply *nats.Msg
	require.Eventually(t, func() bool {
		reply, err = nc.Request("greet.joe", nil, 200*time.Millisecond)
		return err == nil
	}, waitTimeout, 50*time.Millisecond, "no reply across the links; hub:\n%s\nleaf:\n%s", hub.stderr, ours.stderr)
	assert.Equal(t, "hello greet.joe", string(reply.Data))

	assert.Contains(t, ours.stderr.String(), "leafnode link up")
	assert.NotContains(t, ours.stderr.String(), "s3cret", "the password is not logged")
	for _, p := range []*proc{ours, hub} {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		assert.Equal(t, 0, p.wait(t), "output:\n%s", p.stderr)
	}
}

// TestCommandLeafnodesErrors checks that the command stops on leafnodes
// keys it does not support, with file:line.
func TestCommandLeafnodesErrors(t *testing.T) {
	path := writeConf(t, t.TempDir(), "wsbroker.conf", "listen: \"127.0.0.1:-1\"\nleafnodes {\n port: -1\n compression: s2_auto\n remotes: [ { url: \"nats-leaf://h:1\", hub: true } ]\n}\n")
	p := startBinary(t, "-c", path)
	assert.Equal(t, 1, p.wait(t))
	out := p.stderr.String()
	assert.Contains(t, out, "wsbroker: "+path+":4: leafnodes.compression: unsupported configuration key")
	assert.Contains(t, out, "wsbroker: "+path+":5: leafnodes.remotes[0].hub: unsupported configuration key")
}
