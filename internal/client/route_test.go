package client

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pub routes a plain message from c as a client publish.
func pub(c *Client, acc *Account, subject string) bool {
	return c.route(acc, []byte(subject), nil, -1, []byte("hi"), nil, false)
}

// countLines counts the lines of s starting with prefix.
func countLines(s, prefix string) int {
	n := 0
	for _, l := range protoLines(s) {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestDeliverQueuePrefersLocalMember(t *testing.T) {
	acc := NewAccount("A")
	pubc := newTestClient(t, acc)
	local1, local2 := newTestClient(t, acc), newTestClient(t, acc)
	link := newTestLink(t, acc, false)
	addSub(t, acc, local1, "foo", "q", 0)
	addSub(t, acc, local2, "foo", "q", 0)
	addSub(t, acc, link, "foo", "q", 1000)

	const trials = 400
	for range trials {
		require.True(t, pub(pubc, acc, "foo"))
	}
	n1 := countLines(takeOut(local1), "MSG foo ")
	n2 := countLines(takeOut(local2), "MSG foo ")
	assert.Equal(t, trials, n1+n2, "each message goes to exactly one local member")
	assert.Positive(t, n1, "the starting member is random")
	assert.Positive(t, n2, "the starting member is random")
	assert.Empty(t, takeOut(link), "a local member is always preferred to a link, whatever its weight")
}

func TestDeliverQueueSkipsMembersThatCannotTakeIt(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, acc *Account, pubc, local *Client)
	}{
		{
			name: "member closing",
			setup: func(t *testing.T, acc *Account, pubc, local *Client) {
				addSub(t, acc, local, "foo", "q", 0)
				local.Abort("test")
			},
		},
		{
			name: "publisher is the member and echo is off",
			setup: func(t *testing.T, acc *Account, pubc, local *Client) {
				addSub(t, acc, pubc, "foo", "q", 0)
				pubc.opts.Echo = false
			},
		},
		{
			name: "member reached its auto-unsubscribe max",
			setup: func(t *testing.T, acc *Account, pubc, local *Client) {
				s := addSub(t, acc, local, "foo", "q", 0)
				s.max.Store(1)
				s.delivered.Store(1)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := NewAccount("A")
			pubc, local, good := newTestClient(t, acc), newTestClient(t, acc), newTestClient(t, acc)
			link := newTestLink(t, acc, false)
			tt.setup(t, acc, pubc, local)
			addSub(t, acc, link, "foo", "q", 1)
			for range 20 {
				require.True(t, pub(pubc, acc, "foo"))
			}
			assert.Equal(t, 20, countLines(takeOut(link), "LMSG foo | q 2"), "falls back to the link")
			assert.Empty(t, takeOut(local))

			// With a local member that can take it, that one gets it.
			addSub(t, acc, good, "foo", "q", 0)
			for range 20 {
				require.True(t, pub(pubc, acc, "foo"))
			}
			assert.Equal(t, 20, countLines(takeOut(good), "MSG foo "))
			assert.Empty(t, takeOut(link))
			assert.Empty(t, takeOut(pubc))
		})
	}
}

func TestDeliverQueueLinksByWeight(t *testing.T) {
	acc := NewAccount("A")
	pubc := newTestClient(t, acc)
	light, heavy := newTestLink(t, acc, false), newTestLink(t, acc, false)
	addSub(t, acc, light, "foo", "q", 1)
	addSub(t, acc, heavy, "foo", "q", 3)

	// Expected share of heavy: 3/4 = 3000 of 4000 (sd ≈ 27); the bounds
	// are more than 10 sd wide.
	const trials = 4000
	for range trials {
		require.True(t, pub(pubc, acc, "foo"))
	}
	nl := countLines(takeOut(light), "LMSG foo | q 2")
	nh := countLines(takeOut(heavy), "LMSG foo | q 2")
	assert.Equal(t, trials, nl+nh, "each message goes over exactly one link")
	assert.InDelta(t, 3000, nh, 300, "heavy link share")
	assert.InDelta(t, 1000, nl, 300, "light link share")
}

func TestAddLinkOutMergesQueues(t *testing.T) {
	acc := NewAccount("A")
	c := newTestClient(t, acc)
	l1, l2 := newTestLink(t, acc, false), newTestLink(t, acc, false)

	c.addLinkOut(l1, nil)
	c.addLinkOut(l1, []byte("q1"))
	c.addLinkOut(l2, []byte("q2"))
	c.addLinkOut(l1, []byte("q3"))
	c.addLinkOut(l2, nil)
	require.Len(t, c.louts, 2, "one entry per link")
	assert.Same(t, l1, c.louts[0].link)
	assert.Equal(t, [][]byte{[]byte("q1"), []byte("q3")}, c.louts[0].queues)
	assert.Same(t, l2, c.louts[1].link)
	assert.Equal(t, [][]byte{[]byte("q2")}, c.louts[1].queues)

	// The next message reuses the entries: nothing of the last one stays.
	c.louts = c.louts[:0]
	c.addLinkOut(l2, nil)
	require.Len(t, c.louts, 1)
	assert.Same(t, l2, c.louts[0].link)
	assert.Empty(t, c.louts[0].queues)
}

