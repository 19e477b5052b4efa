package client

import (
	"fmt"
	"strings"
	"time"

	"github.com/wsbroker/broker/internal/sublist"
)

// SubjectPermission lists the subjects a client may (Allow) and may not
// (Deny) use. An empty Allow allows everything not denied. Subscribe
// entries may carry a queue group after a space ("foo.* workers").
type SubjectPermission struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// ResponsePermission lets a client publish to the reply subjects of the
// requests it received, even where its publish permissions do not: at most
// MaxMsgs replies per request (default 1; negative: unlimited) within
// Expires (default 2 min; negative: no expiry), as nats-server.
type ResponsePermission struct {
	MaxMsgs int
	Expires time.Duration
}

// Permissions of one client. A nil field imposes nothing.
type Permissions struct {
	Publish   *SubjectPermission
	Subscribe *SubjectPermission
	Response  *ResponsePermission
}

// Grant is what authentication gives a client.
type Grant struct {
	Account     *Account
	User        string       // for logs
	Permissions *Permissions // nil: everything allowed
	MaxSubs     int          // subscriptions; <= 0 unlimited
	MaxPayload  int          // bytes; <= 0: the broker's limit
	Expires     time.Time    // zero: never; the client is closed then
}

// filterList is a compiled allow or deny list.
type filterList struct {
	sl *sublist.Sublist
}

func compileList(entries []string, withQueues bool) (*filterList, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	fl := &filterList{sl: sublist.NewWithCacheSize(256)}
	for _, e := range entries {
		sub := &sublist.Subscription{Subject: strings.TrimSpace(e)}
		if withQueues {
			if subj, q, ok := strings.Cut(sub.Subject, " "); ok {
				sub.Subject, sub.Queue = subj, strings.TrimSpace(q)
			}
		}
		sub.Owner = sub
		if err := fl.sl.Insert(sub); err != nil {
			return nil, fmt.Errorf("invalid permission subject %q", e)
		}
	}
	return fl, nil
}

// matches reports whether subject (taken literally, wildcards included) is
// covered by a plain entry of the list.
func (fl *filterList) matches(subject []byte) bool {
	return len(fl.sl.Match(subject).Psubs) > 0
}

// perms is the compiled form of Permissions.
type perms struct {
	pubAllow, pubDeny *filterList
	subAllow, subDeny *filterList
	resp              *ResponsePermission
	pubCache          map[string]bool // read loop only
}

// maxPubCache bounds the per-client cache of publish decisions.
const maxPubCache = 128

// ValidatePermissions reports the first invalid subject of p.
func ValidatePermissions(p *Permissions) error {
	_, err := compilePerms(p)
	return err
}

// compilePerms checks p and compiles it for fast checks. It returns nil
// for nil p.
func compilePerms(p *Permissions) (*perms, error) {
	if p == nil {
		return nil, nil
	}
	cp := &perms{resp: p.Response}
	var err error
	if p.Publish != nil {
		if cp.pubAllow, err = compileList(p.Publish.Allow, false); err != nil {
			return nil, err
		}
		if cp.pubDeny, err = compileList(p.Publish.Deny, false); err != nil {
			return nil, err
		}
	}
	if p.Subscribe != nil {
		if cp.subAllow, err = compileList(p.Subscribe.Allow, true); err != nil {
			return nil, err
		}
		if cp.subDeny, err = compileList(p.Subscribe.Deny, true); err != nil {
			return nil, err
		}
	}
	if cp.resp != nil {
		r := *cp.resp
		if r.MaxMsgs == 0 {
			r.MaxMsgs = 1
		}
		if r.Expires == 0 {
			r.Expires = 2 * time.Minute
		}
		cp.resp = &r
	}
	return cp, nil
}

// canPublish reports whether the publish permissions allow subject.
func (p *perms) canPublish(subject []byte) bool {
	if p.pubAllow == nil && p.pubDeny == nil {
		return true
	}
	if ok, hit := p.pubCache[string(subject)]; hit {
		return ok
	}
	ok := p.allowsPublish(subject)
	if p.pubCache == nil || len(p.pubCache) >= maxPubCache {
		p.pubCache = make(map[string]bool, maxPubCache)
	}
	p.pubCache[string(subject)] = ok
	return ok
}

// allowsPublish is canPublish without the cache: safe from any goroutine.
func (p *perms) allowsPublish(subject []byte) bool {
	return (p.pubAllow == nil || p.pubAllow.matches(subject)) &&
		(p.pubDeny == nil || !p.pubDeny.matches(subject))
}

// canSubscribe reports whether the subscribe permissions allow subject
// (with queue, "" for none).
func (p *perms) canSubscribe(subject []byte, queue string) bool {
	// As nats-server: a list's plain entries decide, unless the request
	// has a queue and the list has queue entries for the subject; then
	// the queue entries decide.
	allowed := true
	if a := p.subAllow; a != nil {
		r := a.sl.Match(subject)
		allowed = len(r.Psubs) > 0
		if queue != "" && len(r.Qsubs) > 0 {
			allowed = queueIn(r.Qsubs, queue)
		}
	}
	if d := p.subDeny; allowed && d != nil {
		r := d.sl.Match(subject)
		allowed = len(r.Psubs) == 0
		if queue != "" && len(r.Qsubs) > 0 {
			allowed = !queueIn(r.Qsubs, queue)
		}
	}
	return allowed
}

// queueIn reports whether queue is one of the groups' names (which may be
// wildcards).
func queueIn(groups [][]*sublist.Subscription, queue string) bool {
	for _, g := range groups {
		if len(g) > 0 && sublist.SubjectMatches(g[0].Queue, queue) {
			return true
		}
	}
	return false
}

// deniedDelivery reports whether a message on subject must not reach a
// wildcard subscription because subject itself is denied.
func (p *perms) deniedDelivery(subject []byte) bool {
	return p.subDeny != nil && p.subDeny.matches(subject)
}

// replyGrant is a reply subject a client may answer under ResponsePermission.
type replyGrant struct {
	left    int
	expires time.Time
}
