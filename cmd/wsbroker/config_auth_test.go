package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
)

// Fixed keys and JWTs for the auth tests: an operator without expiry, an
// account it signed, another account key (system account) and a user key.
const (
	testOperatorJWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJZRVlPUEVCWTJBMllLWklMWkNINEpKQUdPQkpKUEc1M1VKSkE2VTVDVjdSTzU1WlU3TUpBIiwiaWF0IjoxNzk1NzEzNDY2LCJpc3MiOiJPREY2V05SVzZXWE4zUlZSWUNESTdGVU9UUk5LS0hDWjRRTkZMQ0hHRlMzRkZaRjMySTdXQUlZRyIsIm5hbWUiOiJ3c2Jyb2tlci10ZXN0Iiwic3ViIjoiT0RGNldOUlc2V1hOM1JWUllDREk3RlVPVFJOS0tIQ1o0UU5GTENIR0ZTM0ZGWkYzMkk3V0FJWUciLCJuYXRzIjp7InR5cGUiOiJvcGVyYXRvciIsInZlcnNpb24iOjJ9fQ.HqA8fg8sRrtIPIqBEo8bqWtVS3A3fUp6NQnXs-PW8yPamco4vvjYLLwmHE0g5gYIUBY4zeYqp_GdZEods11dBw"
	testAccountKey  = "ADH2U2YE355CWAIPDCXJR75YETNFNAFIJAF2RSIPOOKP2M26GG26EPYF"
	testAccountJWT  = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiIzV1FTUVhKTkIzQU5JS09JRlFWM1lJTVBPMlBZQk80RVdLU0ZSTE9DN0U3QVROQlNKR0hBIiwiaWF0IjoxNzk1NzEzNDY2LCJpc3MiOiJPREY2V05SVzZXWE4zUlZSWUNESTdGVU9UUk5LS0hDWjRRTkZMQ0hHRlMzRkZaRjMySTdXQUlZRyIsIm5hbWUiOiJBIiwic3ViIjoiQURIMlUyWUUzNTVDV0FJUERDWEpSNzVZRVRORk5BRklKQUYyUlNJUE9PS1AyTTI2R0cyNkVQWUYiLCJuYXRzIjp7ImxpbWl0cyI6eyJzdWJzIjotMSwiZGF0YSI6LTEsInBheWxvYWQiOi0xLCJpbXBvcnRzIjotMSwiZXhwb3J0cyI6LTEsIndpbGRjYXJkcyI6dHJ1ZSwiY29ubiI6LTEsImxlYWYiOi0xfSwiZGVmYXVsdF9wZXJtaXNzaW9ucyI6eyJwdWIiOnt9LCJzdWIiOnt9fSwiYXV0aG9yaXphdGlvbiI6e30sInR5cGUiOiJhY2NvdW50IiwidmVyc2lvbiI6Mn19.9OMyG4jJEFSGH8AKI8aBVRLwG6y3jceFJ-nojB_MKuwx62sreI8MzEYfLE-vLy555UA8V-P6bSc4FAbWrX70BA"
	testSystemKey   = "AAIBVROGYLGAFBBQJIARU6E6ULPDMZQ3NY6BTEXVWAJ5YOLOIMKKSXZA"
	testUserNkey    = "UDVKVG553GIZ3T2FN3QWRZ3AD327HMKA6JW566OJ2IBPVPQAZ2BM6L42"
)

// respDefault is allow_responses: true.
var respDefault = &broker.ResponsePermission{MaxMsgs: 1, Expires: 2 * time.Minute}

