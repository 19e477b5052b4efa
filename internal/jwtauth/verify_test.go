package jwtauth_test

import (
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/jwtauth"
	"github.com/wsbroker/broker/internal/jwtauth/jwttest"
)

var nonce = []byte("R2Ksqj3UeFzHJQ0")

// newVerifier returns a verifier trusting op with accounts preloaded.
func newVerifier(t *testing.T, op *jwttest.Operator, accounts ...*jwttest.Account) *jwtauth.Verifier {
	t.Helper()
	res, err := jwtauth.NewMemResolver(jwttest.Preload(accounts...))
	require.NoError(t, err)
	v, err := jwtauth.NewVerifier(jwtauth.Config{Operators: []*jwt.OperatorClaims{op.Claims}, Resolver: res})
	require.NoError(t, err)
	return v
}

// signed returns a standard-connection request for u with a valid signature.
func signed(u *jwttest.User) jwtauth.Request {
	return jwtauth.Request{UserJWT: u.JWT, Nonce: nonce, Sig: u.Sign(nonce), ConnType: jwt.ConnectionTypeStandard}
}

func TestVerifyAccepts(t *testing.T) {
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "A", func(ac *jwt.AccountClaims) {
		ac.Limits.Subs = 10
		ac.Limits.Payload = 4096
		ac.DefaultPermissions.Sub.Allow.Add("default.>")
	})
	plain := acc.NewUser(t, "alice", func(uc *jwt.UserClaims) {
		uc.Pub.Allow.Add("foo.>")
		uc.Sub.Deny.Add("secret")
		uc.Limits.Subs = 100
		uc.Limits.Payload = 1024
	})
	noPerms := acc.NewUser(t, "bob", nil)
	sk := acc.AddSigningKey(t)
	bySK := acc.NewUserSignedBy(t, sk, "carol", func(uc *jwt.UserClaims) { uc.Pub.Allow.Add("carol") })
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	expiring := acc.NewUser(t, "dave", func(uc *jwt.UserClaims) { uc.Expires = exp.Unix() })
	bearer := acc.NewUser(t, "eve", func(uc *jwt.UserClaims) { uc.BearerToken = true })
	v := newVerifier(t, op, acc)

	tests := []struct {
		name  string
		req   jwtauth.Request
		check func(t *testing.T, r *jwtauth.Result)
	}{
		{"user signed by account key", signed(plain), func(t *testing.T, r *jwtauth.Result) {
			assert.Equal(t, acc.PublicKey, r.Account)
			assert.Equal(t, "A", r.AccountName)
			assert.Equal(t, plain.PublicKey, r.User)
			assert.Equal(t, "alice", r.Name)
			assert.Empty(t, r.SigningKey)
			assert.Equal(t, jwt.StringList{"foo.>"}, r.Permissions.Pub.Allow)
			assert.Equal(t, jwt.StringList{"secret"}, r.Permissions.Sub.Deny)
			assert.False(t, r.DefaultPermissions)
			assert.Equal(t, int64(10), r.MaxSubs, "account limit is stricter")
			assert.Equal(t, int64(1024), r.MaxPayload, "user limit is stricter")
			assert.True(t, r.Expires.IsZero())
			assert.False(t, r.BearerToken)
		}},
		{"no permissions gets account defaults", signed(noPerms), func(t *testing.T, r *jwtauth.Result) {
			assert.True(t, r.DefaultPermissions)
			assert.Equal(t, jwt.StringList{"default.>"}, r.Permissions.Sub.Allow)
			assert.Equal(t, int64(4096), r.MaxPayload, "user unlimited, account limit applies")
		}},
		{"user signed by account signing key", signed(bySK), func(t *testing.T, r *jwtauth.Result) {
			assert.Equal(t, acc.PublicKey, r.Account)
			pub, err := sk.PublicKey()
			require.NoError(t, err)
			assert.Equal(t, pub, r.SigningKey)
			assert.Equal(t, jwt.StringList{"carol"}, r.Permissions.Pub.Allow)
		}},
		{"expiring user reports its expiry", signed(expiring), func(t *testing.T, r *jwtauth.Result) {
			assert.True(t, exp.Equal(r.Expires), "got %v", r.Expires)
		}},
		{"bearer user needs no signature", jwtauth.Request{UserJWT: bearer.JWT, ConnType: jwt.ConnectionTypeWebsocket},
			func(t *testing.T, r *jwtauth.Result) { assert.True(t, r.BearerToken) }},
		{"standard base64 signature accepted", func() jwtauth.Request {
			r := signed(plain)
			raw, err := base64.RawURLEncoding.DecodeString(r.Sig)
			require.NoError(t, err)
			r.Sig = base64.StdEncoding.EncodeToString(raw)
			return r
		}(), func(t *testing.T, r *jwtauth.Result) { assert.Equal(t, plain.PublicKey, r.User) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := v.Verify(tc.req)
			require.NoError(t, err)
			tc.check(t, r)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "A")
	user := acc.NewUser(t, "alice", nil)
	other := acc.NewUser(t, "mallory", nil)

	untrustedOp := jwttest.NewOperator(t)
	untrustedAcc := untrustedOp.NewAccount(t, "U")
	untrustedUser := untrustedAcc.NewUser(t, "u", nil)

	missingAcc := op.NewAccount(t, "M") // not in the resolver
	missingUser := missingAcc.NewUser(t, "m", nil)

	expiredAcc := op.NewAccount(t, "E", func(ac *jwt.AccountClaims) { ac.Expires = time.Now().Add(-time.Minute).Unix() })
	expiredAccUser := expiredAcc.NewUser(t, "e", nil)

	expiredUser := acc.NewUser(t, "old", func(uc *jwt.UserClaims) { uc.Expires = time.Now().Add(-time.Minute).Unix() })
	futureUser := acc.NewUser(t, "future", func(uc *jwt.UserClaims) { uc.NotBefore = time.Now().Add(time.Hour).Unix() })

	revokedAcc := op.NewAccount(t, "R")
	revokedUser := revokedAcc.NewUser(t, "r", nil)
	revokedAcc.Revoke(t, revokedUser.PublicKey, time.Now())

	noBearerAcc := op.NewAccount(t, "NB", func(ac *jwt.AccountClaims) { ac.Limits.DisallowBearer = true })
	bearerUser := noBearerAcc.NewUser(t, "b", func(uc *jwt.UserClaims) { uc.BearerToken = true })

	proxyUser := acc.NewUser(t, "p", func(uc *jwt.UserClaims) { uc.ProxyRequired = true })

	// A user claiming issuer_account A but signed by a key A does not list.
	rogueKey := op.NewAccount(t, "rogue").Key
	rogueUser := acc.NewUserSignedBy(t, rogueKey, "rogue", nil)

	v := newVerifier(t, op, acc, expiredAcc, revokedAcc, noBearerAcc, untrustedAcc)

	tests := []struct {
		name string
		req  jwtauth.Request
		want error
	}{
		{"no JWT", jwtauth.Request{ConnType: jwt.ConnectionTypeStandard}, jwtauth.ErrMissingJWT},
		{"garbage JWT", jwtauth.Request{UserJWT: "eyJ.not.ajwt"}, jwtauth.ErrInvalidUserJWT},
		{"account JWT instead of user JWT", jwtauth.Request{UserJWT: acc.JWT, Nonce: nonce, Sig: user.Sign(nonce)}, jwtauth.ErrInvalidUserJWT},
		{"tampered JWT", func() jwtauth.Request {
			r := signed(user)
			r.UserJWT = tamper(t, user.JWT, `"bearer_token":true,`)
			r.Sig = ""
			return r
		}(), jwtauth.ErrInvalidUserJWT},
		{"signature missing", jwtauth.Request{UserJWT: user.JWT, Nonce: nonce}, jwtauth.ErrMissingSignature},
		{"nonce missing", jwtauth.Request{UserJWT: user.JWT, Sig: user.Sign(nonce)}, jwtauth.ErrMissingSignature},
		{"signature of another nonce", jwtauth.Request{UserJWT: user.JWT, Nonce: nonce, Sig: user.Sign([]byte("other"))}, jwtauth.ErrInvalidSignature},
		{"signature by another user", jwtauth.Request{UserJWT: user.JWT, Nonce: nonce, Sig: other.Sign(nonce)}, jwtauth.ErrInvalidSignature},
		{"signature not base64", jwtauth.Request{UserJWT: user.JWT, Nonce: nonce, Sig: "!!!"}, jwtauth.ErrInvalidSignature},
		{"untrusted operator", signed(untrustedUser), jwtauth.ErrUntrustedAccount},
		{"account not in resolver", signed(missingUser), jwtauth.ErrAccountNotFound},
		{"expired account", signed(expiredAccUser), jwtauth.ErrAccountExpired},
		{"expired user", signed(expiredUser), jwtauth.ErrUserExpired},
		{"user not yet valid", signed(futureUser), jwtauth.ErrUserNotYetValid},
		{"revoked user", signed(revokedUser), jwtauth.ErrRevoked},
		{"bearer disallowed by account", jwtauth.Request{UserJWT: bearerUser.JWT}, jwtauth.ErrBearerNotAllowed},
		{"proxy required", signed(proxyUser), jwtauth.ErrProxyRequired},
		{"issuer not an account signing key", signed(rogueUser), jwtauth.ErrUnknownIssuer},
		{"valid user expired by Now", func() jwtauth.Request {
			r := signed(acc.NewUser(t, "x", func(uc *jwt.UserClaims) { uc.Expires = time.Now().Add(time.Hour).Unix() }))
			r.Now = time.Now().Add(2 * time.Hour)
			return r
		}(), jwtauth.ErrUserExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := v.Verify(tc.req)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, r)
		})
	}
}