func TestRouteOneLMSGPerLink(t *testing.T) {
	acc := NewAccount("A")
	pubc := newTestClient(t, acc)
	link := newTestLink(t, acc, false)
	addSub(t, acc, link, "foo", "", 0)
	addSub(t, acc, link, "foo.>", "", 0)
	addSub(t, acc, link, "foo", "q1", 1)
	addSub(t, acc, link, "*", "q2", 1)

	require.True(t, pubc.route(acc, []byte("foo"), []byte("_INBOX.1"), -1, []byte("hi"), nil, false))
	got := takeOut(link)
	lines := protoLines(got)
	require.Len(t, lines, 2, "one LMSG with its payload: %q", got)
	f := strings.Fields(lines[0])
	require.Len(t, f, 7)
	assert.Equal(t, []string{"LMSG", "foo", "+", "_INBOX.1"}, f[:4])
	assert.ElementsMatch(t, []string{"q1", "q2"}, f[4:6], "both groups named once")
	assert.Equal(t, "2", f[6])
	assert.Equal(t, "hi", lines[1])

	// A later message that only plain interest takes names no queue.
	require.True(t, pub(pubc, acc, "foo.bar"))
	assert.Equal(t, "LMSG foo.bar 2\r\nhi\r\n", takeOut(link))
}

func TestRouteFromLink(t *testing.T) {
	acc := NewAccount("A")
	local := newTestClient(t, acc)
	from := newTestLink(t, acc, false)
	other := newTestLink(t, acc, false)
	hub1, hub2 := newTestLink(t, acc, true), newTestLink(t, acc, true)
	for _, l := range []*Client{from, other, hub1, hub2} {
		addSub(t, acc, l, "foo", "", 0)
		addSub(t, acc, l, "foo", "lq", 1)
	}
	addSub(t, acc, local, "foo", "", 0)
	addSub(t, acc, local, "foo", "cq", 0)

	tests := []struct {
		name   string
		from   *Client
		queues []string
		want   map[*Client]string // LMSG/MSG lines expected per receiver
	}{
		{
			name:   "from an accepted link: never back, plain interest everywhere else",
			from:   from,
			queues: nil,
			want: map[*Client]string{
				from:  "",
				other: "LMSG foo 2\r\nhi\r\n", hub1: "LMSG foo 2\r\nhi\r\n", hub2: "LMSG foo 2\r\nhi\r\n",
				local: "MSG foo ",
			},
		},
		{
			name:   "from a hub: not forwarded to another hub",
			from:   hub1,
			queues: nil,
			want: map[*Client]string{
				hub1: "", hub2: "",
				from: "LMSG foo 2\r\nhi\r\n", other: "LMSG foo 2\r\nhi\r\n",
				local: "MSG foo ",
			},
		},
		{
			name:   "only the queue groups the sender named",
			from:   hub1,
			queues: []string{"cq"},
			want: map[*Client]string{
				hub1: "", hub2: "",
				from: "LMSG foo 2\r\nhi\r\n", other: "LMSG foo 2\r\nhi\r\n",
				local: "MSG foo ", // the plain one and the cq member: 2 messages
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var qs [][]byte
			for _, q := range tt.queues {
				qs = append(qs, []byte(q))
			}
			require.True(t, tt.from.route(acc, []byte("foo"), nil, -1, []byte("hi"), qs, true))
			for rc, want := range tt.want {
				got := takeOut(rc)
				if strings.HasPrefix(want, "MSG") {
					assert.Equal(t, 1+len(tt.queues), countLines(got, want), "local client: %q", got)
					continue
				}
				assert.Equal(t, want, got, "receiver %d", rc.ID())
			}
		})
	}
}

func TestRouteQueueFromLinkNeverBack(t *testing.T) {
	acc := NewAccount("A")
	from := newTestLink(t, acc, false)
	addSub(t, acc, from, "foo", "q", 5)
	assert.False(t, from.route(acc, []byte("foo"), nil, -1, []byte("hi"), [][]byte{[]byte("q")}, true),
		"the only member is behind the sending link")
	assert.Empty(t, takeOut(from))

	hub1, hub2 := newTestLink(t, acc, true), newTestLink(t, acc, true)
	addSub(t, acc, hub2, "bar", "q", 5)
	assert.False(t, hub1.route(acc, []byte("bar"), nil, -1, []byte("hi"), [][]byte{[]byte("q")}, true),
		"a hub's message is not passed to another hub's queue member")
	assert.Empty(t, takeOut(hub2))
}