func TestParseConfigFileAuth(t *testing.T) {
	tests := []struct {
		name  string
		conf  string
		files map[string]string // more files beside the config; FILE:name in conf stands for its path
		want  authConfig
		ws    *wsConfig // when set, the websocket block's auth fields
		warn  string    // when set, the only warning (after "file:")
	}{
		{
			name: "single user and password",
			conf: "authorization {\n user: joe\n password: s3cret\n}",
			want: authConfig{Users: []broker.User{{Name: "joe", Password: "s3cret"}}},
		},
		{
			name: "username and pass aliases, bcrypt password",
			conf: "authorization { username: joe, pass: \"$2a$11$abcdefghijklmnopqrstuv\" }",
			want: authConfig{Users: []broker.User{{Name: "joe", Password: "$2a$11$abcdefghijklmnopqrstuv"}}},
		},
		{
			name: "token and integer timeout",
			conf: "authorization { token: t0k, timeout: 3 }",
			want: authConfig{Token: "t0k", Timeout: 3 * time.Second},
		},
		{
			name: "float timeout",
			conf: "authorization { token: t0k, timeout: 0.5 }",
			want: authConfig{Token: "t0k", Timeout: 500 * time.Millisecond},
		},
		{
			name: "duration string timeout",
			conf: "authorization { token: t0k, timeout: \"1500ms\" }",
			want: authConfig{Token: "t0k", Timeout: 1500 * time.Millisecond},
		},
		{
			name: "high timeout warns",
			conf: "\nauthorization {\n token: t0k\n timeout: 1m\n}",
			want: authConfig{Token: "t0k", Timeout: 1000000 * time.Second},
			warn: "4: authorization.timeout: timeout of 1000000 (1000000.000000 seconds) is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example",
		},
		{
			name: "password without user is ignored, with a warning",
			conf: "authorization {\n password: p\n}",
			want: authConfig{},
			warn: "1: authorization: password without user: ignored",
		},
		{
			name: "users with passwords and an nkey user",
			conf: `authorization {
  users: [
    {user: alice, password: apw}
    {username: bob, pass: bpw}
    {nkey: ` + testUserNkey + `}
  ]
}`,
			want: authConfig{Users: []broker.User{
				{Name: "alice", Password: "apw"},
				{Name: "bob", Password: "bpw"},
				{Nkey: testUserNkey},
			}},
		},
		{
			name: "allowed_connection_types string, connection_types and clients arrays, upper-cased",
			conf: `authorization { users: [
  {user: a, password: p, allowed_connection_types: websocket}
  {user: b, password: p, connection_types: [STANDARD, "Leafnode_WS"]}
  {user: c, password: p, clients: [mqtt, MQTT_WS, in_process, LEAFNODE]}
  {user: d, password: p, clients: []}
]}`,
			want: authConfig{Users: []broker.User{
				{Name: "a", Password: "p", AllowedConnectionTypes: []string{"WEBSOCKET"}},
				{Name: "b", Password: "p", AllowedConnectionTypes: []string{"STANDARD", "LEAFNODE_WS"}},
				{Name: "c", Password: "p", AllowedConnectionTypes: []string{"MQTT", "MQTT_WS", "IN_PROCESS", "LEAFNODE"}},
				{Name: "d", Password: "p"},
			}},
		},
		{
			name: "permissions as strings",
			conf: `authorization { users: [{user: a, password: p, permissions: {publish: "a.>", subscribe: "b.*"}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{
				Publish:   &broker.SubjectPermission{Allow: []string{"a.>"}},
				Subscribe: &broker.SubjectPermission{Allow: []string{"b.*"}},
			}}}},
		},
		{
			name: "permissions as arrays, with a queue group",
			conf: `authorization { users: [{user: a, password: p, permissions: {publish: ["a.>", "c"], subscribe: ["b.*", "jobs.* workers"]}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{
				Publish:   &broker.SubjectPermission{Allow: []string{"a.>", "c"}},
				Subscribe: &broker.SubjectPermission{Allow: []string{"b.*", "jobs.* workers"}},
			}}}},
		},
		{
			name: "permissions as allow and deny maps",
			conf: `authorization { users: [{user: a, password: p, permissions: {
  publish: {allow: ["a.>"], deny: "a.secret"}
  subscribe: {deny: ["x.>", "y"]}
}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{
				Publish:   &broker.SubjectPermission{Allow: []string{"a.>"}, Deny: []string{"a.secret"}},
				Subscribe: &broker.SubjectPermission{Deny: []string{"x.>", "y"}},
			}}}},
		},
		{
			name: "pub, sub, import, export and permission, authorization aliases",
			conf: `authorization { users: [
  {user: a, password: p, permission: {pub: "a", sub: "b"}}
  {user: b, password: p, authorization: {import: "c", export: "d"}}
]}`,
			want: authConfig{Users: []broker.User{
				{Name: "a", Password: "p", Permissions: &broker.Permissions{
					Publish: &broker.SubjectPermission{Allow: []string{"a"}}, Subscribe: &broker.SubjectPermission{Allow: []string{"b"}},
				}},
				{Name: "b", Password: "p", Permissions: &broker.Permissions{
					Publish: &broker.SubjectPermission{Allow: []string{"c"}}, Subscribe: &broker.SubjectPermission{Allow: []string{"d"}},
				}},
			}},
		},
		{
			name: "empty publish map and array restrict nothing",
			conf: `authorization { users: [{user: a, password: p, permissions: {publish: {}, subscribe: []}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{}}}},
		},
		{
			name: "allow_responses true: replies only",
			conf: `authorization { users: [{user: svc, password: p, permissions: {subscribe: "svc.>", allow_responses: true}}] }`,
			want: authConfig{Users: []broker.User{{Name: "svc", Password: "p", Permissions: &broker.Permissions{
				Publish:   &broker.SubjectPermission{Deny: []string{">"}},
				Subscribe: &broker.SubjectPermission{Allow: []string{"svc.>"}},
				Response:  respDefault,
			}}}},
		},
		{
			name: "allow_responses false",
			conf: `authorization { users: [{user: a, password: p, permissions: {allow_responses: false}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{}}}},
		},
		{
			name: "allow_responses map with a publish allow list",
			conf: `authorization { users: [{user: a, password: p, permissions: {publish: "out.>", allow_responses: {max: 3, expires: "1m"}}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{
				Publish:  &broker.SubjectPermission{Allow: []string{"out.>"}},
				Response: &broker.ResponsePermission{MaxMsgs: 3, Expires: time.Minute},
			}}}},
		},
		{
			name: "allow_responses negative: unlimited and no expiry",
			conf: `authorization { users: [{user: a, password: p, permissions: {publish: "out.>", allow_responses: {max: -1, expires: "-1s"}}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{
				Publish:  &broker.SubjectPermission{Allow: []string{"out.>"}},
				Response: &broker.ResponsePermission{MaxMsgs: -1, Expires: -time.Second},
			}}}},
		},
		{
			name: "publish_allow_responses alias, max_msgs and ttl aliases, publish deny only",
			conf: `authorization { users: [{user: a, password: p, permissions: {publish: {deny: "x"}, publish_allow_responses: {max_msgs: 2, ttl: "5s"}}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{
				Publish:  &broker.SubjectPermission{Deny: []string{"x", ">"}},
				Response: &broker.ResponsePermission{MaxMsgs: 2, Expires: 5 * time.Second},
			}}}},
		},
		{
			name: "allow_responses map, zero values keep the defaults",
			conf: `authorization { users: [{user: a, password: p, permissions: {publish: "o", allow_responses: {max_messages: 0, expiration: "0s"}}}] }`,
			want: authConfig{Users: []broker.User{{Name: "a", Password: "p", Permissions: &broker.Permissions{
				Publish:  &broker.SubjectPermission{Allow: []string{"o"}},
				Response: respDefault,
			}}}},
		},
		{
			name: "default_permissions apply to users without their own",
			conf: `authorization {
  default_permissions: {publish: "d"}
  users: [{user: a, password: p}, {user: b, password: p, permissions: {publish: "b"}}]
}`,
			want: authConfig{Users: []broker.User{
				{Name: "a", Password: "p", Permissions: &broker.Permissions{Publish: &broker.SubjectPermission{Allow: []string{"d"}}}},
				{Name: "b", Password: "p", Permissions: &broker.Permissions{Publish: &broker.SubjectPermission{Allow: []string{"b"}}}},
			}},
		},
		{
			name: "accounts: users get their account, account default_permissions",
			conf: `accounts {
  A: { users: [{user: alice, password: a}, {nkey: ` + testUserNkey + `}] }
  B: {
    default_permissions: {subscribe: "b.>"}
    users: [{user: bob, password: b}]
  }
}
authorization { users: [{user: root, password: r}] }`,
			want: authConfig{Users: []broker.User{
				{Name: "alice", Password: "a", Account: "A"},
				{Nkey: testUserNkey, Account: "A"},
				{Name: "bob", Password: "b", Account: "B", Permissions: &broker.Permissions{Subscribe: &broker.SubjectPermission{Allow: []string{"b.>"}}}},
				{Name: "root", Password: "r"},
			}},
		},
		{
			name: "accounts as an array of names",
			conf: "accounts: [A, B]",
			want: authConfig{},
		},
		{
			name: "no_auth_user names an account user",
			conf: "no_auth_user: guest\naccounts { P { users: [{user: guest, password: g}] } }",
			want: authConfig{NoAuthUser: "guest", Users: []broker.User{{Name: "guest", Password: "g", Account: "P"}}},
		},
		{
			name: "variables in an authorization block",
			conf: "authorization {\n PW: secret\n users: [{user: a, password: $PW}]\n}",
			want: authConfig{Users: []broker.User{{Name: "a", Password: "secret"}}},
		},
		{
			name: "operator JWT, MEMORY resolver, preload, system_account",
			conf: `operator: "` + testOperatorJWT + `"
system_account: ` + testSystemKey + `
resolver: MEMORY
resolver_preload: {
  ` + testAccountKey + `: "` + testAccountJWT + `"
}`,
			want: authConfig{
				Operators:     []string{testOperatorJWT},
				SystemAccount: testSystemKey,
				Preload:       map[string]string{testAccountKey: testAccountJWT},
			},
		},
		{
			name:  "operators array of paths, system and account_resolver aliases",
			conf:  "operators: [\"FILE:op.jwt\"]\nsystem: " + testSystemKey + "\naccount_resolver: mem",
			files: map[string]string{"op.jwt": testOperatorJWT},
			want:  authConfig{Operators: []string{"FILE:op.jwt"}, SystemAccount: testSystemKey},
		},
		{
			name:  "root and accounts_resolver aliases",
			conf:  "root: \"FILE:op.jwt\"\naccounts_resolver: \"MEMORY\"",
			files: map[string]string{"op.jwt": testOperatorJWT},
			want:  authConfig{Operators: []string{"FILE:op.jwt"}},
		},
		{
			name: "websocket authorization: user, password, token, timeout",
			conf: "websocket {\n port: 9000\n no_tls: true\n authorization { user: wsu, password: wsp, token: wst, timeout: 2.5 }\n}",
			ws:   &wsConfig{User: "wsu", Password: "wsp", Token: "wst", AuthTimeout: 2500 * time.Millisecond},
		},
		{
			name: "websocket authentication alias, username and pass aliases, integer timeout",
			conf: "ws {\n port: 9000\n authentication { username: wsu, pass: wsp, timeout: 4 }\n}",
			ws:   &wsConfig{User: "wsu", Password: "wsp", AuthTimeout: 4 * time.Second},
		},
		{
			name: "websocket no_auth_user",
			conf: "authorization { users: [{user: web, password: w}] }\nws {\n port: 9000\n no_auth_user: web\n}",
			want: authConfig{Users: []broker.User{{Name: "web", Password: "w"}}},
			ws:   &wsConfig{NoAuthUser: "web"},
		},
		{
			name: "websocket password alone is ignored, with a warning",
			conf: "ws {\n port: 9000\n authorization {\n  password: p\n }\n}",
			ws:   &wsConfig{Password: "p"},
			warn: "3: ws.authorization: password without user: ignored",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeConf(t, dir, name, content)
			}
			conf := strings.ReplaceAll(tt.conf, "FILE:", dir+string(filepath.Separator))
			path := writeConf(t, dir, "wsbroker.conf", conf)
			c, err := parseConfigFile(path)
			require.NoError(t, err)
			want := tt.want
			for i, op := range want.Operators {
				want.Operators[i] = strings.ReplaceAll(op, "FILE:", dir+string(filepath.Separator))
			}
			assert.Equal(t, want, c.Auth)
			if tt.ws != nil {
				require.NotNil(t, c.Websocket)
				got := c.Websocket
				assert.Equal(t, *tt.ws, wsConfig{
					NoAuthUser: got.NoAuthUser, User: got.User, Password: got.Password,
					Token: got.Token, AuthTimeout: got.AuthTimeout,
				})
			}
			if tt.warn != "" {
				assert.Equal(t, []string{path + ":" + tt.warn}, c.Warnings)
			} else {
				assert.Empty(t, c.Warnings)
			}
		})
	}
}

