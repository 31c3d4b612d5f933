package node

import (
	"context"
	"errors"
	"fmt"
)

// ErrorCode is a stable, snake_case error code that API clients switch on.
type ErrorCode string

// Error codes. node/api maps each to one HTTP status.
const (
	EInvalid         ErrorCode = "invalid"
	EUnauthorized    ErrorCode = "unauthorized"
	EForbidden       ErrorCode = "forbidden"
	ENotFound        ErrorCode = "not_found"
	EConflict        ErrorCode = "conflict"
	EConsentRequired ErrorCode = "consent_required"
	ENotCollected    ErrorCode = "field_not_collected"
	ETooLarge        ErrorCode = "too_large"
	ERateLimited     ErrorCode = "rate_limited"
	EUnavailable     ErrorCode = "unavailable"
	EInternal        ErrorCode = "internal"
	// ELimitReached: a bound on what one resident may hold at once (open
	// appeals, live codes: codes.max_live) is reached; it clears when one
	// is resolved, or expires or is revoked.
	ELimitReached ErrorCode = "limit_reached"
	// EStatusHeld: a resident asked to delete their own record while
	// their status is yellow or red; the health authority keeps it until
	// the status is green again (they may appeal meanwhile).
	EStatusHeld ErrorCode = "status_held"
	// EStatusUnconfirmed: the node was restored from a backup, and the
	// resident's status was set after that backup (a revocation it
	// published then says so): the status it holds may be out of date,
	// so no code is issued until an operator sets the status again.
	EStatusUnconfirmed ErrorCode = "status_unconfirmed"
	// ERoleVerifier: the node is a verifier replica, which answers only
	// verification (and health, metrics, federation status); everything
	// else is done at its province's home node.
	ERoleVerifier ErrorCode = "role_verifier"
	// EReplicaStale: a verifier replica has not heard from its home node
	// for longer than replica.max_stale, so it cannot know which scanners
	// are still registered and refuses them all until it does.
	EReplicaStale ErrorCode = "replica_stale"
	// EReplicaUnconfirmed: a verifier replica's registered keys are not
	// the ones an admin confirmed ('hcnode replica confirm NAME
	// FINGERPRINT'): home sends it no content key and takes none of its
	// records, and the replica refuses scanners, until they are.
	EReplicaUnconfirmed ErrorCode = "replica_unconfirmed"
	// EReplicaSignature: a verifier replica's records came without the
	// signature of its registered signing key: a replica token alone
	// cannot add verification records.
	EReplicaSignature ErrorCode = "replica_signature"
	// EReplicaKeysLimit: a verifier replica registered keys home does not
	// hold while it holds store.MaxReplicaKeyCandidates others that no
	// admin confirmed, registered within limits.replica_keys_window (a
	// replica makes its keys once: someone else may hold its token).
	// Keys of the fingerprint an admin confirms are taken whatever was
	// registered before.
	EReplicaKeysLimit ErrorCode = "replica_keys_limit"
	// EReadLimited: an operator account read residents' records faster
	// than limits.operator_read_rate allows (reads.go); the reads resume
	// as the budget refills, and the refusal is counted for an alert.
	EReadLimited ErrorCode = "read_limited"
	// EAppealStale: the resident's status was set after the appeal was
	// filed, or after the operator read it; the resolution is refused so
	// that an old appeal never overwrites a newer status. The operator
	// reviews the appeal again against the current status and resolves it
	// naming that status's time (Resolution.SubjectStatusSince).
	EAppealStale ErrorCode = "appeal_stale"
	// EAdminRequired: an operator account asked for a province-wide
	// operation that only an admin account may do (admin.go: the signing
	// and root keys, verifier replicas, accounts). The message names it.
	EAdminRequired ErrorCode = "admin_required"
	// ELookupNotScanned: a lookup named another province's code by its
	// issuer and id, and this node holds no verification of that code
	// (scanproof.go): nothing proves it was seen, so nothing is sent. The
	// operator asks again with the code's text.
	ELookupNotScanned ErrorCode = "lookup_not_scanned"
	// ELookupUnproven: the code's home node refused a lookup because its
	// proof of scan was not that of the code it issued under that id (or
	// the code was issued before such proofs were kept).
	ELookupUnproven ErrorCode = "lookup_unproven"
	// EMetricsTokenRequired: GET /metrics on the public listener of a
	// node that serves it there only to the bearer of its metrics token
	// (metrics_token_file), without that token.
	EMetricsTokenRequired ErrorCode = "metrics_token_required"
	// EMetricsNotPublic: GET /metrics on the public listener of a node
	// that serves it on a listener of its own (metrics_listen), or, with
	// neither metrics_listen nor metrics_token_file, nowhere.
	EMetricsNotPublic ErrorCode = "metrics_not_public"
)

// Error is an error meant for the client: its message is safe to show.
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf makes an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCodeOf returns the code of err, or EInternal for anything that is
// not an *Error: such errors are never shown to a client.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessageOf returns the client-safe message of err.
func ErrorMessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

func errorsIsCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// The checks /readyz names when one fails (NotReady.Check): stable
// reason codes an operator's monitoring may match on.
const (
	ReadyKeys             = "keys"              // the code issuer's keys are not loaded
	ReadyStore            = "store"             // the database does not answer
	ReadyRestored         = "restored"          // restored from a backup, not yet reconciled
	ReadyTrustData        = "trust_data"        // the trust data is past its stale limit
	ReadyAuditLog         = "audit_log"         // audit log writes fail
	ReadyRevocationOutbox = "revocation_outbox" // revocations wait too long, or one was set aside
	ReadyRevocationStream = "revocation_stream" // the revocation stream is missing or unavailable
	ReadyFederation       = "federation"        // not connected to the federation, or not caught up
)

// NotReady is why a node (or a verifier replica) is not ready, as /readyz
// answers it to anyone: Check names the failing check (a Ready...
// constant) and Message says in a sentence what is wrong, without a
// path, a URL or a database's own words; Err, the internal cause, goes
// to the log only.
type NotReady struct {
	Check   string
	Message string
	Err     error
}

func (e *NotReady) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + " (" + e.Err.Error() + ")"
}

func (e *NotReady) Unwrap() error { return e.Err }

// notReady makes a *NotReady.
func notReady(check, message string, err error) *NotReady {
	return &NotReady{Check: check, Message: message, Err: err}
}
