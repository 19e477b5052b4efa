package client

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linkedTo returns an accepted (solicited: a soliciting) link registered
// with acc, its snapshot already taken from its output.
func linkedTo(t *testing.T, acc *Account, solicited bool) *Client {
	t.Helper()
	l := newTestLink(t, acc, solicited)
	acc.addLink(l)
	require.Equal(t, "LS+ "+acc.LoopSubject()+"\r\n", takeOut(l), "snapshot of an empty account")
	return l
}

func TestInterestPlainKey(t *testing.T) {
	acc := NewAccount("A")
	link := linkedTo(t, acc, false)
	c1, c2 := newTestClient(t, acc), newTestClient(t, acc)

	var s1, s2, w *subscription
	type step struct {
		name string
		do   func()
		want string
	}
	steps := []step{
		{"first subscription: 0→1", func() { s1 = addSub(t, acc, c1, "foo", "", 0) }, "LS+ foo\r\n"},
		{"second subscription: no news", func() { s2 = addSub(t, acc, c2, "foo", "", 0) }, ""},
		{"wildcard is its own key", func() { w = addSub(t, acc, c1, "foo.*", "", 0) }, "LS+ foo.*\r\n"},
		{"one of two removed: no news", func() { acc.subRemoved(s1) }, ""},
		{"removed twice: ignored", func() { acc.subRemoved(s1) }, ""},
		{"last removed: 1→0", func() { acc.subRemoved(s2) }, "LS- foo\r\n"},
		{"wildcard removed", func() { acc.subRemoved(w) }, "LS- foo.*\r\n"},
		{"again 0→1", func() { addSub(t, acc, c2, "foo", "", 0) }, "LS+ foo\r\n"},
	}
	for _, st := range steps {
		st.do()
		assert.Equal(t, st.want, takeOut(link), st.name)
	}
}

func TestInterestQueueKey(t *testing.T) {
	acc := NewAccount("A")
	link := linkedTo(t, acc, false)
	c1, c2 := newTestClient(t, acc), newTestClient(t, acc)

	q1 := addSub(t, acc, c1, "foo", "q", 0)
	assert.Equal(t, "LS+ foo q 1\r\n", takeOut(link), "first member")
	q2 := addSub(t, acc, c2, "foo", "q", 0)
	assert.Equal(t, "LS+ foo q 2\r\n", takeOut(link), "every change of weight is told")
	r := addSub(t, acc, c1, "foo", "r", 0)
	assert.Equal(t, "LS+ foo r 1\r\n", takeOut(link), "another group is another key")
	p := addSub(t, acc, c1, "foo", "", 0)
	assert.Equal(t, "LS+ foo\r\n", takeOut(link), "plain interest is another key")

	acc.subRemoved(q1)
	assert.Equal(t, "LS+ foo q 1\r\n", takeOut(link), "decrease is told with the new total")
	acc.subRemoved(q2)
	assert.Equal(t, "LS- foo q\r\n", takeOut(link), "last member")
	acc.subRemoved(r)
	assert.Equal(t, "LS- foo r\r\n", takeOut(link))
	acc.subRemoved(p)
	assert.Equal(t, "LS- foo\r\n", takeOut(link))
}

