package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidatePermissions(t *testing.T) {
	tests := []struct {
		name    string
		p       *Permissions
		wantErr string // substring; "" means valid
	}{
		{name: "nil", p: nil},
		{name: "empty", p: &Permissions{}},
		{name: "empty lists", p: &Permissions{Publish: &SubjectPermission{}, Subscribe: &SubjectPermission{}}},
		{name: "wildcards", p: &Permissions{
			Publish:   &SubjectPermission{Allow: []string{"foo.*", "bar.>", ">"}, Deny: []string{"*.secret"}},
			Subscribe: &SubjectPermission{Allow: []string{"foo.>"}, Deny: []string{"foo.x"}},
		}},
		{name: "subscribe queue entry", p: &Permissions{Subscribe: &SubjectPermission{Allow: []string{"foo.* workers", " bar  q.* "}}}},
		{name: "surrounding blanks trimmed", p: &Permissions{Publish: &SubjectPermission{Allow: []string{"  foo.bar  "}}}},
		{name: "publish empty token", p: &Permissions{Publish: &SubjectPermission{Allow: []string{"foo..bar"}}}, wantErr: `"foo..bar"`},
		{name: "publish deny leading dot", p: &Permissions{Publish: &SubjectPermission{Deny: []string{".foo"}}}, wantErr: `".foo"`},
		{name: "publish entry takes no queue", p: &Permissions{Publish: &SubjectPermission{Allow: []string{"foo q"}}}, wantErr: `"foo q"`},
		{name: "publish empty entry", p: &Permissions{Publish: &SubjectPermission{Allow: []string{"ok", ""}}}, wantErr: `""`},
		{name: "subscribe full wildcard not last", p: &Permissions{Subscribe: &SubjectPermission{Allow: []string{"foo.>.bar"}}}, wantErr: `"foo.>.bar"`},
		{name: "subscribe deny trailing dot", p: &Permissions{Subscribe: &SubjectPermission{Deny: []string{"foo."}}}, wantErr: `"foo."`},
		{name: "subscribe queue with blank", p: &Permissions{Subscribe: &SubjectPermission{Allow: []string{"foo q r"}}}, wantErr: `"foo q r"`},
		{name: "subscribe bad subject before queue", p: &Permissions{Subscribe: &SubjectPermission{Deny: []string{"foo..x q"}}}, wantErr: `"foo..x q"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePermissions(tt.p)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "invalid permission subject "+tt.wantErr)
		})
	}
}

func mustPerms(t *testing.T, p *Permissions) *perms {
	t.Helper()
	cp, err := compilePerms(p)
	require.NoError(t, err)
	require.NotNil(t, cp)
	return cp
}

func TestCompilePermsNil(t *testing.T) {
	cp, err := compilePerms(nil)
	require.NoError(t, err)
	assert.Nil(t, cp)
}

func TestCanPublish(t *testing.T) {
	tests := []struct {
		name  string
		pub   *SubjectPermission
		allow []string
		deny  []string
	}{
		{
			name:  "no publish permission",
			pub:   nil,
			allow: []string{"foo", "foo.bar", "_INBOX.x"},
		},
		{
			name:  "empty lists allow everything",
			pub:   &SubjectPermission{},
			allow: []string{"foo", "a.b.c"},
		},
		{
			name:  "allow literal",
			pub:   &SubjectPermission{Allow: []string{"foo"}},
			allow: []string{"foo"},
			deny:  []string{"bar", "foo.bar", "fo"},
		},
		{
			name:  "allow partial wildcard",
			pub:   &SubjectPermission{Allow: []string{"foo.*"}},
			allow: []string{"foo.bar", "foo.baz", "foo.*"},
			deny:  []string{"foo", "foo.bar.baz", "bar.foo"},
		},
		{
			name:  "allow full wildcard",
			pub:   &SubjectPermission{Allow: []string{"foo.>"}},
			allow: []string{"foo.bar", "foo.bar.baz", "foo.>"},
			deny:  []string{"foo", "bar"},
		},
		{
			name:  "deny only",
			pub:   &SubjectPermission{Deny: []string{"secret.>", "admin"}},
			allow: []string{"foo", "secret", "admin.x"},
			deny:  []string{"secret.a", "secret.a.b", "admin"},
		},
		{
			name:  "deny overrides allow",
			pub:   &SubjectPermission{Allow: []string{"foo.>"}, Deny: []string{"foo.secret", "foo.*.admin"}},
			allow: []string{"foo.bar", "foo.secret.x", "foo.bar.user"},
			deny:  []string{"foo.secret", "foo.bar.admin", "bar"},
		},
		{
			name: "deny all but allow list",
			pub:  &SubjectPermission{Allow: []string{"ok.>"}, Deny: []string{">"}},
			deny: []string{"ok.x", "other"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPerms(t, &Permissions{Publish: tt.pub})
			// Twice: the second answer comes from the cache.
			for round := range 2 {
				for _, s := range tt.allow {
					assert.True(t, p.canPublish([]byte(s)), "round %d: %q must be allowed", round, s)
					assert.True(t, p.allowsPublish([]byte(s)), "%q must be allowed (uncached)", s)
				}
				for _, s := range tt.deny {
					assert.False(t, p.canPublish([]byte(s)), "round %d: %q must be denied", round, s)
					assert.False(t, p.allowsPublish([]byte(s)), "%q must be denied (uncached)", s)
				}
			}
		})
	}
}

func TestCanPublishCache(t *testing.T) {
	t.Run("no lists: nothing cached", func(t *testing.T) {
		p := mustPerms(t, &Permissions{Subscribe: &SubjectPermission{Allow: []string{"x"}}})
		assert.True(t, p.canPublish([]byte("foo")))
		assert.Nil(t, p.pubCache)
	})
	t.Run("decisions are cached and answered from the cache", func(t *testing.T) {
		p := mustPerms(t, &Permissions{Publish: &SubjectPermission{Allow: []string{"foo.*"}}})
		assert.True(t, p.canPublish([]byte("foo.a")))
		assert.False(t, p.canPublish([]byte("bar")))
		assert.Equal(t, map[string]bool{"foo.a": true, "bar": false}, p.pubCache)
		// Poison the cache: canPublish must believe it, allowsPublish not.
		p.pubCache["foo.a"] = false
		assert.False(t, p.canPublish([]byte("foo.a")), "answer must come from the cache")
		assert.True(t, p.allowsPublish([]byte("foo.a")), "allowsPublish must not use the cache")
	})
	t.Run("bounded by maxPubCache", func(t *testing.T) {
		p := mustPerms(t, &Permissions{Publish: &SubjectPermission{Deny: []string{"deny.>"}}})
		for i := range maxPubCache {
			require.True(t, p.canPublish(fmt.Appendf(nil, "s.%d", i)))
		}
		assert.Len(t, p.pubCache, maxPubCache)
		// A cached subject does not grow or reset the cache.
		assert.True(t, p.canPublish([]byte("s.0")))
		assert.Len(t, p.pubCache, maxPubCache)
		// One more distinct subject starts a fresh cache.
		assert.False(t, p.canPublish([]byte("deny.me")))
		assert.Equal(t, map[string]bool{"deny.me": false}, p.pubCache)
		for i := range 10 * maxPubCache {
			p.canPublish(fmt.Appendf(nil, "t.%d", i))
			require.LessOrEqual(t, len(p.pubCache), maxPubCache)
		}
	})
}

func TestCanSubscribe(t *testing.T) {
	type check struct {
		subject, queue string
		want           bool
	}
	tests := []struct {
		name   string
		sub    *SubjectPermission
		checks []check
	}{
		{
			name: "no subscribe permission",
			sub:  nil,
			checks: []check{
				{"foo", "", true}, {"foo.>", "", true}, {"foo", "q", true},
			},
		},
		{
			name: "plain allow",
			sub:  &SubjectPermission{Allow: []string{"foo", "bar.*"}},
			checks: []check{
				{"foo", "", true},
				{"bar.x", "", true},
				{"bar.*", "", true},
				{"baz", "", false},
				{"bar", "", false},
				{"foo", "any", true}, // a plain entry allows every queue
				{"bar.x", "q", true},
				{"baz", "q", false},
			},
		},
		{
			name: "full wildcard allow covers narrower wildcards",
			sub:  &SubjectPermission{Allow: []string{"foo.>"}},
			checks: []check{
				{"foo.*", "", true}, {"foo.>", "", true}, {"foo.a.*", "", true}, {">", "", false}, {"foo", "", false},
			},
		},
		{
			name: "queue allow entries",
			sub:  &SubjectPermission{Allow: []string{"foo workers", "jobs.* pool"}},
			checks: []check{
				{"foo", "workers", true},
				{"foo", "others", false},
				{"foo", "", false}, // a queue entry does not allow a plain subscription
				{"jobs.a", "pool", true},
				{"jobs.a", "other", false},
				{"jobs.a", "", false},
				{"bar", "workers", false},
			},
		},
		{
			name: "queue wildcard allow",
			sub:  &SubjectPermission{Allow: []string{"foo q.*", "bar q.>"}},
			checks: []check{
				{"foo", "q.a", true},
				{"foo", "q", false},
				{"foo", "q.a.b", false},
				{"bar", "q.a.b", true},
				{"bar", "r.a", false},
			},
		},
		{
			name: "plain deny",
			sub:  &SubjectPermission{Deny: []string{"secret.>", "admin"}},
			checks: []check{
				{"foo", "", true},
				{"secret.a", "", false},
				{"admin", "", false},
				{"admin", "q", false}, // a plain deny entry denies every queue
				{"secret.x", "q", false},
				{"admin.x", "", true},
			},
		},
		{
			name: "queue deny",
			sub:  &SubjectPermission{Deny: []string{"foo bad", "bar bad.*"}},
			checks: []check{
				{"foo", "bad", false},
				{"foo", "good", true},
				{"foo", "", true}, // a queue deny entry leaves plain subscriptions alone
				{"bar", "bad.x", false},
				{"bar", "bad", true},
				{"baz", "bad", true},
			},
		},
		{
			name: "allow with deny",
			sub:  &SubjectPermission{Allow: []string{"foo.>"}, Deny: []string{"foo.secret", "foo.q bad"}},
			checks: []check{
				{"foo.a", "", true},
				{"foo.secret", "", false},
				{"foo.secret", "q", false},
				{"foo.q", "good", true},
				{"foo.q", "bad", false},
				{"bar", "", false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPerms(t, &Permissions{Subscribe: tt.sub})
			for _, c := range tt.checks {
				assert.Equal(t, c.want, p.canSubscribe([]byte(c.subject), c.queue), "subject %q queue %q", c.subject, c.queue)
			}
		})
	}
}

func TestDeniedDelivery(t *testing.T) {
	tests := []struct {
		name    string
		sub     *SubjectPermission
		subject string
		want    bool
	}{
		{name: "no permissions", sub: nil, subject: "foo", want: false},
		{name: "allow only", sub: &SubjectPermission{Allow: []string{"foo"}}, subject: "bar", want: false},
		{name: "denied literal", sub: &SubjectPermission{Deny: []string{"foo.secret"}}, subject: "foo.secret", want: true},
		{name: "denied by wildcard", sub: &SubjectPermission{Deny: []string{"foo.*.secret"}}, subject: "foo.a.secret", want: true},
		{name: "not denied", sub: &SubjectPermission{Deny: []string{"foo.secret"}}, subject: "foo.public", want: false},
		{name: "queue deny entry does not filter deliveries", sub: &SubjectPermission{Deny: []string{"foo q"}}, subject: "foo", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPerms(t, &Permissions{Subscribe: tt.sub})
			assert.Equal(t, tt.want, p.deniedDelivery([]byte(tt.subject)))
		})
	}
}

func TestResponsePermissionDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   *ResponsePermission
		want *ResponsePermission
	}{
		{name: "none", in: nil, want: nil},
		{name: "zero takes both defaults", in: &ResponsePermission{}, want: &ResponsePermission{MaxMsgs: 1, Expires: 2 * time.Minute}},
		{name: "max kept", in: &ResponsePermission{MaxMsgs: 5}, want: &ResponsePermission{MaxMsgs: 5, Expires: 2 * time.Minute}},
		{name: "expires kept", in: &ResponsePermission{Expires: time.Second}, want: &ResponsePermission{MaxMsgs: 1, Expires: time.Second}},
		{name: "both kept", in: &ResponsePermission{MaxMsgs: 3, Expires: time.Hour}, want: &ResponsePermission{MaxMsgs: 3, Expires: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &Permissions{Response: tt.in}
			var orig ResponsePermission
			if tt.in != nil {
				orig = *tt.in
			}
			p := mustPerms(t, src)
			assert.Equal(t, tt.want, p.resp)
			if tt.in != nil {
				assert.Equal(t, orig, *tt.in, "the caller's permissions must not be modified")
				assert.NotSame(t, tt.in, p.resp)
			}
		})
	}
}

// replyClient returns a client whose permissions deny every publish but
// allow responses under resp.
func replyClient(t *testing.T, resp *ResponsePermission) *Client {
	c := newTestClient(t, NewAccount("A"))
	c.perms = mustPerms(t, &Permissions{Publish: &SubjectPermission{Deny: []string{">"}}, Response: resp})
	return c
}

func TestResponsePermissionReplies(t *testing.T) {
	t.Run("default: one reply", func(t *testing.T) {
		c := replyClient(t, &ResponsePermission{})
		assert.False(t, c.useReply([]byte("_INBOX.1")), "not a received reply subject")
		c.mu.Lock()
		c.allowReplyLocked([]byte("_INBOX.1"))
		c.mu.Unlock()
		assert.True(t, c.useReply([]byte("_INBOX.1")))
		assert.False(t, c.useReply([]byte("_INBOX.1")), "only MaxMsgs replies")
	})
	t.Run("max msgs", func(t *testing.T) {
		c := replyClient(t, &ResponsePermission{MaxMsgs: 3})
		c.mu.Lock()
		c.allowReplyLocked([]byte("r"))
		c.mu.Unlock()
		for i := range 3 {
			assert.True(t, c.useReply([]byte("r")), "reply %d", i)
		}
		assert.False(t, c.useReply([]byte("r")))
	})
	t.Run("expired", func(t *testing.T) {
		c := replyClient(t, &ResponsePermission{MaxMsgs: 5, Expires: time.Millisecond})
		c.mu.Lock()
		c.allowReplyLocked([]byte("r"))
		c.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		assert.False(t, c.useReply([]byte("r")))
		c.mu.Lock()
		assert.Empty(t, c.replies, "an expired grant is dropped")
		c.mu.Unlock()
	})
	t.Run("no response permission", func(t *testing.T) {
		c := replyClient(t, nil)
		assert.False(t, c.useReply([]byte("r")))
	})
}

// nats-server (client.go pubAllowedFullCheck) limits replies only when
// MaxMsgs > 0 and expires them only when Expires > 0: a negative value
// (possible in config files and in JWT user claims) means unlimited.
func TestResponsePermissionNegativeMeansUnlimited(t *testing.T) {
	c := replyClient(t, &ResponsePermission{MaxMsgs: -1, Expires: -1})
	c.mu.Lock()
	c.allowReplyLocked([]byte("r"))
	c.mu.Unlock()
	for i := range 3 {
		assert.True(t, c.useReply([]byte("r")), "reply %d", i)
	}
}

// Queue entries decide for a queue subscription when the list has them for
// the subject, as nats-server (client.go canSubscribe).
func TestCanSubscribeQueueEntriesDecide(t *testing.T) {
	cases := []struct {
		name        string
		allow, deny []string
		subject, q  string
		want        bool
	}{
		{"allow: queue listed", []string{"foo", "foo q1"}, nil, "foo", "q1", true},
		{"allow: other queue refused", []string{"foo", "foo q1"}, nil, "foo", "q2", false},
		{"allow: no queue, plain entry", []string{"foo", "foo q1"}, nil, "foo", "", true},
		{"allow: wildcard queue", []string{"foo q.*"}, nil, "foo", "q.x", true},
		{"deny: other queue allowed", nil, []string{"foo", "foo q1"}, "foo", "q2", true},
		{"deny: listed queue refused", nil, []string{"foo", "foo q1"}, "foo", "q1", false},
		{"deny: no queue refused", nil, []string{"foo", "foo q1"}, "foo", "", false},
		{"deny: plain only refuses queues too", nil, []string{"foo"}, "foo", "q1", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compilePerms(&Permissions{Subscribe: &SubjectPermission{Allow: tc.allow, Deny: tc.deny}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.canSubscribe([]byte(tc.subject), tc.q))
		})
	}
}