func TestParseConfigFileAuthErrors(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []string // every error, each "line: key: problem"
	}{
		{name: "top-level authentication", conf: "authentication { user: a }", want: []string{
			`1: authentication: unsupported configuration key (use authorization: nats-server has no top-level authentication block)`}},
		{name: "authorization not a map", conf: "authorization: x", want: []string{`1: authorization: expected a map, got string`}},
		{name: "nkeys is not an authorization key", conf: "authorization {\n nkeys: []\n}", want: []string{`2: authorization.nkeys: unknown field "nkeys"`}},
		{name: "auth_callout", conf: "authorization {\n auth_callout {}\n}", want: []string{`2: authorization.auth_callout: unsupported configuration key`}},
		{name: "proxy_required", conf: "authorization {\n proxy_required: true\n}", want: []string{`2: authorization.proxy_required: unsupported configuration key`}},
		{name: "user and token", conf: "authorization {\n user: a\n token: t\n}", want: []string{`1: authorization: Cannot have a user/pass and token`}},
		{name: "password and token", conf: "\nauthorization { pass: a, token: t }", want: []string{`2: authorization: Cannot have a user/pass and token`}},
		{name: "single user and users", conf: "authorization {\n user: a\n users: []\n}", want: []string{`1: authorization: Can not have a single user/pass and a users array`}},
		{name: "token and users", conf: "authorization {\n token: a\n users: [{user: b}]\n}", want: []string{`1: authorization: Can not have a token and a users array`}},
		{name: "single user and accounts", conf: "accounts {\n A {\n  users: [{user: b}]\n }\n}\nauthorization { user: a }", want: []string{`3: accounts.A.users: Can not have a single user/pass and accounts`}},
		{name: "token and accounts", conf: "authorization { token: a }\naccounts {\n A { users: [{user: b}] }\n}", want: []string{`3: accounts.A.users: Can not have a token and accounts`}},
		{name: "user not a string", conf: "authorization {\n user: 1\n}", want: []string{`2: authorization.user: expected a string, got integer`}},
		{name: "timeout wrong type", conf: "authorization {\n timeout: true\n}", want: []string{`2: authorization.timeout: expected a number of seconds or a duration, got boolean`}},
		{name: "timeout bad duration", conf: "authorization {\n timeout: \"2x\"\n}", want: []string{`2: authorization.timeout: error parsing authorization config, 'timeout' time: unknown unit "x" in duration "2x"`}},
		{name: "timeout negative", conf: "authorization {\n timeout: -1\n}", want: []string{`2: authorization.timeout: must not be negative, got -1s`}},
		{name: "users not an array", conf: "authorization {\n users: {a: b}\n}", want: []string{`2: authorization.users: expected an array of users, got map`}},
		{name: "user entry not a map", conf: "authorization {\n users: [\n  joe\n ]\n}", want: []string{`3: authorization.users[0]: expected a map (a user entry), got string`}},
		{name: "user entry without user", conf: "authorization {\n users: [\n  {password: x}\n ]\n}", want: []string{`3: authorization.users[0]: User entry requires a user`}},
		{name: "nkey user with a password", conf: "authorization {\n users: [\n  {nkey: " + testUserNkey + ", password: x}\n ]\n}", want: []string{`3: authorization.users[0]: Nkey users do not take usernames or passwords`}},
		{name: "duplicate user across accounts", conf: "accounts {\n A { users: [{user: a}] }\n B { users: [\n  {user: a}\n ] }\n}", want: []string{`4: accounts.B.users[0]: Duplicate user "a" detected`}},
		{name: "duplicate nkey", conf: "authorization { users: [\n {nkey: " + testUserNkey + "}\n {nkey: " + testUserNkey + "}\n] }", want: []string{`3: authorization.users[1]: Duplicate nkey "` + testUserNkey + `" detected`}},
		{name: "unknown user key", conf: "authorization { users: [\n {user: a, role: admin}\n] }", want: []string{`2: authorization.users[0].role: unknown field "role"`}},
		{name: "user proxy_required", conf: "authorization { users: [\n {user: a, proxy_required: true}\n] }", want: []string{`2: authorization.users[0].proxy_required: unsupported configuration key`}},
		{name: "permissions not a map", conf: "authorization { users: [\n {user: a, permissions: \"x\"}\n] }", want: []string{`2: authorization.users[0].permissions: expected a map of permissions, got string`}},
		{name: "unknown permissions key", conf: "authorization { users: [\n {user: a, permissions: {admin: true}}\n] }", want: []string{`2: authorization.users[0].permissions.admin: Unknown field "admin" parsing permissions`}},
		{name: "unknown subject permissions key", conf: "authorization { users: [\n {user: a, permissions: {publish: {permit: x}}}\n] }", want: []string{
			`2: authorization.users[0].permissions.publish.permit: Unknown field name "permit" parsing subject permissions, only 'allow' or 'deny' are permitted`}},
		{name: "publish wrong type", conf: "authorization { users: [\n {user: a, permissions: {publish: 5}}\n] }", want: []string{`2: authorization.users[0].permissions.publish: expected a string or an array of strings, got integer`}},
		{name: "allow a map", conf: "authorization { users: [\n {user: a, permissions: {publish: {allow: {x: y}}}}\n] }", want: []string{`2: authorization.users[0].permissions.publish.allow: expected a subject or an array of subjects, got map`}},
		{name: "subject not a string", conf: "authorization { users: [\n {user: a, permissions: {subscribe: [\"a\", true]}}\n] }", want: []string{`2: authorization.users[0].permissions.subscribe[1]: expected a string, got boolean`}},
		{name: "invalid subject", conf: "authorization { users: [\n {user: a, permissions: {publish: \"a..b\"}}\n] }", want: []string{`2: authorization.users[0].permissions.publish: subject "a..b" is not a valid subject`}},
		{name: "full wildcard not last", conf: "authorization { users: [\n {user: a, permissions: {subscribe: {deny: \"a.>.b\"}}}\n] }", want: []string{`2: authorization.users[0].permissions.subscribe.deny: subject "a.>.b" is not a valid subject`}},
		{name: "queue group in publish", conf: "authorization { users: [\n {user: a, permissions: {publish: \"a q\"}}\n] }", want: []string{`2: authorization.users[0].permissions.publish: subject "a q" is not a valid subject`}},
		{name: "invalid queue", conf: "authorization { users: [\n {user: a, permissions: {subscribe: \"a q..\"}}\n] }", want: []string{`2: authorization.users[0].permissions.subscribe: queue "q.." is not a valid queue`}},
		{name: "invalid subject before a queue", conf: "authorization { users: [\n {user: a, permissions: {subscribe: \"a. q\"}}\n] }", want: []string{`2: authorization.users[0].permissions.subscribe: subject "a." is not a valid subject`}},
		{name: "three words", conf: "authorization { users: [\n {user: a, permissions: {subscribe: \"a b c\"}}\n] }", want: []string{`2: authorization.users[0].permissions.subscribe: subject "a b c" is not a valid subject`}},
		{name: "allow_responses wrong type", conf: "authorization { users: [\n {user: a, permissions: {allow_responses: \"yes\"}}\n] }", want: []string{
			`2: authorization.users[0].permissions.allow_responses: error parsing response permissions, expected a boolean or a map`}},
		{name: "allow_responses expires not a string", conf: "authorization { users: [\n {user: a, permissions: {allow_responses: {expires: 5}}}\n] }", want: []string{
			`2: authorization.users[0].permissions.allow_responses.expires: error parsing expires, not a duration string`}},
		{name: "allow_responses expires bad", conf: "authorization { users: [\n {user: a, permissions: {allow_responses: {expires: \"soon\"}}}\n] }", want: []string{
			`2: authorization.users[0].permissions.allow_responses.expires: error parsing expires: time: invalid duration "soon"`}},
		{name: "allow_responses max not an integer", conf: "authorization { users: [\n {user: a, permissions: {allow_responses: {max: \"3\"}}}\n] }", want: []string{
			`2: authorization.users[0].permissions.allow_responses.max: expected an integer, got string`}},
		{name: "allow_responses unknown key", conf: "authorization { users: [\n {user: a, permissions: {allow_responses: {count: 3}}}\n] }", want: []string{
			`2: authorization.users[0].permissions.allow_responses.count: Unknown field "count" parsing permissions`}},
		{name: "unknown connection types", conf: "authorization { users: [\n {user: a, allowed_connection_types: [\"STANDARD\", \"x\", \"Carrier_Pigeon\"]}\n] }", want: []string{
			`2: authorization.users[0].allowed_connection_types: invalid connection types ["X" "CARRIER_PIGEON"]`}},
		{name: "connection types wrong type", conf: "authorization { users: [\n {user: a, clients: 5}\n] }", want: []string{
			`2: authorization.users[0].clients: error parsing allowed connection types: unsupported type int64`}},
		{name: "connection types wrong element type", conf: "authorization { users: [\n {user: a, connection_types: [true]}\n] }", want: []string{
			`2: authorization.users[0].connection_types: error parsing allowed connection types: unsupported type in array bool`}},
		{name: "accounts wrong type", conf: "accounts: 5", want: []string{`1: accounts: expected a map of accounts or an array of account names, got integer`}},
		{name: "account not a map", conf: "accounts {\n A: 5\n}", want: []string{`2: accounts.A: Expected map entries for accounts`}},
		{name: "reserved account", conf: "accounts {\n $G: {}\n}", want: []string{`2: accounts.$G: "$G" is a Reserved Account`}},
		{name: "reserved account in an array", conf: "accounts: [\"$G\"]", want: []string{`1: accounts[0]: "$G" is a Reserved Account`}},
		{name: "duplicate account in an array", conf: "accounts: [A, B, A]", want: []string{`1: accounts[2]: Duplicate Account Entry: A`}},
		{name: "account name not a string", conf: "accounts: [1, A]", want: []string{`1: accounts[0]: expected a string, got integer`}},
		{name: "unsupported account keys", conf: "accounts {\n A {\n  exports: []\n  imports: []\n  jetstream: enabled\n  nkey: " + testAccountKey + "\n  mappings: {}\n  limits: {}\n }\n}", want: []string{
			`3: accounts.A.exports: unsupported configuration key`,
			`4: accounts.A.imports: unsupported configuration key`,
			`5: accounts.A.jetstream: unsupported configuration key`,
			`6: accounts.A.nkey: unsupported configuration key`,
			`7: accounts.A.mappings: unsupported configuration key`,
			`8: accounts.A.limits: unsupported configuration key`,
		}},
		{name: "unknown account key", conf: "accounts {\n A {\n  members: []\n }\n}", want: []string{`3: accounts.A.members: unknown field "members"`}},
		{name: "no_auth_user not a string", conf: "no_auth_user: 1", want: []string{`1: no_auth_user: expected a string, got integer`}},
		{name: "no_auth_user without users", conf: "authorization { user: a, password: b }\nno_auth_user: a", want: []string{`2: no_auth_user: no_auth_user: "a" present, but users/nkeys are not defined`}},
		{name: "no_auth_user not a user", conf: "authorization { users: [{user: a}] }\nno_auth_user: b", want: []string{
			`2: no_auth_user: no_auth_user: "b" not present as user or nkey in authorization block or account configuration`}},
		{name: "websocket no_auth_user not a user", conf: "authorization { users: [{user: a}] }\nws {\n port: 1\n no_auth_user: b\n}", want: []string{
			`4: ws.no_auth_user: no_auth_user: "b" not present as user or nkey in authorization block or account configuration`}},
		{name: "websocket no_auth_user not a string", conf: "ws {\n port: 1\n no_auth_user: [b]\n}", want: []string{`3: ws.no_auth_user: expected a string, got array`}},
		{name: "no_auth_user in operator mode", conf: "operator: x\nresolver: MEMORY\nno_auth_user: a", want: []string{`3: no_auth_user: no_auth_user not compatible with Trusted Operator`}},
		{name: "operator without resolver", conf: "operator: x", want: []string{`1: operator: operators require an account resolver to be configured (resolver: MEMORY)`}},
		{name: "operator with accounts and users", conf: "operator: x\nresolver: MEM\naccounts { A { users: [{user: a}] } }", want: []string{
			`1: operator: operators do not allow Accounts to be configured directly`,
			`1: operator: operators do not allow users to be configured directly`,
		}},
		{name: "operator wrong type", conf: "operator: 5", want: []string{`1: operator: expected a string or an array of strings, got integer`}},
		{name: "operators element wrong type", conf: "operators: [5, x]\nresolver: MEMORY", want: []string{`1: operators[0]: expected a string, got integer`}},
		{name: "URL resolver", conf: "operator: x\nresolver: URL(http://localhost:9090/jwt/v1/accounts/)", want: []string{
			`2: resolver: unsupported configuration key (only the MEMORY resolver is supported)`,
			`1: operator: operators require an account resolver to be configured (resolver: MEMORY)`,
		}},
		{name: "full resolver", conf: "resolver {\n type: full\n dir: \"./jwt\"\n}", want: []string{`1: resolver: unsupported configuration key (only the MEMORY resolver is supported)`}},
		{name: "unknown resolver", conf: "resolver: DISK", want: []string{`1: resolver: invalid resolver "DISK": only MEMORY is supported`}},
		{name: "resolver wrong type", conf: "resolver: 1", want: []string{`1: resolver: expected a string, got integer`}},
		{name: "resolver_preload not a map", conf: "operator: x\nresolver: MEMORY\nresolver_preload: [x]", want: []string{`3: resolver_preload: preload should be a map of account_public_key:account_jwt`}},
		{name: "resolver_preload value not a string", conf: "operator: x\nresolver: MEMORY\nresolver_preload {\n " + testAccountKey + ": 1\n}", want: []string{
			`4: resolver_preload.` + testAccountKey + `: preload map value should be a string JWT`}},
		{name: "resolver_preload without operator", conf: "resolver: MEMORY\nresolver_preload { " + testAccountKey + ": x }", want: []string{
			`2: resolver_preload: needs operator: account JWTs are used only in operator mode`}},
		{name: "system_account without operator", conf: "accounts { SYS {} }\nsystem_account: SYS", want: []string{
			`2: system_account: needs operator: wsbroker has a system account only in operator mode`}},
		{name: "system_account not a string", conf: "system_account: 1", want: []string{`1: system_account: expected a string, got integer`}},
		{name: "websocket authorization users", conf: "ws {\n port: 1\n authorization {\n  users: [{user: a}]\n }\n}", want: []string{`4: ws.authorization.users: unknown field "users"`}},
		{name: "websocket authentication nkey and permissions", conf: "ws {\n port: 1\n authentication {\n  nkey: x\n  permissions: {}\n }\n}", want: []string{
			`4: ws.authentication.nkey: unknown field "nkey"`,
			`5: ws.authentication.permissions: unknown field "permissions"`,
		}},
		{name: "websocket authorization not a map", conf: "ws {\n port: 1\n authorization: x\n}", want: []string{`3: ws.authorization: expected a map, got string`}},
		{name: "websocket authorization timeout string", conf: "ws {\n port: 1\n authorization {\n  timeout: \"2s\"\n }\n}", want: []string{`4: ws.authorization.timeout: expected a number of seconds, got string`}},
		{name: "websocket authorization timeout wrong type", conf: "ws {\n port: 1\n authorization {\n  timeout: false\n }\n}", want: []string{`4: ws.authorization.timeout: expected a number of seconds, got boolean`}},
		{name: "websocket authorization token not a string", conf: "ws {\n port: 1\n authorization {\n  token: 5\n }\n}", want: []string{`4: ws.authorization.token: expected a string, got integer`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, t.TempDir(), "wsbroker.conf", tt.conf+"\n")
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

func TestLoadConfigAuth(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		wantErr string // from broker.New; "" when it accepts the options
	}{
		{
			name: "users in accounts with permissions and connection types, no_auth_user, websocket override",
			conf: `listen: "127.0.0.1:-1"
no_auth_user: guest
authorization {
  timeout: 1.5
  default_permissions: {publish: {deny: "admin.>"}}
  users: [
    {user: guest, password: g, allowed_connection_types: [STANDARD, WEBSOCKET]}
    {nkey: ` + testUserNkey + `, permissions: {subscribe: "n.>"}}
  ]
}
accounts {
  A { users: [{user: alice, password: a, permissions: {publish: {allow: "a.>"}, subscribe: ["a.>", "jobs workers"], allow_responses: true}}] }
  B { users: [{user: bob, password: b, permissions: {allow_responses: {max: 2, expires: "10s"}}}] }
}
websocket {
  listen: "127.0.0.1:-1"
  no_tls: true
  no_auth_user: alice
  authorization { timeout: 3 }
}`,
		},
		{
			name: "single user, websocket user and token",
			conf: `listen: "127.0.0.1:-1"
authorization { token: top }
websocket {
  listen: "127.0.0.1:-1"
  no_tls: true
  authorization { user: wsu, password: wsp, token: wst, timeout: 2 }
}`,
		},
		{
			name: "operator mode with preload and system account",
			conf: `listen: "127.0.0.1:-1"
operator: ` + testOperatorJWT + `
system_account: ` + testSystemKey + `
resolver: MEMORY
resolver_preload { ` + testAccountKey + `: ` + testAccountJWT + ` }
websocket { listen: "127.0.0.1:-1", no_tls: true, jwt_cookie: jwt }`,
		},
		{
			name:    "bad nkey: the library's check",
			conf:    "authorization { users: [{nkey: UBAD}] }",
			wantErr: `not a valid public nkey for a user: "UBAD"`,
		},
		{
			name:    "bad operator JWT: the library's check",
			conf:    "operator: /nonexistent/op.jwt\nresolver: MEMORY",
			wantErr: "error parsing operator JWT",
		},
		{
			// nats-server accepts this (its single user is not a user of
			// the users list); the library has no single user apart.
			name:    "websocket user beside the single user: the library rejects it",
			conf:    "authorization { user: a, password: b }\nws { port: -1, no_tls: true, authorization { user: w, password: x } }",
			wantErr: "websocket authentication username not compatible with presence of users/nkeys",
		},
		{
			name:    "websocket user beside users: the library's check",
			conf:    "authorization { users: [{user: a, password: b}] }\nws { port: -1, no_tls: true, authorization { user: w, password: x } }",
			wantErr: "websocket authentication username not compatible with presence of users/nkeys",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, t.TempDir(), "wsbroker.conf", tt.conf)
			opts, _, err := loadConfig(path)
			require.NoError(t, err)
			b, err := broker.New(opts...)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, b.Close())
		})
	}
}

