package proto

// Default limits, as in nats-server.
const (
	// DefaultMaxControlLine is the control line limit in bytes used when
	// Parser.MaxControlLine is 0.
	DefaultMaxControlLine = 4096
	// DefaultMaxPayload is the payload limit in bytes (1 MiB) used when
	// Parser.MaxPayload is 0.
	DefaultMaxPayload = 1 << 20
	// maxSizeDigits is the longest size nats-server accepts (999,999,999).
	maxSizeDigits = 9
	// retainScratch is the largest payload scratch buffer kept between
	// operations; larger ones are released after use.
	retainScratch = 64 << 10
)

// Handler receives parsed operations. Every []byte argument aliases the
// parser's input or its internal scratch buffer and is valid only during the
// call. A non-nil error stops Parse, which returns it unchanged.
type Handler interface {
	// ProcessConnect receives the argument of CONNECT (the JSON text), with
	// leading blanks and the line end removed. It may be empty.
	ProcessConnect(arg []byte) error
	// ProcessPub receives a PUB (hdrLen -1, msg is the payload) or an HPUB
	// (hdrLen is the header length in bytes, msg is headers and payload,
	// hdrLen <= len(msg)). reply is nil when absent. msg excludes the
	// trailing CRLF and may be empty.
	ProcessPub(subject, reply []byte, hdrLen int, msg []byte) error
	// ProcessSub receives a SUB; queue is nil when absent.
	ProcessSub(subject, queue, sid []byte) error
	// ProcessUnsub receives an UNSUB; max is 0 when absent or not a valid
	// number (nats-server then unsubscribes at once, as for 0).
	ProcessUnsub(sid []byte, max int) error
	// ProcessPing receives a PING.
	ProcessPing() error
	// ProcessPong receives a PONG.
	ProcessPong() error
}

// InfoHandler may be implemented by a Handler to receive INFO sent by the
// client. When it is not implemented INFO is ignored, as nats-server ignores
// it on client connections (nats-server also rejects an INFO whose argument
// is not valid JSON; this parser does not look at the argument).
type InfoHandler interface {
	// ProcessInfo receives the argument of INFO (the JSON text).
	ProcessInfo(arg []byte) error
}

type opKind uint8

const (
	opConnect opKind = iota + 1
	opPub
	opHPub
	opSub
	opUnsub
	opPing
	opPong
	opInfo
	opOK
	opErr
)

// Keyword tails in lower case, after the first letter.
const (
	kwConnect = "onnect"
	kwPub     = "ub"
	kwHPub    = "pub"
	kwSub     = "ub"
	kwUnsub   = "nsub"
	kwPing    = "ng"
	kwPong    = "ng"
	kwInfo    = "nfo"
	kwOK      = "ok"
	kwErr     = "err"
)

// span is a field of an argument line: line[start:end].
type span struct{ start, end int }

// Parser is an incremental parser of the client-to-server NATS protocol.
// Feed it the byte stream in successive chunks with Parse. The zero value is
// ready to use with the default limits. A Parser is not safe for concurrent
// use.
//
// When an operation lies wholly inside one chunk it is reported without any
// copy or allocation. When it spans chunks, the parser copies what it needs
// (the control line, then the payload) into reusable scratch buffers.
type Parser struct {
	// MaxControlLine is the longest control line argument accepted, in
	// bytes, not counting the operation name, the blanks after it and the
	// line end (as in nats-server). 0 means DefaultMaxControlLine (4096).
	// Blanks after the operation name and ignored bytes after PING, PONG
	// and +OK are bounded by the same value (nats-server leaves those
	// unbounded).
	MaxControlLine int
	// MaxPayload is the largest PUB payload or HPUB headers+payload size
	// accepted, in bytes. A larger declared size fails with ErrMaxPayload
	// before any of the payload is read. 0 or less means DefaultMaxPayload
	// (1 MiB).
	MaxPayload int

	framer
	fields [5]span
	// Pending PUB/HPUB, valid in the payload states; they alias arg.
	subject []byte
	reply   []byte
	err     error // sticky
}

// Parse consumes the next chunk of the stream, calling h for each complete
// operation. buf is not retained: it may be reused as soon as Parse returns.
// Parse returns the first error, from the protocol or from h; the error is
// sticky (later calls return it again) and the connection must be closed
// (see ClientErrText).
func (p *Parser) Parse(buf []byte, h Handler) error {
	if p.err != nil {
		return p.err
	}
	if err := p.parse(buf, h); err != nil {
		p.err = err
		p.subject, p.reply = nil, nil
		return err
	}
	return nil
}

func (p *Parser) maxControlLine() int {
	if p.MaxControlLine > 0 {
		return p.MaxControlLine
	}
	return DefaultMaxControlLine
}

func (p *Parser) maxPayload() int {
	if p.MaxPayload > 0 {
		return p.MaxPayload
	}
	return DefaultMaxPayload
}

