package proto

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConnect(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ConnectInfo
	}{
		{"empty object keeps defaults", `{}`, ConnectInfo{Echo: true, Verbose: true, Pedantic: true}},
		{"nats.go style", `{"verbose":false,"pedantic":false,"tls_required":false,"name":"n","lang":"go","version":"1.55.0","protocol":1,"echo":true,"headers":true,"no_responders":true}`,
			ConnectInfo{Echo: true, Name: "n", Lang: "go", Version: "1.55.0", Protocol: 1, Headers: true, NoResponders: true}},
		{"credentials", `{"user":"u","pass":"p","auth_token":"t","jwt":"j","nkey":"k","sig":"s","echo":false}`,
			ConnectInfo{Verbose: true, Pedantic: true, User: "u", Pass: "p", Token: "t", JWT: "j", Nkey: "k", Sig: "s"}},
		{"unknown fields ignored", `{"verbose":false,"account":"x","zzz":[1]}`, ConnectInfo{Echo: true, Pedantic: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConnect([]byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("invalid JSON", func(t *testing.T) {
		_, err := ParseConnect([]byte(`{"verbose":`))
		assert.Error(t, err)
	})
}

func TestAppendInfo(t *testing.T) {
	tests := []struct {
		name string
		info ServerInfo
		want string
	}{
		{"minimal", ServerInfo{ID: "ID1", Name: "ID1", Version: "2.15.2", Proto: 1, GoVersion: "go1.26.8",
			Host: "0.0.0.0", Port: 4222, Headers: true, MaxPayload: 1048576},
			`INFO {"server_id":"ID1","server_name":"ID1","version":"2.15.2","proto":1,"go":"go1.26.8","host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576} ` + "\r\n"},
		{"optional fields", ServerInfo{ID: "A", Proto: 1, AuthRequired: true, TLSRequired: true, TLSVerify: true, TLSAvailable: true,
			JetStream: true, IP: "ip", ClientID: 7, ClientIP: "127.0.0.1", Nonce: "n", Cluster: "c", Domain: "d",
			ConnectURLs: []string{"a:1"}, WSConnectURLs: []string{"b:2"}, LameDuckMode: true, ConnectInfo: true,
			RemoteAccount: "ACC", IsSystemAccount: true, JSAPILevel: 3, XKey: "X", GitCommit: "g"},
			`INFO {"server_id":"A","server_name":"","version":"","proto":1,"git_commit":"g","go":"","host":"","port":0,"headers":false,` +
				`"auth_required":true,"tls_required":true,"tls_verify":true,"tls_available":true,"max_payload":0,"jetstream":true,` +
				`"ip":"ip","client_id":7,"client_ip":"127.0.0.1","nonce":"n","cluster":"c","domain":"d","connect_urls":["a:1"],` +
				`"ws_connect_urls":["b:2"],"ldm":true,"connect_info":true,"remote_account":"ACC","acc_is_sys":true,"api_lvl":3,"xkey":"X"} ` + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, string(AppendInfo(nil, &tt.info)))
		})
	}
}
