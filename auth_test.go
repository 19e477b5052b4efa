package broker_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/wsbroker/broker"
	"github.com/wsbroker/broker/internal/jwtauth/jwttest"
)

// authMethod is one way of authenticating: the broker options that set it
// up and the nats.go options of a client with good and with bad
// credentials.
type authMethod struct {
	name      string
	brokerOpt func(t testing.TB, types []string) []broker.Option
	good, bad func(t testing.TB) []nats.Option
}

func bcryptHash(t testing.TB, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

var nkeyUser = func() nkeys.KeyPair {
	kp, err := nkeys.CreateUser()
	if err != nil {
		panic(err)
	}
	return kp
}()

func nkeyPub(t testing.TB, kp nkeys.KeyPair) string {
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	return pub
}

func nkeyOpt(kp nkeys.KeyPair) nats.Option {
	pub, _ := kp.PublicKey()
	return nats.Nkey(pub, func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) })
}

// operatorEnv is an operator with one account and one user, and the
// broker options trusting it.
type operatorEnv struct {
	op   *jwttest.Operator
	acc  *jwttest.Account
	opts []broker.Option
}

func newOperatorEnv(t testing.TB) *operatorEnv {
	op := jwttest.NewOperator(t)
	acc := op.NewAccount(t, "APP")
	return &operatorEnv{op: op, acc: acc, opts: []broker.Option{
		broker.WithTrustedOperators(op.JWT),
		broker.WithResolverPreload(jwttest.Preload(acc)),
	}}
}

func jwtOpt(u *jwttest.User) nats.Option {
	return nats.UserJWTAndSeed(u.JWT, string(u.Seed))
}

var authMethods = []authMethod{
	{
		name: "password",
		brokerOpt: func(_ testing.TB, types []string) []broker.Option {
			return []broker.Option{broker.WithUsers(broker.User{Name: "alice", Password: "s3cret", AllowedConnectionTypes: types})}
		},
		good: func(testing.TB) []nats.Option { return []nats.Option{nats.UserInfo("alice", "s3cret")} },
		bad:  func(testing.TB) []nats.Option { return []nats.Option{nats.UserInfo("alice", "wrong")} },
	},
	{
		name: "bcrypt",
		brokerOpt: func(t testing.TB, types []string) []broker.Option {
			return []broker.Option{broker.WithUsers(broker.User{Name: "alice", Password: bcryptHash(t, "s3cret"), AllowedConnectionTypes: types})}
		},
		good: func(testing.TB) []nats.Option { return []nats.Option{nats.UserInfo("alice", "s3cret")} },
		bad:  func(testing.TB) []nats.Option { return []nats.Option{nats.UserInfo("bob", "s3cret")} },
	},
	{
		name: "nkey",
		brokerOpt: func(t testing.TB, types []string) []broker.Option {
			return []broker.Option{broker.WithUsers(broker.User{Nkey: nkeyPub(t, nkeyUser), AllowedConnectionTypes: types})}
		},
		good: func(testing.TB) []nats.Option { return []nats.Option{nkeyOpt(nkeyUser)} },
		bad: func(t testing.TB) []nats.Option {
			// Claims the right public key, signs with another key.
			other, err := nkeys.CreateUser()
			require.NoError(t, err)
			return []nats.Option{nats.Nkey(nkeyPub(t, nkeyUser), func(n []byte) ([]byte, error) { return other.Sign(n) })}
		},
	},
	{
		name: "no_auth_user",
		brokerOpt: func(t testing.TB, types []string) []broker.Option {
			return []broker.Option{
				broker.WithUsers(broker.User{Name: "anon", Password: bcryptHash(t, "x"), AllowedConnectionTypes: types},
					broker.User{Name: "alice", Password: "s3cret"}),
				broker.WithNoAuthUser("anon"),
			}
		},
		good: func(testing.TB) []nats.Option { return nil },
		bad:  func(testing.TB) []nats.Option { return []nats.Option{nats.UserInfo("anon", "guess")} },
	},
}

