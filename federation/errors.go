package federation

import (
	"errors"
	"fmt"
)

// Errors returned by this package, to be checked with errors.Is. Errors
// from nats.go are wrapped, not replaced, so errors.Is also finds them.
var (
	// ErrInvalidName reports a federation id, province id, key or subject
	// that does not fit the naming rules of subjects.go.
	ErrInvalidName = errors.New("federation: invalid name")
	// ErrTooLarge reports a message over its size limit.
	ErrTooLarge = errors.New("federation: message too large")
	// ErrMalformed reports stored data in a shape no honest writer
	// produces: a snapshot object whose metadata claims more chunks than
	// its size needs (refused before it is read), or whose chunks are
	// empty or do not match the size or digest its metadata names.
	ErrMalformed = errors.New("federation: malformed object")
	// ErrNotFound reports a state key that holds no value.
	ErrNotFound = errors.New("federation: not found")
	// ErrPermissionDenied reports that the NATS server refused a publish
	// because of the connection's permissions.
	ErrPermissionDenied = errors.New("federation: permission denied by the server")
	// ErrForeignProvince reports an attempt to publish under the name of
	// a province other than the connection's own.
	ErrForeignProvince = errors.New("federation: not this connection's province")
	// ErrNotReady reports that a Sync has not caught up, or is not
	// connected.
	ErrNotReady = errors.New("federation: not ready")
	// ErrCatchingUp reports a Sync connected again after an outage that
	// has not yet applied what was published meanwhile. It wraps
	// ErrNotReady.
	ErrCatchingUp = fmt.Errorf("%w: catching up on what was published while disconnected", ErrNotReady)
	// ErrInitialCatchUp reports a Sync that has not yet caught up once,
	// over its first connection. It wraps ErrNotReady.
	ErrInitialCatchUp = fmt.Errorf("%w: initial catch-up not done", ErrNotReady)
	// ErrStreamMissing reports that no revocation stream answered a
	// publish: it was deleted, or never created (EnsureStreams makes it).
	ErrStreamMissing = errors.New("federation: revocation stream missing")
	// ErrUnreachable reports that Connect reached no NATS server before
	// its context ended (refused, timed out, TLS failed). Connect's errors
	// are *ConnectError, which also says which servers.
	ErrUnreachable = errors.New("federation: NATS server not reachable")
	// ErrAuthFailed reports that the NATS server refused the connection's
	// credentials: a wrong user or password, an unknown, expired or
	// revoked credential.
	ErrAuthFailed = errors.New("federation: NATS server refused the credentials")
	// ErrForeignCredentials reports that the NATS server took the
	// connection's credentials, but not as its province's user: it
	// refuses the user the province's reply inbox (probeInbox), as it
	// does another province's user (a seed such as 440000.nk given to
	// 310000's node).
	ErrForeignCredentials = errors.New("federation: NATS credentials not the province's")
	// ErrNotStored reports a publish that JetStream acknowledged as a
	// duplicate while the stream holds other bytes under that message id:
	// the statement was not published.
	ErrNotStored = errors.New("federation: acknowledged but not stored")
	// ErrStateChanged reports a PublishState that found another value
	// stored under its key since it began: it did not overwrite it.
	ErrStateChanged = errors.New("federation: changed by another writer meanwhile")
)
