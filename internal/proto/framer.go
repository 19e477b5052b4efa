package proto

import "bytes"

type state uint8

// States shared by Parser and LeafParser (LeafParser adds its own after
// stPayloadLF).
const (
	stStart     state = iota // expecting the first byte of an operation
	stP                      // seen P: PUB, PING or PONG
	stKeyword                // matching the rest of a keyword
	stNeedSep                // keyword done, a blank is required
	stSkipSep                // skipping blanks before the argument
	stArg                    // inside the argument, up to '\n'
	stSkipLine               // PING/PONG/+OK: ignore up to '\n'
	stPayload                // accumulating a split payload
	stPayloadCR              // expecting '\r' after the payload
	stPayloadLF              // expecting '\n' after the payload
)

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

// framer is the part of the parsers' state machine that does not depend on
// the protocol: after the operation name is recognized it matches the rest
// of the keyword, skips the blanks before the argument, reads the argument
// line, skips an ignored line, and reads a payload and its CRLF. Each
// parser recognizes its operation names, handles the arguments and calls
// its handler.
//
// Each method reads from buf[i], assumes i < len(buf) and returns the index
// of the next unread byte. When a line or payload continues in the next
// chunk it consumes all of buf and leaves the state unchanged.
type framer struct {
	state state
	op    opKind
	kw    string // keyword tail being matched
	kwPos int
	skip  int // blanks or ignored bytes counted against the line limit
	argLine
	msg []byte // scratch: payload spanning chunks
	// Sizes of the pending message, valid in the payload states.
	hdr  int
	size int
}

// startKeyword begins matching the keyword tail kw for op, of which pos
// bytes are already matched.
func (f *framer) startKeyword(op opKind, kw string, pos int) {
	f.op, f.kw, f.kwPos, f.state = op, kw, pos, stKeyword
}

// afterKeyword moves to the state that follows a complete operation name.
func (f *framer) afterKeyword() {
	f.skip = 0
	switch f.op {
	case opConnect, opInfo:
		f.state = stSkipSep
	case opPing, opPong, opOK:
		f.state = stSkipLine
	default: // operations with required arguments, and -ERR
		f.state = stNeedSep
	}
}

// keyword matches the rest of the keyword tail, case-insensitively.
func (f *framer) keyword(buf []byte, i int) (int, error) {
	for f.kwPos < len(f.kw) {
		if i == len(buf) {
			return i, nil
		}
		if buf[i]|0x20 != f.kw[f.kwPos] {
			return i, ErrUnknownOp
		}
		i++
		f.kwPos++
	}
	f.afterKeyword()
	return i, nil
}

// skipSep checks the blank required after the operation name (in
// stNeedSep) and skips the blanks before the argument, at most limit of
// them. It enters stArg at the first other byte.
func (f *framer) skipSep(buf []byte, i, limit int) (int, error) {
	if f.state == stNeedSep {
		if !isBlank(buf[i]) {
			return i, ErrUnknownOp
		}
		i++
		f.state = stSkipSep
	}
	for i < len(buf) && isBlank(buf[i]) {
		i++
		f.skip++
	}
	if f.skip > limit {
		return i, ErrMaxControlLine
	}
	if i < len(buf) {
		f.state, f.saved, f.start = stArg, false, i
	}
	return i, nil
}

// skipLine ignores bytes up to and including '\n', at most limit of them
// before it. done reports that the '\n' was read; the state is then
// stStart.
func (f *framer) skipLine(buf []byte, i, limit int) (next int, done bool, err error) {
	nl := bytes.IndexByte(buf[i:], '\n')
	if nl < 0 {
		f.skip += len(buf) - i
		i = len(buf)
	} else {
		f.skip += nl
		i += nl + 1
	}
	if f.skip > limit {
		return i, false, ErrMaxControlLine
	}
	if nl < 0 {
		return i, false, nil
	}
	f.state = stStart
	return i, true, nil
}

// startPayload enters the payload states for a message of size bytes (hdr
// of them headers, or -1) that spans chunks.
func (f *framer) startPayload(hdr, size int) {
	f.hdr, f.size = hdr, size
	if cap(f.msg) < size {
		f.msg = make([]byte, 0, size)
	}
	f.msg = f.msg[:0]
	f.state = stPayload
	if size == 0 {
		f.state = stPayloadCR
	}
}

// readPayload accumulates the payload in f.msg and checks the CRLF after
// it. done reports that the '\n' was read: the state is then stStart and
// f.msg holds the payload until releaseMsg.
func (f *framer) readPayload(buf []byte, i int) (next int, done bool, err error) {
	for i < len(buf) {
		switch f.state {
		case stPayload:
			n := min(f.size-len(f.msg), len(buf)-i)
			f.msg = append(f.msg, buf[i:i+n]...)
			i += n
			if len(f.msg) == f.size {
				f.state = stPayloadCR
			}
		case stPayloadCR:
			if buf[i] != '\r' {
				return i, false, ErrUnknownOp
			}
			i++
			f.state = stPayloadLF
		default: // stPayloadLF
			if buf[i] != '\n' {
				return i, false, ErrUnknownOp
			}
			f.state = stStart
			return i + 1, true, nil
		}
	}
	return i, false, nil
}

// releaseMsg drops an oversized payload scratch once the message is
// delivered.
func (f *framer) releaseMsg() {
	if cap(f.msg) > retainScratch {
		f.msg = nil
	}
}

// argLine holds a control line argument that spans chunks.
type argLine struct {
	saved bool   // the current argument line is in arg, not in the input
	start int    // while !saved, the line starts at buf[start]
	arg   []byte // scratch: argument line spanning chunks
}

// readArg finds the end of the argument line whose unread part starts at
// buf[i]; the line starts at buf[a.start] when !a.saved, else it continues
// a.arg. When buf holds the '\n' it returns the line without its line end
// (aliasing buf, or a.arg when saved), the index after the '\n' and ok.
// Otherwise it saves the rest of buf in a.arg and returns !ok. Either way
// a line longer than limit bytes (not counting a final CR) is
// ErrMaxControlLine.
func (a *argLine) readArg(buf []byte, i, limit int) (line []byte, next int, ok bool, err error) {
	start := i
	if !a.saved {
		start = a.start
	}
	nl := bytes.IndexByte(buf[i:], '\n')
	if nl < 0 {
		// The line continues in the next chunk: check and save it.
		rest := buf[start:]
		n := len(a.arg) + len(rest)
		if !a.saved {
			n = len(rest)
		}
		if rest[len(rest)-1] == '\r' {
			n--
		}
		if n > limit {
			return nil, 0, false, ErrMaxControlLine
		}
		if !a.saved {
			a.arg = append(a.arg[:0], rest...)
			a.saved = true
		} else {
			a.arg = append(a.arg, rest...)
		}
		return nil, 0, false, nil
	}
	end := i + nl
	if a.saved {
		a.arg = append(a.arg, buf[i:end]...)
		line = a.arg
	} else {
		line = buf[start:end]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > limit {
		return nil, 0, false, ErrMaxControlLine
	}
	return line, end + 1, true, nil
}