func TestInterestLinkWeights(t *testing.T) {
	acc := NewAccount("A")
	a := linkedTo(t, acc, false)
	b := linkedTo(t, acc, false)
	c := newTestClient(t, acc)

	fromA := addSub(t, acc, a, "foo", "q", 3)
	assert.Equal(t, "LS+ foo q 3\r\n", takeOut(b), "the weight a link advertised counts")
	assert.Empty(t, takeOut(a), "never told back to the link it came from")

	addSub(t, acc, c, "foo", "q", 0)
	assert.Equal(t, "LS+ foo q 4\r\n", takeOut(b))
	assert.Equal(t, "LS+ foo q 1\r\n", takeOut(a), "a sees only the local member")

	acc.setWeight(fromA, 5)
	assert.Equal(t, "LS+ foo q 6\r\n", takeOut(b), "weight replaced: new total")
	assert.Empty(t, takeOut(a))

	acc.setWeight(fromA, 5)
	assert.Empty(t, takeOut(b), "same weight: nothing to tell")

	acc.setWeight(fromA, 0)
	assert.Equal(t, "LS+ foo q 2\r\n", takeOut(b), "a weight below 1 counts as 1")

	acc.subRemoved(fromA)
	assert.Equal(t, "LS+ foo q 1\r\n", takeOut(b), "removal takes away the current weight")

	acc.setWeight(fromA, 7)
	assert.Empty(t, takeOut(b), "a forgotten subscription changes nothing")
}

func TestInterestSignalsLink(t *testing.T) {
	acc := NewAccount("A")
	link := linkedTo(t, acc, false)
	<-link.wake // the snapshot's signal
	c := newTestClient(t, acc)
	s := addSub(t, acc, c, "foo", "", 0)
	assert.Len(t, link.wake, 1, "LS+ queued: the write loop is woken")
	<-link.wake
	addSub(t, acc, c, "foo", "", 0)
	assert.Empty(t, link.wake, "nothing queued: no wake-up")
	acc.subRemoved(s)
	assert.Empty(t, link.wake)
}

func TestServesLink(t *testing.T) {
	acc := NewAccount("A")
	client := newTestClient(t, acc)
	accepted1 := newTestLink(t, acc, false)
	accepted2 := newTestLink(t, acc, false)
	solicited1 := newTestLink(t, acc, true)
	solicited2 := newTestLink(t, acc, true)
	hubPerms := newTestLink(t, acc, true)
	// The hub's import: what this leaf may receive, so what it may ask for.
	hubPerms.perms = mustPerms(t, &Permissions{Subscribe: &SubjectPermission{Allow: []string{"imp.>"}}})

	tests := []struct {
		name    string
		owner   *Client
		subject string
		queue   string
		link    *Client
		want    bool
	}{
		{"client to accepted link", client, "foo", "", accepted1, true},
		{"client to solicited link", client, "foo", "", solicited1, true},
		{"never back to the origin link (accepted)", accepted1, "foo", "", accepted1, false},
		{"never back to the origin link (solicited)", solicited1, "foo", "q", solicited1, false},
		{"accepted to accepted", accepted1, "foo", "", accepted2, true},
		{"accepted to solicited", accepted1, "foo", "", solicited1, true},
		{"solicited to accepted", solicited1, "foo", "", accepted1, true},
		{"solicited to solicited: hub interest never goes upstream", solicited1, "foo", "", solicited2, false},
		{"solicited to solicited, queue", solicited1, "foo", "q", solicited2, false},
		{"hub import allows literal", client, "imp.a", "", hubPerms, true},
		{"hub import refuses literal", client, "other", "", hubPerms, false},
		{"hub import refuses literal queue", client, "other", "q", hubPerms, false},
		{"hub import allows queue", client, "imp.a", "q", hubPerms, true},
		{"wildcard outside import still told (filtered per message)", client, "other.*", "", hubPerms, true},
		{"full wildcard outside import still told", client, ">", "", hubPerms, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSub(tt.owner, tt.subject, tt.queue, 1)
			assert.Equal(t, tt.want, servesLink(s, tt.link))
		})
	}
}

