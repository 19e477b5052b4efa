// Package sublist validates NATS subjects and matches published subjects
// against subscription filters.
//
// A Sublist is a trie of subscription filters keyed by token, where '*'
// matches exactly one token and a final '>' matches one or more tokens
// ("foo.>" does not match "foo"), with the semantics of nats-server. Match
// results are cached per literal subject in a bounded cache that Insert and
// Remove keep coherent by replacing, never mutating, the affected entries, so
// a *Result returned by Match stays valid and unchanged for as long as the
// caller holds it.
//
// All methods of Sublist are safe for concurrent use. Match on a cached
// subject takes only a read lock on one of 16 cache shards and does not
// allocate.
package sublist

import (
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultCacheSize is the maximum number of cached Match results of a
// Sublist made by New.
const DefaultCacheSize = 1024

// Errors returned by Insert and Remove.
var (
	// ErrInvalidSubject is returned by Insert when the subscription is nil,
	// its Subject is not valid per IsValidSubject, or its Queue is neither
	// empty nor valid per IsValidQueue.
	ErrInvalidSubject = errors.New("sublist: invalid subject")
	// ErrNotFound is returned by Remove when the subscription is not in the
	// Sublist.
	ErrNotFound = errors.New("sublist: no matches found")
)

// Subscription is one interest. The caller sets its fields before Insert and
// never changes them afterwards; the Sublist identifies a subscription by
// its pointer.
type Subscription struct {
	// Subject is the filter; it may contain the wildcards '*' and '>'.
	Subject string
	// Queue is the queue group name, or "" for a plain subscription.
	Queue string
	// Owner is opaque to the Sublist (the client connection or leaf link).
	Owner any
	// SID is opaque to the Sublist (the subscription id of its owner).
	SID string
}

// Result is the set of subscriptions matching a subject. It may be shared
// with other callers and with the cache and must be treated as read-only; it
// is never modified after Match returns it.
type Result struct {
	// Psubs are the plain subscriptions, each of which gets the message.
	Psubs []*Subscription
	// Qsubs has one slice per queue group name, holding every member of
	// that group that matches; the caller delivers to one member per group.
	Qsubs [][]*Subscription
}

// emptyResult is the shared result for subjects without interest.
var emptyResult = &Result{}

// IsEmpty reports whether r holds no subscription.
func (r *Result) IsEmpty() bool {
	return len(r.Psubs) == 0 && len(r.Qsubs) == 0
}

// cacheShards is the number of cache shards of a cache of at least that
// many entries; smaller caches have one shard.
const cacheShards = 16

// cacheShard is one lock-protected part of the match cache, padded so that
// readers of different shards do not share a cache line.
type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*Result
	_  [96]byte
}

// Sublist is a concurrent subscription trie with a match cache. The zero
// value is not usable; create one with New or NewWithCacheSize.
type Sublist struct {
	mu    sync.RWMutex // guards root and count
	root  *level
	count int
	gen   atomic.Uint64

	// The cache is split into shards by a hash of the subject so that
	// concurrent readers do not contend on one lock. Lock order: mu before
	// any shard lock. Entries are written only while mu is held
	// (read-locked by Match, write-locked by Insert and Remove), so an entry
	// always reflects the trie at the time it is stored and every later
	// change is applied to it.
	shards   []cacheShard // nil when caching is disabled
	shardMax int          // entries per shard
	seed     maphash.Seed
}

// New returns an empty Sublist whose match cache holds at most
// DefaultCacheSize subjects.
func New() *Sublist {
	return NewWithCacheSize(DefaultCacheSize)
}

// NewWithCacheSize returns an empty Sublist whose match cache holds at most
// max subjects. The cache has 16 shards (one if max < 16), each holding at
// most max/16 subjects; when a shard is full, arbitrary entries of it are
// evicted until it is at three quarters. A max of 0 or less disables the
// cache (useful for permission lists, where matches are rare).
func NewWithCacheSize(max int) *Sublist {
	s := &Sublist{root: &level{}, seed: maphash.MakeSeed()}
	if max > 0 {
		n := 1
		if max >= cacheShards {
			n = cacheShards
		}
		s.shards = make([]cacheShard, n)
		s.shardMax = max / n
		for i := range s.shards {
			s.shards[i].m = make(map[string]*Result)
		}
	}
	return s
}

// shard returns the cache shard of subject. The cache must be enabled.
func (s *Sublist) shard(subject []byte) *cacheShard {
	if len(s.shards) == 1 {
		return &s.shards[0]
	}
	return &s.shards[maphash.Bytes(s.seed, subject)&(cacheShards-1)]
}

// cached returns the cached result for subject, if any.
func (s *Sublist) cached(subject []byte) (*Result, bool) {
	if s.shards == nil {
		return nil, false
	}
	sh := s.shard(subject)
	sh.mu.RLock()
	r, ok := sh.m[string(subject)]
	sh.mu.RUnlock()
	return r, ok
}

// updateCache replaces every cached result r for which pick(subject, r) is
// true by fix(r). s.mu must be write-locked.
func (s *Sublist) updateCache(pick func(string, *Result) bool, fix func(*Result) *Result) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for subject, r := range sh.m {
			if pick(subject, r) {
				sh.m[subject] = fix(r)
			}
		}
		sh.mu.Unlock()
	}
}

// Generation returns a counter that grows by one or more on every Insert,
// Remove and RemoveBatch that changes the Sublist. A caller may keep its own
// lock-free cache of Match results: read Generation before calling Match,
// store the result with that value, and trust the entry only while
// Generation still returns it. It is a single atomic load.
func (s *Sublist) Generation() uint64 {
	return s.gen.Load()
}

