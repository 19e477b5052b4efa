package proto

// DefaultLeafMaxControlLine is the control line limit in bytes used when
// LeafParser.MaxControlLine is 0: 16 times DefaultMaxControlLine, as
// nats-server allows on leafnode links.
const DefaultLeafMaxControlLine = 16 * DefaultMaxControlLine

// retainArgs is the largest field scratch (in fields) kept between
// operations; larger ones are released after use.
const retainArgs = 256

// Leafnode-only operations.
const (
	opLSPlus opKind = opErr + 1 + iota
	opLSMinus
	opLMsg
	opHMsg
)

// Leafnode-only parser states.
const (
	stL  state = stPayloadLF + 1 + iota // seen L: LS+, LS- or LMSG
	stLS                                // seen LS: + or - must follow
)

// Keyword tails of the leafnode-only operations, in lower case.
const (
	kwLMsg = "sg"
	kwHMsg = "msg"
)

// LeafHandler receives the operations of a leafnode link; both directions
// use the same operations. Every []byte argument (and the queues slice)
// aliases the parser's input or its internal scratch buffers and is valid
// only during the call. A non-nil error stops LeafParser.Parse, which
// returns it unchanged.
type LeafHandler interface {
	// ProcessInfo receives the argument of INFO (the JSON text), with
	// leading blanks and the line end removed. It may be empty.
	ProcessInfo(arg []byte) error
	// ProcessConnect receives the argument of CONNECT, as ProcessInfo.
	ProcessConnect(arg []byte) error
	// ProcessPing receives a PING.
	ProcessPing() error
	// ProcessPong receives a PONG.
	ProcessPong() error
	// ProcessErr receives the text of a -ERR without trailing blanks and
	// without the enclosing single quotes when both are present. A -ERR
	// does not stop the parser: on a leafnode link the sender closes.
	ProcessErr(text []byte) error
	// ProcessLSPlus receives an LS+. For plain interest queue is nil and
	// weight 0. For queue interest weight is the weight as sent, or 1 when
	// it is below 1 or not a number of at most 9 digits (as nats-server).
	ProcessLSPlus(subject, queue []byte, weight int) error
	// ProcessLSMinus receives an LS-; queue is nil for plain interest.
	ProcessLSMinus(subject, queue []byte) error
	// ProcessLMsg receives an LMSG (hdrLen -1, msg is the payload) or an
	// HMSG with the leafnode argument layout (hdrLen is the header length
	// in bytes, msg is headers and payload, hdrLen <= len(msg)). reply is
	// nil when absent; queues lists the queue groups to deliver to, nil
	// when none. msg excludes the trailing CRLF and may be empty.
	ProcessLMsg(subject, reply []byte, queues [][]byte, hdrLen int, msg []byte) error
}

// LeafParser is an incremental parser of the NATS leafnode protocol as
// nats-server 2.15 speaks it, in either direction of a link: INFO,
// CONNECT, PING, PONG, -ERR, +OK (ignored), LS+, LS-, LMSG and HMSG. Other
// operations, PUB, SUB and MSG included, are ErrUnknownOp. Feed it the
// byte stream in successive chunks with Parse. The zero value is ready to
// use with the default limits. A LeafParser is not safe for concurrent use.
//
// As with Parser, an operation that lies wholly inside one chunk is
// reported without any copy or allocation (after the first use of the
// queue scratch); one that spans chunks is copied into reusable scratch
// buffers. Errors are those of Parser: ErrUnknownOp, ErrMaxControlLine,
// ErrMaxPayload and *ArgError (ErrBadArgs); ClientErrText tells which -ERR
// nats-server would send before closing the link.
type LeafParser struct {
	// MaxControlLine is the longest control line argument accepted, in
	// bytes, counted as for Parser.MaxControlLine. 0 means
	// DefaultLeafMaxControlLine (64 KiB).
	MaxControlLine int
	// MaxPayload is the largest LMSG payload or HMSG headers+payload size
	// accepted, in bytes. A larger declared size fails with ErrMaxPayload
	// before any of the payload is read. 0 or less means DefaultMaxPayload
	// (1 MiB).
	MaxPayload int

	framer
	args [][]byte // scratch: fields of the current control line
	// Pending LMSG/HMSG, valid in the payload states; all alias arg.
	subject []byte
	reply   []byte
	queues  [][]byte
	err     error // sticky
}

