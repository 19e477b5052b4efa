package sublist

import "strings"

// Subject syntax. A subject is one or more non-empty tokens separated by
// tsep. In a subscription subject a token that is exactly pwc matches any one
// token and a last token that is exactly fwc matches one or more tokens. A
// token that merely contains '*' or '>' (for example "*bar") is a literal
// token, as in nats-server.
const (
	tsep = "."
	btok = '.'
	pwc  = "*"
	fwc  = ">"
)

// isSpace reports whether c is one of the bytes nats-server rejects inside a
// subject token: space, tab, line feed, carriage return and form feed.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f':
		return true
	}
	return false
}

// IsValidSubject reports whether subject is valid for SUB: one or more
// non-empty tokens separated by '.', no whitespace (space, tab, CR, LF, FF),
// and a '>' token only as the last token. Tokens that are exactly '*' or '>'
// are wildcards; tokens that only contain those characters (such as "*bar")
// are literal. Other bytes, including non-ASCII and NUL, are accepted, as in
// nats-server's IsValidSubject.
func IsValidSubject(subject string) bool {
	if subject == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(subject); i++ {
		if i < len(subject) {
			c := subject[i]
			if isSpace(c) {
				return false
			}
			if c != btok {
				continue
			}
		}
		// Token is subject[start:i].
		if i == start {
			return false
		}
		if i < len(subject) && i-start == 1 && subject[start] == '>' {
			return false // '>' followed by more tokens
		}
		start = i + 1
	}
	return true
}

// IsValidPublishSubject reports whether subject is a valid literal subject
// for PUB: valid per IsValidSubject and with no token that is exactly '*' or
// '>'.
func IsValidPublishSubject(subject string) bool {
	return IsValidSubject(subject) && isLiteral(subject)
}

// isLiteral reports whether no token of subject is exactly '*' or '>'. It
// does not check validity otherwise.
func isLiteral(subject string) bool {
	for i := 0; i < len(subject); i++ {
		c := subject[i]
		if (c == '*' || c == '>') &&
			(i == 0 || subject[i-1] == btok) &&
			(i+1 == len(subject) || subject[i+1] == btok) {
			return false
		}
	}
	return true
}

// IsValidQueue reports whether queue is a valid queue group name: non-empty
// and free of whitespace (space, tab, CR, LF, FF). Like nats-server, the name
// is otherwise opaque: dots and wildcard characters carry no meaning in it.
func IsValidQueue(queue string) bool {
	if queue == "" {
		return false
	}
	for i := 0; i < len(queue); i++ {
		if isSpace(queue[i]) {
			return false
		}
	}
	return true
}

// hasEmptyToken reports whether subject is empty or has an empty token
// (leading, trailing or doubled '.').
func hasEmptyToken(subject string) bool {
	n := len(subject)
	return n == 0 || subject[0] == btok || subject[n-1] == btok ||
		strings.Contains(subject, "..")
}

// hasEmptyTokenBytes is hasEmptyToken for a byte slice.
func hasEmptyTokenBytes(subject []byte) bool {
	n := len(subject)
	if n == 0 || subject[0] == btok || subject[n-1] == btok {
		return true
	}
	for i := 1; i < n; i++ {
		if subject[i] == btok && subject[i-1] == btok {
			return true
		}
	}
	return false
}

// SubjectMatches reports whether the publish subject matches the
// subscription filter: a '*' filter token matches exactly one token and a
// final '>' filter token matches one or more remaining tokens; every other
// token must be equal. All tokens of subject are taken literally. It returns
// false if either argument is empty or has an empty token, or if a '>'
// filter token is not last. It is the reference the trie agrees with and does
// not allocate.
func SubjectMatches(filter, subject string) bool {
	if hasEmptyToken(subject) {
		return false
	}
	for {
		ft, frest, fmore := strings.Cut(filter, tsep)
		st, srest, smore := strings.Cut(subject, tsep)
		switch ft {
		case "":
			return false
		case fwc:
			return !fmore // subject has at least one non-empty token here
		case pwc:
		default:
			if ft != st {
				return false
			}
		}
		if fmore != smore {
			return false
		}
		if !fmore {
			return true
		}
		filter, subject = frest, srest
	}
}

// SubjectIsSubsetMatch reports whether every literal subject matched by
// subject (which may itself contain wildcards) is also matched by filter.
// For example "foo.*" is a subset of "foo.>", "*.*" and "foo.*", but not of
// "foo.bar". This is the check used for subscribe permissions. It returns
// false if either argument is empty or has an empty token, and does not
// allocate.
func SubjectIsSubsetMatch(subject, filter string) bool {
	if hasEmptyToken(subject) {
		return false
	}
	for {
		ft, frest, fmore := strings.Cut(filter, tsep)
		st, srest, smore := strings.Cut(subject, tsep)
		switch {
		case ft == "":
			return false
		case ft == fwc:
			return !fmore
		case st == fwc:
			return false // subject covers more than one token; filter does not
		case ft == pwc:
		case st == pwc:
			return false // subject covers any token; filter only one literal
		case ft != st:
			return false
		}
		if fmore != smore {
			return false
		}
		if !fmore {
			return true
		}
		filter, subject = frest, srest
	}
}

// matchKey is SubjectMatches for a valid filter and a non-empty subject
// without empty tokens (a cache key). It compares bytes in place and exits
// at the first difference, which is what the cache update loops need.
func matchKey(filter, subject string) bool {
	for {
		if len(filter) == 1 || filter[1] == btok {
			switch filter[0] {
			case '>':
				return true // subject has at least one token left
			case '*':
				i := strings.IndexByte(subject, btok)
				if len(filter) == 1 {
					return i < 0
				}
				if i < 0 {
					return false
				}
				filter, subject = filter[2:], subject[i+1:]
				continue
			}
		}
		i := 0
		for i < len(filter) && filter[i] != btok {
			if i >= len(subject) || subject[i] != filter[i] {
				return false
			}
			i++
		}
		if i == len(filter) {
			return i == len(subject)
		}
		if i >= len(subject) || subject[i] != btok {
			return false
		}
		filter, subject = filter[i+1:], subject[i+1:]
	}
}
