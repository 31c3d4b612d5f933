package store

import (
	"errors"
	"time"
)

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique constraint would be violated.
var ErrConflict = errors.New("conflict")

// ErrStatusChanged is returned by InsertCode when the subject's status
// changed after the code was signed: the code must not be handed out.
var ErrStatusChanged = errors.New("subject status changed")

// ErrTooManyCodes is returned by InsertCode when the subject already
// holds Code.MaxLive live codes.
var ErrTooManyCodes = errors.New("too many live codes")

// ErrStatusUnconfirmed is returned by SubjectForIssue and InsertCode for
// a subject marked StatusUnconfirmed: no code is issued on a status the
// node cannot vouch for after a restore, until it is set again.
var ErrStatusUnconfirmed = errors.New("subject status unconfirmed since a restore")

// ErrTokenGone is returned by InsertCode for a code asked for with a
// token (Code.Token) that no longer exists: a wallet link replaced while
// the code was being signed. The code must not be handed out.
var ErrTokenGone = errors.New("token no longer valid")

// ErrInvalid is returned when an argument breaks the contract documented on
// the types below (an unknown status or role, a zero time, an id mismatch),
// before anything is written.
var ErrInvalid = errors.New("invalid argument")

// ErrClosed is returned by group-committed calls (InsertCode, AppendAudit,
// AppendAuditBatch) made after Close; other calls then fail with
// database/sql's own closed-database error.
var ErrClosed = errors.New("store closed")

// ErrBusy is returned by FinishShredding while another reader still holds
// keys.db, so that its WAL cannot be truncated yet.
var ErrBusy = errors.New("busy")

// KeyRow is one of the node's own keys. Private material arrives already
// sealed under the KEK by the caller; the store never sees it in clear.
type KeyRow struct {
	KID       string    // RFC 7638 thumbprint, or "<province>/<epoch>" for content keys
	Kind      string    // "root", "sign", "enc", "content"
	State     string    // sign keys: next|active|retired|compromised; others: "active" or "retired"
	NotBefore time.Time // sign: when it starts signing; content: epoch start
	RetiredAt time.Time // zero unless retired
	Expires   time.Time // verifies (or decrypts) nothing after this
	Public    []byte    // public JWK JSON (nil for content keys)
	Sealed    []byte    // private key or content key, sealed under the KEK
	Created   time.Time
}

// Subject is an enrolled resident. Every personal field is ciphertext under
// the subject's own data key, which is itself sealed under the KEK.
type Subject struct {
	ID          string
	DataKey     []byte // sealed per-subject data key, kept in keys.db; deleting it crypto-shreds the row
	NameCT      []byte
	IDNumberCT  []byte
	PhoneCT     []byte // nil when not collected
	MaskedCT    []byte // sealed JSON of the masked display fields
	Status      string // green|yellow|red
	StatusSince time.Time
	// StatusUnconfirmed marks a resident whose status was set after the
	// backup the database was restored from (AdoptPublished): Status is
	// the backup's and may be out of date. No code is issued until the
	// status is set again, which clears the mark.
	StatusUnconfirmed bool
	Created           time.Time
	RetainUntil       time.Time

	// IDIndex is the keyed blind index of the ID number (HMAC under a key
	// sealed by the KEK), kept in keys.db and unique: one ID number, one
	// subject. Nil when the ID number is not collected. CreateSubject
	// writes it; Subject does not read it back.
	IDIndex []byte
}

// Consent records what the resident agreed to, and when.
type Consent struct {
	SubjectID     string
	NoticeVersion string
	AcceptedAt    time.Time
	Fields        []string // which personal fields were collected
	Purpose       string
	// NoticeSHA256 is the SHA-256 of the notice's text the resident
	// consented to (ServedNotice); nil for consents given before the node
	// recorded notice texts.
	NoticeSHA256 []byte
}

// Token is a bearer token, stored only as its SHA-256 hash.
type Token struct {
	Hash      []byte
	Role      string    // operator|scanner|resident
	SubjectID string    // resident tokens
	ScannerID string    // scanner tokens
	AccountID string    // operator tokens: whose token it is
	ID        string    // operator tokens: what lists show and revocation names
	Expires   time.Time // operator tokens: refused from then on
	Label     string
	Created   time.Time
}

// Scanner is a registered scanning device.
type Scanner struct {
	ID       string
	Name     string
	Place    string // kind of place: checkpoint, station, workplace...
	Scope    string // "status"
	Created  time.Time
	Disabled bool
}

// Code is an issued code's bookkeeping: never its text in clear.
type Code struct {
	JTI       string
	SubjectID string
	KID       string
	IssuedAt  time.Time
	Expires   time.Time
	Status    string // the status the code encodes; it is recorded only while the subject still has it
	Paper     bool
	Revoked   bool
	// TextCT is the code's text sealed under the subject's data key, kept so
	// the resident can be shown the same QR again; nil if not kept. It is
	// erased with the subject (and unreadable once the data key is gone).
	TextCT []byte
	// ScanDigest is trust.ScanDigest of the code: a cross-province lookup
	// of it is answered only with the proof of scan it is the digest of.
	// Nil for codes recorded before it was kept (migration 0019). It is
	// no personal data, and outlives the subject with the row.
	ScanDigest []byte
	// RetainUntil, when set, moves the subject's retention date
	// (privacy.retention.subjects) forward to it, in the code's own
	// transaction, if it is earlier: a resident who asks for codes is
	// still using the service. Not stored with the code.
	RetainUntil time.Time
	// MaxLive, when positive, makes InsertCode refuse the code while the
	// subject holds this many live (unexpired at IssuedAt, unrevoked)
	// codes. Not stored.
	MaxLive int
	// Token, when set, is the SHA-256 of the resident token the code was
	// asked with: InsertCode records the code only while that token
	// exists. Replacing a wallet link revokes the old phone's live codes
	// in its own transaction; a code signed for the old link and
	// inserted after it would otherwise outlive it. Not stored.
	Token []byte
}

// RevocationEntry is one revoked code.
type RevocationEntry struct {
	JTI     string
	Expires time.Time
}

// Revocation is one revocation statement's content in the outbox: it is
// committed with the status change that caused it and published after.
// What SetStatus and DeleteSubject return may span several statements
// (FirstSeq..Seq) when it revokes more codes than one statement holds.
type Revocation struct {
	Seq       uint64 // 1, 2, 3... per node, no gaps
	FirstSeq  uint64 // the first seq of the change; Seq for one statement
	Entries   []RevocationEntry
	Created   time.Time
	Published bool
	// Markers counts the entries that revoke no code: the link marker a
	// wallet link's replacement adds (ReplaceResidentTokens).
	Markers int
}

// AuditEntry is one row of the hash-chained audit log. Target is already
// pseudonymous (a hash of a jti or a subject id), never personal data.
type AuditEntry struct {
	Seq    uint64
	Time   time.Time
	Actor  string // "admin:<account>", "operator:<account>", "scanner:<id>", "resident" ("resident:<subject id>" in access.refused), "system", "peer:<province>"
	Action string // "enrol", "status", "issue", "verify", "delete", "key.rotate", ...
	Target string
	Detail string // JSON, no personal data
	Prev   []byte // hash of the previous entry
	Hash   []byte // SHA-256 over Prev and this entry's fields
}

// Statement is a verified statement from a peer, cached so that a node
// restarted without NATS still verifies with what it knew.
type Statement struct {
	Key      string // the KV key it came under, e.g. "440000.keyset"
	Raw      []byte
	Version  uint64
	Received time.Time
}
