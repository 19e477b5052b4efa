package client

import (
	"crypto/rand"
	"encoding/base32"
	"sync"

	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/internal/sublist"
)

// Account is a subject namespace: clients of one account never see
// messages of another. It also tracks the account's interest for its leaf
// node links: each link is told (LS+/LS-) about the subscriptions it may
// serve, aggregated per subject and queue group.
type Account struct {
	Name    string
	Sublist *sublist.Sublist

	// lds is this account's loop detection subject ("$LDS.<random>"):
	// advertised on every link; seeing it come back means a loop.
	lds string

	mu    sync.Mutex
	subs  map[*subscription]struct{} // every subscription, for link snapshots
	links map[*Client]*linkInterest  // leaf node links of the account
}

// linkInterest is what has been advertised on one link: count per key
// (plain: subscriptions; queue: total weight).
type linkInterest struct {
	adv map[interestKey]int
}

type interestKey struct{ subject, queue string }

// NewAccount returns an empty account named name.
func NewAccount(name string) *Account {
	var raw [15]byte
	_, _ = rand.Read(raw[:])
	return &Account{
		Name:    name,
		Sublist: sublist.New(),
		lds:     "$LDS." + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]),
		subs:    make(map[*subscription]struct{}),
		links:   make(map[*Client]*linkInterest),
	}
}

// LoopSubject returns the account's loop detection subject.
func (a *Account) LoopSubject() string { return a.lds }

// weight is what s counts for on a link: 1 for a client's subscription,
// the advertised weight for a queue subscription learnt over a link.
func (s *subscription) weight() int {
	if s.client.leaf != nil && s.Queue != "" {
		return max(int(s.qweight.Load()), 1)
	}
	return 1
}

// servesLink reports whether interest of s is advertised on link: never
// back to the link it came from, and a leaf tells its hub only about local
// interest (its clients and the leaves it accepts), never what it learnt
// from a hub.
func servesLink(s *subscription, link *Client) bool {
	if s.client == link {
		return false
	}
	if link.leaf.solicited && s.client.leaf != nil && s.client.leaf.solicited {
		return false
	}
	if p := link.perms; p != nil && link.leaf.solicited && sublist.IsValidPublishSubject(s.Subject) &&
		!p.canSubscribe([]byte(s.Subject), s.Queue) {
		// The hub's import permission refuses this interest (it would
		// close the link); wildcards are filtered by the hub per message.
		return false
	}
	return true
}

// subAdded records a new subscription and advertises it on the links.
func (a *Account) subAdded(s *subscription) {
	a.mu.Lock()
	a.subs[s] = struct{}{}
	touched := a.updateLinks(s, s.weight())
	a.mu.Unlock()
	signalAll(touched)
}

// subRemoved forgets a subscription and withdraws it from the links.
func (a *Account) subRemoved(s *subscription) {
	a.mu.Lock()
	var touched []*Client
	if _, ok := a.subs[s]; ok {
		delete(a.subs, s)
		touched = a.updateLinks(s, -s.weight())
	}
	a.mu.Unlock()
	signalAll(touched)
}

// setWeight changes the weight of a queue subscription learnt over a link
// (LS+ for a known queue key replaces its weight).
func (a *Account) setWeight(s *subscription, w int) {
	a.mu.Lock()
	old := s.weight()
	s.qweight.Store(int32(w))
	var touched []*Client
	if _, ok := a.subs[s]; ok {
		touched = a.updateLinks(s, s.weight()-old)
	}
	a.mu.Unlock()
	signalAll(touched)
}

// updateLinks applies delta for s to every link it serves (a.mu held) and
// returns the links that have output to send.
func (a *Account) updateLinks(s *subscription, delta int) []*Client {
	var touched []*Client
	for link, li := range a.links {
		if servesLink(s, link) && li.update(link, s.Subject, s.Queue, delta) {
			touched = append(touched, link)
		}
	}
	return touched
}

func signalAll(links []*Client) {
	for _, l := range links {
		l.signal()
	}
}

// update changes the count of a key on link and queues LS+/LS- when the
// peer must hear about it. It reports whether anything was queued. a.mu
// is held.
func (li *linkInterest) update(link *Client, subject, queue string, delta int) bool {
	k := interestKey{subject, queue}
	old := li.adv[k]
	n := max(old+delta, 0)
	if n == 0 {
		delete(li.adv, k)
	} else {
		li.adv[k] = n
	}
	var line []byte
	switch {
	case old == n:
		return false
	case n == 0:
		line = proto.AppendLSMinus(nil, []byte(subject), []byte(queue))
	case queue != "":
		line = proto.AppendLSPlus(nil, []byte(subject), []byte(queue), n)
	case old == 0:
		line = proto.AppendLSPlus(nil, []byte(subject), nil, 0)
	default:
		return false
	}
	link.mu.Lock()
	_, cut := link.queueLocked(line)
	link.mu.Unlock()
	if cut {
		link.cutSlow()
	}
	return true
}

// addLink registers a leaf node link and sends it the account's interest
// (the snapshot), the loop detection subject included.
func (a *Account) addLink(link *Client) {
	a.mu.Lock()
	li := &linkInterest{adv: make(map[interestKey]int)}
	a.links[link] = li
	// Aggregate first: one LS+ per key, queue keys with their total.
	for s := range a.subs {
		if servesLink(s, link) {
			li.adv[interestKey{s.Subject, s.Queue}] += s.weight()
		}
	}
	var snap []byte
	for k, n := range li.adv {
		if k.queue != "" {
			snap = proto.AppendLSPlus(snap, []byte(k.subject), []byte(k.queue), n)
		} else {
			snap = proto.AppendLSPlus(snap, []byte(k.subject), nil, 0)
		}
	}
	snap = proto.AppendLSPlus(snap, []byte(a.lds), nil, 0)
	link.mu.Lock()
	_, cut := link.queueLocked(snap)
	link.mu.Unlock()
	a.mu.Unlock()
	if cut {
		link.cutSlow()
	}
	link.signal()
}

// removeLink forgets a link.
func (a *Account) removeLink(link *Client) {
	a.mu.Lock()
	delete(a.links, link)
	a.mu.Unlock()
}
