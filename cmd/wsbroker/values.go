// Typed access to the values of a parsed configuration file: every
// accessor reports a value of the wrong type as "file:line: key: problem".

package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// token is a value of a configuration parsed in pedantic mode
// (conf.ParseFileWithChecks): the value with where it was written. Line and
// position are those of the key the value belongs to.
type token interface {
	Value() any
	Line() int
	IsUsedVariable() bool
	SourceFile() string
	Position() int
}

// entry is one key of a configuration map with its token.
type entry struct {
	key  string // as written
	path string // dotted path from the top
	tk   token  // nil only for values that carry no position
	v    any
}

// headers accepts a map of header names to string values.
func (l *loader) headers(e entry) map[string]string {
	m, ok := e.v.(map[string]any)
	if !ok {
		l.errorf(e, "expected a map of header names to values, got %s", typeName(e.v))
		return nil
	}
	h := make(map[string]string, len(m))
	for _, k := range l.entries(e.path, m) {
		if s, ok := l.str(k); ok {
			h[k.key] = s
		}
	}
	return h
}

// stringList accepts a string or an array of strings.
func (l *loader) stringList(e entry) []string {
	switch v := e.v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for i, item := range v {
			if s, ok := l.str(l.element(e, i, item)); ok {
				out = append(out, s)
			}
		}
		return out
	default:
		l.errorf(e, "expected a string or an array of strings, got %s", typeName(e.v))
		return nil
	}
}

// element returns the entry of the i-th item of the array of e.
func (l *loader) element(e entry, i int, item any) entry {
	ie := entry{key: e.key, path: fmt.Sprintf("%s[%d]", e.path, i), tk: e.tk, v: item}
	if tk, ok := item.(token); ok {
		ie.tk, ie.v = tk, tk.Value()
	}
	return ie
}

// hostPort parses a listen value: a port number or "host:port".
func (l *loader) hostPort(e entry) (string, int, bool) {
	switch v := e.v.(type) {
	case int64:
		p, ok := l.checkPort(e, v)
		return "", p, ok
	case string:
		host, ps, err := net.SplitHostPort(v)
		if err != nil {
			l.errorf(e, "could not parse address string %q", v)
			return "", 0, false
		}
		n, err := strconv.ParseInt(ps, 10, 64)
		if err != nil {
			l.errorf(e, "could not parse port %q", ps)
			return "", 0, false
		}
		p, ok := l.checkPort(e, n)
		return host, p, ok
	default:
		l.errorf(e, "expected port or host:port, got %s", typeName(e.v))
		return "", 0, false
	}
}

// portValue accepts a port number: 0 to 65535, or -1 for a random port.
func (l *loader) portValue(e entry) (int, bool) {
	n, ok := l.integer(e)
	if !ok {
		return 0, false
	}
	return l.checkPort(e, n)
}

// checkPort reports a port outside -1..65535.
func (l *loader) checkPort(e entry, n int64) (int, bool) {
	if n < randomPort || n > 65535 {
		l.errorf(e, "invalid port %d (want 1-65535, or -1 for a random port)", n)
		return 0, false
	}
	return int(n), true
}

// str accepts a string.
func (l *loader) str(e entry) (string, bool) {
	s, ok := e.v.(string)
	if !ok {
		l.errorf(e, "expected a string, got %s", typeName(e.v))
	}
	return s, ok
}

// strTo stores a string value in dst and reports whether it was one.
func (l *loader) strTo(e entry, dst *string) bool {
	s, ok := l.str(e)
	if ok {
		*dst = s
	}
	return ok
}

// boolean stores a boolean value (true/yes/on, false/no/off) in dst.
func (l *loader) boolean(e entry, dst *bool) {
	b, ok := e.v.(bool)
	if !ok {
		l.errorf(e, "expected a boolean, got %s", typeName(e.v))
		return
	}
	*dst = b
}

// integer accepts an integer; sizes such as 1K are integers too.
func (l *loader) integer(e entry) (int64, bool) {
	n, ok := e.v.(int64)
	if !ok {
		l.errorf(e, "expected an integer, got %s", typeName(e.v))
	}
	return n, ok
}

// size accepts a byte count, with the suffixes of the conf package (1KB,
// 1MB, 1K = 1000...). 0 keeps the default; max 0 means no upper bound.
func (l *loader) size(e entry, max int64) (int64, bool) {
	n, ok := e.v.(int64)
	switch {
	case !ok:
		l.errorf(e, "expected a size in bytes (e.g. 1048576 or 1MB), got %s", typeName(e.v))
		return 0, false
	case n < 0:
		l.errorf(e, "must not be negative, got %d", n)
		return 0, false
	case max > 0 && n > max:
		l.errorf(e, "value is too big: %d (max %d)", n, max)
		return 0, false
	}
	return n, true
}

// duration accepts a Go duration string ("10s", "2m") or an integer number
// of seconds. When secondsWarn is set, as nats-server does for
// ping_interval and write_deadline, an integer is accepted with a warning.
// 0 keeps the default.
func (l *loader) duration(e entry, secondsWarn bool) (time.Duration, bool) {
	var d time.Duration
	switch v := e.v.(type) {
	case string:
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			l.errorf(e, "invalid duration: %v", err)
			return 0, false
		}
	case int64:
		if v > int64(time.Duration(1<<63-1)/time.Second) {
			l.errorf(e, "value is too big: %d seconds", v)
			return 0, false
		}
		d = time.Duration(v) * time.Second
		if secondsWarn {
			l.warnf(e, "%s should be converted to a duration (e.g. \"%ds\")", strings.ToLower(e.key), v)
		}
	default:
		l.errorf(e, "expected a duration (e.g. \"10s\") or a number of seconds, got %s", typeName(e.v))
		return 0, false
	}
	if d < 0 {
		l.errorf(e, "must not be negative, got %v", d)
		return 0, false
	}
	return d, true
}

// typeName names the type of a configuration value for error messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "map"
	case time.Time:
		return "datetime"
	default:
		return fmt.Sprintf("%T", v)
	}
}
