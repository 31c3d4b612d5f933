-- 0010_replicas: verifier replicas of this province. A replica holds no
-- personal data and no signing key; it authenticates to this node with a
-- token (stored hashed, as scanner tokens are), registers the public key
-- its content keys are sealed to at its first sync, and sends the
-- verifications its scanners made, each once: replica_records remembers
-- the record ids already appended, so a batch sent again is not counted
-- twice.
CREATE TABLE replicas (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
	token_hash BLOB NOT NULL UNIQUE,
	enc_key    TEXT NOT NULL DEFAULT '',
	created    INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE replica_records (
	id         TEXT PRIMARY KEY,
	replica_id TEXT NOT NULL,
	received   INTEGER NOT NULL
) STRICT;

CREATE INDEX replica_records_received ON replica_records (received);
