package sublist

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func psub(subject string) *Subscription {
	return &Subscription{Subject: subject, SID: subject}
}

func qsub(subject, queue string) *Subscription {
	return &Subscription{Subject: subject, Queue: queue, SID: subject + " " + queue}
}

// sids returns the sorted SIDs of subs.
func sids(subs []*Subscription) []string {
	out := make([]string, 0, len(subs))
	for _, s := range subs {
		out = append(out, s.SID)
	}
	sort.Strings(out)
	return out
}

// groups returns queue name -> sorted member SIDs of r.
func groups(r *Result) map[string][]string {
	out := make(map[string][]string, len(r.Qsubs))
	for _, g := range r.Qsubs {
		if len(g) == 0 {
			continue
		}
		out[g[0].Queue] = append(out[g[0].Queue], sids(g)...)
		for _, m := range g {
			if m.Queue != g[0].Queue {
				out["MIXED"] = append(out["MIXED"], m.SID)
			}
		}
	}
	return out
}

func TestInsertValidation(t *testing.T) {
	tests := []struct {
		name string
		sub  *Subscription
		err  error
	}{
		{"plain", psub("foo.bar"), nil},
		{"wildcards", psub("*.bar.>"), nil},
		{"queue", qsub("foo", "workers"), nil},
		{"nil", nil, ErrInvalidSubject},
		{"empty subject", psub(""), ErrInvalidSubject},
		{"empty token", psub("foo..bar"), ErrInvalidSubject},
		{"fwc not last", psub("foo.>.bar"), ErrInvalidSubject},
		{"whitespace", psub("foo bar"), ErrInvalidSubject},
		{"queue with space", qsub("foo", "a b"), ErrInvalidSubject},
		{"queue only tab", qsub("foo", "\t"), ErrInvalidSubject},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			err := s.Insert(tc.sub)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Zero(t, s.Count())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 1, s.Count())
		})
	}
	assert.Contains(t, ErrInvalidSubject.Error(), "sublist: ")
	assert.Contains(t, ErrNotFound.Error(), "sublist: ")
}

func TestMatchAgainstFilters(t *testing.T) {
	for _, tc := range matchCases {
		if !IsValidSubject(tc.filter) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, cached := range []bool{false, true} {
				s := NewWithCacheSize(0)
				if cached {
					s = New()
				}
				require.NoError(t, s.Insert(psub(tc.filter)))
				for range 2 { // second round hits the cache
					r := s.Match([]byte(tc.subject))
					require.NotNil(t, r)
					assert.Equal(t, tc.want, len(r.Psubs) == 1, "cached=%v", cached)
					assert.Equal(t, tc.want, s.HasInterest([]byte(tc.subject)))
				}
			}
		})
	}
}

func TestMatchSets(t *testing.T) {
	filters := []string{
		"foo", "foo.bar", "foo.*", "foo.>", "*.bar", ">", "*.*", "foo.bar.baz",
		"foo.*.baz", "*.>", "bar.>",
	}
	tests := []struct {
		name    string
		subject string
		want    []string
	}{
		{"one token", "foo", []string{">", "foo"}},
		{"two tokens", "foo.bar", []string{"*.*", "*.>", "*.bar", ">", "foo.*", "foo.>", "foo.bar"}},
		{"three tokens", "foo.bar.baz", []string{"*.>", ">", "foo.*.baz", "foo.>", "foo.bar.baz"}},
		{"other root", "bar.x", []string{"*.*", "*.>", ">", "bar.>"}},
		{"only fwc", "zzz", []string{">"}},
		{"empty token", "foo..bar", nil},
		{"empty", "", nil},
	}
	s := New()
	for _, f := range filters {
		require.NoError(t, s.Insert(psub(f)))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				r := s.Match([]byte(tc.subject))
				if tc.want == nil {
					assert.True(t, r.IsEmpty())
					continue
				}
				assert.Equal(t, tc.want, sids(r.Psubs))
				assert.Empty(t, r.Qsubs)
			}
		})
	}
}

