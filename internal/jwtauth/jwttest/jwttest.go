// Package jwttest builds NATS operator-mode fixtures for tests: an operator,
// its accounts and their users, each with keys, seeds and signed JWTs, plus
// creds files and nonce signatures as a real client would produce them.
//
//	op := jwttest.NewOperator(t)
//	acc := op.NewAccount(t, "A")
//	u := acc.NewUser(t, "alice", func(uc *jwt.UserClaims) { uc.Pub.Allow.Add("foo.>") })
//	preload := jwttest.Preload(acc)   // account public key → account JWT
//	sig := u.Sign(nonce)              // what nats.go puts in CONNECT sig
//
// Every constructor fails the test (t.Fatal) on error. Fixtures are not safe
// for concurrent mutation; build them before starting goroutines.
package jwttest

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Operator is a test operator with its self-signed JWT.
type Operator struct {
	Key       nkeys.KeyPair // identity key pair
	PublicKey string        // identity public key ("O...")
	Seed      []byte        // identity seed ("SO...")
	// Signer signs new and updated account JWTs: Key, or the last key
	// added with AddSigningKey.
	Signer nkeys.KeyPair
	Claims *jwt.OperatorClaims
	JWT    string
}

// NewOperator creates an operator. Each edit may change the claims before
// they are signed.
func NewOperator(t testing.TB, edit ...func(*jwt.OperatorClaims)) *Operator {
	t.Helper()
	kp, pub, seed := newKey(t, nkeys.CreateOperator)
	o := &Operator{Key: kp, PublicKey: pub, Seed: seed, Signer: kp, Claims: jwt.NewOperatorClaims(pub)}
	o.Claims.Name = "test-operator"
	o.Update(t, edit...)
	return o
}

// Update applies the edits to the operator claims and re-signs its JWT.
func (o *Operator) Update(t testing.TB, edit ...func(*jwt.OperatorClaims)) {
	t.Helper()
	for _, e := range edit {
		e(o.Claims)
	}
	tok, err := o.Claims.Encode(o.Key)
	if err != nil {
		t.Fatalf("jwttest: encode operator: %v", err)
	}
	o.JWT = tok
}

// AddSigningKey creates an operator signing key, adds it to the operator
// JWT (re-signed) and makes it the Signer of accounts created or updated
// from now on. It returns the new key pair.
func (o *Operator) AddSigningKey(t testing.TB) nkeys.KeyPair {
	t.Helper()
	kp, pub, _ := newKey(t, nkeys.CreateOperator)
	o.Update(t, func(c *jwt.OperatorClaims) { c.SigningKeys.Add(pub) })
	o.Signer = kp
	return kp
}

// Account is a test account with its JWT signed by its operator's Signer.
type Account struct {
	Operator  *Operator
	Key       nkeys.KeyPair // identity key pair
	PublicKey string        // identity public key ("A...")
	Seed      []byte        // identity seed ("SA...")
	Claims    *jwt.AccountClaims
	JWT       string
}

// NewAccount creates an account of o named name. Each edit may change the
// claims (limits, expiry, default permissions...) before they are signed.
func (o *Operator) NewAccount(t testing.TB, name string, edit ...func(*jwt.AccountClaims)) *Account {
	t.Helper()
	kp, pub, seed := newKey(t, nkeys.CreateAccount)
	a := &Account{Operator: o, Key: kp, PublicKey: pub, Seed: seed, Claims: jwt.NewAccountClaims(pub)}
	a.Claims.Name = name
	a.Update(t, edit...)
	return a
}

// Update applies the edits to the account claims and re-signs its JWT with
// the operator's current Signer.
func (a *Account) Update(t testing.TB, edit ...func(*jwt.AccountClaims)) {
	t.Helper()
	for _, e := range edit {
		e(a.Claims)
	}
	tok, err := a.Claims.Encode(a.Operator.Signer)
	if err != nil {
		t.Fatalf("jwttest: encode account %q: %v", a.Claims.Name, err)
	}
	a.JWT = tok
}

// AddSigningKey creates an (unscoped) account signing key, adds it to the
// account JWT (re-signed) and returns it; sign users with NewUserSignedBy.
func (a *Account) AddSigningKey(t testing.TB) nkeys.KeyPair {
	t.Helper()
	kp, pub, _ := newKey(t, nkeys.CreateAccount)
	a.Update(t, func(c *jwt.AccountClaims) { c.SigningKeys.Add(pub) })
	return kp
}

