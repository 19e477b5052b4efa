// Package proto implements the server side of the NATS client protocol:
// a zero-allocation, incremental parser for the operations a client sends
// (CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG, and the tolerated INFO, +OK
// and -ERR) and append-style encoders for what the server sends (INFO, MSG,
// HMSG, PING, PONG, +OK, -ERR and the no-responders status message).
//
// The behaviour reference is nats-server 2.15: accepted syntax, limits and
// the -ERR texts a client receives are the same byte for byte, except where
// a doc comment says otherwise. The package knows nothing about sockets,
// websockets or subscriptions; the connection engine feeds it bytes and acts
// on the operations it reports through a Handler.
//
// LeafParser and the AppendLS*/AppendLMsg* encoders do the same for the
// leafnode protocol (LS+, LS-, LMSG, HMSG, INFO, CONNECT, PING, PONG, -ERR),
// which both ends of a leafnode link speak.
package proto
