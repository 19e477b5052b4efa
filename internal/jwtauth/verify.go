package jwtauth

import (
	"encoding/base64"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Request is what a connection presents for authentication.
type Request struct {
	// UserJWT is the user JWT from CONNECT's jwt field, or from a cookie
	// when CONNECT has none (the caller decides).
	UserJWT string
	// Nonce is the nonce sent to the client in INFO. Required unless the
	// user JWT is a bearer token.
	Nonce []byte
	// Sig is CONNECT's sig field: the user's signature of Nonce, base64
	// raw URL encoded (what nats.go sends); standard base64 is accepted too.
	Sig string
	// ConnType is the jwt/v2 connection type of the connection
	// (jwt.ConnectionTypeStandard, ...Websocket, ...InProcess, ...).
	ConnType string
	// RemoteIP is the client's address, checked against the user's src
	// CIDRs. Nil (unknown, in-process) fails any src restriction.
	RemoteIP net.IP
	// Now is the time to check expiry, revocation and connect times
	// against; zero means time.Now().
	Now time.Time
}

// Result describes an authenticated user.
type Result struct {
	// Account is the account's public key: the user JWT's issuer_account
	// when it was signed by a signing key, else its issuer.
	Account string
	// AccountName is the account JWT's name.
	AccountName string
	// User is the user's public key (the user JWT's subject).
	User string
	// Name is the user JWT's name.
	Name string
	// SigningKey is the account signing key that signed the user JWT, ""
	// when the account's own key did.
	SigningKey string
	// Permissions are the user's publish/subscribe/response permissions:
	// from the user JWT, from the scope template for a scoped signing key,
	// or the account's default permissions when those are empty.
	Permissions jwt.Permissions
	// DefaultPermissions reports that Permissions are the account's
	// default permissions (the user JWT and scope set none).
	DefaultPermissions bool
	// MaxSubs is the maximum number of subscriptions, -1 (jwt.NoLimit) for
	// no limit: the smaller of the user's (or scope's) and the account's.
	// As in nats-server, 0 (a JWT that omits the limit) means none.
	MaxSubs int64
	// MaxPayload is the maximum message payload in bytes, -1 (jwt.NoLimit)
	// for no limit: the smaller of the user's (or scope's) and the account's.
	// As in nats-server, 0 (a JWT that omits the limit) means none.
	MaxPayload int64
	// Expires is when the user's authentication ends, zero if never: the
	// earlier of the user JWT's exp and the end of the current connect-time
	// window. nats-server then closes with -ERR 'User Authentication Expired'.
	Expires time.Time
	// AccountExpires is the account JWT's exp, zero if none. nats-server
	// then closes with -ERR 'Account Authentication Expired'.
	AccountExpires time.Time
	// BearerToken reports that the user JWT authenticated without a nonce
	// signature.
	BearerToken bool
	// Claims are the decoded user claims, with a scope template applied.
	Claims *jwt.UserClaims
	// AccountClaims are the decoded claims of the account.
	AccountClaims *jwt.AccountClaims
}

// Verify authenticates r. It runs nats-server's checks in nats-server's
// order: the user JWT decodes (signature included) and is valid at r.Now;
// the account (issuer_account, else issuer) is fetched from the resolver, is
// signed by a trusted operator key and matches its key; the user JWT's
// issuer is the account or one of its signing keys (a scoped signing key
// replaces the user's permissions and limits with its template); the account
// has not expired and allows bearer tokens if this is one; the connection
// type is allowed; the nonce signature verifies unless bearer; the user is
// not revoked; the remote IP and the time of day are allowed.
//
// Any error means the client gets -ERR 'Authorization Violation'; the error
// itself, which wraps one of the Err* values, is for the server's log.
func (v *Verifier) Verify(r Request) (*Result, error) {
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	if r.UserJWT == "" {
		return nil, ErrMissingJWT
	}
	uc, err := jwt.DecodeUserClaims(r.UserJWT)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidUserJWT, err)
	}
	if uc.ProxyRequired {
		return nil, ErrProxyRequired
	}
	if err := checkClaims(uc, ErrInvalidUserJWT); err != nil {
		return nil, err
	}
	if uc.Expires > 0 && now.Unix() >= uc.Expires {
		return nil, fmt.Errorf("%w: exp %s", ErrUserExpired, time.Unix(uc.Expires, 0).UTC())
	}
	if uc.NotBefore > 0 && now.Unix() < uc.NotBefore {
		return nil, fmt.Errorf("%w: nbf %s", ErrUserNotYetValid, time.Unix(uc.NotBefore, 0).UTC())
	}

	accKey := uc.Issuer
	if uc.IssuerAccount != "" {
		accKey = uc.IssuerAccount
	}
	ac, strict, err := v.account(accKey, now)
	if err != nil {
		return nil, err
	}
	res := &Result{
		Account:       accKey,
		AccountName:   ac.Name,
		User:          uc.Subject,
		Name:          uc.Name,
		Claims:        uc,
		AccountClaims: ac,
	}
	if ac.Expires > 0 {
		res.AccountExpires = time.Unix(ac.Expires, 0)
	}
	if uc.Issuer != accKey || strict {
		scope, ok := ac.SigningKeys[uc.Issuer]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownIssuer, uc.Issuer)
		}
		res.SigningKey = uc.Issuer
		if scope != nil {
			if err := applyScope(scope, uc, ac); err != nil {
				return nil, err
			}
		}
	}
	if uc.ProxyRequired { // a scope template may require it
		return nil, ErrProxyRequired
	}
	if uc.BearerToken && ac.Limits.DisallowBearer {
		return nil, ErrBearerNotAllowed
	}
	if err := connTypeAllowed(uc.AllowedConnectionTypes, r.ConnType); err != nil {
		return nil, err
	}
	if !uc.BearerToken {
		if err := verifyNonce(uc.Subject, r.Nonce, r.Sig); err != nil {
			return nil, err
		}
	}
	res.BearerToken = uc.BearerToken
	if ac.Revocations.IsRevoked(uc.Subject, time.Unix(uc.IssuedAt, 0)) {
		return nil, ErrRevoked
	}
	if err := srcAllowed(uc.Src, r.RemoteIP); err != nil {
		return nil, err
	}
	windowEnd, err := timesAllowed(uc.Times, uc.Locale, now)
	if err != nil {
		return nil, err
	}

	if uc.Expires > 0 {
		res.Expires = time.Unix(uc.Expires, 0)
	}
	if !windowEnd.IsZero() && (res.Expires.IsZero() || windowEnd.Before(res.Expires)) {
		res.Expires = windowEnd
	}
	res.Permissions = uc.Permissions
	if len(uc.Pub.Allow) == 0 && len(uc.Pub.Deny) == 0 && len(uc.Sub.Allow) == 0 &&
		len(uc.Sub.Deny) == 0 && uc.Resp == nil {
		res.Permissions = ac.DefaultPermissions
		res.DefaultPermissions = true
	}
	res.MaxSubs = minLimit(uc.Limits.Subs, ac.Limits.Subs)
	res.MaxPayload = minLimit(uc.Limits.Payload, ac.Limits.Payload)
	return res, nil
}

