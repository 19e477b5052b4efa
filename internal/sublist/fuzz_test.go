package sublist

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzFilters are always inserted next to the fuzzed filter.
var fuzzFilters = []string{
	">", "*", "*.*", "*.>", "foo", "foo.bar", "foo.*", "foo.>", "*.bar", "foo.*.baz", "foo.bar.>",
}

// FuzzInsertMatch checks that the trie, cold and cached, agrees with
// SubjectMatches for a fuzzed filter and subject, and that removal leaves no
// trace.
func FuzzInsertMatch(f *testing.F) {
	seeds := [][2]string{
		{"foo.bar", "foo.bar"},
		{"foo.*", "foo.bar"},
		{"foo.>", "foo"},
		{"*.*.>", "a.b.c.d"},
		{">", "x"},
		{"foo.*bar", "foo.*bar"},
		{"a..b", "a.b"},
		{"foo.>.bar", "foo.x.bar"},
		{"foo", "foo.*"},
		{"*", ">"},
		{"ü.*", "ü.日本"},
		{"foo", ""},
		{"foo.bar", "foo.bar."},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], "")
		f.Add(s[0], s[1], "q")
	}
	f.Fuzz(func(t *testing.T, filter, subject, queue string) {
		s := New()
		for _, fl := range fuzzFilters {
			require.NoError(t, s.Insert(psub(fl)))
		}
		s.Match([]byte(subject)) // cached before the insert: Insert must update it
		fz := &Subscription{Subject: filter, Queue: queue}
		err := s.Insert(fz)
		valid := IsValidSubject(filter) && (queue == "" || IsValidQueue(queue))
		if IsValidSubject(filter) && !hasEmptyToken(subject) {
			require.Equal(t, SubjectMatches(filter, subject), matchKey(filter, subject))
		}
		if !valid {
			require.ErrorIs(t, err, ErrInvalidSubject)
		} else {
			require.NoError(t, err)
		}

		check := func(r *Result, present bool) {
			t.Helper()
			want := map[*Subscription]bool{}
			for _, sub := range fuzzAll(s, fz, present) {
				if SubjectMatches(sub.Subject, subject) {
					want[sub] = true
				}
			}
			got := map[*Subscription]bool{}
			for _, p := range r.Psubs {
				require.False(t, got[p], "duplicate %q", p.Subject)
				got[p] = true
			}
			for _, g := range r.Qsubs {
				for _, m := range g {
					require.Equal(t, g[0].Queue, m.Queue)
					got[m] = true
				}
			}
			require.Equal(t, want, got, "filter %q subject %q", filter, subject)
			require.Equal(t, len(want) > 0, s.HasInterest([]byte(subject)))
		}

		cold := NewWithCacheSize(0)
		for _, sub := range fuzzAll(s, fz, valid) {
			require.NoError(t, cold.Insert(sub))
		}
		check(cold.Match([]byte(subject)), valid)
		check(s.Match([]byte(subject)), valid) // miss
		check(s.Match([]byte(subject)), valid) // hit
		if valid {
			require.NoError(t, s.Remove(fz))
			check(s.Match([]byte(subject)), false) // cache updated
			require.Equal(t, len(fuzzFilters), s.Count())
		}
	})
}

// fuzzAll returns the fixed filters' subscriptions of s plus fz if present.
func fuzzAll(s *Sublist, fz *Subscription, present bool) []*Subscription {
	var all []*Subscription
	s.mu.RLock()
	collect(s.root, &all)
	s.mu.RUnlock()
	out := all[:0]
	for _, sub := range all {
		if sub != fz {
			out = append(out, sub)
		}
	}
	if present {
		out = append(out, fz)
	}
	return out
}

// collect appends every subscription below l to out.
func collect(l *level, out *[]*Subscription) {
	if l == nil {
		return
	}
	visit := func(n *node) {
		if n == nil {
			return
		}
		*out = append(*out, n.psubs.list...)
		for _, members := range n.qsubs {
			*out = append(*out, members.list...)
		}
		collect(n.next, out)
	}
	for _, n := range l.nodes {
		visit(n)
	}
	visit(l.pwc)
	visit(l.fwc)
}