func TestInterestHubPermissionsFilterLS(t *testing.T) {
	acc := NewAccount("A")
	link := newTestLink(t, acc, true)
	link.perms = mustPerms(t, &Permissions{Subscribe: &SubjectPermission{Allow: []string{"imp.>"}}})
	acc.addLink(link)
	takeOut(link)
	c := newTestClient(t, acc)

	outside := addSub(t, acc, c, "secret", "", 0)
	assert.Empty(t, takeOut(link), "literal outside the hub's import: no LS+")
	acc.subRemoved(outside)
	assert.Empty(t, takeOut(link), "and no LS- for what was never told")

	addSub(t, acc, c, "imp.x", "", 0)
	assert.Equal(t, "LS+ imp.x\r\n", takeOut(link))
	addSub(t, acc, c, "sec.*", "", 0)
	assert.Equal(t, "LS+ sec.*\r\n", takeOut(link), "wildcards are left to the hub")
}

func TestAddLinkSnapshot(t *testing.T) {
	acc := NewAccount("A")
	c1, c2 := newTestClient(t, acc), newTestClient(t, acc)
	addSub(t, acc, c1, "foo", "", 0)
	addSub(t, acc, c2, "foo", "", 0)
	addSub(t, acc, c1, "bar", "q", 0)
	addSub(t, acc, c2, "bar", "q", 0)
	addSub(t, acc, c1, "wild.>", "", 0)
	hub := newTestLink(t, acc, true)
	acc.addLink(hub)
	addSub(t, acc, hub, "fromhub", "", 0)
	addSub(t, acc, hub, "bar", "q", 4)
	takeOut(hub)

	require.True(t, strings.HasPrefix(acc.LoopSubject(), "$LDS."))
	assert.NotEqual(t, acc.LoopSubject(), NewAccount("A").LoopSubject(), "loop subjects are random")

	tests := []struct {
		name      string
		solicited bool
		want      []string
	}{
		{
			name:      "accepted link hears everything, hub interest included",
			solicited: false,
			want:      []string{"LS+ foo", "LS+ bar q 6", "LS+ wild.>", "LS+ fromhub"},
		},
		{
			name:      "solicited link does not hear the other hub's interest",
			solicited: true,
			want:      []string{"LS+ foo", "LS+ bar q 2", "LS+ wild.>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLink(t, acc, tt.solicited)
			acc.addLink(l)
			got := protoLines(takeOut(l))
			require.NotEmpty(t, got)
			assert.Equal(t, "LS+ "+acc.LoopSubject(), got[len(got)-1], "the loop subject comes last")
			// A queue key may be told more than once (each member adds to
			// the total); what counts is its last weight.
			assert.ElementsMatch(t, tt.want, finalInterest(got[:len(got)-1]))
			assert.Len(t, l.wake, 1, "the link is woken")
			acc.removeLink(l)
		})
	}
}

func TestAddLinkClosingQueuesNothing(t *testing.T) {
	acc := NewAccount("A")
	addSub(t, acc, newTestClient(t, acc), "foo", "", 0)
	l := newTestLink(t, acc, false)
	l.Abort("test")
	acc.addLink(l)
	assert.Empty(t, takeOut(l))
}

func TestRemoveLink(t *testing.T) {
	acc := NewAccount("A")
	l := linkedTo(t, acc, false)
	c := newTestClient(t, acc)
	addSub(t, acc, c, "foo", "", 0)
	assert.Equal(t, "LS+ foo\r\n", takeOut(l))
	acc.removeLink(l)
	s := addSub(t, acc, c, "bar", "", 0)
	acc.subRemoved(s)
	assert.Empty(t, takeOut(l), "a removed link hears nothing more")
	acc.mu.Lock()
	assert.NotContains(t, acc.links, l)
	acc.mu.Unlock()
}

// finalInterest reduces LS+ lines to the last one of each key (subject and
// queue), in order of first appearance; it keeps LS- lines as they are.
func finalInterest(lines []string) []string {
	var keys []string
	last := make(map[string]string)
	for _, l := range lines {
		f := strings.Fields(l)
		k := l
		if f[0] == "LS+" && len(f) == 4 {
			k = f[1] + " " + f[2]
		}
		if _, ok := last[k]; !ok {
			keys = append(keys, k)
		}
		last[k] = l
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, last[k])
	}
	return out
}