// jwtMethod needs per-test fixtures, so it is built in the test.
func jwtMethod(t testing.TB) authMethod {
	env := newOperatorEnv(t)
	return authMethod{
		name: "jwt",
		brokerOpt: func(t testing.TB, types []string) []broker.Option {
			return env.opts
		},
		good: func(t testing.TB) []nats.Option { return []nats.Option{jwtOpt(env.acc.NewUser(t, "u", nil))} },
		bad: func(t testing.TB) []nats.Option {
			// A user of an account no trusted operator signed.
			rogue := jwttest.NewOperator(t).NewAccount(t, "ROGUE").NewUser(t, "u", nil)
			return []nats.Option{jwtOpt(rogue)}
		},
	}
}

func isAuthError(err error) bool {
	return err != nil && (errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization violation"))
}

// TestAuthMatrix: every transport × every method, good and bad
// credentials.
func TestAuthMatrix(t *testing.T) {
	methods := append(append([]authMethod(nil), authMethods...), jwtMethod(t))
	for _, tr := range transports {
		for _, m := range methods {
			t.Run(tr.name+"/"+m.name, func(t *testing.T) {
				b := startBroker(t, append(tr.opts(t), m.brokerOpt(t, nil)...)...)
				nc := tr.connect(t, b, m.good(t)...)
				s, err := nc.SubscribeSync("auth.check")
				require.NoError(t, err)
				require.NoError(t, nc.Publish("auth.check", []byte("ok")))
				_, err = s.NextMsg(5 * time.Second)
				require.NoError(t, err)

				_, err = tr.tryConnect(t, b, m.bad(t)...)
				assert.True(t, isAuthError(err), "bad credentials: got %v", err)
				_, err = tr.tryConnect(t, b, nats.UserInfo("nobody", "nothing"))
				assert.True(t, isAuthError(err), "unknown user: got %v", err)
			})
		}
	}
}

// TestConnectionTypes: a user restricted to one connection type gets in
// over that type only.
func TestConnectionTypes(t *testing.T) {
	for _, allowed := range []string{"STANDARD", "websocket", "IN_PROCESS"} {
		for _, tr := range transports {
			for _, m := range authMethods {
				want := strings.EqualFold(allowed, tr.kind)
				t.Run(allowed+"/"+tr.name+"/"+m.name, func(t *testing.T) {
					b := startBroker(t, append(tr.opts(t), m.brokerOpt(t, []string{allowed})...)...)
					_, err := tr.tryConnect(t, b, m.good(t)...)
					if want {
						assert.NoError(t, err)
					} else {
						assert.True(t, isAuthError(err), "got %v", err)
					}
				})
			}
		}
	}
}

func TestJWTConnectionTypes(t *testing.T) {
	cases := []struct {
		types []string
		tr    string
		ok    bool
	}{
		{[]string{jwt.ConnectionTypeWebsocket}, "ws", true},
		{[]string{jwt.ConnectionTypeWebsocket}, "tcp", false},
		{[]string{jwt.ConnectionTypeStandard, "FUTURE_TYPE"}, "tcp", true},
		{[]string{"FUTURE_TYPE"}, "tcp", false},
		{[]string{jwt.ConnectionTypeInProcess}, "inprocess", true},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.types, ",")+"/"+tc.tr, func(t *testing.T) {
			env := newOperatorEnv(t)
			tr := transportNamed(tc.tr)
			b := startBroker(t, append(tr.opts(t), env.opts...)...)
			u := env.acc.NewUser(t, "u", func(c *jwt.UserClaims) { c.AllowedConnectionTypes = tc.types })
			_, err := tr.tryConnect(t, b, jwtOpt(u))
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.True(t, isAuthError(err), "got %v", err)
			}
		})
	}
}

func transportNamed(name string) transport {
	for _, tr := range transports {
		if tr.name == name {
			return tr
		}
	}
	panic("no transport " + name)
}

