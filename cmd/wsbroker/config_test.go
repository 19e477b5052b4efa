package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker"
	"github.com/wsbroker/broker/internal/testcert"
)

// writeConf writes content to name in dir and returns its path.
func writeConf(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// tlsFiles writes a self-signed certificate for 127.0.0.1 and its key to a
// temporary directory and returns their paths.
func tlsFiles(t *testing.T) (certFile, keyFile string) {
	return testcert.New(t).WriteFiles(t)
}

func TestParseConfigFile(t *testing.T) {
	certFile, keyFile := tlsFiles(t)
	t.Setenv("WSBROKER_TEST_PORT", "4555")

	tests := []struct {
		name  string
		conf  string
		files map[string]string // more files beside the config (includes)
		check func(t *testing.T, c *fileConfig)
	}{
		{
			name: "empty file: nats-server defaults",
			conf: "",
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, "0.0.0.0:4222", c.Listen)
				assert.True(t, c.Logtime)
				assert.False(t, c.Debug)
				assert.False(t, c.Trace)
				assert.Nil(t, c.Websocket)
				assert.Empty(t, c.Warnings)
			},
		},
		{
			name:  "listen host:port",
			conf:  `listen: "127.0.0.1:4333"`,
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "127.0.0.1:4333", c.Listen) },
		},
		{
			name:  "listen port only",
			conf:  `listen: 4333`,
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "0.0.0.0:4333", c.Listen) },
		},
		{
			name:  "listen random port",
			conf:  `listen: "127.0.0.1:-1"`,
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "127.0.0.1:0", c.Listen) },
		},
		{
			name:  "host and port",
			conf:  "host: 127.0.0.2\nport: 5000",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "127.0.0.2:5000", c.Listen) },
		},
		{
			name:  "net is an alias of host",
			conf:  "net: \"::1\"\nport: 5000",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "[::1]:5000", c.Listen) },
		},
		{
			name:  "port -1 is a random port",
			conf:  "port: -1",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "0.0.0.0:0", c.Listen) },
		},
		{
			name:  "port 0 is the default port",
			conf:  "port: 0",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "0.0.0.0:4222", c.Listen) },
		},
		{
			name:  "the last of listen and port wins",
			conf:  "port: 5000\nlisten: \"127.0.0.1:6000\"\nport: 7000",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "127.0.0.1:7000", c.Listen) },
		},
		{
			name: "keys are case-insensitive",
			conf: "PORT: 5001\nMax_Payload: 1KB",
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, "0.0.0.0:5001", c.Listen)
				assert.Equal(t, 1024, c.MaxPayload)
			},
		},
		{
			name:  "server_name",
			conf:  "server_name: edge-1",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, "edge-1", c.ServerName) },
		},
		{
			name:  "max_payload size suffix",
			conf:  "max_payload: 1MB",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, 1<<20, c.MaxPayload) },
		},
		{
			name: "max_payload plain bytes and decimal suffix",
			conf: "max_payload: 2048\nmax_control_line: 8K",
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, 2048, c.MaxPayload)
				assert.Equal(t, 8000, c.MaxControlLine)
			},
		},
		{
			name:  "max_control_line",
			conf:  "max_control_line: 8KB",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, 8192, c.MaxControlLine) },
		},
		{
			name:  "max_connections",
			conf:  "max_connections: 100",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, 100, c.MaxConnections) },
		},
		{
			name:  "max_conn is an alias of max_connections",
			conf:  "max_conn: 7",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, 7, c.MaxConnections) },
		},
		{
			name:  "max_pending",
			conf:  "max_pending: 64MB",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, int64(64<<20), c.MaxPending) },
		},
		{
			name: "write_deadline duration string",
			conf: `write_deadline: "5s"`,
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, 5*time.Second, c.WriteDeadline)
				assert.Empty(t, c.Warnings)
			},
		},
		{
			name: "write_deadline seconds, with a warning",
			conf: "\nwrite_deadline: 3",
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, 3*time.Second, c.WriteDeadline)
				require.Len(t, c.Warnings, 1)
				assert.Contains(t, c.Warnings[0], c.Source+":2: write_deadline: write_deadline should be converted to a duration")
			},
		},
		{
			name:  "ping_interval duration string",
			conf:  `ping_interval: "2m30s"`,
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, 150*time.Second, c.PingInterval) },
		},
		{
			name: "ping_interval seconds",
			conf: `ping_interval: 30`,
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, 30*time.Second, c.PingInterval)
				assert.Len(t, c.Warnings, 1)
			},
		},
		{
			name:  "ping_max",
			conf:  "ping_max: 5",
			check: func(t *testing.T, c *fileConfig) { assert.Equal(t, 5, c.PingMax) },
		},
		{
			name: "debug trace logtime",
			conf: "debug: true\ntrace: yes\nlogtime: off",
			check: func(t *testing.T, c *fileConfig) {
				assert.True(t, c.Debug)
				assert.True(t, c.Trace)
				assert.False(t, c.Logtime)
			},
		},
		{
			name: "websocket block, every key",
			conf: `websocket {
  host: 127.0.0.1
  port: 8443
  advertise: "ws.example.com:443"
  no_tls: true
  same_origin: true
  allowed_origins: ["https://a.example.com", "https://b.example.com"]
  compression: true
  handshake_timeout: "3s"
  jwt_cookie: jwt
  user_cookie: usr
  pass_cookie: pwd
  token_cookie: tok
  headers { X-Frame-Options: DENY, "Strict-Transport-Security": "max-age=3600" }
  ping_interval: "45s"
  authorization { user: wsu, password: wsp, timeout: 2 }
}`,
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				assert.Equal(t, &wsConfig{
					Listen:           "127.0.0.1:8443",
					Advertise:        "ws.example.com:443",
					NoTLS:            true,
					SameOrigin:       true,
					AllowedOrigins:   []string{"https://a.example.com", "https://b.example.com"},
					Compression:      true,
					HandshakeTimeout: 3 * time.Second,
					JWTCookie:        "jwt",
					UserCookie:       "usr",
					PassCookie:       "pwd",
					TokenCookie:      "tok",
					Headers:          map[string]string{"X-Frame-Options": "DENY", "Strict-Transport-Security": "max-age=3600"},
					PingInterval:     45 * time.Second,
					User:             "wsu",
					Password:         "wsp",
					AuthTimeout:      2 * time.Second,
				}, c.Websocket)
			},
		},
		{
			name: "ws alias, listen, random port, default host",
			conf: "ws { listen: -1, no_tls: true }",
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				assert.Equal(t, "0.0.0.0:0", c.Websocket.Listen)
			},
		},
		{
			name: "ws listen host:port and net alias",
			conf: "ws { listen: \"127.0.0.1:9000\"\n net: 127.0.0.3 }",
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				assert.Equal(t, "127.0.0.3:9000", c.Websocket.Listen)
			},
		},
		{
			name: "allowed origin aliases and a single string",
			conf: "ws { port: 9000, no_tls: true, origins: \"https://x.example\" }",
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				assert.Equal(t, []string{"https://x.example"}, c.Websocket.AllowedOrigins)
			},
		},
		{
			name: "allow_origin, allowed_origin, allow_origins, origin aliases",
			conf: "ws { port: 9000, allow_origin: \"http://1\", allowed_origin: [\"http://2\"], allow_origins: \"http://3\", origin: \"http://4\" }",
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				assert.Equal(t, []string{"http://4"}, c.Websocket.AllowedOrigins, "last one in the file wins")
			},
		},
		{
			name: "compress alias, handshake_timeout seconds",
			conf: "ws { port: 9000, compress: true, handshake_timeout: 5 }",
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				assert.True(t, c.Websocket.Compression)
				assert.Equal(t, 5*time.Second, c.Websocket.HandshakeTimeout)
				assert.Empty(t, c.Warnings)
			},
		},
		{
			name: "handshake_timeout 0 keeps the default, with a warning",
			conf: "ws {\n port: 9000\n handshake_timeout: 0\n}",
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				assert.Zero(t, c.Websocket.HandshakeTimeout)
				require.Len(t, c.Warnings, 1)
				assert.Contains(t, c.Warnings[0], ":3: ws.handshake_timeout: 0 (no timeout) is not supported")
			},
		},
		{
			name: "advertise without port takes the websocket port",
			conf: "ws { port: 9000, advertise: ws.example.com }",
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				assert.Equal(t, "ws.example.com:9000", c.Websocket.Advertise)
			},
		},
		{
			name: "top-level tls block for TCP clients",
			conf: fmt.Sprintf("port: 4333\ntls { cert_file: %q, key_file: %q }", certFile, keyFile),
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.TLS)
				assert.Len(t, c.TLS.Certificates, 1)
			},
		},
		{
			name: "tls block, no_tls ignored",
			conf: fmt.Sprintf("ws { port: 9000, no_tls: true, tls { cert_file: %q, key_file: %q } }", certFile, keyFile),
			check: func(t *testing.T, c *fileConfig) {
				require.NotNil(t, c.Websocket)
				require.NotNil(t, c.Websocket.TLS)
				assert.Len(t, c.Websocket.TLS.Certificates, 1)
				assert.Equal(t, uint16(0x0303), c.Websocket.TLS.MinVersion)
			},
		},
		{
			name: "websocket without port is disabled, with a warning",
			conf: "websocket { no_tls: true }",
			check: func(t *testing.T, c *fileConfig) {
				assert.Nil(t, c.Websocket)
				require.Len(t, c.Warnings, 1)
				assert.Contains(t, c.Warnings[0], "websocket: no port set: websocket listener disabled")
			},
		},
		{
			name: "variables",
			conf: "PAYLOAD: 4KB\nmax_payload: $PAYLOAD\nport: $WSBROKER_TEST_PORT",
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, 4096, c.MaxPayload)
				assert.Equal(t, "0.0.0.0:4555", c.Listen)
			},
		},
		{
			name:  "include",
			conf:  "include \"limits.conf\"\nport: 4600",
			files: map[string]string{"limits.conf": "max_payload: 2MB\nping_max: 4\n"},
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, 2<<20, c.MaxPayload)
				assert.Equal(t, 4, c.PingMax)
				assert.Equal(t, "0.0.0.0:4600", c.Listen)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeConf(t, dir, name, content)
			}
			path := writeConf(t, dir, "wsbroker.conf", tt.conf)
			c, err := parseConfigFile(path)
			require.NoError(t, err)
			assert.Equal(t, path, c.Source)
			tt.check(t, c)
		})
	}
}

