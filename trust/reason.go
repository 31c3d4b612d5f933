package trust

import "errors"

// Reason names the outcome of a check. Values are stable: they appear in
// API responses, metrics and logs, and clients may switch on them.
type Reason string

// Reasons for codes. Verify returns the first check that failed.
const (
	ReasonOK              Reason = "ok"
	ReasonMalformed       Reason = "malformed"
	ReasonOversized       Reason = "oversized"
	ReasonBadAlgorithm    Reason = "bad_algorithm"
	ReasonWrongType       Reason = "wrong_type"
	ReasonBadHeader       Reason = "bad_header"
	ReasonTrustStale      Reason = "trust_stale"
	ReasonUnknownIssuer   Reason = "unknown_issuer"
	ReasonIssuerSuspended Reason = "issuer_suspended"
	ReasonUnknownKey      Reason = "unknown_key"
	ReasonKeyNotActive    Reason = "key_not_active"
	ReasonKeyCompromised  Reason = "key_compromised"
	ReasonBadSignature    Reason = "bad_signature"
	ReasonBadLifetime     Reason = "bad_lifetime"
	ReasonExpired         Reason = "expired"
	ReasonNotYetValid     Reason = "not_yet_valid"
	ReasonRevoked         Reason = "revoked"
	// ReasonRevocationsStale: the code is not revoked in what this node
	// holds, but what it holds of the issuer's revocations is older than
	// its limit (Snapshot.RevocationsMaxAge), so it cannot vouch for it.
	ReasonRevocationsStale Reason = "revocations_stale"
	ReasonNoContentKey     Reason = "no_content_key"
	ReasonBadContent       Reason = "bad_content"
)

// Further reasons for statements exchanged between nodes.
const (
	ReasonWrongSigner  Reason = "wrong_signer"
	ReasonRollback     Reason = "rollback"
	ReasonThreshold    Reason = "threshold"
	ReasonNotRecipient Reason = "not_recipient"
	// ReasonBadChunk refuses a revocation snapshot chunk whose size or
	// SHA-256 differs from what its signed manifest says.
	ReasonBadChunk Reason = "bad_chunk"
	// ReasonContentKeyConflict refuses a granted content key whose id is
	// held with other material: a province never reuses an id, and codes
	// were issued under the key held (State.ApplyGrant). A held key past
	// its expiry and the clock skew is replaced instead.
	ReasonContentKeyConflict Reason = "content_key_conflict"
)

// Reasons for refusing a cross-province lookup or receipt (lookup.go).
const (
	ReasonReplayed     Reason = "replayed"       // its nonce was seen within the window
	ReasonNoLegalBasis Reason = "no_legal_basis" // no usable legal basis stated
	ReasonNotMember    Reason = "not_member"     // the asker is not an active member
	ReasonRateLimited  Reason = "rate_limited"   // the asker sent too many
	// ReasonLookupUnproven: the request's proof of scan (scanproof.go) is
	// missing, malformed, or not that of the code the home node issued
	// under the jti (or the code was issued before proofs were kept).
	ReasonLookupUnproven Reason = "lookup_unproven"
)

// Error is a refusal with a stable reason. Functions in this package that
// refuse input return an *Error; use ReasonOf to read its reason.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Detail
}

func fail(r Reason, detail string) *Error { return &Error{Reason: r, Detail: detail} }

// ReasonOf returns the reason carried by err, ReasonOK for nil, and
// ReasonMalformed for any error that is not an *Error.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonMalformed
}