// TestJWTBypassAttempts: every forged or stale credential is refused.
func TestJWTBypassAttempts(t *testing.T) {
	env := newOperatorEnv(t)
	other := env.op.NewAccount(t, "NOT_PRELOADED")
	revoked := env.acc.NewUser(t, "revoked", nil)
	env.acc.Revoke(t, revoked.PublicKey, time.Now().Add(time.Minute))
	b := startBroker(t, broker.WithTrustedOperators(env.op.JWT), broker.WithResolverPreload(jwttest.Preload(env.acc)))
	good := env.acc.NewUser(t, "good", nil)
	cases := map[string][]nats.Option{
		"wrong nonce signature": {nats.UserJWT(func() (string, error) { return good.JWT, nil },
			func([]byte) ([]byte, error) { return good.Key.Sign([]byte("another nonce")) })},
		"untrusted operator": {jwtOpt(jwttest.NewOperator(t).NewAccount(t, "X").NewUser(t, "u", nil))},
		"expired": {jwtOpt(env.acc.NewUser(t, "old", func(c *jwt.UserClaims) {
			c.IssuedAt = time.Now().Add(-2 * time.Hour).Unix()
			c.Expires = time.Now().Add(-time.Hour).Unix()
		}))},
		"revoked":         {jwtOpt(revoked)},
		"account missing": {jwtOpt(other.NewUser(t, "u", nil))},
		"bearer flag forged": {nats.UserJWT(func() (string, error) {
			return forgeBearer(t, good.JWT), nil
		}, func([]byte) ([]byte, error) { return nil, nil })},
		"no JWT": {nats.UserInfo("a", "b")},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := transports[0].tryConnect(t, b, opts...)
			assert.True(t, isAuthError(err), "got %v", err)
		})
	}
	t.Run("bearer accepted without signature", func(t *testing.T) {
		bearer := env.acc.NewUser(t, "bearer", func(c *jwt.UserClaims) { c.BearerToken = true })
		_, err := transports[0].tryConnect(t, b, nats.UserJWT(func() (string, error) { return bearer.JWT, nil },
			func([]byte) ([]byte, error) { return nil, nil }))
		assert.NoError(t, err)
	})
}

// forgeBearer flips the bearer flag in a JWT's claims without re-signing.
func forgeBearer(t testing.TB, token string) string {
	uc, err := jwt.DecodeUserClaims(token)
	require.NoError(t, err)
	uc.BearerToken = true
	kp, err := nkeys.CreateAccount()
	require.NoError(t, err)
	forged, err := uc.Encode(kp) // signed by the wrong key
	require.NoError(t, err)
	parts := strings.Split(forged, ".")
	orig := strings.Split(token, ".")
	return parts[0] + "." + parts[1] + "." + orig[2] // claims changed, signature kept
}

func TestAccountsIsolateSubjects(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			b := startBroker(t, append(tr.opts(t), broker.WithUsers(
				broker.User{Name: "a1", Password: "p", Account: "A"},
				broker.User{Name: "a2", Password: "p", Account: "A"},
				broker.User{Name: "b1", Password: "p", Account: "B"},
			))...)
			a1 := tr.connect(t, b, nats.UserInfo("a1", "p"))
			a2 := tr.connect(t, b, nats.UserInfo("a2", "p"))
			b1 := tr.connect(t, b, nats.UserInfo("b1", "p"))
			inA, err := a2.SubscribeSync("data")
			require.NoError(t, err)
			inB, err := b1.SubscribeSync("data")
			require.NoError(t, err)
			require.NoError(t, a2.Flush())
			require.NoError(t, b1.Flush())
			require.NoError(t, a1.Publish("data", []byte("for A")))
			m, err := inA.NextMsg(5 * time.Second)
			require.NoError(t, err)
			assert.Equal(t, "for A", string(m.Data))
			_, err = inB.NextMsg(100 * time.Millisecond)
			assert.ErrorIs(t, err, nats.ErrTimeout, "message crossed accounts")
			// Requests do not find responders of another account either.
			_, err = b1.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond(nil) })
			require.NoError(t, err)
			require.NoError(t, b1.Flush())
			_, err = a1.Request("svc", nil, 5*time.Second)
			assert.ErrorIs(t, err, nats.ErrNoResponders)
		})
	}
}

