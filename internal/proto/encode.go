package proto

import "strconv"

// Fixed server-to-client protocol lines.
const (
	// PingProto is the PING the server sends.
	PingProto = "PING\r\n"
	// PongProto is the PONG the server sends in reply to PING.
	PongProto = "PONG\r\n"
	// OKProto is the +OK sent to verbose clients.
	OKProto = "+OK\r\n"
	// NoRespondersStatus is the status line of the header that nats-server
	// sends for a request that has no responders.
	NoRespondersStatus = "NATS/1.0 503\r\n"
	// NoRespondersSubjectKey is the header key that carries the subject of
	// the request that had no responders.
	NoRespondersSubjectKey = "Nats-Subject"
)

// AppendErr appends -ERR 'text'\r\n to dst.
func AppendErr(dst []byte, text string) []byte {
	dst = append(dst, "-ERR '"...)
	dst = append(dst, text...)
	return append(dst, "'\r\n"...)
}

// AppendMsgHeader appends the control line of a message delivery: when
// hdrLen < 0, MSG <subject> <sid> [reply] <totalLen>\r\n; otherwise
// HMSG <subject> <sid> [reply] <hdrLen> <totalLen>\r\n. reply is omitted
// when empty. The caller appends the totalLen message bytes and CRLF.
func AppendMsgHeader(dst, subject, sid, reply []byte, hdrLen, totalLen int) []byte {
	if hdrLen < 0 {
		dst = append(dst, "MSG "...)
	} else {
		dst = append(dst, "HMSG "...)
	}
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = append(dst, sid...)
	dst = append(dst, ' ')
	if len(reply) > 0 {
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	return appendSizes(dst, hdrLen, totalLen)
}

// AppendMsg appends MSG <subject> <sid> [reply] <size>\r\n<payload>\r\n.
func AppendMsg(dst, subject, sid, reply, payload []byte) []byte {
	dst = AppendMsgHeader(dst, subject, sid, reply, -1, len(payload))
	dst = append(dst, payload...)
	return append(dst, "\r\n"...)
}

// AppendHMsg appends HMSG <subject> <sid> [reply] <hdrLen> <len(msg)>\r\n
// <msg>\r\n, where msg holds hdrLen bytes of headers followed by the payload.
// A negative hdrLen is treated as 0.
func AppendHMsg(dst, subject, sid, reply []byte, hdrLen int, msg []byte) []byte {
	dst = AppendMsgHeader(dst, subject, sid, reply, max(hdrLen, 0), len(msg))
	dst = append(dst, msg...)
	return append(dst, "\r\n"...)
}

// NoRespondersHeaderLen returns the header length of the no-responders
// status message for a request published on subject.
func NoRespondersHeaderLen(subject []byte) int {
	return len(NoRespondersStatus) + len(NoRespondersSubjectKey) + len(": ") +
		len(subject) + len("\r\n\r\n")
}

// AppendNoResponders appends the status message nats-server 2.15 sends to
// a client with no_responders and headers enabled when its request on
// subject reached no subscriber: HMSG <reply> <sid> <n> <n>\r\n
// NATS/1.0 503\r\nNats-Subject: <subject>\r\n\r\n\r\n, where n is
// 32+len(subject) and sid is the client's subscription matching reply.
func AppendNoResponders(dst, reply, sid, subject []byte) []byte {
	n := NoRespondersHeaderLen(subject)
	dst = AppendMsgHeader(dst, reply, sid, nil, n, n)
	dst = append(dst, NoRespondersStatus...)
	dst = append(dst, NoRespondersSubjectKey...)
	dst = append(dst, ": "...)
	dst = append(dst, subject...)
	return append(dst, "\r\n\r\n\r\n"...)
}

// appendSizes ends a message control line: "[<hdrLen> ]<totalLen>\r\n",
// the header size only when hdrLen >= 0.
func appendSizes(dst []byte, hdrLen, totalLen int) []byte {
	if hdrLen >= 0 {
		dst = strconv.AppendInt(dst, int64(hdrLen), 10)
		dst = append(dst, ' ')
	}
	dst = strconv.AppendInt(dst, int64(totalLen), 10)
	return append(dst, "\r\n"...)
}
