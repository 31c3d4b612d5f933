package trust

import "time"

// Size limits, applied before any parsing so that hostile input is refused
// while it is still cheap to refuse.
const (
	// MaxCodeLen bounds the text of a health code, prefix included. A real
	// code is about 650 bytes; a QR code cannot carry much more than 2 KB.
	MaxCodeLen = 2048
	// MaxStatementLen bounds any signed statement received from a peer.
	MaxStatementLen = 256 << 10
	// MaxTrustListLen bounds the federation trust list document.
	MaxTrustListLen = 1 << 20
	// MaxRevocationEntries bounds the entries of one revocation statement;
	// at about 66 encoded bytes an entry it keeps a statement within
	// MaxStatementLen. A status change revokes one resident's few codes.
	MaxRevocationEntries = 3000
	// MaxSnapshotEntries bounds a revocation snapshot's entries: ten
	// million live revocations, twice the largest province's worst
	// outbreak. Encoded they take SnapshotEntryLen (20) bytes each.
	MaxSnapshotEntries = 10_000_000
	// SnapshotChunkEntries is the most entries in one snapshot chunk: a
	// chunk is at most 1,000,000 bytes, within NATS's default max_payload.
	SnapshotChunkEntries = 50_000
	// MaxSnapshotChunks bounds the chunks one manifest names.
	MaxSnapshotChunks = MaxSnapshotEntries / SnapshotChunkEntries
	// MaxSnapshotLen bounds a snapshot bundle: the manifest (a statement)
	// and every chunk (see revsnapshot.go).
	MaxSnapshotLen = MaxStatementLen + 1 + MaxSnapshotEntries*SnapshotEntryLen
	// MaxLiveRevocations bounds the live revocations a State holds of one
	// province, about 40 bytes each in memory (revokedset.go): no more
	// than its snapshot can hold, so that a member publishing deltas
	// without end cannot grow every peer's memory without end. A delta
	// that would pass it is refused (oversized); a snapshot replaces
	// what is held instead of adding to it.
	MaxLiveRevocations = MaxSnapshotEntries
	// MaxTrustListSignatures bounds the signatures on one trust list.
	MaxTrustListSignatures = 32
)

// Time rules.
const (
	// ClockSkew is how far a verifier's clock may disagree with an issuer's.
	ClockSkew = 2 * time.Minute
	// MaxCodeLifetime is the longest validity any code may claim (paper codes).
	MaxCodeLifetime = 7 * 24 * time.Hour
	// MaxRevocationHold is how long after it is applied a revocation
	// entry is held at most, whatever expiry it claims: no code a
	// verifier accepts lives longer than MaxCodeLifetime from an iat
	// within ClockSkew of the verifier's clock, so an entry claiming a
	// later expiry (a member revoking "until 2106") is held only as long
	// as a code it could name may be shown.
	MaxRevocationHold = MaxCodeLifetime + ClockSkew
	// DefaultCodeLifetime is the validity of a phone code.
	DefaultCodeLifetime = 24 * time.Hour
)

// Header "typ" values, one per kind of statement.
const (
	TypCode       = "hcfed-code+jwt"
	TypKeyset     = "hcfed-keyset+jwt"
	TypTrustList  = "hcfed-trustlist+jwt"
	TypRevocation = "hcfed-revocation+jwt"
	TypContentKey = "hcfed-contentkey+jwt"
	TypHeartbeat  = "hcfed-heartbeat+jwt"
	TypSnapshot   = "hcfed-revsnapshot+jwt"
	// Between two nodes only, sealed to the recipient (sealed.go).
	TypLookup       = "hcfed-lookup+jwt"
	TypLookupAnswer = "hcfed-lookupanswer+jwt"
	TypReceipt      = "hcfed-receipt+jwt"
	TypErasure      = "hcfed-erasure+jwt"
)

// CodePrefix starts the text of every health code; the digit is the format
// version, so a scanner can tell an HCFed code from any other QR code.
const CodePrefix = "HCF1:"

// FormatVersion is the "v" claim of codes in this format.
const FormatVersion = 1