func TestParseConfigFileErrors(t *testing.T) {
	certFile, keyFile := tlsFiles(t)
	tests := []struct {
		name  string
		conf  string
		files map[string]string
		// want is "line: key: problem" (the file is the config file unless
		// inFile names another one).
		want   string
		inFile string
	}{
		{name: "unknown top-level key", conf: "port: 4222\ncluster { port: 6222 }", want: "2: cluster: unsupported configuration key"},
		{name: "unknown websocket key", conf: "ws {\n port: 1\n foo: 1\n}", want: "3: ws.foo: unsupported configuration key"},
		{name: "unsupported tls key", conf: "ws {\n port: 1\n tls {\n  ca_file: x\n }\n}", want: "4: ws.tls.ca_file: unsupported configuration key"},
		{name: "top-level tls missing key_file", conf: fmt.Sprintf("tls {\n cert_file: %q\n}", certFile), want: "1: tls: missing 'key_file' in TLS configuration"},
		{name: "tls missing key_file", conf: fmt.Sprintf("ws {\n port: 1\n tls { cert_file: %q }\n}", certFile), want: "3: ws.tls: missing 'key_file' in TLS configuration"},
		{name: "tls missing cert_file", conf: fmt.Sprintf("ws {\n port: 1\n tls { key_file: %q }\n}", keyFile), want: "3: ws.tls: missing 'cert_file' in TLS configuration"},
		{name: "tls unreadable files", conf: "ws {\n port: 1\n tls { cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem }\n}", want: "3: ws.tls: error parsing X509 certificate/key pair"},
		{name: "tls not a map", conf: "ws {\n port: 1\n tls: true\n}", want: "3: ws.tls: expected a map, got boolean"},
		{name: "tls cert_file not a string", conf: "ws {\n port: 1\n tls { cert_file: 1, key_file: x }\n}", want: "3: ws.tls.cert_file: expected a string, got integer"},
		{name: "port not an integer", conf: "\nport: \"abc\"", want: "2: port: expected an integer, got string"},
		{name: "port out of range", conf: "port: 70000", want: "1: port: invalid port 70000"},
		{name: "port below -1", conf: "port: -2", want: "1: port: invalid port -2"},
		{name: "listen not host:port", conf: "listen: nope", want: "1: listen: could not parse address string \"nope\""},
		{name: "listen bad port", conf: "listen: \"h:x\"", want: "1: listen: could not parse port \"x\""},
		{name: "listen wrong type", conf: "listen: true", want: "1: listen: expected port or host:port, got boolean"},
		{name: "host not a string", conf: "host: 5", want: "1: host: expected a string, got integer"},
		{name: "net not a string", conf: "net: [a]", want: "1: net: expected a string, got array"},
		{name: "server_name with spaces", conf: "server_name: \"a b\"", want: "1: server_name: server name cannot contain spaces"},
		{name: "debug not a boolean", conf: "debug: \"yes\"", want: "1: debug: expected a boolean, got string"},
		{name: "trace not a boolean", conf: "trace: 1", want: "1: trace: expected a boolean, got integer"},
		{name: "logtime not a boolean", conf: "logtime: 1.5", want: "1: logtime: expected a boolean, got float"},
		{name: "max_payload quoted size", conf: "max_payload: \"1MB\"", want: "1: max_payload: expected a size in bytes"},
		{name: "max_payload too big", conf: "max_payload: 3GB", want: "1: max_payload: value is too big"},
		{name: "max_payload negative", conf: "max_payload: -1", want: "1: max_payload: must not be negative"},
		{name: "max_control_line too big", conf: "max_control_line: 2GB", want: "1: max_control_line: value is too big"},
		{name: "max_pending negative", conf: "max_pending: -5", want: "1: max_pending: must not be negative"},
		{name: "max_connections zero", conf: "max_connections: 0", want: "1: max_connections: must be positive"},
		{name: "max_conn negative", conf: "max_conn: -1", want: "1: max_conn: must be positive"},
		{name: "max_connections float", conf: "max_connections: 1.5", want: "1: max_connections: expected an integer, got float"},
		{name: "ping_max negative", conf: "ping_max: -1", want: "1: ping_max: must not be negative"},
		{name: "write_deadline bad string", conf: "write_deadline: \"10x\"", want: "1: write_deadline: invalid duration"},
		{name: "write_deadline wrong type", conf: "write_deadline: true", want: "1: write_deadline: expected a duration"},
		{name: "ping_interval negative", conf: "ping_interval: \"-1s\"", want: "1: ping_interval: must not be negative"},
		{name: "websocket not a map", conf: "websocket: 5", want: "1: websocket: expected a map, got integer"},
		{name: "websocket port wrong type", conf: "ws {\n port: \"x\"\n}", want: "2: ws.port: expected an integer, got string"},
		{name: "websocket handshake_timeout wrong type", conf: "ws {\n port: 1\n handshake_timeout: true\n}", want: "3: ws.handshake_timeout: expected a duration"},
		{name: "websocket ping_interval bad", conf: "ws {\n port: 1\n ping_interval: \"soon\"\n}", want: "3: ws.ping_interval: invalid duration"},
		{name: "websocket compression wrong type", conf: "ws {\n port: 1\n compression: \"on\"\n}", want: "3: ws.compression: expected a boolean, got string"},
		{name: "websocket cookie wrong type", conf: "ws {\n port: 1\n jwt_cookie: 1\n}", want: "3: ws.jwt_cookie: expected a string, got integer"},
		{name: "websocket headers not a map", conf: "ws {\n port: 1\n headers: x\n}", want: "3: ws.headers: expected a map of header names to values, got string"},
		{name: "websocket header value not a string", conf: "ws {\n port: 1\n headers {\n  X-A: 1\n }\n}", want: "4: ws.headers.X-A: expected a string, got integer"},
		{name: "websocket allowed_origins element", conf: "ws {\n port: 1\n allowed_origins: [\"http://a\", true]\n}", want: "3: ws.allowed_origins[1]: expected a string, got boolean"},
		{name: "websocket allowed_origins map", conf: "ws {\n port: 1\n allowed_origins: { a: b }\n}", want: "3: ws.allowed_origins: expected a string or an array of strings, got map"},
		{name: "websocket advertise without port, random port", conf: "ws {\n port: -1\n advertise: h\n}", want: "3: ws.advertise: \"h\" has no port and the websocket port is random"},
		{name: "websocket advertise bad port", conf: "ws {\n port: 1\n advertise: \"h:x\"\n}", want: "3: ws.advertise: invalid port \"x\""},
		{name: "websocket advertise wrong type", conf: "ws {\n port: 1\n advertise: 5\n}", want: "3: ws.advertise: expected a string, got integer"},
		{name: "unused variable", conf: "UNUSED: 5\nport: 4222", want: "1: UNUSED: unsupported configuration key"},
		{name: "error in an include names the included file", conf: "port: 1\ninclude \"more.conf\"", files: map[string]string{"more.conf": "\n\nbogus: 1\n"}, inFile: "more.conf", want: "3: bogus: unsupported configuration key"},
		{name: "syntax error", conf: "port: 1\nws {\n", want: "3: syntax error: Unexpected EOF processing map."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeConf(t, dir, name, content)
			}
			path := writeConf(t, dir, "wsbroker.conf", tt.conf)
			file := path
			if tt.inFile != "" {
				file = filepath.Join(dir, tt.inFile)
			}
			_, err := parseConfigFile(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), file+":"+tt.want)
		})
	}
}

