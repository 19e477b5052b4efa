package client

import (
	"math/rand/v2"

	"github.com/wsbroker/broker/internal/proto"
	"github.com/wsbroker/broker/internal/sublist"
	"github.com/wsbroker/broker/transport"
)

// linkOut is a leaf node link a message goes to, with the queue groups
// that picked a member behind it.
type linkOut struct {
	link   *Client
	queues [][]byte
}

// route delivers a message published by c (a client, or a leaf node link
// when fromLink) to every matching subscription of acc: each plain
// subscription, one member of each queue group (a local member first,
// else one behind a link, weighted by the members it has), and each link
// at most once. A message from a link reaches only the queue groups it
// names (the sender picked them). It reports whether anything took the
// message.
func (c *Client) route(acc *Account, subject, reply []byte, hdrLen int, msg []byte, queues [][]byte, fromLink bool) bool {
	r := acc.Sublist.Match(subject)
	echo := fromLink || c.opts.Echo
	delivered := false
	c.louts = c.louts[:0]
	for _, ps := range r.Psubs {
		s := ps.Owner.(*subscription)
		if s.client.leaf != nil {
			if c.canForward(s.client) {
				c.addLinkOut(s.client, nil)
			}
			continue
		}
		if !echo && s.client == c {
			continue
		}
		if c.deliver(s, subject, reply, hdrLen, msg) {
			delivered = true
		}
	}
	for _, group := range r.Qsubs {
		if fromLink && !hasQueue(queues, group[0].Queue) {
			continue
		}
		if c.deliverQueue(group, subject, reply, hdrLen, msg, echo) {
			delivered = true
		}
	}
	for i := range c.louts {
		lo := &c.louts[i]
		if c.deliverLink(lo.link, subject, reply, lo.queues, hdrLen, msg) {
			delivered = true
		}
	}
	return delivered
}

func hasQueue(queues [][]byte, name string) bool {
	for _, q := range queues {
		if string(q) == name {
			return true
		}
	}
	return false
}

// canForward reports whether a message c routes may go out on link: never
// back where it came from, and never from a hub to another hub (a leaf
// does not pass its hub's traffic upstream).
func (c *Client) canForward(link *Client) bool {
	if link == c {
		return false
	}
	return !(c.leaf != nil && c.leaf.solicited && link.leaf.solicited)
}

// addLinkOut adds link (once) to the links of the message being routed,
// with queue if a queue group picked it.
func (c *Client) addLinkOut(link *Client, queue []byte) {
	for i := range c.louts {
		if c.louts[i].link == link {
			if queue != nil {
				c.louts[i].queues = append(c.louts[i].queues, queue)
			}
			return
		}
	}
	if len(c.louts) < cap(c.louts) {
		c.louts = c.louts[:len(c.louts)+1]
		lo := &c.louts[len(c.louts)-1]
		lo.link, lo.queues = link, lo.queues[:0]
	} else {
		c.louts = append(c.louts, linkOut{link: link})
	}
	if queue != nil {
		lo := &c.louts[len(c.louts)-1]
		lo.queues = append(lo.queues, queue)
	}
}

// deliverQueue delivers to one member of a queue group: a local member,
// starting at a random one and moving past members that cannot take it;
// failing that, a link with members, chosen at random by weight.
func (c *Client) deliverQueue(group []*sublist.Subscription, subject, reply []byte, hdrLen int, msg []byte, echo bool) bool {
	n := len(group)
	start := rand.IntN(n)
	total := 0
	for i := range n {
		s := group[(start+i)%n].Owner.(*subscription)
		if s.client.leaf != nil {
			if c.canForward(s.client) && !s.client.gone.Load() {
				total += s.weight()
			}
			continue
		}
		if !echo && s.client == c {
			continue
		}
		if c.deliver(s, subject, reply, hdrLen, msg) {
			return true
		}
	}
	if total == 0 {
		return false
	}
	pick := rand.IntN(total)
	for _, gs := range group {
		s := gs.Owner.(*subscription)
		if s.client.leaf == nil || !c.canForward(s.client) || s.client.gone.Load() {
			continue
		}
		if pick -= s.weight(); pick < 0 {
			c.addLinkOut(s.client, queueBytes(s))
			return true
		}
	}
	return false
}

// queueBytes returns the queue name of s as bytes (set when a link's
// queue subscription is created).
func queueBytes(s *subscription) []byte { return s.queueB }

// deliverLink copies one message into the output of a leaf node link as
// LMSG (or HMSG when the link takes headers).
func (c *Client) deliverLink(link *Client, subject, reply []byte, queues [][]byte, hdrLen int, msg []byte) bool {
	if p := link.perms; p != nil {
		if link.leaf.solicited && !p.allowsPublish(subject) {
			// The hub would refuse it (its export permission).
			return false
		}
		if !link.leaf.solicited && !p.canSubscribe(subject, "") {
			// Not for this leaf's user (its interest was a wildcard).
			return false
		}
	}
	if hdrLen >= 0 && !link.leaf.headers {
		msg = msg[hdrLen:]
		hdrLen = -1
	}
	b := proto.AppendLMsgHeader(c.scratch[:0], subject, reply, queues, hdrLen, len(msg))
	c.scratch = b
	return c.enqueueMsg(link, b, msg, nil)
}

// enqueueMsg appends a message (header line, payload, CRLF) to rc's
// output, or cuts rc off as a slow consumer. A reply subject is
// remembered for rc's response permission. It runs on the sender's read
// loop; rc is signalled after the read. When rc lags (past stallAt), the
// sender first waits for it, within its stall budget (see waitFor).
func (c *Client) enqueueMsg(rc *Client, line, msg, reply []byte) bool {
	size := int64(len(line) + len(msg) + 2)
	rc.mu.Lock()
	if !rc.closing && rc.pending+size > rc.stallAt() && c.stalled < stallPerRead && rc.draining() {
		ch := rc.stallChanLocked()
		rc.mu.Unlock()
		rc.signal()
		c.waitFor(ch)
		rc.mu.Lock()
	}
	if rc.closing {
		rc.mu.Unlock()
		return false
	}
	if rc.pending+size > rc.cfg.MaxPending {
		rc.closeLocked("", transport.SlowConsumerPending, false)
		rc.mu.Unlock()
		rc.cutSlow()
		return false
	}
	rc.appendLocked(line)
	rc.appendLocked(msg)
	rc.appendLocked(crlf)
	if len(reply) > 0 && rc.perms != nil && rc.perms.resp != nil {
		rc.allowReplyLocked(reply)
	}
	rc.mu.Unlock()
	c.pcd[rc] = struct{}{}
	return true
}
