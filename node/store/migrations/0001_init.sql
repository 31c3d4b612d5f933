-- 0001_init: the node's first schema.
--
-- Times are INTEGER nanoseconds since the Unix epoch (0 means "unset"),
-- booleans are INTEGER 0/1. Every column holding personal data is a BLOB of
-- ciphertext supplied by the caller; nothing here is readable without the
-- node's KEK.

-- Node-level settings, and the audit chain head (keys under "store.").
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;

-- The node's own keys: root, signing, encryption and content keys. Private
-- material is sealed under the KEK by the caller.
CREATE TABLE keys (
	kid        TEXT PRIMARY KEY,
	kind       TEXT NOT NULL CHECK (kind IN ('root', 'sign', 'enc', 'content')),
	state      TEXT NOT NULL,
	not_before INTEGER NOT NULL,
	retired_at INTEGER NOT NULL DEFAULT 0,
	expires    INTEGER NOT NULL,
	public     BLOB,
	sealed     BLOB,
	created    INTEGER NOT NULL
) STRICT;
CREATE INDEX keys_by_kind ON keys (kind, created);

-- Enrolled residents. data_key is the sealed per-subject data key: deleting
-- the row crypto-shreds every *_ct column wherever a copy survives.
CREATE TABLE subjects (
	id           TEXT PRIMARY KEY,
	data_key     BLOB NOT NULL,
	name_ct      BLOB,
	id_number_ct BLOB,
	phone_ct     BLOB,
	masked_ct    BLOB,
	status       TEXT NOT NULL CHECK (status IN ('green', 'yellow', 'red')),
	status_since INTEGER NOT NULL,
	created      INTEGER NOT NULL,
	retain_until INTEGER NOT NULL
) STRICT;
CREATE INDEX subjects_by_retain_until ON subjects (retain_until);

-- What each resident consented to (fields is a JSON array of field names).
CREATE TABLE consents (
	subject_id     TEXT PRIMARY KEY REFERENCES subjects (id) ON DELETE CASCADE,
	notice_version TEXT NOT NULL,
	accepted_at    INTEGER NOT NULL,
	fields         TEXT NOT NULL,
	purpose        TEXT NOT NULL
) STRICT;

-- Issued codes' bookkeeping. text_ct is the code text sealed under the
-- subject's data key. subject_id and text_ct become NULL when the subject is
-- deleted, so a surviving row (kept until it expires, for revocation
-- snapshots) points back at nobody.
CREATE TABLE codes (
	jti        TEXT PRIMARY KEY,
	subject_id TEXT REFERENCES subjects (id) ON DELETE SET NULL,
	kid        TEXT NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	paper      INTEGER NOT NULL DEFAULT 0 CHECK (paper IN (0, 1)),
	revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
	text_ct    BLOB
) STRICT;
CREATE INDEX codes_by_subject ON codes (subject_id, expires) WHERE subject_id IS NOT NULL;
CREATE INDEX codes_by_expires ON codes (expires);
CREATE INDEX codes_revoked_by_expires ON codes (expires) WHERE revoked = 1;

-- The revocation outbox: one row per revocation statement, seq 1, 2, 3...
-- without gaps; entries is a JSON array of {"jti","exp"}. A row stays
-- unpublished until JetStream acknowledged it.
CREATE TABLE revocations (
	seq       INTEGER PRIMARY KEY CHECK (seq > 0),
	entries   TEXT NOT NULL,
	created   INTEGER NOT NULL,
	published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1))
) STRICT;
CREATE INDEX revocations_pending ON revocations (seq) WHERE published = 0;

-- Registered scanning devices. A removed scanner is disabled, not deleted,
-- so that audit entries naming it still resolve.
CREATE TABLE scanners (
	id       TEXT PRIMARY KEY,
	name     TEXT NOT NULL,
	place    TEXT NOT NULL,
	scope    TEXT NOT NULL,
	created  INTEGER NOT NULL,
	disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;

-- Bearer tokens, by SHA-256 hash only. A resident token belongs to exactly
-- one subject and a scanner token to exactly one scanner, and both go when
-- their owner goes.
CREATE TABLE tokens (
	hash       BLOB PRIMARY KEY,
	role       TEXT NOT NULL CHECK (role IN ('operator', 'scanner', 'resident')),
	subject_id TEXT REFERENCES subjects (id) ON DELETE CASCADE,
	scanner_id TEXT REFERENCES scanners (id) ON DELETE CASCADE,
	label      TEXT NOT NULL DEFAULT '',
	created    INTEGER NOT NULL,
	CHECK ((role = 'resident') = (subject_id IS NOT NULL)),
	CHECK ((role = 'scanner') = (scanner_id IS NOT NULL))
) STRICT;
CREATE INDEX tokens_by_subject ON tokens (subject_id) WHERE subject_id IS NOT NULL;
CREATE INDEX tokens_by_scanner ON tokens (scanner_id) WHERE scanner_id IS NOT NULL;

-- The hash-chained audit log. The triggers stop accidental edits through
-- this package; deliberate tampering with the file is what VerifyAudit is
-- for.
CREATE TABLE audit (
	seq    INTEGER PRIMARY KEY CHECK (seq > 0),
	time   INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	detail TEXT NOT NULL,
	prev   BLOB NOT NULL,
	hash   BLOB NOT NULL
) STRICT;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;

-- Verified statements from peers, latest version per KV key.
CREATE TABLE statements (
	key      TEXT PRIMARY KEY,
	raw      BLOB NOT NULL,
	version  INTEGER NOT NULL CHECK (version >= 0),
	received INTEGER NOT NULL
) STRICT;