// Insert adds sub. It returns ErrInvalidSubject if sub is nil, sub.Subject is
// not a valid subscription subject or sub.Queue is set but not a valid queue
// name. Inserting a subscription that is already present is a no-op.
func (s *Sublist) Insert(sub *Subscription) error {
	if sub == nil || !IsValidSubject(sub.Subject) ||
		(sub.Queue != "" && !IsValidQueue(sub.Queue)) {
		return ErrInvalidSubject
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.root.insert(sub) {
		return nil
	}
	s.count++
	s.gen.Add(1)
	s.updateCache(
		func(subject string, _ *Result) bool { return matchKey(sub.Subject, subject) },
		func(r *Result) *Result { return r.with(sub) })
	return nil
}

// Remove deletes sub. It returns ErrNotFound if sub is not present.
func (s *Sublist) Remove(sub *Subscription) error {
	if sub == nil {
		return ErrNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.root.remove(sub) {
		return ErrNotFound
	}
	s.count--
	s.gen.Add(1)
	drop := func(x *Subscription) bool { return x == sub }
	s.updateCache(
		func(subject string, _ *Result) bool { return matchKey(sub.Subject, subject) },
		func(r *Result) *Result { return r.without(drop) })
	return nil
}

// RemoveBatch deletes every subscription of subs that is present, under one
// lock acquisition; absent and nil entries are ignored. It is meant for a
// closing connection.
func (s *Sublist) RemoveBatch(subs []*Subscription) {
	if len(subs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	removed := make(map[*Subscription]struct{}, len(subs))
	for _, sub := range subs {
		if sub != nil && s.root.remove(sub) {
			removed[sub] = struct{}{}
		}
	}
	if len(removed) == 0 {
		return
	}
	s.count -= len(removed)
	s.gen.Add(1)
	drop := func(x *Subscription) bool {
		_, ok := removed[x]
		return ok
	}
	s.updateCache(
		func(_ string, r *Result) bool { return r.contains(drop) },
		func(r *Result) *Result { return r.without(drop) })
}

// Match returns the subscriptions whose filters match the literal subject.
// Tokens of subject are taken literally, even '*' and '>'. A subject that is
// empty or has an empty token matches nothing. The result is shared and
// read-only and is never nil. Match does not retain subject and does not
// allocate when the subject is cached.
func (s *Sublist) Match(subject []byte) *Result {
	if r, ok := s.cached(subject); ok {
		return r
	}
	if hasEmptyTokenBytes(subject) {
		return emptyResult
	}
	r := &Result{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.root.match(subject, r)
	if r.IsEmpty() {
		r = emptyResult
	}
	if s.shards != nil {
		sh := s.shard(subject)
		sh.mu.Lock()
		sh.m[string(subject)] = r
		if len(sh.m) > s.shardMax {
			// Drop arbitrary entries (Go map order) down to 3/4.
			target := s.shardMax - s.shardMax/4
			for k := range sh.m {
				if len(sh.m) <= target {
					break
				}
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
	return r
}

// HasInterest reports whether any subscription matches the literal subject,
// with the same rules as Match. It does not allocate and does not add to the
// cache.
func (s *Sublist) HasInterest(subject []byte) bool {
	if r, ok := s.cached(subject); ok {
		return !r.IsEmpty()
	}
	if hasEmptyTokenBytes(subject) {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.root.any(subject)
}

// Count returns the number of subscriptions in the Sublist.
func (s *Sublist) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.count
}

// CacheCount returns the number of subjects in the match cache; it is at
// most the cache size given to NewWithCacheSize.
func (s *Sublist) CacheCount() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// with returns a copy of r that also holds sub. r is not modified; slices
// that do not change are shared.
func (r *Result) with(sub *Subscription) *Result {
	nr := &Result{Psubs: r.Psubs, Qsubs: r.Qsubs}
	if sub.Queue == "" {
		nr.Psubs = append(slices.Clip(r.Psubs), sub)
		return nr
	}
	nr.Qsubs = slices.Clone(r.Qsubs)
	if i := r.qslot(sub.Queue); i >= 0 {
		nr.Qsubs[i] = append(slices.Clip(r.Qsubs[i]), sub)
	} else {
		nr.Qsubs = append(nr.Qsubs, []*Subscription{sub})
	}
	return nr
}

// contains reports whether any subscription of r satisfies drop.
func (r *Result) contains(drop func(*Subscription) bool) bool {
	if slices.ContainsFunc(r.Psubs, drop) {
		return true
	}
	for _, g := range r.Qsubs {
		if slices.ContainsFunc(g, drop) {
			return true
		}
	}
	return false
}

// without returns r without the subscriptions that satisfy drop. r is not
// modified; slices that do not change are shared.
func (r *Result) without(drop func(*Subscription) bool) *Result {
	if !r.contains(drop) {
		return r
	}
	nr := &Result{Psubs: r.Psubs}
	if slices.ContainsFunc(r.Psubs, drop) {
		nr.Psubs = keep(r.Psubs, drop)
	}
	for _, g := range r.Qsubs {
		if slices.ContainsFunc(g, drop) {
			g = keep(g, drop)
		}
		if len(g) > 0 {
			nr.Qsubs = append(nr.Qsubs, g)
		}
	}
	if nr.IsEmpty() {
		return emptyResult
	}
	return nr
}

// keep returns a new slice of the elements of subs that do not satisfy drop,
// or nil if none remain.
func keep(subs []*Subscription, drop func(*Subscription) bool) []*Subscription {
	var out []*Subscription
	for _, x := range subs {
		if !drop(x) {
			out = append(out, x)
		}
	}
	return out
}