func TestParseConfigFileReportsEveryError(t *testing.T) {
	path := writeConf(t, t.TempDir(), "wsbroker.conf", "port: x\nfoo: 1\nws {\n  bar: 2\n}\nmax_payload: -1\n")
	_, err := parseConfigFile(path)
	require.Error(t, err)
	assert.Equal(t,
		path+":1: port: expected an integer, got string\n"+
			path+":2: foo: unsupported configuration key\n"+
			path+":4: ws.bar: unsupported configuration key\n"+
			path+":6: max_payload: must not be negative, got -1",
		err.Error())
}

func TestParseConfigFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.conf")
	_, err := parseConfigFile(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		conf    string // "" = no -c: dev defaults
		wantErr string
		check   func(t *testing.T, c *fileConfig)
	}{
		{
			name: "dev defaults",
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, "127.0.0.1:4222", c.Listen)
				require.NotNil(t, c.Websocket)
				assert.Equal(t, "127.0.0.1:8080", c.Websocket.Listen)
				assert.True(t, c.Websocket.NoTLS)
				assert.Nil(t, c.Websocket.TLS)
				assert.True(t, c.Logtime)
			},
		},
		{
			name: "every option accepted by broker.New",
			conf: `listen: "127.0.0.1:-1"
server_name: n1
max_payload: 512KB
max_control_line: 2KB
max_connections: 10
max_pending: 8MB
write_deadline: "2s"
ping_interval: "1m"
ping_max: 3
websocket {
  listen: "127.0.0.1:-1"
  no_tls: true
  advertise: "ws.example.com:443"
  same_origin: true
  allowed_origins: ["https://app.example.com"]
  compression: true
  handshake_timeout: "1s"
  user_cookie: u
  pass_cookie: p
  token_cookie: t
  headers { X-Test: yes-it-is }
  ping_interval: "20s"
  no_auth_user: guest
  authorization { timeout: 2 }
}
authorization {
  timeout: "1s"
  users: [{user: guest, password: g, permissions: {publish: "pub.>", allow_responses: true}, allowed_connection_types: [WEBSOCKET]}]
}`,
			check: func(t *testing.T, c *fileConfig) {
				assert.Equal(t, "127.0.0.1:0", c.Listen)
				require.NotNil(t, c.Websocket)
			},
		},
		{
			name:    "bad file",
			conf:    "nope: 1",
			wantErr: ":1: nope: unsupported configuration key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.conf != "" {
				path = writeConf(t, t.TempDir(), "wsbroker.conf", tt.conf)
			}
			opts, c, err := loadConfig(path)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), path+tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
			b, err := broker.New(opts...)
			require.NoError(t, err)
			require.NoError(t, b.Close())
		})
	}
}
