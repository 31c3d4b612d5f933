-- 0008_accounts: operators are people. An operator token belongs to a
-- named account (role admin or operator), has an id that lists show and
-- revocation names (never the secret), and an expiry. Scanner and resident
-- tokens keep neither.
--
-- Operator tokens minted before accounts existed ('init' and 'cluster'
-- tokens) are attached to an admin account named "init", created only if
-- there is such a token, so that existing deployments keep working. They
-- expire 720 h (the default tokens.operator_lifetime) after the
-- migration: SQL cannot read the node's configured lifetime, and a token
-- without a lifetime is what this change removes.
CREATE TABLE accounts (
	id       TEXT PRIMARY KEY,
	name     TEXT NOT NULL UNIQUE COLLATE NOCASE,
	role     TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
	created  INTEGER NOT NULL,
	disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;

INSERT INTO accounts (id, name, role, created)
	SELECT 'ac_init', 'init', 'admin', (SELECT MIN(created) FROM tokens WHERE role = 'operator')
	WHERE EXISTS (SELECT 1 FROM tokens WHERE role = 'operator');

CREATE TABLE tokens_new (
	hash       BLOB PRIMARY KEY,
	role       TEXT NOT NULL CHECK (role IN ('operator', 'scanner', 'resident')),
	subject_id TEXT REFERENCES subjects (id) ON DELETE CASCADE,
	scanner_id TEXT REFERENCES scanners (id) ON DELETE CASCADE,
	account_id TEXT REFERENCES accounts (id),
	id         TEXT UNIQUE,
	expires    INTEGER,
	label      TEXT NOT NULL DEFAULT '',
	created    INTEGER NOT NULL,
	CHECK ((role = 'resident') = (subject_id IS NOT NULL)),
	CHECK ((role = 'scanner') = (scanner_id IS NOT NULL)),
	CHECK ((role = 'operator') = (account_id IS NOT NULL)),
	CHECK ((role = 'operator') = (id IS NOT NULL AND expires IS NOT NULL))
) STRICT;

INSERT INTO tokens_new (hash, role, subject_id, scanner_id, account_id, id, expires, label, created)
	SELECT hash, role, subject_id, scanner_id,
		CASE role WHEN 'operator' THEN 'ac_init' END,
		CASE role WHEN 'operator' THEN 'tk_' || lower(hex(substr(hash, 1, 9))) END,
		CASE role WHEN 'operator' THEN unixepoch() * 1000000000 + 720 * 3600 * 1000000000 END,
		label, created
	FROM tokens;

DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_by_subject ON tokens (subject_id) WHERE subject_id IS NOT NULL;
CREATE INDEX tokens_by_scanner ON tokens (scanner_id) WHERE scanner_id IS NOT NULL;
CREATE INDEX tokens_by_account ON tokens (account_id) WHERE account_id IS NOT NULL;
