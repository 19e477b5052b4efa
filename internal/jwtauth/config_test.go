package jwtauth_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wsbroker/broker/internal/jwtauth"
	"github.com/wsbroker/broker/internal/jwtauth/jwttest"
)

func TestLoadOperator(t *testing.T) {
	op := jwttest.NewOperator(t)
	decorated, err := jwt.DecorateJWT(op.JWT)
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	expired := jwttest.NewOperator(t, func(c *jwt.OperatorClaims) { c.Expires = time.Now().Add(-time.Hour).Unix() })
	acc := op.NewAccount(t, "A")

	tests := []struct {
		name    string
		arg     string
		wantErr string
	}{
		{"inline JWT", op.JWT, ""},
		{"file with bare JWT", write("bare.jwt", []byte(op.JWT)), ""},
		{"file with decorated JWT", write("op.jwt", decorated), ""},
		{"missing file", filepath.Join(dir, "nope.jwt"), "error parsing operator JWT: open "},
		{"file without JWT", write("empty.jwt", []byte("hello\n")), "error parsing operator JWT: "},
		{"inline garbage", "eyJnot-a-jwt", "error parsing operator JWT: "},
		{"account JWT", acc.JWT, "error parsing operator JWT: "},
		{"expired operator", expired.JWT, "error parsing operator JWT: claim is expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opc, err := jwtauth.LoadOperator(tc.arg)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Nil(t, opc)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, op.PublicKey, opc.Subject)
		})
	}
}

func TestNewVerifier(t *testing.T) {
	op := jwttest.NewOperator(t)
	sys := op.NewAccount(t, "SYS")
	opWithSys := jwttest.NewOperator(t, func(c *jwt.OperatorClaims) { c.SystemAccount = sys.PublicKey })
	res, err := jwtauth.NewMemResolver(nil)
	require.NoError(t, err)
	ops := func(o ...*jwttest.Operator) []*jwt.OperatorClaims {
		var out []*jwt.OperatorClaims
		for _, x := range o {
			out = append(out, x.Claims)
		}
		return out
	}
	tests := []struct {
		name    string
		cfg     jwtauth.Config
		wantErr string
		wantSys string
	}{
		{"minimal", jwtauth.Config{Operators: ops(op), Resolver: res}, "", ""},
		{"system account from operator", jwtauth.Config{Operators: ops(opWithSys), Resolver: res}, "", sys.PublicKey},
		{"system account from config", jwtauth.Config{Operators: ops(op), Resolver: res, SystemAccount: sys.PublicKey}, "", sys.PublicKey},
		{"system account matching one operator", jwtauth.Config{Operators: ops(op, opWithSys), Resolver: res, SystemAccount: sys.PublicKey}, "", sys.PublicKey},
		{"no operators", jwtauth.Config{Resolver: res}, "at least one trusted operator", ""},
		{"nil operator", jwtauth.Config{Operators: []*jwt.OperatorClaims{nil}, Resolver: res}, "operator 0 is nil", ""},
		{"no resolver", jwtauth.Config{Operators: ops(op)}, "operators require an account resolver to be configured", ""},
		{"system account mismatch", jwtauth.Config{Operators: ops(opWithSys), Resolver: res, SystemAccount: op.NewAccount(t, "X").PublicKey},
			"system_account in config and operator JWT must be identical", ""},
		{"system account not an account key", jwtauth.Config{Operators: ops(op), Resolver: res, SystemAccount: op.PublicKey},
			"is not a valid public account nkey", ""},
		{"operator key not an operator key", jwtauth.Config{Operators: []*jwt.OperatorClaims{{ClaimsData: jwt.ClaimsData{Subject: sys.PublicKey}}}, Resolver: res},
			"are required to be a valid public operator nkey", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jwtauth.NewVerifier(tc.cfg)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Nil(t, v)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantSys, v.SystemAccount())
		})
	}
}

