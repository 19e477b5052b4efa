package jwtauth

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
)

// knownConnTypes are the connection types this package recognises in a
// user JWT's allowed_connection_types.
var knownConnTypes = map[string]bool{
	jwt.ConnectionTypeStandard:   true,
	jwt.ConnectionTypeWebsocket:  true,
	jwt.ConnectionTypeLeafnode:   true,
	jwt.ConnectionTypeLeafnodeWS: true,
	jwt.ConnectionTypeMqtt:       true,
	jwt.ConnectionTypeMqttWS:     true,
	jwt.ConnectionTypeInProcess:  true,
}

// connTypeAllowed applies a user JWT's allowed_connection_types to a
// connection of type connType. As in nats-server: values are compared upper
// case; an empty list allows every type; unknown values are ignored while a
// known one remains, and a list of unknown values only rejects every
// connection (its intent was to restrict).
func connTypeAllowed(allowed []string, connType string) error {
	if len(allowed) == 0 {
		return nil
	}
	var known, unknown []string
	for _, t := range allowed {
		t = strings.ToUpper(t)
		if knownConnTypes[t] {
			known = append(known, t)
		} else {
			unknown = append(unknown, t)
		}
	}
	if len(known) == 0 {
		return fmt.Errorf("%w: invalid connection types %q", ErrConnectionType, unknown)
	}
	for _, t := range known {
		if t == connType {
			return nil
		}
	}
	return fmt.Errorf("%w: %s not in %q", ErrConnectionType, connType, known)
}

// srcAllowed checks ip against a user's src CIDR list (empty: any). An
// unknown ip or an unparsable CIDR fails.
func srcAllowed(src jwt.CIDRList, ip net.IP) error {
	if len(src) == 0 {
		return nil
	}
	if ip == nil {
		return fmt.Errorf("%w: remote address unknown", ErrSourceNotAllowed)
	}
	for _, cidr := range src {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return fmt.Errorf("%w: bad CIDR %q in user JWT", ErrSourceNotAllowed, cidr)
		}
		if n.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrSourceNotAllowed, ip)
}

// timesAllowed checks now against a user's connect-time windows ("15:04:05"
// start and end, in the locale's time zone, else the local one; a window
// whose end precedes its start spans midnight). It returns the end of the
// window now is in (the latest, if several), or zero when there are no
// windows. Bounds are exclusive, as in nats-server.
func timesAllowed(times []jwt.TimeRange, locale string, now time.Time) (time.Time, error) {
	if len(times) == 0 {
		return time.Time{}, nil
	}
	loc := time.Local
	if locale != "" {
		l, err := time.LoadLocation(locale)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: bad locale %q in user JWT", ErrOutsideTimes, locale)
		}
		loc = l
	}
	now = now.In(loc)
	var best time.Time
	for _, tr := range times {
		start, err1 := clockOn(now, tr.Start, loc)
		end, err2 := clockOn(now, tr.End, loc)
		if err1 != nil || err2 != nil {
			return time.Time{}, fmt.Errorf("%w: bad time range %q-%q in user JWT", ErrOutsideTimes, tr.Start, tr.End)
		}
		if end.Before(start) { // spans midnight
			if now.Before(end) {
				start = start.AddDate(0, 0, -1)
			} else {
				end = end.AddDate(0, 0, 1)
			}
		}
		if now.After(start) && now.Before(end) && end.After(best) {
			best = end
		}
	}
	if best.IsZero() {
		return time.Time{}, fmt.Errorf("%w: %s", ErrOutsideTimes, now.Format(time.TimeOnly))
	}
	return best, nil
}

// clockOn returns the time of day hms ("15:04:05") on now's date in loc.
func clockOn(now time.Time, hms string, loc *time.Location) (time.Time, error) {
	c, err := time.ParseInLocation(time.TimeOnly, hms, loc)
	if err != nil {
		return time.Time{}, err
	}
	y, m, d := now.Date()
	return time.Date(y, m, d, c.Hour(), c.Minute(), c.Second(), 0, loc), nil
}
