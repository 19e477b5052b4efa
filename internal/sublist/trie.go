package sublist

import (
	"bytes"
	"slices"
	"strings"
)

// level is one token position of the trie: literal children by token, plus
// at most one '*' child and one '>' child.
type level struct {
	nodes map[string]*node // literal tokens; nil until the first one
	pwc   *node            // '*'
	fwc   *node            // '>'
}

// node holds the subscriptions whose filter ends at this token and the level
// of the next token.
type node struct {
	next  *level
	psubs subSet
	qsubs map[string]*subSet // queue name -> members; nil until the first
}

// subSet is a set of subscriptions kept both as a slice, so that a match
// copies it in one append, and as an index for O(1) removal.
type subSet struct {
	list []*Subscription
	idx  map[*Subscription]int // position in list
}

// add inserts sub and reports whether it was absent.
func (ss *subSet) add(sub *Subscription) bool {
	if _, ok := ss.idx[sub]; ok {
		return false
	}
	if ss.idx == nil {
		ss.idx = make(map[*Subscription]int)
	}
	ss.idx[sub] = len(ss.list)
	ss.list = append(ss.list, sub)
	return true
}

// remove deletes sub and reports whether it was present.
func (ss *subSet) remove(sub *Subscription) bool {
	i, ok := ss.idx[sub]
	if !ok {
		return false
	}
	last := len(ss.list) - 1
	if i != last {
		ss.list[i] = ss.list[last]
		ss.idx[ss.list[i]] = i
	}
	ss.list[last] = nil
	ss.list = ss.list[:last]
	delete(ss.idx, sub)
	return true
}

func (l *level) isEmpty() bool {
	return l == nil || (len(l.nodes) == 0 && l.pwc == nil && l.fwc == nil)
}

func (n *node) isEmpty() bool {
	return len(n.psubs.list) == 0 && len(n.qsubs) == 0 && n.next.isEmpty()
}

// child returns the node for token tok in l, creating it if create is set.
func (l *level) child(tok string, create bool) *node {
	var p **node
	switch tok {
	case pwc:
		p = &l.pwc
	case fwc:
		p = &l.fwc
	default:
		n := l.nodes[tok]
		if n == nil && create {
			if l.nodes == nil {
				l.nodes = make(map[string]*node)
			}
			n = &node{}
			l.nodes[tok] = n
		}
		return n
	}
	if *p == nil && create {
		*p = &node{}
	}
	return *p
}

// prune removes the child for tok from l.
func (l *level) prune(tok string) {
	switch tok {
	case pwc:
		l.pwc = nil
	case fwc:
		l.fwc = nil
	default:
		delete(l.nodes, tok)
	}
}

// insert adds sub under its (valid) subject. It reports false if sub was
// already present.
func (l *level) insert(sub *Subscription) bool {
	rest := sub.Subject
	var n *node
	for {
		tok, r, more := strings.Cut(rest, tsep)
		n = l.child(tok, true)
		if !more {
			break
		}
		if n.next == nil {
			n.next = &level{}
		}
		l, rest = n.next, r
	}
	if sub.Queue == "" {
		return n.psubs.add(sub)
	}
	q := n.qsubs[sub.Queue]
	if q == nil {
		if n.qsubs == nil {
			n.qsubs = make(map[string]*subSet)
		}
		q = &subSet{}
		n.qsubs[sub.Queue] = q
	}
	return q.add(sub)
}

// pathStep records one step of a descent for pruning on the way back.
type pathStep struct {
	l   *level
	n   *node
	tok string
}

// remove deletes sub and prunes nodes left empty. It reports false if sub
// was not present.
func (l *level) remove(sub *Subscription) bool {
	var buf [16]pathStep
	path := buf[:0]
	rest := sub.Subject
	var n *node
	for {
		tok, r, more := strings.Cut(rest, tsep)
		if tok == "" || l == nil {
			return false
		}
		if n = l.child(tok, false); n == nil {
			return false
		}
		path = append(path, pathStep{l, n, tok})
		if !more {
			break
		}
		l, rest = n.next, r
	}
	if sub.Queue == "" {
		if !n.psubs.remove(sub) {
			return false
		}
	} else {
		q := n.qsubs[sub.Queue]
		if q == nil || !q.remove(sub) {
			return false
		}
		if len(q.list) == 0 {
			delete(n.qsubs, sub.Queue)
		}
	}
	for i := len(path) - 1; i >= 0; i-- {
		st := path[i]
		if !st.n.isEmpty() {
			break
		}
		st.n.next = nil
		st.l.prune(st.tok)
	}
	return true
}

// cutBytes splits s at the first '.'.
func cutBytes(s []byte) (tok, rest []byte, more bool) {
	if i := bytes.IndexByte(s, btok); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, nil, false
}

// match adds to r every subscription in l whose filter matches subj, a
// subject with no empty tokens. Tokens of subj are taken literally.
func (l *level) match(subj []byte, r *Result) {
	for l != nil {
		tok, rest, more := cutBytes(subj)
		if l.fwc != nil {
			r.addNode(l.fwc)
		}
		if !more {
			if l.pwc != nil {
				r.addNode(l.pwc)
			}
			if n := l.nodes[string(tok)]; n != nil {
				r.addNode(n)
			}
			return
		}
		if l.pwc != nil {
			l.pwc.next.match(rest, r)
		}
		n := l.nodes[string(tok)]
		if n == nil {
			return
		}
		l, subj = n.next, rest
	}
}

// hasSubs reports whether n holds any subscription.
func (n *node) hasSubs() bool {
	return n != nil && (len(n.psubs.list) > 0 || len(n.qsubs) > 0)
}

// any reports whether match would add at least one subscription. It does not
// allocate.
func (l *level) any(subj []byte) bool {
	for l != nil {
		tok, rest, more := cutBytes(subj)
		if l.fwc.hasSubs() {
			return true
		}
		if !more {
			return l.pwc.hasSubs() || l.nodes[string(tok)].hasSubs()
		}
		if l.pwc != nil && l.pwc.next.any(rest) {
			return true
		}
		n := l.nodes[string(tok)]
		if n == nil {
			return false
		}
		l, subj = n.next, rest
	}
	return false
}

// addNode appends the subscriptions of n to r, grouping queue members by
// queue name across nodes.
func (r *Result) addNode(n *node) {
	r.Psubs = append(r.Psubs, n.psubs.list...)
	for name, members := range n.qsubs {
		if i := r.qslot(name); i >= 0 {
			r.Qsubs[i] = append(r.Qsubs[i], members.list...)
		} else {
			r.Qsubs = append(r.Qsubs, slices.Clone(members.list))
		}
	}
}

// qslot returns the index of queue group name in r.Qsubs, or -1.
func (r *Result) qslot(name string) int {
	for i, g := range r.Qsubs {
		if len(g) > 0 && g[0].Queue == name {
			return i
		}
	}
	return -1
}