func TestMatchQueueGroups(t *testing.T) {
	tests := []struct {
		name    string
		subs    []*Subscription
		subject string
		psubs   []string
		groups  map[string][]string
	}{
		{
			name:    "one group",
			subs:    []*Subscription{qsub("foo", "q"), qsub("foo", "q")},
			subject: "foo",
			groups:  map[string][]string{"q": {"foo q", "foo q"}},
		},
		{
			name:    "group spans filters",
			subs:    []*Subscription{qsub("foo.bar", "q"), qsub("foo.*", "q"), qsub("foo.>", "q")},
			subject: "foo.bar",
			groups:  map[string][]string{"q": {"foo.* q", "foo.> q", "foo.bar q"}},
		},
		{
			name: "several groups and plain",
			subs: []*Subscription{
				qsub("foo.bar", "a"), qsub("foo.*", "b"), qsub(">", "a"), psub("foo.bar"), psub("foo.baz"),
			},
			subject: "foo.bar",
			psubs:   []string{"foo.bar"},
			groups:  map[string][]string{"a": {"> a", "foo.bar a"}, "b": {"foo.* b"}},
		},
		{
			name:    "non-matching group absent",
			subs:    []*Subscription{qsub("foo", "a"), qsub("bar", "b")},
			subject: "foo",
			groups:  map[string][]string{"a": {"foo a"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			for _, sub := range tc.subs {
				require.NoError(t, s.Insert(sub))
			}
			for range 2 {
				r := s.Match([]byte(tc.subject))
				assert.Equal(t, tc.psubs, nilIfEmpty(sids(r.Psubs)))
				assert.Equal(t, tc.groups, groups(r))
			}
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestRemove(t *testing.T) {
	s := New()
	a, b, q := psub("foo.*"), psub("foo.bar"), qsub("foo.>", "g")
	for _, sub := range []*Subscription{a, b, q} {
		require.NoError(t, s.Insert(sub))
	}
	require.NoError(t, s.Insert(a), "duplicate insert is a no-op")
	assert.Equal(t, 3, s.Count())

	require.ErrorIs(t, s.Remove(psub("foo.*")), ErrNotFound, "other pointer, same subject")
	require.ErrorIs(t, s.Remove(qsub("foo.>", "other")), ErrNotFound)
	require.ErrorIs(t, s.Remove(psub("nope.x")), ErrNotFound)
	require.ErrorIs(t, s.Remove(nil), ErrNotFound)

	require.NoError(t, s.Remove(a))
	require.ErrorIs(t, s.Remove(a), ErrNotFound)
	require.NoError(t, s.Remove(q))
	require.NoError(t, s.Remove(b))
	assert.Zero(t, s.Count())
	assert.True(t, s.root.isEmpty(), "trie pruned")
	assert.False(t, s.HasInterest([]byte("foo.bar")))
}

func TestCacheCoherence(t *testing.T) {
	s := New()
	subj := []byte("foo.bar")
	lit := psub("foo.bar")
	require.NoError(t, s.Insert(lit))

	r0 := s.Match(subj)
	require.Equal(t, []string{"foo.bar"}, sids(r0.Psubs))
	other := s.Match([]byte("other.subject"))
	require.True(t, other.IsEmpty())
	require.Equal(t, 2, s.CacheCount())

	wc := psub("foo.*")
	require.NoError(t, s.Insert(wc))
	r1 := s.Match(subj)
	assert.Equal(t, []string{"foo.*", "foo.bar"}, sids(r1.Psubs), "insert seen")
	assert.Equal(t, []string{"foo.bar"}, sids(r0.Psubs), "old result unchanged")
	assert.True(t, s.Match([]byte("other.subject")).IsEmpty(), "unrelated entry kept")
	assert.Equal(t, 2, s.CacheCount())

	q1, q2 := qsub(">", "g"), qsub("foo.bar", "g")
	require.NoError(t, s.Insert(q1))
	require.NoError(t, s.Insert(q2))
	r2 := s.Match(subj)
	assert.Equal(t, map[string][]string{"g": {"> g", "foo.bar g"}}, groups(r2))
	assert.Equal(t, map[string][]string{"g": {"> g"}}, groups(s.Match([]byte("other.subject"))))

	require.NoError(t, s.Remove(wc))
	r3 := s.Match(subj)
	assert.Equal(t, []string{"foo.bar"}, sids(r3.Psubs), "remove seen")
	assert.Equal(t, []string{"foo.*", "foo.bar"}, sids(r1.Psubs), "old result unchanged")

	require.NoError(t, s.Remove(q1))
	assert.Equal(t, map[string][]string{"g": {"foo.bar g"}}, groups(s.Match(subj)))
	assert.True(t, s.Match([]byte("other.subject")).IsEmpty())
	assert.Equal(t, map[string][]string{"g": {"> g", "foo.bar g"}}, groups(r2), "old result unchanged")

	s.RemoveBatch([]*Subscription{lit, q2, psub("absent"), nil})
	assert.True(t, s.Match(subj).IsEmpty(), "batch remove seen")
	assert.False(t, s.HasInterest(subj))
	assert.Zero(t, s.Count())
	assert.True(t, s.root.isEmpty())
}

func TestCacheMatchesTrieAfterChurn(t *testing.T) {
	filters := []string{"a", "a.b", "a.*", "a.>", "*.b", ">", "*.*", "a.b.c", "a.*.c", "*.>"}
	subjects := []string{"a", "b", "a.b", "a.c", "x.b", "a.b.c", "a.x.c", "a.b.d", "q.w.e.r"}
	rng := rand.New(rand.NewPCG(1, 2))
	cached, plain := New(), NewWithCacheSize(0)
	var live []*Subscription
	for step := range 2000 {
		if len(live) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(live))
			require.NoError(t, cached.Remove(live[i]))
			require.NoError(t, plain.Remove(live[i]))
			live = append(live[:i], live[i+1:]...)
		} else {
			sub := psub(filters[rng.IntN(len(filters))])
			if rng.IntN(2) == 0 {
				sub = qsub(sub.Subject, fmt.Sprintf("q%d", rng.IntN(3)))
			}
			require.NoError(t, cached.Insert(sub))
			require.NoError(t, plain.Insert(sub))
			live = append(live, sub)
		}
		subj := []byte(subjects[step%len(subjects)])
		rc, rp := cached.Match(subj), plain.Match(subj)
		require.Equal(t, sids(rp.Psubs), sids(rc.Psubs), "step %d %s", step, subj)
		require.Equal(t, groups(rp), groups(rc), "step %d %s", step, subj)
		want := 0 // brute force over the live set
		for _, sub := range live {
			if SubjectMatches(sub.Subject, string(subj)) {
				want++
			}
		}
		got := len(rp.Psubs)
		for _, g := range rp.Qsubs {
			got += len(g)
		}
		require.Equal(t, want, got, "step %d %s", step, subj)
	}
	require.Equal(t, len(live), cached.Count())
}

func TestCacheBounded(t *testing.T) {
	s := NewWithCacheSize(64)
	require.NoError(t, s.Insert(psub("foo.>")))
	for i := range 1000 {
		subj := []byte(fmt.Sprintf("foo.%d", i))
		require.Len(t, s.Match(subj).Psubs, 1)
		require.LessOrEqual(t, s.CacheCount(), 64)
	}
	assert.Positive(t, s.CacheCount())
	assert.Zero(t, NewWithCacheSize(0).CacheCount())
}

func TestMatchDoesNotRetainSubject(t *testing.T) {
	s := New()
	require.NoError(t, s.Insert(psub("foo.bar")))
	buf := []byte("foo.bar")
	require.Len(t, s.Match(buf).Psubs, 1)
	copy(buf, "xxx.yyy")
	assert.Len(t, s.Match([]byte("foo.bar")).Psubs, 1)
	assert.True(t, s.Match(buf).IsEmpty())
}

func TestMatchCachedDoesNotAllocate(t *testing.T) {
	s := New()
	require.NoError(t, s.Insert(psub("foo.*")))
	require.NoError(t, s.Insert(qsub("foo.>", "g")))
	subj := []byte("foo.bar")
	require.False(t, s.Match(subj).IsEmpty())
	allocs := testing.AllocsPerRun(1000, func() {
		_ = s.Match(subj)
	})
	assert.Zero(t, allocs, "cached Match")

	miss := []byte("foo.never.cached")
	allocs = testing.AllocsPerRun(1000, func() {
		_ = s.HasInterest(subj)
		_ = s.HasInterest(miss)
	})
	assert.Zero(t, allocs, "HasInterest")
}

func TestConcurrentAccess(t *testing.T) {
	s := NewWithCacheSize(32) // small, to exercise eviction too
	filters := []string{"a.b", "a.*", "a.>", "*.b", ">", "a.b.c", "*.*.c"}
	subjects := [][]byte{[]byte("a.b"), []byte("a.c"), []byte("x.b"), []byte("a.b.c"), []byte("z")}
	deadline := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []*Subscription
			for time.Now().Before(deadline) {
				for range 50 {
					sub := qsub(filters[rng.IntN(len(filters))], fmt.Sprintf("q%d", rng.IntN(2)))
					if rng.IntN(2) == 0 {
						sub.Queue = ""
					}
					if err := s.Insert(sub); err != nil {
						t.Error(err)
						return
					}
					mine = append(mine, sub)
				}
				for _, sub := range mine[:25] {
					if err := s.Remove(sub); err != nil {
						t.Error(err)
						return
					}
				}
				s.RemoveBatch(mine[25:])
				mine = mine[:0]
			}
		})
	}
	for r := range 4 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				subj := subjects[(i+r)%len(subjects)]
				res := s.Match(subj)
				for _, p := range res.Psubs {
					if !SubjectMatches(p.Subject, string(subj)) {
						t.Errorf("%q matched %q", p.Subject, subj)
						return
					}
				}
				_ = s.HasInterest(subj)
				if i%64 == 0 {
					_ = s.Match([]byte(fmt.Sprintf("a.%d", i))) // cache churn
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, s.Count())
	for _, subj := range subjects {
		assert.True(t, s.Match(subj).IsEmpty(), "%s", subj)
	}
	assert.LessOrEqual(t, s.CacheCount(), 32)
}

