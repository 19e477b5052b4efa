package proto

import (
	"errors"
	"strconv"
)

// Texts of the -ERR messages nats-server sends for protocol errors. They are
// byte-exact: clients match on them.
const (
	// ErrTextUnknownOp is sent for an unknown operation or broken framing.
	ErrTextUnknownOp = "Unknown Protocol Operation"
	// ErrTextMaxControlLine is sent when a control line exceeds
	// Parser.MaxControlLine (nats-server sends the lowercase text of its
	// ErrMaxControlLine error, without the context it logs).
	ErrTextMaxControlLine = "maximum control line exceeded"
	// ErrTextMaxPayload is sent when a PUB or HPUB declares a size larger
	// than Parser.MaxPayload.
	ErrTextMaxPayload = "Maximum Payload Violation"
)

// Errors returned by Parser.Parse. After any error the connection must be
// closed; ClientErrText says whether a -ERR must be sent first.
var (
	// ErrUnknownOp reports an unknown operation or malformed framing, such
	// as a payload that is not followed by CRLF.
	ErrUnknownOp = errors.New("proto: unknown protocol operation")
	// ErrMaxControlLine reports a control line longer than
	// Parser.MaxControlLine bytes.
	ErrMaxControlLine = errors.New("proto: maximum control line exceeded")
	// ErrMaxPayload reports a PUB or HPUB (LMSG or HMSG for LeafParser)
	// whose declared total size is larger than the parser's MaxPayload
	// bytes. It is returned before the payload is read.
	ErrMaxPayload = errors.New("proto: maximum payload exceeded")
	// ErrBadArgs reports malformed PUB, HPUB, SUB or UNSUB arguments (LS+,
	// LS-, LMSG or HMSG for LeafParser): wrong number, non-numeric or
	// over-long sizes, header size larger than the total size, a bad LMSG
	// reply indicator. nats-server sends no -ERR for these: it logs and closes
	// the connection. Errors of this kind are *ArgError values.
	ErrBadArgs = errors.New("proto: invalid protocol arguments")
	// ErrRemoteErr reports that the client sent -ERR. nats-server logs the
	// text and closes the connection without replying. Errors of this kind
	// are *RemoteError values.
	ErrRemoteErr = errors.New("proto: client sent -ERR")
)

// ArgError describes malformed operation arguments. It matches ErrBadArgs
// with errors.Is.
type ArgError struct {
	// Op is the operation name in upper case, e.g. "PUB".
	Op string
	// Reason says what is wrong, e.g. "wrong number of arguments".
	Reason string
	// Arg is a copy of the offending argument line, at most 128 bytes.
	Arg string
}

// Error implements error.
func (e *ArgError) Error() string {
	return "proto: " + e.Op + ": " + e.Reason + ": " + strconv.Quote(e.Arg)
}

// Is reports whether target is ErrBadArgs.
func (e *ArgError) Is(target error) bool { return target == ErrBadArgs }

// RemoteError carries the text of a -ERR sent by the client. It matches
// ErrRemoteErr with errors.Is.
type RemoteError struct {
	// Text is the argument of the -ERR line as received, quotes included,
	// at most MaxControlLine bytes.
	Text string
}

// Error implements error.
func (e *RemoteError) Error() string { return "proto: client sent -ERR " + e.Text }

// Is reports whether target is ErrRemoteErr.
func (e *RemoteError) Is(target error) bool { return target == ErrRemoteErr }

// snippetLen bounds the argument copy kept in an ArgError.
const snippetLen = 128

func newArgError(op, reason string, arg []byte) error {
	if len(arg) > snippetLen {
		arg = arg[:snippetLen]
	}
	return &ArgError{Op: op, Reason: reason, Arg: string(arg)}
}

// ClientErrText maps an error returned by Parser.Parse (or
// LeafParser.Parse) to the text of the -ERR the client (or leafnode peer)
// must receive before the connection is closed, as nats-server does. ok is false when nats-server closes the connection
// without sending -ERR (bad arguments, a -ERR from the client, and any
// error that did not come from the parser, such as a Handler's).
func ClientErrText(err error) (text string, ok bool) {
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, ErrUnknownOp):
		return ErrTextUnknownOp, true
	case errors.Is(err, ErrMaxControlLine):
		return ErrTextMaxControlLine, true
	case errors.Is(err, ErrMaxPayload):
		return ErrTextMaxPayload, true
	default:
		return "", false
	}
}