// Parse consumes the next chunk of the stream, calling h for each complete
// operation. buf is not retained: it may be reused as soon as Parse
// returns. Parse returns the first error, from the protocol or from h; the
// error is sticky (later calls return it again) and the link must be
// closed.
func (p *LeafParser) Parse(buf []byte, h LeafHandler) error {
	if p.err != nil {
		return p.err
	}
	if err := p.parse(buf, h); err != nil {
		p.err = err
		p.subject, p.reply, p.queues = nil, nil, nil
		return err
	}
	return nil
}

func (p *LeafParser) maxControlLine() int {
	if p.MaxControlLine > 0 {
		return p.MaxControlLine
	}
	return DefaultLeafMaxControlLine
}

func (p *LeafParser) maxPayload() int {
	if p.MaxPayload > 0 {
		return p.MaxPayload
	}
	return DefaultMaxPayload
}

func (p *LeafParser) parse(buf []byte, h LeafHandler) error {
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
			switch b | 0x20 {
			case 'l':
				p.state = stL
			case 'h':
				p.startKeyword(opHMsg, kwHMsg, 0)
			case 'p':
				p.state = stP
			case 'i':
				p.startKeyword(opInfo, kwInfo, 0)
			case 'c':
				p.startKeyword(opConnect, kwConnect, 0)
			default:
				return ErrUnknownOp
			}

		case stL:
			b := buf[i] | 0x20
			i++
			switch b {
			case 's':
				p.state = stLS
			case 'm':
				p.startKeyword(opLMsg, kwLMsg, 0)
			default:
				return ErrUnknownOp
			}

		case stLS:
			// Exact bytes: '+' and '-' have no case.
			b := buf[i]
			i++
			switch b {
			case '+':
				p.op = opLSPlus
			case '-':
				p.op = opLSMinus
			default:
				return ErrUnknownOp
			}
			p.afterKeyword()

		case stP:
			b := buf[i] | 0x20
			i++
			switch b {
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
			case opInfo:
				err = h.ProcessInfo(line)
			case opConnect:
				err = h.ProcessConnect(line)
			case opErr:
				err = h.ProcessErr(errText(line))
			case opLSPlus:
				err = p.processLSPlus(line, h)
			case opLSMinus:
				err = p.processLSMinus(line, h)
			default: // opLMsg, opHMsg
				i, err = p.processMsg(line, buf, i, h)
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
			err = h.ProcessLMsg(p.subject, p.reply, p.queues, p.hdr, p.msg)
			p.subject, p.reply, p.queues = nil, nil, nil
			p.releaseMsg()
			p.releaseArgs()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// errText trims trailing blanks from a -ERR argument and removes the
// single quotes around it when both are present.
func errText(line []byte) []byte {
	for len(line) > 0 && isBlank(line[len(line)-1]) {
		line = line[:len(line)-1]
	}
	if n := len(line); n >= 2 && line[0] == '\'' && line[n-1] == '\'' {
		line = line[1 : n-1]
	}
	return line
}

// splitArgs cuts line into fields separated by blanks, CR or LF (as
// nats-server's leafnode argument parsing does) into p.args and returns
// their number. With limit > 0 it stops after limit+1 fields, enough to
// tell that there are too many.
func (p *LeafParser) splitArgs(line []byte, limit int) int {
	args, start := p.args[:0], -1
	for i, b := range line {
		if b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			if start >= 0 {
				args = append(args, line[start:i])
				start = -1
				if limit > 0 && len(args) > limit {
					break
				}
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 && (limit <= 0 || len(args) <= limit) {
		args = append(args, line[start:])
	}
	p.args = args
	return len(args)
}

// releaseArgs drops an oversized field scratch (only LMSG and HMSG can
// grow it: LS+ and LS- stop splitting after a few fields).
func (p *LeafParser) releaseArgs() {
	if cap(p.args) > retainArgs {
		p.args = nil
	}
}

func (p *LeafParser) processLSPlus(line []byte, h LeafHandler) error {
	switch p.splitArgs(line, 3) {
	case 1:
		return h.ProcessLSPlus(p.args[0], nil, 0)
	case 3:
		return h.ProcessLSPlus(p.args[0], p.args[1], max(parseSize(p.args[2]), 1))
	default:
		return newArgError("LS+", "wrong number of arguments", line)
	}
}

func (p *LeafParser) processLSMinus(line []byte, h LeafHandler) error {
	switch p.splitArgs(line, 2) {
	case 1:
		return h.ProcessLSMinus(p.args[0], nil)
	case 2:
		return h.ProcessLSMinus(p.args[0], p.args[1])
	default:
		return newArgError("LS-", "wrong number of arguments", line)
	}
}

// msgArgs splits and checks the arguments of an LMSG or HMSG control line,
// in nats-server's order of checks. subject, reply and queues alias line
// and p.args.
func (p *LeafParser) msgArgs(line []byte) (subject, reply []byte, queues [][]byte, hdr, size int, err error) {
	name, nums := "LMSG", 1 // nums: trailing sizes
	if p.op == opHMsg {
		name, nums = "HMSG", 2
	}
	n := p.splitArgs(line, 0)
	args := p.args
	hdr = -1
	switch {
	case n < nums+1:
		return nil, nil, nil, 0, 0, newArgError(name, "wrong number of arguments", line)
	case n == nums+1: // subject sizes
	case n == nums+2: // subject reply sizes
		reply = args[1]
	default: // subject +|'|' [reply] queues... sizes
		ind := args[1]
		switch {
		case len(ind) == 1 && ind[0] == '+':
			reply, queues = args[2], args[3:n-nums]
		case len(ind) == 1 && ind[0] == '|':
			queues = args[2 : n-nums]
		default:
			return nil, nil, nil, 0, 0, newArgError(name, "bad or missing reply indicator", line)
		}
		if len(queues) == 0 {
			queues = nil
		}
	}
	if nums == 2 {
		if hdr = parseSize(args[n-2]); hdr < 0 {
			return nil, nil, nil, 0, 0, newArgError(name, "bad or missing header size", line)
		}
	}
	if size = parseSize(args[n-1]); size < 0 {
		return nil, nil, nil, 0, 0, newArgError(name, "bad or missing total size", line)
	}
	if hdr > size {
		return nil, nil, nil, 0, 0, newArgError(name, "header size larger than total size", line)
	}
	if size > p.maxPayload() {
		return nil, nil, nil, 0, 0, ErrMaxPayload
	}
	return args[0], reply, queues, hdr, size, nil
}

// processMsg handles an LMSG or HMSG control line whose payload starts at
// buf[i]. It reports the message at once when the payload and its CRLF are
// in buf, or else saves the arguments and enters the payload states. It
// returns the index of the next unread byte.
func (p *LeafParser) processMsg(line, buf []byte, i int, h LeafHandler) (int, error) {
	subject, reply, queues, hdr, size, err := p.msgArgs(line)
	if err != nil {
		p.releaseArgs()
		return i, err
	}
	if len(buf)-i >= size+2 {
		// Fast path: payload and CRLF are in this chunk.
		if buf[i+size] != '\r' || buf[i+size+1] != '\n' {
			return i, ErrUnknownOp
		}
		err := h.ProcessLMsg(subject, reply, queues, hdr, buf[i:i+size])
		p.releaseArgs()
		return i + size + 2, err
	}
	// The payload spans chunks: keep the arguments in p.arg.
	if !p.saved {
		p.arg = append(p.arg[:0], line...)
		p.saved = true
		subject, reply, queues, _, _, _ = p.msgArgs(p.arg)
	}
	p.subject, p.reply, p.queues = subject, reply, queues
	p.startPayload(hdr, size)
	return i, nil
}