func TestMemResolver(t *testing.T) {
	op := jwttest.NewOperator(t)
	a := op.NewAccount(t, "A")
	b := op.NewAccount(t, "B")
	tampered := tamper(t, a.JWT, `"limits":{"subs":-1},`)
	u := a.NewUser(t, "u", nil)
	tests := []struct {
		name    string
		preload map[string]string
		wantErr string
	}{
		{"empty", nil, ""},
		{"valid entries", jwttest.Preload(a, b), ""},
		{"key not an account key", map[string]string{u.PublicKey: a.JWT},
			`preload account error for "` + u.PublicKey + `": not a valid account public key`},
		{"key and subject differ", map[string]string{a.PublicKey: b.JWT},
			`preload account error for "` + a.PublicKey + `": account JWT subject is "` + b.PublicKey + `"`},
		{"not a JWT", map[string]string{a.PublicKey: "junk"},
			`preload account error for "` + a.PublicKey + `": expected 3 chunks`},
		{"user JWT", map[string]string{a.PublicKey: u.JWT},
			`preload account error for "` + a.PublicKey + `": not account claim`},
		{"bad signature", map[string]string{a.PublicKey: tampered},
			`preload account error for "` + a.PublicKey + `": claim failed V2 signature verification`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := jwtauth.NewMemResolver(tc.preload)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				assert.Nil(t, m)
				return
			}
			require.NoError(t, err)
			for k, want := range tc.preload {
				got, err := m.Fetch(k)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
			_, err = m.Fetch(op.NewAccount(t, "absent").PublicKey)
			assert.ErrorIs(t, err, jwtauth.ErrAccountNotFound)
		})
	}
}

func TestMemResolverStoreUpdatesAccount(t *testing.T) {
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "A")
	u := acc.NewUser(t, "u", nil)
	res, err := jwtauth.NewMemResolver(jwttest.Preload(acc))
	require.NoError(t, err)
	v, err := jwtauth.NewVerifier(jwtauth.Config{Operators: []*jwt.OperatorClaims{op.Claims}, Resolver: res})
	require.NoError(t, err)
	_, err = v.Verify(signed(u))
	require.NoError(t, err)

	acc.Revoke(t, u.PublicKey, time.Now().Add(time.Minute))
	require.NoError(t, res.Store(acc.PublicKey, acc.JWT))
	_, err = v.Verify(signed(u))
	assert.ErrorIs(t, err, jwtauth.ErrRevoked)
}

// fixedResolver serves whatever it is given, without MemResolver's checks.
type fixedResolver map[string]string

func (f fixedResolver) Fetch(k string) (string, error) {
	if j, ok := f[k]; ok {
		return j, nil
	}
	return "", errors.New("resolver unavailable")
}

func TestVerifyAccountFromResolver(t *testing.T) {
	op := jwttest.NewOperator(t)
	a := op.NewAccount(t, "A")
	b := op.NewAccount(t, "B")
	u := a.NewUser(t, "u", nil)
	badAcc := op.NewAccount(t, "Bad", func(ac *jwt.AccountClaims) {
		ac.SigningKeys.Add("not-a-key")
	})
	badUser := badAcc.NewUser(t, "u", nil)
	futureAcc := op.NewAccount(t, "F", func(ac *jwt.AccountClaims) { ac.NotBefore = time.Now().Add(time.Hour).Unix() })
	futureUser := futureAcc.NewUser(t, "u", nil)
	tests := []struct {
		name string
		res  fixedResolver
		user *jwttest.User
		want []error
	}{
		{"resolver error", fixedResolver{}, u, []error{jwtauth.ErrAccountLookup}},
		{"JWT of another account", fixedResolver{a.PublicKey: b.JWT}, u, []error{jwtauth.ErrAccountLookup, jwtauth.ErrAccountValidation}},
		{"not a JWT", fixedResolver{a.PublicKey: "junk"}, u, []error{jwtauth.ErrAccountLookup, jwtauth.ErrAccountValidation}},
		{"invalid account claims", fixedResolver{badAcc.PublicKey: badAcc.JWT}, badUser, []error{jwtauth.ErrAccountLookup, jwtauth.ErrAccountValidation}},
		{"account not yet valid", fixedResolver{futureAcc.PublicKey: futureAcc.JWT}, futureUser, []error{jwtauth.ErrAccountLookup, jwtauth.ErrAccountValidation}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jwtauth.NewVerifier(jwtauth.Config{Operators: []*jwt.OperatorClaims{op.Claims}, Resolver: tc.res})
			require.NoError(t, err)
			_, err = v.Verify(signed(tc.user))
			for _, w := range tc.want {
				assert.ErrorIs(t, err, w)
			}
		})
	}
}