func TestDeliverLinkPermissions(t *testing.T) {
	acc := NewAccount("A")
	pubc := newTestClient(t, acc)
	hub := newTestLink(t, acc, true)
	// The hub's export: what this leaf may send it.
	hub.perms = mustPerms(t, &Permissions{Publish: &SubjectPermission{Allow: []string{"exp.>"}}})
	leaf := newTestLink(t, acc, false)
	// The leaf user's subscribe permission: what the leaf may receive.
	leaf.perms = mustPerms(t, &Permissions{Subscribe: &SubjectPermission{Allow: []string{"ok.>"}}})
	addSub(t, acc, hub, ">", "", 0)
	addSub(t, acc, leaf, ">", "", 0)

	tests := []struct {
		subject       string
		toHub, toLeaf bool
	}{
		{"exp.a", true, false},
		{"ok.a", false, true},
		{"other", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			assert.Equal(t, tt.toHub || tt.toLeaf, pub(pubc, acc, tt.subject))
			assert.Equal(t, tt.toHub, takeOut(hub) != "", "to the hub")
			assert.Equal(t, tt.toLeaf, takeOut(leaf) != "", "to the leaf")
		})
	}
}

func TestDeliverLinkHeaders(t *testing.T) {
	acc := NewAccount("A")
	pubc := newTestClient(t, acc)
	plain, hdrs := newTestLink(t, acc, false), newTestLink(t, acc, false)
	hdrs.leaf.headers = true
	addSub(t, acc, plain, "foo", "", 0)
	addSub(t, acc, hdrs, "foo", "", 0)
	msg := []byte("NATS/1.0\r\n\r\nhi")
	require.True(t, pubc.route(acc, []byte("foo"), nil, 12, msg, nil, false))
	assert.Equal(t, "LMSG foo 2\r\nhi\r\n", takeOut(plain), "headers stripped for a peer without them")
	assert.Equal(t, "HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", takeOut(hdrs))
}

func TestEnqueueSlowConsumerPending(t *testing.T) {
	acc := NewAccount("A")
	pubc, rc := newTestClient(t, acc), newTestClient(t, acc)
	rc.cfg.MaxPending = 100
	addSub(t, acc, rc, "foo", "", 0)
	big := make([]byte, 80)
	require.True(t, pubc.route(acc, []byte("foo"), nil, -1, big, nil, false))
	assert.False(t, pubc.route(acc, []byte("foo"), nil, -1, big, nil, false), "over MaxPending")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	assert.True(t, rc.closing)
	assert.False(t, rc.flushOut, "a slow consumer is aborted, not flushed")
	assert.Equal(t, "Slow Consumer (Pending Bytes)", string(rc.reason))
	assert.Contains(t, pubc.pcd, rc, "the first delivery marked the receiver for a wake-up")
}

// UNSUB's max can land after concurrent deliveries already passed it: the
// next delivery must still remove the subscription (nats-server does).
func TestAutoUnsubscribeRaceRemovesSubscription(t *testing.T) {
	acc := NewAccount("A")
	pub := newTestClient(t, acc)
	sub := newTestClient(t, acc)
	s := addSub(t, acc, sub, "foo", "", 0)
	s.delivered.Store(1) // a delivery happened before UNSUB stored max
	s.max.Store(1)
	assert.False(t, pub.deliver(s, []byte("foo"), nil, -1, []byte("x")))
	assert.Equal(t, 0, acc.Sublist.Count(), "subscription outlived its limit")
	sub.mu.Lock()
	assert.Empty(t, sub.subs)
	sub.mu.Unlock()
}

// A closing link is not picked for a queue group: the message goes to a
// member that can take it.
func TestQueueSkipsClosingLink(t *testing.T) {
	acc := NewAccount("A")
	pub := newTestClient(t, acc)
	closing := newTestLink(t, acc, false)
	open := newTestLink(t, acc, false)
	addSub(t, acc, closing, "foo", "q", 100)
	addSub(t, acc, open, "foo", "q", 1)
	closing.mu.Lock()
	closing.closing = true
	closing.gone.Store(true)
	closing.mu.Unlock()
	takeOut(open)
	for range 50 {
		require.True(t, pub.route(acc, []byte("foo"), nil, -1, []byte("x"), nil, false))
	}
	assert.Len(t, protoLines(takeOut(open)), 100, "every message to the open link (LMSG line + payload)")
}