// tamper inserts s at the start of the "nats" object of the JWT's payload,
// keeping the original signature.
func tamper(t *testing.T, token, s string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	p := strings.Replace(string(payload), `"nats":{`, `"nats":{`+s, 1)
	require.NotEqual(t, string(payload), p)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(p))
	return strings.Join(parts, ".")
}

func TestTamperForgesBearerFlag(t *testing.T) {
	// Guard for the tamper helper: the forged payload must carry the bearer
	// flag, so the rejection above comes from the signature alone.
	op := jwttest.NewOperator(t)
	u := op.NewAccount(t, "A").NewUser(t, "alice", nil)
	forged := tamper(t, u.JWT, `"bearer_token":true,`)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(forged, ".")[1])
	require.NoError(t, err)
	assert.Contains(t, string(payload), `"bearer_token":true`)
	_, err = jwt.DecodeUserClaims(forged)
	assert.ErrorContains(t, err, "signature verification")
}

func TestVerifyRevocation(t *testing.T) {
	self := func(u *jwttest.User) string { return u.PublicKey }
	all := func(*jwttest.User) string { return jwt.All }
	tests := []struct {
		name    string
		key     func(u *jwttest.User) string
		offset  time.Duration // revocation time relative to the user JWT's iat
		revoked bool
	}{
		{"user revoked after issue", self, time.Minute, true},
		{"user revoked at issue second", self, 0, true},
		{"user revoked before issue", self, -time.Second, false},
		{"all users revoked after issue", all, time.Minute, true},
		{"all users revoked at issue second", all, 0, true},
		{"all users revoked before issue", all, -time.Second, false},
		{"other user revoked", func(*jwttest.User) string { return "UOTHER" }, time.Minute, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := jwttest.NewOperator(t)
			acc := op.NewAccount(t, "A")
			u := acc.NewUser(t, "alice", nil)
			acc.Revoke(t, tc.key(u), time.Unix(u.Claims.IssuedAt, 0).Add(tc.offset))
			_, err := newVerifier(t, op, acc).Verify(signed(u))
			if tc.revoked {
				assert.ErrorIs(t, err, jwtauth.ErrRevoked)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestVerifyConnectionTypes(t *testing.T) {
	tests := []struct {
		name     string
		allowed  []string
		connType string
		ok       bool
	}{
		{"empty allows all", nil, jwt.ConnectionTypeStandard, true},
		{"allowed", []string{jwt.ConnectionTypeWebsocket}, jwt.ConnectionTypeWebsocket, true},
		{"lower case allowed", []string{"websocket"}, jwt.ConnectionTypeWebsocket, true},
		{"not allowed", []string{jwt.ConnectionTypeWebsocket}, jwt.ConnectionTypeStandard, false},
		{"in-process not allowed by standard", []string{jwt.ConnectionTypeStandard}, jwt.ConnectionTypeInProcess, false},
		{"mixed unknown, known matches", []string{"FUTURE", jwt.ConnectionTypeStandard}, jwt.ConnectionTypeStandard, true},
		{"mixed unknown, known does not match", []string{"FUTURE", jwt.ConnectionTypeWebsocket}, jwt.ConnectionTypeStandard, false},
		{"all unknown rejects", []string{"FUTURE", "OTHER"}, jwt.ConnectionTypeStandard, false},
		{"leafnode over websocket", []string{jwt.ConnectionTypeLeafnodeWS}, jwt.ConnectionTypeLeafnodeWS, true},
	}
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "A")
	v := newVerifier(t, op, acc)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := acc.NewUser(t, "alice", func(uc *jwt.UserClaims) { uc.AllowedConnectionTypes = tc.allowed })
			req := signed(u)
			req.ConnType = tc.connType
			_, err := v.Verify(req)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, jwtauth.ErrConnectionType)
			}
		})
	}
}

