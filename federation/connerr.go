package federation

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectError is why Connect failed, in terms an operator can act on:
// which servers, as whom, and whether they could not be reached
// (ErrUnreachable) or refused the credentials (ErrAuthFailed). errors.Is
// finds both the kind and nats.go's own error.
type ConnectError struct {
	// Servers are the URLs tried, passwords redacted, comma-separated.
	Servers string
	// As is who the connection presented itself as (ConnConfig.Identity).
	As string
	// Kind is ErrUnreachable, ErrAuthFailed or ErrForeignCredentials.
	Kind error
	// Province and Inbox are, for ErrForeignCredentials, the province
	// the connection spoke for and its reply inbox prefix.
	Province, Inbox string
	// Err is the last error nats.go reported, or the context's error if
	// it reported none before the deadline.
	Err error
	// ended is the context's error if it ended the wait, so that
	// errors.Is finds context.DeadlineExceeded too.
	ended error
}

// Error says in one sentence what went wrong.
func (e *ConnectError) Error() string {
	if errors.Is(e.Kind, ErrAuthFailed) {
		return fmt.Sprintf("NATS server %s refused %s: wrong user, password or credentials (%v)", e.Servers, e.As, e.Err)
	}
	if errors.Is(e.Kind, ErrForeignCredentials) {
		return fmt.Sprintf("NATS server %s accepted %s, but not as province %s's user: it refuses it the province's reply inbox %s.>, "+
			"as it does another province's user; these are likely another province's credentials (such as its .nk seed): "+
			"give the node those the federation operators made for %s", e.Servers, e.As, e.Province, e.Inbox, e.Province)
	}
	return fmt.Sprintf("NATS server %s not reachable: %v", e.Servers, e.Err)
}

// Unwrap returns the kind and the cause.
func (e *ConnectError) Unwrap() []error {
	if e.ended != nil {
		return []error{e.Kind, e.Err, e.ended}
	}
	return []error{e.Kind, e.Err}
}

// IsAuthError reports whether err is the server refusing the
// connection's credentials (a wrong password, an unknown user, an
// expired or revoked credential).
func IsAuthError(err error) bool {
	for _, target := range []error{ErrAuthFailed, nats.ErrAuthorization, nats.ErrAuthExpired,
		nats.ErrAuthRevoked, nats.ErrAccountAuthExpired} {
		if errors.Is(err, target) {
			return true
		}
	}
	// nats.go passes the server's -ERR text on for some auth failures.
	return strings.Contains(strings.ToLower(fmt.Sprint(err)), "authorization violation")
}

// connectError classifies the failure of a first connection: cause is
// what nats.go last reported (nil if nothing), fallback the context's
// error (nil if the connection closed before it ended).
func connectError(cfg ConnConfig, cause, fallback error) *ConnectError {
	e := &ConnectError{Servers: redactURLs(cfg.URLs), As: cfg.Identity(), Kind: ErrUnreachable, Err: cause, ended: fallback}
	switch {
	case cause == nil && fallback == nil:
		e.Err = errors.New("connection closed")
	case cause == nil:
		e.Err, e.ended = fmt.Errorf("no answer before the deadline (%w)", fallback), nil
	}
	if IsAuthError(cause) {
		e.Kind = ErrAuthFailed
	}
	return e
}

// redactURLs joins urls with any password in them replaced.
func redactURLs(urls []string) string {
	out := make([]string, len(urls))
	for i, s := range urls {
		out[i] = s
		if u, err := url.Parse(s); err == nil && u.User != nil {
			out[i] = u.Redacted()
		}
	}
	return strings.Join(out, ",")
}

// Identity names the credentials cfg presents, never their secret, for
// messages that say whom the server refused: `user "NAME"`, a credentials,
// NKey seed or certificate file, or "a connection without credentials".
func (cfg ConnConfig) Identity() string {
	switch {
	case cfg.User != "":
		return fmt.Sprintf("user %q", cfg.User)
	case cfg.CredsFile != "":
		return "credentials file " + cfg.CredsFile
	case cfg.NKeySeedFile != "":
		return "NKey seed file " + cfg.NKeySeedFile
	case cfg.CertFile != "":
		return "client certificate " + cfg.CertFile
	}
	return "a connection without credentials"
}

// lastError keeps the last error of a connection attempt: nats.go
// reports failed dials only to its reconnect-error handler, and keeps
// none of them in LastError.
type lastError struct {
	mu  sync.Mutex
	err error
}

func (l *lastError) set(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

func (l *lastError) get() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// recordingDialer dials as nats.go's own dialer does and keeps the last
// failure in last, for a one-pass Connect.
type recordingDialer struct {
	last    *lastError
	timeout time.Duration
}

func (d *recordingDialer) Dial(network, address string) (net.Conn, error) {
	conn, err := (&net.Dialer{Timeout: d.timeout}).Dial(network, address)
	if err != nil {
		d.last.set(err)
	}
	return conn, err
}
