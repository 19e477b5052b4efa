// Package jwtauth verifies NATS user JWTs in operator mode: the decentralised
// authentication of nats-server where a trusted operator signs accounts, an
// account (or one of its signing keys) signs users, and a client proves that
// it holds the user's private key by signing the nonce of the server's INFO.
//
// The package knows nothing of connections or the broker engine. The broker's
// authenticator builds a [Request] from the CONNECT it received and calls
// [Verifier.Verify]; on success the [Result] carries the account, the
// permissions and the limits to apply, on failure the error names the real
// reason for the operator's debug log. Clients must only ever see
// 'Authorization Violation', whatever the error.
//
// The checks and their order follow nats-server 2.15 (see Verify).
package jwtauth

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Errors returned by [Verifier.Verify], wrapped with details; test with
// errors.Is. Their texts follow the debug messages of nats-server.
var (
	// ErrMissingJWT: the request carries no user JWT.
	ErrMissingJWT = errors.New("authentication requires a user JWT")
	// ErrInvalidUserJWT: the user JWT does not decode, its signature does
	// not verify, or its claims have blocking validation issues.
	ErrInvalidUserJWT = errors.New("user JWT not valid")
	// ErrUserExpired: the user JWT's exp is at or before Request.Now.
	ErrUserExpired = errors.New("user JWT has expired")
	// ErrUserNotYetValid: the user JWT's nbf is after Request.Now.
	ErrUserNotYetValid = errors.New("user JWT is not yet valid")
	// ErrProxyRequired: the user (or its scope) demands a connection
	// through a trusted proxy, which this package does not support.
	ErrProxyRequired = errors.New("user JWT requires a trusted proxy")
	// ErrAccountLookup: the issuing account could not be obtained from the
	// resolver or its JWT is unusable; wraps the resolver's error,
	// ErrAccountNotFound or ErrAccountValidation.
	ErrAccountLookup = errors.New("account JWT lookup error")
	// ErrUntrustedAccount: the account JWT is not signed by a trusted
	// operator or one of its signing keys.
	ErrUntrustedAccount = errors.New("account JWT not signed by trusted operator")
	// ErrAccountExpired: the account JWT's exp is at or before Request.Now.
	ErrAccountExpired = errors.New("account JWT has expired")
	// ErrUnknownIssuer: the user JWT is signed by a key that is neither the
	// account nor one of its signing keys.
	ErrUnknownIssuer = errors.New("user JWT issuer is not known")
	// ErrScopedUser: a user signed by a scoped signing key sets permissions
	// or limits of its own, or the scope's template does not expand.
	ErrScopedUser = errors.New("scoped user JWT is not valid")
	// ErrBearerNotAllowed: a bearer user JWT whose account disallows them.
	ErrBearerNotAllowed = errors.New("account does not allow bearer tokens")
	// ErrConnectionType: the user's allowed connection types exclude
	// Request.ConnType, or name only types unknown to this package.
	ErrConnectionType = errors.New("connection type not allowed")
	// ErrMissingSignature: a non-bearer user JWT without a nonce signature
	// (or without a nonce to sign).
	ErrMissingSignature = errors.New("signature missing")
	// ErrInvalidSignature: the nonce signature is not base64 or does not
	// verify with the user's public key.
	ErrInvalidSignature = errors.New("signature not verified")
	// ErrRevoked: the account revoked the user (or all users) at or after
	// the user JWT was issued.
	ErrRevoked = errors.New("user authentication revoked")
	// ErrSourceNotAllowed: Request.RemoteIP is not in the user's src CIDRs.
	ErrSourceNotAllowed = errors.New("bad src IP")
	// ErrOutsideTimes: Request.Now is outside the user's connect times.
	ErrOutsideTimes = errors.New("outside connect times")
	// ErrAccountNotFound is returned by MemResolver.Fetch for an unknown
	// account (nats-server's text).
	ErrAccountNotFound = errors.New("account missing")
	// ErrAccountValidation: an account JWT that does not decode, does not
	// match the key it was fetched by, or has blocking validation issues.
	ErrAccountValidation = errors.New("account validation failed")
)

var (
	errNoOperators        = errors.New("operator mode requires at least one trusted operator")
	errNoResolver         = errors.New("operators require an account resolver to be configured")
	errSystemAccountMatch = errors.New("system_account in config and operator JWT must be identical")
)