func TestVerifySource(t *testing.T) {
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "A")
	v := newVerifier(t, op, acc)
	restricted := acc.NewUser(t, "alice", func(uc *jwt.UserClaims) { uc.Src.Add("10.0.0.0/8", "192.168.1.7/32") })
	free := acc.NewUser(t, "bob", nil)
	tests := []struct {
		name string
		user *jwttest.User
		ip   net.IP
		ok   bool
	}{
		{"in first range", restricted, net.ParseIP("10.1.2.3"), true},
		{"exact host", restricted, net.ParseIP("192.168.1.7"), true},
		{"outside", restricted, net.ParseIP("192.168.1.8"), false},
		{"unknown address", restricted, nil, false},
		{"no restriction", free, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := signed(tc.user)
			req.RemoteIP = tc.ip
			_, err := v.Verify(req)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, jwtauth.ErrSourceNotAllowed)
			}
		})
	}
}

func TestVerifyTimes(t *testing.T) {
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "A")
	v := newVerifier(t, op, acc)
	day := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	office := acc.NewUser(t, "office", func(uc *jwt.UserClaims) {
		uc.Locale = "UTC"
		uc.Times = []jwt.TimeRange{{Start: "09:00:00", End: "17:00:00"}}
	})
	night := acc.NewUser(t, "night", func(uc *jwt.UserClaims) {
		uc.Locale = "UTC"
		uc.Times = []jwt.TimeRange{{Start: "22:00:00", End: "06:00:00"}}
	})
	expiring := acc.NewUser(t, "expiring", func(uc *jwt.UserClaims) {
		uc.Locale = "UTC"
		uc.Times = []jwt.TimeRange{{Start: "09:00:00", End: "17:00:00"}}
		uc.Expires = day.Add(10 * time.Hour).Unix()
	})
	tests := []struct {
		name    string
		user    *jwttest.User
		now     time.Time
		expires time.Time // zero: rejected
	}{
		{"inside window", office, day.Add(12 * time.Hour), day.Add(17 * time.Hour)},
		{"before window", office, day.Add(8 * time.Hour), time.Time{}},
		{"after window", office, day.Add(18 * time.Hour), time.Time{}},
		{"at window start (exclusive)", office, day.Add(9 * time.Hour), time.Time{}},
		{"across midnight, evening", night, day.Add(23 * time.Hour), day.Add(30 * time.Hour)},
		{"across midnight, morning", night, day.Add(5 * time.Hour), day.Add(6 * time.Hour)},
		{"across midnight, outside", night, day.Add(12 * time.Hour), time.Time{}},
		{"exp earlier than window end", expiring, day.Add(9*time.Hour + time.Minute), day.Add(10 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := signed(tc.user)
			req.Now = tc.now
			r, err := v.Verify(req)
			if tc.expires.IsZero() {
				require.ErrorIs(t, err, jwtauth.ErrOutsideTimes)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.expires.Equal(r.Expires), "expires %v, want %v", r.Expires, tc.expires)
		})
	}
}
