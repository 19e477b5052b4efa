package broker

import "errors"

var (
	// ErrNotStarted is returned by methods that need a started Broker.
	ErrNotStarted = errors.New("broker: not started")
	// ErrStarted is returned by Start when the Broker was already started.
	ErrStarted = errors.New("broker: already started")
	// ErrClosed is returned once Shutdown or Close has been called.
	ErrClosed = errors.New("broker: closed")
)