// asyncErrors collects the -ERRs a nats.go connection reports; the
// returned function lists those seen so far.
func asyncErrors() (nats.Option, func() []string) {
	var mu sync.Mutex
	var seen []string
	opt := nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		seen = append(seen, err.Error())
		mu.Unlock()
	})
	return opt, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func TestPermissions(t *testing.T) {
	perms := &broker.Permissions{
		Publish:   &broker.SubjectPermission{Allow: []string{"orders.>", "_INBOX.>"}, Deny: []string{"orders.secret"}},
		Subscribe: &broker.SubjectPermission{Allow: []string{"orders.*", "_INBOX.>", "jobs workers"}, Deny: []string{"orders.secret"}},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			b := startBroker(t, append(tr.opts(t), broker.WithUsers(
				broker.User{Name: "limited", Password: "p", Permissions: perms},
				broker.User{Name: "admin", Password: "p"},
			))...)
			errOpt, errs := asyncErrors()
			nc := tr.connect(t, b, nats.UserInfo("limited", "p"), errOpt)
			admin := tr.connect(t, b, nats.UserInfo("admin", "p"))

			all, err := admin.SubscribeSync(">")
			require.NoError(t, err)
			require.NoError(t, admin.Flush())

			require.NoError(t, nc.Publish("orders.new", []byte("1")))
			require.NoError(t, nc.Publish("payments.new", []byte("2")))
			require.NoError(t, nc.Publish("orders.secret", []byte("3")))
			require.NoError(t, nc.Flush())
			m, err := all.NextMsg(5 * time.Second)
			require.NoError(t, err)
			assert.Equal(t, "orders.new", m.Subject)
			_, err = all.NextMsg(100 * time.Millisecond)
			assert.ErrorIs(t, err, nats.ErrTimeout, "a denied publish was delivered")

			// Subscriptions: allowed, denied, queue-only.
			wild, err := nc.SubscribeSync("orders.*")
			require.NoError(t, err)
			_, err = nc.SubscribeSync("payments.*")
			require.NoError(t, err)
			_, err = nc.SubscribeSync("jobs")
			require.NoError(t, err)
			_, err = nc.QueueSubscribeSync("jobs", "workers")
			require.NoError(t, err)
			require.NoError(t, nc.Flush())
			// A wildcard subscription never receives a denied subject.
			require.NoError(t, admin.Publish("orders.secret", []byte("no")))
			require.NoError(t, admin.Publish("orders.open", []byte("yes")))
			m, err = wild.NextMsg(5 * time.Second)
			require.NoError(t, err)
			assert.Equal(t, "orders.open", m.Subject)

			waitFor(t, 5*time.Second, func() bool { return len(errs()) >= 4 }, "permission errors")
			got := strings.Join(errs(), "\n")
			assert.Contains(t, got, `Permissions Violation for Publish to "payments.new"`)
			assert.Contains(t, got, `Permissions Violation for Publish to "orders.secret"`)
			assert.Contains(t, got, `Permissions Violation for Subscription to "payments.*"`)
			assert.Contains(t, got, `Permissions Violation for Subscription to "jobs"`)
			assert.NotContains(t, got, `using queue "workers"`)
			assert.False(t, nc.IsClosed(), "a permission violation must not close the connection")
		})
	}
}

func TestAllowResponses(t *testing.T) {
	b := startBroker(t, broker.WithUsers(
		broker.User{Name: "svc", Password: "p", Permissions: &broker.Permissions{
			Publish:   &broker.SubjectPermission{Deny: []string{">"}},
			Subscribe: &broker.SubjectPermission{Allow: []string{"svc.>"}},
			Response:  &broker.ResponsePermission{MaxMsgs: 1},
		}},
		broker.User{Name: "cli", Password: "p"},
	))
	svc := transports[0].connect(t, b, nats.UserInfo("svc", "p"))
	cli := transports[0].connect(t, b, nats.UserInfo("cli", "p"))
	_, err := svc.Subscribe("svc.echo", func(m *nats.Msg) {
		_ = m.Respond(m.Data)
		_ = m.Respond(m.Data) // a second reply exceeds MaxMsgs
	})
	require.NoError(t, err)
	require.NoError(t, svc.Flush())
	resp, err := cli.Request("svc.echo", []byte("hi"), 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(resp.Data))
}
