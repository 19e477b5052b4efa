package proto

import "strconv"

// MaxLeafQueueWeight is the largest queue weight nats-server parses on a
// leafnode link (9 digits); AppendLSPlus sends larger totals as this value.
const MaxLeafQueueWeight = 999_999_999

// AppendLSPlus appends an interest line to dst: LS+ <subject>\r\n when
// queue is empty, else LS+ <subject> <queue> <weight>\r\n, where weight is
// the total weight of the group (clamped to 1..MaxLeafQueueWeight).
func AppendLSPlus(dst, subject, queue []byte, weight int) []byte {
	dst = append(dst, "LS+ "...)
	dst = append(dst, subject...)
	if len(queue) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, queue...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(min(max(weight, 1), MaxLeafQueueWeight)), 10)
	}
	return append(dst, "\r\n"...)
}

// AppendLSMinus appends LS- <subject>\r\n to dst, or
// LS- <subject> <queue>\r\n when queue is not empty.
func AppendLSMinus(dst, subject, queue []byte) []byte {
	dst = append(dst, "LS- "...)
	dst = append(dst, subject...)
	if len(queue) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, queue...)
	}
	return append(dst, "\r\n"...)
}

// AppendLMsgHeader appends the control line of a message sent over a
// leafnode link, in the layout nats-server uses: LMSG when hdrLen < 0,
// else HMSG with <hdrLen> before <totalLen>; then
//
//	no reply, no queues:   LMSG <subject> <totalLen>\r\n
//	reply, no queues:      LMSG <subject> <reply> <totalLen>\r\n
//	reply and queues:      LMSG <subject> + <reply> <q1> <q2>... <totalLen>\r\n
//	queues, no reply:      LMSG <subject> | <q1> <q2>... <totalLen>\r\n
//
// An empty reply counts as absent. The caller appends the totalLen message
// bytes (headers first for HMSG) and CRLF, or uses AppendLMsg.
func AppendLMsgHeader(dst, subject, reply []byte, queues [][]byte, hdrLen, totalLen int) []byte {
	if hdrLen < 0 {
		dst = append(dst, "LMSG "...)
	} else {
		dst = append(dst, "HMSG "...)
	}
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	if len(queues) > 0 {
		if len(reply) > 0 {
			dst = append(dst, "+ "...)
			dst = append(dst, reply...)
			dst = append(dst, ' ')
		} else {
			dst = append(dst, "| "...)
		}
		for _, q := range queues {
			dst = append(dst, q...)
			dst = append(dst, ' ')
		}
	} else if len(reply) > 0 {
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	return appendSizes(dst, hdrLen, totalLen)
}

// AppendLMsg appends a whole leafnode message: the control line of
// AppendLMsgHeader for len(msg) bytes, msg and CRLF. hdrLen < 0 sends an
// LMSG; otherwise an HMSG whose first hdrLen bytes of msg are the headers.
func AppendLMsg(dst, subject, reply []byte, queues [][]byte, hdrLen int, msg []byte) []byte {
	dst = AppendLMsgHeader(dst, subject, reply, queues, hdrLen, len(msg))
	dst = append(dst, msg...)
	return append(dst, "\r\n"...)
}
