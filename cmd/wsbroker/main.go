// Command wsbroker runs the wsbroker NATS broker standalone.
//
// Without flags it serves development defaults: NATS clients over TCP on
// 127.0.0.1:4222 and websocket clients, without TLS, on 127.0.0.1:8080,
// reachable from this machine only.
//
// With -c it reads a nats-server style configuration file (includes,
// variables, sizes such as 1MB, durations such as "10s"). As in
// nats-server, a file that sets no client host listens on 0.0.0.0 and one
// that sets no port uses 4222; port -1 picks a free port. Every key
// wsbroker does not support is an error, reported as "file:line: key:
// problem"; the command then exits with status 1.
//
// Supported keys: listen, host (net), port, server_name, max_payload,
// max_control_line, max_connections (max_conn), max_pending,
// write_deadline, ping_interval, ping_max, debug, trace, logtime, and the
// websocket (ws) block: listen, host (net), port, advertise, tls {
// cert_file, key_file }, no_tls, same_origin, allowed_origins (and its
// aliases), compression (compress), handshake_timeout, jwt_cookie,
// user_cookie, pass_cookie, token_cookie, headers, ping_interval,
// no_auth_user, authorization { user, password, token, timeout }.
// Authentication: authorization { user, password, token, timeout, users [
// { user, password, nkey, permissions, allowed_connection_types } ] },
// accounts { NAME { users [...] } }, no_auth_user, operator,
// system_account, resolver (MEMORY only), resolver_preload.
// Leaf nodes: the leafnodes (leaf) block: listen, host (net), port,
// authorization { user, password, account, users [ { user, password,
// account } ] }, reconnect_interval (reconnect, reconnect_delay), remotes
// [ { url, urls, account (local), credentials (creds), tls { cert_file,
// key_file, ca_file } (wss:// only), ws_compression, ws_no_masking } ].
//
// Logs go to stderr in slog's text format. debug enables level DEBUG,
// trace level TRACE (slog.LevelDebug-4); logtime false leaves out the time.
// SIGINT or SIGTERM shuts the broker down gracefully, waiting at most 10
// seconds, and the command exits with status 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wsbroker/broker"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

// levelTrace is the slog level of trace logs (config key trace): four
// below Debug, the spacing slog uses between its own levels.
const levelTrace = slog.LevelDebug - 4

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// run is the whole command: it returns the exit status (0 after a clean
// shutdown or -h, 1 on a configuration or start error, 2 on bad flags).
// Cancelling ctx stops the broker like a signal does.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbroker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("c", "", "configuration `file` in nats-server format (default: dev settings, TCP "+
		devListen+" and websocket ws://"+devWebsocket+" without TLS)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: wsbroker [-c file]\n\nRuns a NATS broker reachable over TCP and websocket.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wsbroker: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	opts, cfg, err := loadConfig(*configFile)
	if err != nil {
		printError(stderr, err)
		return 1
	}
	logger := newLogger(stderr, cfg)
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	b, err := broker.New(append(opts, broker.WithLogger(logger))...)
	if err != nil {
		if cfg.Source != "" {
			err = fmt.Errorf("%s: %w", cfg.Source, err)
		}
		printError(stderr, err)
		return 1
	}

	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := b.Start(sigCtx); err != nil {
		printError(stderr, err)
		_ = b.Close()
		return 1
	}
	ready := []any{"client_url", b.ClientURL()}
	if u := websocketURL(b); u != "" {
		ready = append(ready, "websocket_url", u)
	}
	logger.Info("wsbroker ready", ready...)

	<-sigCtx.Done()
	stop() // a second signal kills the process
	logger.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := b.Shutdown(shCtx); err != nil {
		logger.Error("graceful shutdown failed", "err", err)
		_ = b.Close()
		return 1
	}
	logger.Info("stopped")
	return 0
}

// websocketURL returns the broker's websocket URL, "" if it has none.
// The broker gains WebsocketURL with its websocket transport; until then
// there is no websocket URL to report.
func websocketURL(b *broker.Broker) string {
	if w, ok := any(b).(interface{ WebsocketURL() string }); ok {
		return w.WebsocketURL()
	}
	return ""
}

// printError writes err to w, every line prefixed with the command name.
func printError(w io.Writer, err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(w, "wsbroker: %s\n", line)
	}
}

// newLogger returns the text logger the configuration asks for.
func newLogger(w io.Writer, cfg *fileConfig) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case cfg.Trace:
		level = levelTrace
	case cfg.Debug:
		level = slog.LevelDebug
	}
	logtime := cfg.Logtime
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				if !logtime {
					return slog.Attr{}
				}
			case slog.LevelKey:
				if l, ok := a.Value.Any().(slog.Level); ok && l <= levelTrace {
					return slog.String(slog.LevelKey, "TRACE")
				}
			}
			return a
		},
	}))
}
