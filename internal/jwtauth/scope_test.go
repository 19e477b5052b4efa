package jwtauth_test

import (
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/jwtauth"
	"github.com/wsbroker/broker/internal/jwtauth/jwttest"
)

func TestVerifyScopedSigningKey(t *testing.T) {
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "Team", func(ac *jwt.AccountClaims) { ac.Tags.Add("env:prod") })
	scoped := acc.AddScopedSigningKey(t, func(s *jwt.UserScope) {
		s.Role = "member"
		s.Template.Pub.Allow.Add("fixed", "user.{{name()}}.>", "id.{{subject()}}", "acct.{{account-name()}}",
			"in.{{account-subject()}}", "region.{{tag(region)}}", "env.{{account-tag(env)}}")
		s.Template.Sub.Allow.Add("_INBOX.>")
		s.Template.Sub.Deny.Add("admin.{{name()}}")
		s.Template.Limits.Subs = 5
		s.Template.Limits.Payload = 512
		s.Template.AllowedConnectionTypes.Add(jwt.ConnectionTypeWebsocket)
	})
	missingTag := acc.AddScopedSigningKey(t, func(s *jwt.UserScope) {
		s.Template.Pub.Allow.Add("region.{{tag(region)}}")
	})
	denyMissingTag := acc.AddScopedSigningKey(t, func(s *jwt.UserScope) {
		s.Template.Pub.Deny.Add("region.{{tag(region)}}")
	})
	badOp := acc.AddScopedSigningKey(t, func(s *jwt.UserScope) {
		s.Template.Pub.Allow.Add("x.{{nope()}}")
	})
	bearerScope := acc.AddScopedSigningKey(t, func(s *jwt.UserScope) { s.Template.BearerToken = true })
	v := newVerifier(t, op, acc)

	ws := func(u *jwttest.User) jwtauth.Request {
		r := signed(u)
		r.ConnType = jwt.ConnectionTypeWebsocket
		return r
	}

	t.Run("permissions and limits come from the template", func(t *testing.T) {
		u := acc.NewUserSignedBy(t, scoped, "alice", func(uc *jwt.UserClaims) {
			uc.Tags.Add("region:eu", "region:us")
		})
		r, err := v.Verify(ws(u))
		require.NoError(t, err)
		assert.Equal(t, jwt.StringList{"fixed", "user.alice.>", "id." + u.PublicKey, "acct.Team",
			"in." + acc.PublicKey, "region.eu", "region.us", "env.prod"}, r.Permissions.Pub.Allow)
		assert.Equal(t, jwt.StringList{"_INBOX.>"}, r.Permissions.Sub.Allow)
		assert.Equal(t, jwt.StringList{"admin.alice"}, r.Permissions.Sub.Deny)
		assert.Equal(t, int64(5), r.MaxSubs)
		assert.Equal(t, int64(512), r.MaxPayload)
		assert.False(t, r.DefaultPermissions)
	})
	t.Run("connection types come from the template", func(t *testing.T) {
		u := acc.NewUserSignedBy(t, scoped, "alice", nil)
		_, err := v.Verify(signed(u)) // STANDARD
		assert.ErrorIs(t, err, jwtauth.ErrConnectionType)
	})
	t.Run("bearer comes from the template", func(t *testing.T) {
		u := acc.NewUserSignedBy(t, bearerScope, "b", nil)
		r, err := v.Verify(jwtauth.Request{UserJWT: u.JWT, ConnType: jwt.ConnectionTypeStandard})
		require.NoError(t, err)
		assert.True(t, r.BearerToken)
	})

	tests := []struct {
		name string
		user func(t *testing.T) *jwttest.User
		want error
		deny jwt.StringList // when no error: expected pub deny list
	}{
		{"scoped user with own permissions", func(t *testing.T) *jwttest.User {
			return acc.NewUserSignedBy(t, scoped, "a", func(uc *jwt.UserClaims) { uc.Pub.Allow.Add(">") })
		}, jwtauth.ErrScopedUser, nil},
		{"scoped user claiming bearer", func(t *testing.T) *jwttest.User {
			return acc.NewUserSignedBy(t, scoped, "a", func(uc *jwt.UserClaims) { uc.BearerToken = true })
		}, jwtauth.ErrScopedUser, nil},
		{"undefined template operation", func(t *testing.T) *jwttest.User {
			return acc.NewUserSignedBy(t, badOp, "a", nil)
		}, jwtauth.ErrScopedUser, nil},
		{"missing tag in deny list", func(t *testing.T) *jwttest.User {
			return acc.NewUserSignedBy(t, denyMissingTag, "a", nil)
		}, jwtauth.ErrScopedUser, nil},
		{"missing tag empties allow list into deny all", func(t *testing.T) *jwttest.User {
			return acc.NewUserSignedBy(t, missingTag, "a", nil)
		}, nil, jwt.StringList{">"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := v.Verify(ws(tc.user(t)))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Empty(t, r.Permissions.Pub.Allow)
			assert.Equal(t, tc.deny, r.Permissions.Pub.Deny)
		})
	}
}

