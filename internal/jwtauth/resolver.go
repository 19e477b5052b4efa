package jwtauth

import (
	"fmt"
	"sync"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Resolver finds the current JWT of an account. Implementations must be
// safe for concurrent use. The Verifier checks everything about the JWT it
// returns (decoding, signature, trust, subject, expiry), so a resolver may be
// a plain lookup.
type Resolver interface {
	// Fetch returns the account JWT for the account public key, or an
	// error (ErrAccountNotFound when it has none).
	Fetch(accountPubKey string) (string, error)
}

// MemResolver is an in-memory Resolver: nats-server's MEMORY resolver, filled
// from resolver_preload. The zero value is not usable; use NewMemResolver.
type MemResolver struct {
	mu   sync.RWMutex
	jwts map[string]string
}

// NewMemResolver returns a MemResolver holding preload (account public key →
// account JWT). Every entry is checked as by Store; the first failing entry
// (in no particular order) is returned as the error.
func NewMemResolver(preload map[string]string) (*MemResolver, error) {
	m := &MemResolver{jwts: make(map[string]string, len(preload))}
	for k, v := range preload {
		if err := m.Store(k, v); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Store adds or replaces the JWT of an account. The key must be an account
// public key, and the JWT must decode as account claims (signature included)
// whose subject is that key. Errors read `preload account error for "<key>":
// ...`, nats-server's text for a preload entry that does not decode;
// nats-server defers the other two checks to the first lookup, where a bad
// entry fails every connection of the account with no hint at the cause.
// Expiry and trust are not checked here: they are checked at each Verify.
func (m *MemResolver) Store(accountPubKey, accountJWT string) error {
	if !nkeys.IsValidPublicAccountKey(accountPubKey) {
		return fmt.Errorf("preload account error for %q: not a valid account public key", accountPubKey)
	}
	ac, err := jwt.DecodeAccountClaims(accountJWT)
	if err != nil {
		return fmt.Errorf("preload account error for %q: %w", accountPubKey, err)
	}
	if ac.Subject != accountPubKey {
		return fmt.Errorf("preload account error for %q: account JWT subject is %q", accountPubKey, ac.Subject)
	}
	m.mu.Lock()
	m.jwts[accountPubKey] = accountJWT
	m.mu.Unlock()
	return nil
}

// Fetch returns the stored JWT of the account, or ErrAccountNotFound.
func (m *MemResolver) Fetch(accountPubKey string) (string, error) {
	m.mu.RLock()
	j, ok := m.jwts[accountPubKey]
	m.mu.RUnlock()
	if !ok {
		return "", ErrAccountNotFound
	}
	return j, nil
}