// TestCommandAuth runs the command with two users in two accounts and
// checks authentication, account isolation and permissions with nats.go.
func TestCommandAuth(t *testing.T) {
	const conf = `listen: "127.0.0.1:-1"
accounts {
  A {
    users: [
      {user: alice, password: alicepw, permissions: {publish: {deny: "secret.>"}, subscribe: ">"}}
    ]
  }
  B {
    users: [
      {user: bob, password: bobpw, permissions: {publish: "b.>", subscribe: ["iso.>", "b.>"]}}
    ]
  }
}
`
	path := writeConf(t, t.TempDir(), "wsbroker.conf", conf)
	p := startBinary(t, "-c", path)
	line := readyLine(t, p.stderr, p.done)
	m := clientURLRE.FindStringSubmatch(line)
	require.NotNil(t, m, "no client_url in %q", line)
	url := m[1]

	errs := make(chan error, 16)
	connect := func(user, pass string) (*nats.Conn, error) {
		return nats.Connect(url, nats.UserInfo(user, pass), nats.Timeout(5*time.Second), nats.NoReconnect(),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				select {
				case errs <- err:
				default:
				}
			}))
	}

	t.Run("wrong password", func(t *testing.T) {
		nc, err := connect("alice", "bobpw")
		if nc != nil {
			nc.Close()
		}
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Authorization Violation")
	})

	t.Run("unknown user", func(t *testing.T) {
		nc, err := connect("mallory", "x")
		if nc != nil {
			nc.Close()
		}
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Authorization Violation")
	})

	alice, err := connect("alice", "alicepw")
	require.NoError(t, err)
	defer alice.Close()
	bob, err := connect("bob", "bobpw")
	require.NoError(t, err)
	defer bob.Close()

	t.Run("accounts are isolated", func(t *testing.T) {
		inB, err := bob.SubscribeSync("iso.>")
		require.NoError(t, err)
		require.NoError(t, bob.Flush())
		inA, err := alice.SubscribeSync("iso.>")
		require.NoError(t, err)
		require.NoError(t, alice.Flush())
		require.NoError(t, alice.Publish("iso.x", []byte("for A only")))
		msg, err := inA.NextMsg(5 * time.Second)
		require.NoError(t, err, "alice gets her own account's message")
		assert.Equal(t, "for A only", string(msg.Data))
		require.NoError(t, bob.Flush())
		_, err = inB.NextMsg(300 * time.Millisecond)
		assert.ErrorIs(t, err, nats.ErrTimeout, "a message published in account A reached account B")
	})

	t.Run("publish permission violation", func(t *testing.T) {
		require.NoError(t, alice.Publish("secret.plans", []byte("x")))
		_ = alice.Flush()
		select {
		case err := <-errs:
			assert.Contains(t, err.Error(), `Permissions Violation for Publish to "secret.plans"`)
		case <-time.After(waitTimeout):
			t.Fatal("no permissions violation reported")
		}
		assert.False(t, alice.IsClosed(), "a permission violation must not close the connection")
	})

	t.Run("subscribe permission violation", func(t *testing.T) {
		_, err := bob.SubscribeSync("a.>")
		require.NoError(t, err)
		_ = bob.Flush()
		select {
		case err := <-errs:
			assert.Contains(t, err.Error(), `Permissions Violation for Subscription to "a.>"`)
		case <-time.After(waitTimeout):
			t.Fatal("no permissions violation reported")
		}
	})

	alice.Close()
	bob.Close()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, p.wait(t), "output:\n%s", p.stderr)
}

