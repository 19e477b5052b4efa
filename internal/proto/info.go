package proto

import "encoding/json"

// ConnectInfo holds the fields of a client's CONNECT that a client-facing
// server uses. Field names and JSON keys follow nats-server's ClientOpts.
// Decode it with ParseConnect, which applies nats-server's defaults for
// absent fields.
type ConnectInfo struct {
	// Echo asks for the client's own messages back; default true.
	Echo bool `json:"echo"`
	// Verbose asks for +OK after each operation; default true.
	Verbose bool `json:"verbose"`
	// Pedantic asks for strict checks (publish subjects); default true.
	Pedantic bool `json:"pedantic"`
	// TLSRequired says the client requires TLS.
	TLSRequired bool `json:"tls_required"`
	// Nkey is the client's public nkey, for nkey or JWT authentication.
	Nkey string `json:"nkey,omitempty"`
	// JWT is the user JWT, in operator mode.
	JWT string `json:"jwt,omitempty"`
	// Sig is the signature of the server nonce, base64url encoded.
	Sig string `json:"sig,omitempty"`
	// Token is the authentication token.
	Token string `json:"auth_token,omitempty"`
	// User is the user name.
	User string `json:"user,omitempty"`
	// Pass is the password.
	Pass string `json:"pass,omitempty"`
	// Name is the optional client name.
	Name string `json:"name"`
	// Lang is the client library language.
	Lang string `json:"lang"`
	// Version is the client library version.
	Version string `json:"version"`
	// Protocol is the protocol level: 0 original, 1 dynamic reconfiguration
	// (INFO updates). nats-server rejects values above 1.
	Protocol int `json:"protocol"`
	// Headers says the client supports HPUB/HMSG; default false.
	Headers bool `json:"headers,omitempty"`
	// NoResponders asks for a 503 status message when a request has no
	// responders; it requires Headers. Default false.
	NoResponders bool `json:"no_responders,omitempty"`
}

// DefaultConnectInfo returns the options a client has before its CONNECT is
// applied: Echo, Verbose and Pedantic true, as in nats-server.
func DefaultConnectInfo() ConnectInfo {
	return ConnectInfo{Echo: true, Verbose: true, Pedantic: true}
}

// ParseConnect decodes the argument of CONNECT on top of
// DefaultConnectInfo, so absent echo, verbose and pedantic fields stay true.
// Unknown fields are ignored.
func ParseConnect(arg []byte) (ConnectInfo, error) {
	ci := DefaultConnectInfo()
	err := json.Unmarshal(arg, &ci)
	return ci, err
}

// ServerInfo is the INFO sent to clients. Field order, JSON keys and
// omitempty choices follow nats-server's Info, so the encoding is the same.
type ServerInfo struct {
	// ID is the server's unique ID (a public nkey in nats-server).
	ID string `json:"server_id"`
	// Name is the server name; nats-server defaults it to ID.
	Name string `json:"server_name"`
	// Version is the server version, e.g. "2.15.2".
	Version string `json:"version"`
	// Proto is the protocol level the server supports (1).
	Proto int `json:"proto"`
	// GitCommit is the build commit, omitted when empty.
	GitCommit string `json:"git_commit,omitempty"`
	// GoVersion is the Go version the server was built with.
	GoVersion string `json:"go"`
	// Host is the host the client listener is bound to.
	Host string `json:"host"`
	// Port is the port the client listener is bound to.
	Port int `json:"port"`
	// Headers says the server supports HPUB/HMSG.
	Headers bool `json:"headers"`
	// AuthRequired says the client must authenticate.
	AuthRequired bool `json:"auth_required,omitempty"`
	// TLSRequired says the client must use TLS.
	TLSRequired bool `json:"tls_required,omitempty"`
	// TLSVerify says the server verifies client certificates.
	TLSVerify bool `json:"tls_verify,omitempty"`
	// TLSAvailable says TLS may be used but is not required.
	TLSAvailable bool `json:"tls_available,omitempty"`
	// MaxPayload is the largest accepted payload, in bytes.
	MaxPayload int32 `json:"max_payload"`
	// JetStream says JetStream is available.
	JetStream bool `json:"jetstream,omitempty"`
	// IP is the server's advertised IP.
	IP string `json:"ip,omitempty"`
	// ClientID is the server-assigned connection ID.
	ClientID uint64 `json:"client_id,omitempty"`
	// ClientIP is the client's address as seen by the server.
	ClientIP string `json:"client_ip,omitempty"`
	// Nonce is the challenge to sign for nkey or JWT authentication.
	Nonce string `json:"nonce,omitempty"`
	// Cluster is the cluster name.
	Cluster string `json:"cluster,omitempty"`
	// Domain is the JetStream domain.
	Domain string `json:"domain,omitempty"`
	// ConnectURLs lists URLs clients can connect to.
	ConnectURLs []string `json:"connect_urls,omitempty"`
	// WSConnectURLs lists URLs websocket clients can connect to.
	WSConnectURLs []string `json:"ws_connect_urls,omitempty"`
	// LameDuckMode says the server is about to shut down.
	LameDuckMode bool `json:"ldm,omitempty"`
	// ConnectInfo marks the INFO sent in response to CONNECT.
	ConnectInfo bool `json:"connect_info,omitempty"`
	// RemoteAccount is the account the client is bound to.
	RemoteAccount string `json:"remote_account,omitempty"`
	// IsSystemAccount says RemoteAccount is the system account.
	IsSystemAccount bool `json:"acc_is_sys,omitempty"`
	// JSAPILevel is the JetStream API level.
	JSAPILevel int `json:"api_lvl,omitempty"`
	// XKey is the server's public x25519 key.
	XKey string `json:"xkey,omitempty"`
}

// AppendInfo appends INFO {json} \r\n to dst. Like nats-server, it puts a
// space between the JSON and the CRLF. ServerInfo holds only strings,
// numbers, booleans and string slices, which always encode.
func AppendInfo(dst []byte, info *ServerInfo) []byte {
	b, err := json.Marshal(info)
	if err != nil {
		// Unreachable for ServerInfo; keep the stream well formed anyway.
		b = []byte("{}")
	}
	dst = append(dst, "INFO "...)
	dst = append(dst, b...)
	return append(dst, " \r\n"...)
}