func TestVerifySigningKeyChains(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (*jwttest.Operator, *jwttest.Account, *jwttest.User)
		want  error
	}{
		{"account signed by operator signing key", func(t *testing.T) (*jwttest.Operator, *jwttest.Account, *jwttest.User) {
			op := jwttest.NewOperator(t)
			op.AddSigningKey(t)
			acc := op.NewAccount(t, "A")
			return op, acc, acc.NewUser(t, "u", nil)
		}, nil},
		{"account signed by a key the operator does not list", func(t *testing.T) (*jwttest.Operator, *jwttest.Account, *jwttest.User) {
			op := jwttest.NewOperator(t)
			op.AddSigningKey(t)
			acc := op.NewAccount(t, "A")
			op.Update(t, func(c *jwt.OperatorClaims) { c.SigningKeys = nil })
			return op, acc, acc.NewUser(t, "u", nil)
		}, jwtauth.ErrUntrustedAccount},
		{"strict operator rejects account signed by identity key", func(t *testing.T) (*jwttest.Operator, *jwttest.Account, *jwttest.User) {
			op := jwttest.NewOperator(t)
			acc := op.NewAccount(t, "A")
			op.AddSigningKey(t)
			op.Update(t, func(c *jwt.OperatorClaims) { c.StrictSigningKeyUsage = true })
			return op, acc, acc.NewUser(t, "u", nil)
		}, jwtauth.ErrUntrustedAccount},
		{"strict operator rejects user signed by account identity key", func(t *testing.T) (*jwttest.Operator, *jwttest.Account, *jwttest.User) {
			op := jwttest.NewOperator(t)
			op.AddSigningKey(t)
			op.Update(t, func(c *jwt.OperatorClaims) { c.StrictSigningKeyUsage = true })
			acc := op.NewAccount(t, "A")
			return op, acc, acc.NewUser(t, "u", nil)
		}, jwtauth.ErrUnknownIssuer},
		{"strict operator accepts user signed by account signing key", func(t *testing.T) (*jwttest.Operator, *jwttest.Account, *jwttest.User) {
			op := jwttest.NewOperator(t)
			op.AddSigningKey(t)
			op.Update(t, func(c *jwt.OperatorClaims) { c.StrictSigningKeyUsage = true })
			acc := op.NewAccount(t, "A")
			return op, acc, acc.NewUserSignedBy(t, acc.AddSigningKey(t), "u", nil)
		}, nil},
		{"signing key removed from account", func(t *testing.T) (*jwttest.Operator, *jwttest.Account, *jwttest.User) {
			op := jwttest.NewOperator(t)
			acc := op.NewAccount(t, "A")
			u := acc.NewUserSignedBy(t, acc.AddSigningKey(t), "u", nil)
			acc.Update(t, func(ac *jwt.AccountClaims) { ac.SigningKeys = jwt.SigningKeys{} })
			return op, acc, u
		}, jwtauth.ErrUnknownIssuer},
		{"user of another account claiming this account", func(t *testing.T) (*jwttest.Operator, *jwttest.Account, *jwttest.User) {
			op := jwttest.NewOperator(t)
			acc := op.NewAccount(t, "A")
			other := op.NewAccount(t, "B")
			return op, acc, acc.NewUserSignedBy(t, other.Key, "u", nil)
		}, jwtauth.ErrUnknownIssuer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op, acc, u := tc.setup(t)
			r, err := newVerifier(t, op, acc).Verify(signed(u))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, acc.PublicKey, r.Account)
		})
	}
}