// account fetches, decodes and checks the JWT of the account accKey. strict
// reports that the operator key that signed it demands signing keys for
// users (StrictSigningKeyUsage), so the account key itself may not sign.
func (v *Verifier) account(accKey string, now time.Time) (*jwt.AccountClaims, bool, error) {
	if !nkeys.IsValidPublicAccountKey(accKey) {
		return nil, false, fmt.Errorf("%w: will only fetch valid account keys", ErrAccountLookup)
	}
	token, err := v.resolver.Fetch(accKey)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", ErrAccountLookup, accKey, err)
	}
	ac, err := jwt.DecodeAccountClaims(token)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w: %v", ErrAccountLookup, accKey, ErrAccountValidation, err)
	}
	if ac.Subject != accKey {
		return nil, false, fmt.Errorf("%w: %s: %w: subject is %s", ErrAccountLookup, accKey, ErrAccountValidation, ac.Subject)
	}
	strict, trusted := v.trusted[ac.Issuer]
	if !trusted {
		return nil, false, fmt.Errorf("%w: account %s issued by %s", ErrUntrustedAccount, accKey, ac.Issuer)
	}
	if err := checkClaims(ac, ErrAccountValidation); err != nil {
		return nil, false, fmt.Errorf("%w: %s: %w", ErrAccountLookup, accKey, err)
	}
	if ac.Expires > 0 && now.Unix() >= ac.Expires {
		return nil, false, fmt.Errorf("%w: %s exp %s", ErrAccountExpired, accKey, time.Unix(ac.Expires, 0).UTC())
	}
	if ac.NotBefore > 0 && now.Unix() < ac.NotBefore {
		return nil, false, fmt.Errorf("%w: %s: %w: not yet valid", ErrAccountLookup, accKey, ErrAccountValidation)
	}
	return ac, strict, nil
}

// checkClaims runs the claims' own validation, leaving the time checks (made
// by jwt/v2 against the wall clock) to the caller, which uses Request.Now.
func checkClaims(c interface{ Validate(*jwt.ValidationResults) }, sentinel error) error {
	vr := jwt.CreateValidationResults()
	c.Validate(vr)
	if vr.IsBlocking(false) {
		return fmt.Errorf("%w: %w", sentinel, issuesError(vr))
	}
	return nil
}

// verifyNonce checks sig, the base64 (raw URL, else standard) signature of
// nonce by the user key userKey.
func verifyNonce(userKey string, nonce []byte, sig string) error {
	if sig == "" || len(nonce) == 0 {
		return ErrMissingSignature
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return fmt.Errorf("%w: signature not valid base64", ErrInvalidSignature)
		}
	}
	pub, err := nkeys.FromPublicKey(userKey)
	if err != nil {
		return fmt.Errorf("%w: user nkey not valid: %v", ErrInvalidSignature, err)
	}
	if err := pub.Verify(nonce, raw); err != nil {
		return ErrInvalidSignature
	}
	return nil
}

// minLimit returns the stricter of two limits where -1 (jwt.NoLimit) means
// no limit.
func minLimit(a, b int64) int64 {
	switch {
	case a == jwt.NoLimit:
		return b
	case b == jwt.NoLimit:
		return a
	}
	return min(a, b)
}