// AddScopedSigningKey creates a scoped account signing key whose user
// template edit sets (role, permissions, limits, allowed connection types,
// bearer...), adds it to the account JWT (re-signed) and returns it.
func (a *Account) AddScopedSigningKey(t testing.TB, edit func(*jwt.UserScope)) nkeys.KeyPair {
	t.Helper()
	kp, pub, _ := newKey(t, nkeys.CreateAccount)
	scope := jwt.NewUserScope()
	scope.Key = pub
	if edit != nil {
		edit(scope)
	}
	a.Update(t, func(c *jwt.AccountClaims) { c.SigningKeys.AddScopedSigner(scope) })
	return kp
}

// Revoke revokes, in the account JWT (re-signed), every JWT of the user
// public key (or of every user, with jwt.All) issued at or before at.
func (a *Account) Revoke(t testing.TB, userPubKey string, at time.Time) {
	t.Helper()
	a.Update(t, func(c *jwt.AccountClaims) { c.RevokeAt(userPubKey, at) })
}

// User is a test user with its JWT.
type User struct {
	Account   *Account
	Key       nkeys.KeyPair // user key pair
	PublicKey string        // user public key ("U...")
	Seed      []byte        // user seed ("SU...")
	Claims    *jwt.UserClaims
	JWT       string
	creds     []byte
}

// NewUser creates a user named name signed by the account's own key. edit,
// if not nil, may change the claims (permissions, limits, bearer, allowed
// connection types, expiry...) before they are signed.
func (a *Account) NewUser(t testing.TB, name string, edit func(*jwt.UserClaims)) *User {
	t.Helper()
	return a.newUser(t, a.Key, name, edit)
}

// NewUserSignedBy creates a user named name signed by the account signing key
// signer (issuer_account set to the account). For a scoped signing key the
// claims start without permissions or limits, as scoped users require.
func (a *Account) NewUserSignedBy(t testing.TB, signer nkeys.KeyPair, name string, edit func(*jwt.UserClaims)) *User {
	t.Helper()
	return a.newUser(t, signer, name, func(uc *jwt.UserClaims) {
		uc.IssuerAccount = a.PublicKey
		if pub, err := signer.PublicKey(); err == nil {
			if s, ok := a.Claims.SigningKeys[pub]; ok && s != nil {
				uc.SetScoped(true)
			}
		}
		if edit != nil {
			edit(uc)
		}
	})
}

func (a *Account) newUser(t testing.TB, signer nkeys.KeyPair, name string, edit func(*jwt.UserClaims)) *User {
	t.Helper()
	kp, pub, seed := newKey(t, nkeys.CreateUser)
	u := &User{Account: a, Key: kp, PublicKey: pub, Seed: seed, Claims: jwt.NewUserClaims(pub)}
	u.Claims.Name = name
	if edit != nil {
		edit(u.Claims)
	}
	tok, err := u.Claims.Encode(signer)
	if err != nil {
		t.Fatalf("jwttest: encode user %q: %v", name, err)
	}
	u.JWT = tok
	if u.creds, err = jwt.FormatUserConfig(tok, seed); err != nil {
		t.Fatalf("jwttest: format creds of user %q: %v", name, err)
	}
	return u
}

// Creds returns the content of a decorated creds file for the user (JWT and
// seed), as nsc writes it and nats.UserCredentials reads it.
func (u *User) Creds() []byte { return append([]byte(nil), u.creds...) }

// Sign returns the user's signature of nonce, base64 raw URL encoded: the
// CONNECT sig a NATS client sends. It panics if the key cannot sign, which
// a key pair made by this package never does.
func (u *User) Sign(nonce []byte) string {
	sig, err := u.Key.Sign(nonce)
	if err != nil {
		panic(fmt.Sprintf("jwttest: sign nonce: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(sig)
}

// Preload returns the accounts as a resolver preload: public key → JWT.
func Preload(accounts ...*Account) map[string]string {
	m := make(map[string]string, len(accounts))
	for _, a := range accounts {
		m[a.PublicKey] = a.JWT
	}
	return m
}

func newKey(t testing.TB, create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, string, []byte) {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatalf("jwttest: create key: %v", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatalf("jwttest: public key: %v", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatalf("jwttest: seed: %v", err)
	}
	return kp, pub, seed
}