// Config configures a [Verifier].
type Config struct {
	// Operators are the trusted operators, as returned by [LoadOperator].
	// At least one is required.
	Operators []*jwt.OperatorClaims
	// SystemAccount is the public key of the system account. Optional: when
	// empty the first operator's system account is used. When set while some
	// operator names a system account, one of them must name this one.
	SystemAccount string
	// Resolver finds account JWTs by account public key. Required.
	Resolver Resolver
}

// Verifier verifies user JWTs against a fixed set of trusted operators. It
// is safe for concurrent use; it keeps no state between calls, so accounts
// updated in the resolver take effect on the next Verify.
type Verifier struct {
	// trusted maps every key allowed to sign account JWTs (operator
	// identity keys unless strict, and operator signing keys) to whether
	// accounts it signs must themselves use signing keys for users.
	trusted  map[string]bool
	system   string
	resolver Resolver
}

// NewVerifier validates cfg and returns a Verifier. The error texts for
// inconsistent configurations are those of nats-server.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Operators) == 0 {
		return nil, errNoOperators
	}
	if cfg.Resolver == nil {
		return nil, errNoResolver
	}
	v := &Verifier{trusted: make(map[string]bool), system: cfg.SystemAccount, resolver: cfg.Resolver}
	for i, op := range cfg.Operators {
		if op == nil {
			return nil, fmt.Errorf("operator %d is nil", i)
		}
		if !op.StrictSigningKeyUsage {
			v.trusted[op.Subject] = false
		}
		for _, k := range op.SigningKeys {
			v.trusted[k] = op.StrictSigningKeyUsage
		}
	}
	for k := range v.trusted {
		if !nkeys.IsValidPublicOperatorKey(k) {
			return nil, fmt.Errorf("trusted Keys %q are required to be a valid public operator nkey", k)
		}
	}
	if v.system == "" {
		v.system = cfg.Operators[0].SystemAccount
	} else {
		found, named := false, false
		for _, op := range cfg.Operators {
			named = named || op.SystemAccount != ""
			found = found || op.SystemAccount == v.system
		}
		if named && !found {
			return nil, errSystemAccountMatch
		}
	}
	if v.system != "" && !nkeys.IsValidPublicAccountKey(v.system) {
		return nil, fmt.Errorf("system account %q is not a valid public account nkey", v.system)
	}
	return v, nil
}

// SystemAccount returns the public key of the system account: the
// configured one, else the first operator's, else "".
func (v *Verifier) SystemAccount() string { return v.system }

// LoadOperator reads a trusted operator JWT. tokenOrPath is a file path (the
// file may hold a bare or a decorated JWT, as written by nsc) or, when no
// such file exists and it starts with "eyJ", the JWT itself. Errors read
// "error parsing operator JWT: ..." as in nats-server.
//
// Unlike nats-server, which only decodes the JWT, LoadOperator also rejects
// an operator JWT with blocking validation issues, including expiry: an
// expired trust root is a configuration error better reported at start-up.
func LoadOperator(tokenOrPath string) (*jwt.OperatorClaims, error) {
	contents, err := os.ReadFile(tokenOrPath)
	if err != nil {
		if !strings.HasPrefix(tokenOrPath, "eyJ") {
			return nil, fmt.Errorf("error parsing operator JWT: %w", err)
		}
		contents = []byte(tokenOrPath)
	}
	token, err := jwt.ParseDecoratedJWT(contents)
	if err != nil {
		return nil, fmt.Errorf("error parsing operator JWT: %w", err)
	}
	opc, err := jwt.DecodeOperatorClaims(token)
	if err != nil {
		return nil, fmt.Errorf("error parsing operator JWT: %w", err)
	}
	vr := jwt.CreateValidationResults()
	opc.Validate(vr)
	if vr.IsBlocking(true) {
		return nil, fmt.Errorf("error parsing operator JWT: %w", issuesError(vr))
	}
	return opc, nil
}

// issuesError joins the descriptions of the blocking issues in vr.
func issuesError(vr *jwt.ValidationResults) error {
	var msgs []string
	for _, is := range vr.Issues {
		if is.Blocking || is.TimeCheck {
			msgs = append(msgs, is.Description)
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}