// TestLoadConfigAuthConnects starts brokers from configuration files and
// checks who may connect, over TCP and websocket.
func TestLoadConfigAuthConnects(t *testing.T) {
	type attempt struct {
		ws   bool // over websocket, else TCP
		opts []nats.Option
		ok   bool
	}
	tests := []struct {
		name     string
		conf     string
		attempts []attempt
	}{
		{
			name: "token; websocket override by user",
			conf: `authorization { token: top }
websocket { authorization { user: wsu, password: wsp } }`,
			attempts: []attempt{
				{opts: []nats.Option{nats.Token("top")}, ok: true},
				{opts: []nats.Option{nats.Token("bad")}},
				{opts: nil},
				{ws: true, opts: []nats.Option{nats.UserInfo("wsu", "wsp")}, ok: true},
				{ws: true, opts: []nats.Option{nats.UserInfo("wsu", "bad")}},
				{ws: true, opts: []nats.Option{nats.Token("top")}},
				{opts: []nats.Option{nats.UserInfo("wsu", "wsp")}},
			},
		},
		{
			// As nats-server: with both, only the token is checked.
			name: "websocket token wins over websocket user",
			conf: `websocket { authorization { user: wsu, password: wsp, token: wst } }`,
			attempts: []attempt{
				{opts: nil, ok: true},
				{ws: true, opts: []nats.Option{nats.Token("wst")}, ok: true},
				{ws: true, opts: []nats.Option{nats.UserInfo("wsu", "wsp")}},
				{ws: true, opts: nil},
			},
		},
		{
			name: "single user",
			conf: `authorization { user: top, password: toppw }
websocket {}`,
			attempts: []attempt{
				{opts: []nats.Option{nats.UserInfo("top", "toppw")}, ok: true},
				{ws: true, opts: []nats.Option{nats.UserInfo("top", "toppw")}, ok: true},
				{opts: []nats.Option{nats.UserInfo("top", "bad")}},
				{opts: nil},
			},
		},
		{
			name: "users with connection types, no_auth_user per listener",
			conf: `no_auth_user: tcponly
accounts {
  A { users: [{user: tcponly, password: t, allowed_connection_types: STANDARD}] }
  B { users: [{user: webonly, password: w, clients: [websocket]}] }
}
websocket { no_auth_user: webonly }`,
			attempts: []attempt{
				{opts: nil, ok: true},
				{ws: true, opts: nil, ok: true},
				{opts: []nats.Option{nats.UserInfo("webonly", "w")}},
				{ws: true, opts: []nats.Option{nats.UserInfo("webonly", "w")}, ok: true},
				{ws: true, opts: []nats.Option{nats.UserInfo("tcponly", "t")}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := "listen: \"127.0.0.1:-1\"\n" + strings.Replace(tt.conf, "websocket {", "websocket {\n listen: \"127.0.0.1:-1\"\n no_tls: true\n", 1)
			path := writeConf(t, t.TempDir(), "wsbroker.conf", conf)
			opts, _, err := loadConfig(path)
			require.NoError(t, err)
			b, err := broker.New(opts...)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			require.NoError(t, b.Start(ctx))
			defer func() { assert.NoError(t, b.Shutdown(ctx)) }()
			for i, a := range tt.attempts {
				url := b.ClientURL()
				if a.ws {
					url = b.WebsocketURL()
				}
				nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(5 * time.Second), nats.NoReconnect()}, a.opts...)...)
				if a.ok {
					if assert.NoError(t, err, "attempt %d", i) {
						assert.NoError(t, nc.Flush(), "attempt %d", i)
						nc.Close()
					}
					continue
				}
				if assert.Error(t, err, "attempt %d", i) {
					assert.Contains(t, err.Error(), "Authorization Violation", "attempt %d", i)
				}
				if nc != nil {
					nc.Close()
				}
			}
		})
	}
}