func (p *Parser) parse(buf []byte, h Handler) error {
	var err error
	i := 0
	for i < len(buf) {
		switch p.state {
		case stStart:
			b := buf[i]
			i++
			switch b {
			case '+':
				p.startKeyword(opOK, kwOK, 0)
				continue
			case '-':
				p.startKeyword(opErr, kwErr, 0)
				continue
			}
			// b|0x20 equals a lower-case letter only for that letter in
			// either case.
			switch b | 0x20 {
			case 'c':
				p.startKeyword(opConnect, kwConnect, 0)
			case 'p':
				p.state = stP
			case 'h':
				p.startKeyword(opHPub, kwHPub, 0)
			case 's':
				p.startKeyword(opSub, kwSub, 0)
			case 'u':
				p.startKeyword(opUnsub, kwUnsub, 0)
			case 'i':
				p.startKeyword(opInfo, kwInfo, 0)
			default:
				return ErrUnknownOp
			}

		case stP:
			b := buf[i] | 0x20
			i++
			switch b {
			case 'u':
				p.startKeyword(opPub, kwPub, 1)
			case 'i':
				p.startKeyword(opPing, kwPing, 0)
			case 'o':
				p.startKeyword(opPong, kwPong, 0)
			default:
				return ErrUnknownOp
			}

		case stKeyword:
			if i, err = p.keyword(buf, i); err != nil {
				return err
			}

		case stNeedSep, stSkipSep:
			if i, err = p.skipSep(buf, i, p.maxControlLine()); err != nil {
				return err
			}

		case stArg:
			line, next, ok, err := p.readArg(buf, i, p.maxControlLine())
			if err != nil || !ok {
				return err
			}
			i = next
			p.state = stStart
			switch p.op {
			case opConnect:
				err = h.ProcessConnect(line)
			case opSub:
				err = p.processSub(line, h)
			case opUnsub:
				err = p.processUnsub(line, h)
			case opInfo:
				if ih, ok := h.(InfoHandler); ok {
					err = ih.ProcessInfo(line)
				}
			case opErr:
				err = &RemoteError{Text: string(line)}
			default: // opPub, opHPub
				i, err = p.processPub(line, buf, i, h)
			}
			if err != nil {
				return err
			}

		case stSkipLine:
			var done bool
			if i, done, err = p.skipLine(buf, i, p.maxControlLine()); err != nil || !done {
				return err
			}
			switch p.op {
			case opPing:
				err = h.ProcessPing()
			case opPong:
				err = h.ProcessPong()
			}
			if err != nil {
				return err
			}

		case stPayload, stPayloadCR, stPayloadLF:
			var done bool
			if i, done, err = p.readPayload(buf, i); err != nil || !done {
				return err
			}
			err = h.ProcessPub(p.subject, p.reply, p.hdr, p.msg)
			p.subject, p.reply = nil, nil
			p.releaseMsg()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// split cuts line into fields separated by blanks (and by CR and LF too
// when cr is set, as nats-server does for SUB and UNSUB) and returns their
// number; any count above len(p.fields) means too many.
func (p *Parser) split(line []byte, cr bool) int {
	n, start := 0, -1
	for i, b := range line {
		if b == ' ' || b == '\t' || (cr && (b == '\r' || b == '\n')) {
			if start >= 0 {
				if n == len(p.fields) {
					return n + 1
				}
				p.fields[n] = span{start, i}
				n++
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		if n == len(p.fields) {
			return n + 1
		}
		p.fields[n] = span{start, len(line)}
		n++
	}
	return n
}

func (p *Parser) field(line []byte, k int) []byte {
	return line[p.fields[k].start:p.fields[k].end]
}

// parseSize reads a decimal size of 1 to 9 digits; -1 when invalid.
func parseSize(d []byte) int {
	if len(d) == 0 || len(d) > maxSizeDigits {
		return -1
	}
	n := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// processPub handles a PUB or HPUB control line whose payload starts at
// buf[i]. It reports the message at once when the payload and its CRLF are
// in buf, or else saves the arguments and enters the payload states. It
// returns the index of the next unread byte.
func (p *Parser) processPub(line, buf []byte, i int, h Handler) (int, error) {
	name, nargs := "PUB", 2
	if p.op == opHPub {
		name, nargs = "HPUB", 3
	}
	n := p.split(line, false)
	if n != nargs && n != nargs+1 {
		return i, newArgError(name, "wrong number of arguments", line)
	}
	var subject, reply []byte
	subject = p.field(line, 0)
	if n == nargs+1 {
		reply = p.field(line, 1)
	}
	hdr := -1
	if p.op == opHPub {
		hdr = parseSize(p.field(line, n-2))
		if hdr < 0 {
			return i, newArgError(name, "bad or missing header size", line)
		}
	}
	size := parseSize(p.field(line, n-1))
	if size < 0 {
		return i, newArgError(name, "bad or missing total size", line)
	}
	if hdr > size {
		return i, newArgError(name, "header size larger than total size", line)
	}
	if size > p.maxPayload() {
		return i, ErrMaxPayload
	}
	if len(buf)-i >= size+2 {
		// Fast path: payload and CRLF are in this chunk.
		if buf[i+size] != '\r' || buf[i+size+1] != '\n' {
			return i, ErrUnknownOp
		}
		return i + size + 2, h.ProcessPub(subject, reply, hdr, buf[i:i+size])
	}
	// The payload spans chunks: keep the arguments in p.arg.
	if !p.saved {
		p.arg = append(p.arg[:0], line...)
		line = p.arg
		p.saved = true
	}
	p.subject = p.field(line, 0)
	p.reply = nil
	if n == nargs+1 {
		p.reply = p.field(line, 1)
	}
	p.startPayload(hdr, size)
	return i, nil
}

func (p *Parser) processSub(line []byte, h Handler) error {
	switch p.split(line, true) {
	case 2:
		return h.ProcessSub(p.field(line, 0), nil, p.field(line, 1))
	case 3:
		return h.ProcessSub(p.field(line, 0), p.field(line, 1), p.field(line, 2))
	default:
		return newArgError("SUB", "wrong number of arguments", line)
	}
}

func (p *Parser) processUnsub(line []byte, h Handler) error {
	switch p.split(line, true) {
	case 1:
		return h.ProcessUnsub(p.field(line, 0), 0)
	case 2:
		return h.ProcessUnsub(p.field(line, 0), max(parseSize(p.field(line, 1)), 0))
	default:
		return newArgError("UNSUB", "wrong number of arguments", line)
	}
}
