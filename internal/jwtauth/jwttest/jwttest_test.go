package jwttest_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/jwtauth/jwttest"
)

func TestFixtureChain(t *testing.T) {
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "A", func(ac *jwt.AccountClaims) { ac.Expires = time.Now().Add(time.Hour).Unix() })
	sk := acc.AddSigningKey(t)
	scoped := acc.AddScopedSigningKey(t, func(s *jwt.UserScope) { s.Template.Pub.Allow.Add("x") })
	u := acc.NewUser(t, "alice", func(uc *jwt.UserClaims) { uc.Pub.Allow.Add("foo") })
	su := acc.NewUserSignedBy(t, sk, "bob", nil)
	scu := acc.NewUserSignedBy(t, scoped, "carol", nil)

	tests := []struct {
		name   string
		token  string
		decode func(string) (jwt.Claims, error)
		issuer string
		sub    string
	}{
		{"operator self-signed", op.JWT, func(s string) (jwt.Claims, error) { return jwt.DecodeOperatorClaims(s) }, op.PublicKey, op.PublicKey},
		{"account signed by operator", acc.JWT, func(s string) (jwt.Claims, error) { return jwt.DecodeAccountClaims(s) }, op.PublicKey, acc.PublicKey},
		{"user signed by account", u.JWT, func(s string) (jwt.Claims, error) { return jwt.DecodeUserClaims(s) }, acc.PublicKey, u.PublicKey},
		{"user signed by signing key", su.JWT, func(s string) (jwt.Claims, error) { return jwt.DecodeUserClaims(s) }, pub(t, sk), su.PublicKey},
		{"user signed by scoped key", scu.JWT, func(s string) (jwt.Claims, error) { return jwt.DecodeUserClaims(s) }, pub(t, scoped), scu.PublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.decode(tc.token)
			require.NoError(t, err)
			assert.Equal(t, tc.issuer, c.Claims().Issuer)
			assert.Equal(t, tc.sub, c.Claims().Subject)
		})
	}

	t.Run("account lists its signing keys and expiry", func(t *testing.T) {
		ac, err := jwt.DecodeAccountClaims(acc.JWT)
		require.NoError(t, err)
		assert.True(t, ac.SigningKeys.Contains(pub(t, sk)))
		s, ok := ac.SigningKeys.GetScope(pub(t, scoped))
		require.True(t, ok)
		require.IsType(t, &jwt.UserScope{}, s)
		assert.NotZero(t, ac.Expires)
	})
	t.Run("users signed by keys name their account", func(t *testing.T) {
		assert.Equal(t, acc.PublicKey, su.Claims.IssuerAccount)
		assert.True(t, scu.Claims.HasEmptyPermissions(), "scoped users carry no permissions")
		assert.Empty(t, u.Claims.IssuerAccount)
	})
}

func TestUserCredsAndSign(t *testing.T) {
	u := jwttest.NewOperator(t).NewAccount(t, "A").NewUser(t, "alice", nil)
	creds := u.Creds()

	t.Run("creds hold the JWT and the seed", func(t *testing.T) {
		tok, err := jwt.ParseDecoratedJWT(creds)
		require.NoError(t, err)
		assert.Equal(t, u.JWT, tok)
		kp, err := jwt.ParseDecoratedNKey(creds)
		require.NoError(t, err)
		assert.Equal(t, u.PublicKey, pub(t, kp))
	})
	t.Run("creds are a copy", func(t *testing.T) {
		creds[0] = 'X'
		assert.NotEqual(t, creds[0], u.Creds()[0])
	})
	t.Run("signature verifies with the user key", func(t *testing.T) {
		nonce := []byte("nonce")
		sig, err := base64.RawURLEncoding.DecodeString(u.Sign(nonce))
		require.NoError(t, err)
		pk, err := nkeys.FromPublicKey(u.PublicKey)
		require.NoError(t, err)
		assert.NoError(t, pk.Verify(nonce, sig))
		assert.Error(t, pk.Verify([]byte("other"), sig))
	})
	t.Run("preload maps keys to JWTs", func(t *testing.T) {
		assert.Equal(t, map[string]string{u.Account.PublicKey: u.Account.JWT}, jwttest.Preload(u.Account))
	})
}

func pub(t *testing.T, kp nkeys.KeyPair) string {
	t.Helper()
	p, err := kp.PublicKey()
	require.NoError(t, err)
	return p
}