func TestGeneration(t *testing.T) {
	s := New()
	a := psub("foo")
	tests := []struct {
		name    string
		op      func()
		changes bool
	}{
		{"insert", func() { require.NoError(t, s.Insert(a)) }, true},
		{"duplicate insert", func() { require.NoError(t, s.Insert(a)) }, false},
		{"match", func() { s.Match([]byte("foo")) }, false},
		{"failed remove", func() { require.Error(t, s.Remove(psub("foo"))) }, false},
		{"remove", func() { require.NoError(t, s.Remove(a)) }, true},
		{"empty batch", func() { s.RemoveBatch([]*Subscription{a}) }, false},
		{"reinsert", func() { require.NoError(t, s.Insert(a)) }, true},
		{"batch", func() { s.RemoveBatch([]*Subscription{a}) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Generation()
			tc.op()
			assert.Equal(t, tc.changes, s.Generation() != before)
		})
	}
}

func TestMatchKey(t *testing.T) {
	for _, tc := range matchCases {
		if !IsValidSubject(tc.filter) || hasEmptyToken(tc.subject) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, matchKey(tc.filter, tc.subject))
		})
	}
}

func TestSubSet(t *testing.T) {
	a, b, c := psub("a"), psub("b"), psub("c")
	var ss subSet
	for _, x := range []*Subscription{a, b, c} {
		require.True(t, ss.add(x))
	}
	require.False(t, ss.add(b), "duplicate")
	require.True(t, ss.remove(a), "first, moves last into its slot")
	require.False(t, ss.remove(a))
	require.Equal(t, []*Subscription{c, b}, ss.list)
	require.Equal(t, map[*Subscription]int{c: 0, b: 1}, ss.idx)
	require.True(t, ss.remove(b), "last")
	require.True(t, ss.remove(c))
	assert.Empty(t, ss.list)
	assert.Empty(t, ss.idx)
}
