package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique constraint would be violated.
var ErrConflict = errors.New("conflict")

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
	DataKey     []byte // sealed per-subject data key; deleting it crypto-shreds the row
	NameCT      []byte
	IDNumberCT  []byte
	PhoneCT     []byte // nil when not collected
	MaskedCT    []byte // sealed JSON of the masked display fields
	Status      string // green|yellow|red
	StatusSince time.Time
	Created     time.Time
	RetainUntil time.Time
}

// Consent records what the resident agreed to, and when.
type Consent struct {
	SubjectID     string
	NoticeVersion string
	AcceptedAt    time.Time
	Fields        []string // which personal fields were collected
	Purpose       string
}

// Token is a bearer token, stored only as its SHA-256 hash.
type Token struct {
	Hash      []byte
	Role      string // operator|scanner|resident
	SubjectID string // resident tokens
	ScannerID string // scanner tokens
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

// Code is an issued code's bookkeeping: never its text.
type Code struct {
	JTI       string
	SubjectID string
	KID       string
	IssuedAt  time.Time
	Expires   time.Time
	Paper     bool
	Revoked   bool
}

// RevocationEntry is one revoked code.
type RevocationEntry struct {
	JTI     string
	Expires time.Time
}

// Revocation is one revocation statement's content in the outbox: it is
// committed with the status change that caused it and published after.
type Revocation struct {
	Seq       uint64 // 1, 2, 3... per node, no gaps
	Entries   []RevocationEntry
	Created   time.Time
	Published bool
}

// AuditEntry is one row of the hash-chained audit log. Target is already
// pseudonymous (a hash of a jti or a subject id), never personal data.
type AuditEntry struct {
	Seq    uint64
	Time   time.Time
	Actor  string // "operator", "scanner:<id>", "resident", "system", "peer:<province>"
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

var errUnimplemented = errors.New("store: unimplemented")

// DB is the node's SQLite database. It is safe for concurrent use.
type DB struct{}

// Open opens (creating if needed) the database file at path, in WAL mode,
// and applies pending migrations in order.
func Open(ctx context.Context, path string) (*DB, error) { return nil, errUnimplemented }

// Close flushes pending writes and closes the database.
func (db *DB) Close() error { return errUnimplemented }

// GetMeta reads a node-level setting (province id, KEK check value...).
func (db *DB) GetMeta(ctx context.Context, key string) (string, error) { return "", errUnimplemented }

// SetMeta writes a node-level setting.
func (db *DB) SetMeta(ctx context.Context, key, value string) error { return errUnimplemented }

// InsertKey adds one of the node's keys.
func (db *DB) InsertKey(ctx context.Context, k KeyRow) error { return errUnimplemented }

// UpdateKey changes a key's state, retirement time and expiry.
func (db *DB) UpdateKey(ctx context.Context, kid, state string, retiredAt, expires time.Time) error {
	return errUnimplemented
}

// Keys lists the node's keys of one kind, oldest first.
func (db *DB) Keys(ctx context.Context, kind string) ([]KeyRow, error) { return nil, errUnimplemented }

// DeleteKey removes a key (dropped after its last code expired, or sunset).
func (db *DB) DeleteKey(ctx context.Context, kid string) error { return errUnimplemented }

// CreateSubject enrols a subject with its consent and resident token in one
// transaction.
func (db *DB) CreateSubject(ctx context.Context, s Subject, c Consent, t Token) error {
	return errUnimplemented
}

// Subject reads one subject; ErrNotFound if absent or deleted.
func (db *DB) Subject(ctx context.Context, id string) (Subject, error) {
	return Subject{}, errUnimplemented
}

// Consent reads a subject's consent record.
func (db *DB) Consent(ctx context.Context, subjectID string) (Consent, error) {
	return Consent{}, errUnimplemented
}

// SetStatus changes a subject's status and, in the same transaction,
// revokes every unexpired, unrevoked code of theirs, appending one outbox
// revocation (next seq) if there were any. It returns that revocation, or
// nil when no code needed revoking.
func (db *DB) SetStatus(ctx context.Context, id, status string, now time.Time) (*Revocation, error) {
	return nil, errUnimplemented
}

// DeleteSubject revokes the subject's unexpired codes (outbox, as
// SetStatus), then deletes the subject row with its data key, consent and
// tokens in one transaction. Code rows keep only jti and expiry.
func (db *DB) DeleteSubject(ctx context.Context, id string, now time.Time) (*Revocation, error) {
	return nil, errUnimplemented
}

// InsertCode records an issued code. Calls from many goroutines are
// grouped into one transaction (group commit); it returns once the row is
// durable.
func (db *DB) InsertCode(ctx context.Context, c Code) error { return errUnimplemented }

// Code reads one code's bookkeeping.
func (db *DB) Code(ctx context.Context, jti string) (Code, error) { return Code{}, errUnimplemented }

// PendingRevocations lists outbox revocations not yet acknowledged by
// JetStream, by seq.
func (db *DB) PendingRevocations(ctx context.Context) ([]Revocation, error) {
	return nil, errUnimplemented
}

// MarkPublished records that JetStream acknowledged revocation seq.
func (db *DB) MarkPublished(ctx context.Context, seq uint64) error { return errUnimplemented }

// LastRevocationSeq is the highest seq in the outbox (0 if none).
func (db *DB) LastRevocationSeq(ctx context.Context) (uint64, error) { return 0, errUnimplemented }

// LiveRevocations lists every revoked code that has not yet expired at now,
// for revocation snapshots.
func (db *DB) LiveRevocations(ctx context.Context, now time.Time) ([]RevocationEntry, error) {
	return nil, errUnimplemented
}

// InsertToken stores a token hash.
func (db *DB) InsertToken(ctx context.Context, t Token) error { return errUnimplemented }

// Token finds a token by hash; ErrNotFound if unknown.
func (db *DB) Token(ctx context.Context, hash []byte) (Token, error) { return Token{}, errUnimplemented }

// AddScanner registers a scanner with its token in one transaction.
func (db *DB) AddScanner(ctx context.Context, s Scanner, t Token) error { return errUnimplemented }

// Scanners lists registered scanners.
func (db *DB) Scanners(ctx context.Context) ([]Scanner, error) { return nil, errUnimplemented }

// Scanner reads one scanner.
func (db *DB) Scanner(ctx context.Context, id string) (Scanner, error) {
	return Scanner{}, errUnimplemented
}

// RemoveScanner disables a scanner and deletes its tokens.
func (db *DB) RemoveScanner(ctx context.Context, id string) error { return errUnimplemented }

// AppendAudit appends an entry to the hash chain, filling Seq, Prev and
// Hash. Time must be set by the caller.
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) error { return errUnimplemented }

// VerifyAudit recomputes the chain and reports the first broken link:
// an edited, deleted, reordered or truncated entry.
func (db *DB) VerifyAudit(ctx context.Context) (int, error) { return 0, errUnimplemented }

// PutStatement caches a verified peer statement under its key, replacing
// an older version.
func (db *DB) PutStatement(ctx context.Context, s Statement) error { return errUnimplemented }

// Statements lists every cached statement.
func (db *DB) Statements(ctx context.Context) ([]Statement, error) { return nil, errUnimplemented }
