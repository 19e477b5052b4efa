package sublist

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsValidSubject(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		sub     bool // IsValidSubject
		pub     bool // IsValidPublishSubject
	}{
		{"literal one token", "foo", true, true},
		{"literal many tokens", "foo.bar.baz", true, true},
		{"pwc alone", "*", true, false},
		{"fwc alone", ">", true, false},
		{"pwc middle", "foo.*.bar", true, false},
		{"fwc last", "foo.>", true, false},
		{"pwc and fwc", "*.foo.>", true, false},
		{"pwc inside token is literal", "foo.*bar", true, true},
		{"fwc inside token is literal", "foo.bar>", true, true},
		{"double pwc token is literal", "foo.**", true, true},
		{"non-ascii", "ünïcödé.日本", true, true},
		{"nul byte accepted", "foo\x00bar", true, true},
		{"vertical tab accepted", "foo\vbar", true, true},
		{"dash underscore dollar", "$SYS.a-b_c", true, true},
		{"empty", "", false, false},
		{"only dot", ".", false, false},
		{"leading dot", ".foo", false, false},
		{"trailing dot", "foo.", false, false},
		{"empty middle token", "foo..bar", false, false},
		{"fwc not last", "foo.>.bar", false, false},
		{"fwc then fwc", ">.>", false, false},
		{"space", "foo bar", false, false},
		{"space token", "foo. .bar", false, false},
		{"tab", "foo\tbar", false, false},
		{"tab token", "\t", false, false},
		{"cr", "foo\r", false, false},
		{"lf", "foo\nbar", false, false},
		{"ff", "foo.\f", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.sub, IsValidSubject(tc.subject), "IsValidSubject")
			assert.Equal(t, tc.pub, IsValidPublishSubject(tc.subject), "IsValidPublishSubject")
		})
	}
}

func TestIsValidQueue(t *testing.T) {
	tests := []struct {
		name  string
		queue string
		want  bool
	}{
		{"simple", "workers", true},
		{"dotted", "v1.workers", true},
		{"wildcard chars are opaque", "*", true},
		{"non-ascii", "wörkers", true},
		{"empty", "", false},
		{"space", "a b", false},
		{"only space", " ", false},
		{"tab", "a\tb", false},
		{"newline", "a\n", false},
		{"cr", "\ra", false},
		{"ff", "a\fb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, IsValidQueue(tc.queue))
		})
	}
}

// matchCases is shared by the SubjectMatches and trie tests.
var matchCases = []struct {
	name    string
	filter  string
	subject string
	want    bool
}{
	{"literal equal", "foo.bar", "foo.bar", true},
	{"literal different", "foo.bar", "foo.baz", false},
	{"literal prefix", "foo", "foo.bar", false},
	{"literal longer", "foo.bar", "foo", false},
	{"pwc one token", "foo.*", "foo.bar", true},
	{"pwc needs a token", "foo.*", "foo", false},
	{"pwc exactly one", "foo.*", "foo.bar.baz", false},
	{"pwc first", "*.bar", "foo.bar", true},
	{"pwc middle", "foo.*.baz", "foo.bar.baz", true},
	{"pwc middle mismatch", "foo.*.baz", "foo.bar.qux", false},
	{"pwc alone", "*", "foo", true},
	{"pwc alone two tokens", "*", "foo.bar", false},
	{"fwc one token", "foo.>", "foo.bar", true},
	{"fwc many tokens", "foo.>", "foo.bar.baz.qux", true},
	{"fwc needs a token", "foo.>", "foo", false},
	{"fwc alone", ">", "foo.bar", true},
	{"pwc then fwc", "*.>", "foo.bar", true},
	{"pwc then fwc too short", "*.>", "foo", false},
	{"mixed", "a.*.c.>", "a.b.c.d.e", true},
	{"mixed mismatch", "a.*.c.>", "a.b.x.d", false},
	{"star-prefixed token is literal", "foo.*bar", "foo.xbar", false},
	{"star-prefixed token equal", "foo.*bar", "foo.*bar", true},
	{"subject star is literal vs literal", "foo.bar", "foo.*", false},
	{"subject star vs pwc", "foo.*", "foo.*", true},
	{"subject fwc vs pwc", "foo.*", "foo.>", true},
	{"empty subject", "foo", "", false},
	{"subject trailing dot", "foo.>", "foo.bar.", false},
	{"subject empty token", "*.*", "foo..bar", false},
	{"subject leading dot", "*.bar", ".bar", false},
}

func TestSubjectMatches(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, SubjectMatches(tc.filter, tc.subject))
		})
	}
	t.Run("invalid filters never match", func(t *testing.T) {
		for _, f := range []string{"", "foo.>.bar", "foo..bar", ".foo", "foo."} {
			assert.False(t, SubjectMatches(f, "foo.bar.bar"), f)
			assert.False(t, SubjectMatches(f, "foo.bar"), f)
			assert.False(t, SubjectMatches(f, "foo"), f)
		}
	})
}

func TestSubjectIsSubsetMatch(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		filter  string
		want    bool
	}{
		{"literal in literal", "foo.bar", "foo.bar", true},
		{"literal in pwc", "foo.bar", "foo.*", true},
		{"literal in fwc", "foo.bar.baz", "foo.>", true},
		{"pwc in pwc", "foo.*", "foo.*", true},
		{"pwc in fwc", "foo.*", "foo.>", true},
		{"pwc in all pwc", "foo.*", "*.*", true},
		{"pwc not in literal", "foo.*", "foo.bar", false},
		{"fwc in fwc", "foo.>", "foo.>", true},
		{"fwc in root fwc", "foo.>", ">", true},
		{"fwc not in pwc", "foo.>", "foo.*", false},
		{"fwc not in literal", "foo.>", "foo.bar", false},
		{"length mismatch", "foo.bar", "foo", false},
		{"filter longer", "foo", "foo.*", false},
		{"different literal", "foo.baz", "foo.bar", false},
		{"empty subject", "", ">", false},
		{"empty filter", "foo", "", false},
		{"empty token", "foo..bar", ">", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, SubjectIsSubsetMatch(tc.subject, tc.filter))
		})
	}
}

func TestSubjectFuncsDoNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_ = IsValidSubject("foo.*.bar.>")
		_ = IsValidPublishSubject("foo.bar.baz")
		_ = IsValidQueue("workers")
		_ = SubjectMatches("foo.*.>", "foo.bar.baz")
		_ = SubjectIsSubsetMatch("foo.*", "foo.>")
	})
	assert.Zero(t, allocs)
}
