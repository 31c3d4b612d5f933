-- 0018_account_feed: accounts may have role feed, the province's
-- health-code platform sending status changes and nothing else
-- (node/accounts.go). Its tokens are stored as every account's, with
-- role operator; the node tells them apart by the account's role.
--
-- SQLite cannot change a CHECK in place: the table is rebuilt. Tokens
-- reference accounts (id), and foreign keys cannot be switched off inside
-- the migration's transaction, so they are deferred to its commit: the
-- drop leaves the tokens' references dangling until the rows are put
-- back under the same ids, and the commit checks that none is left.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE accounts_before_feed (
	id       TEXT PRIMARY KEY,
	name     TEXT NOT NULL,
	role     TEXT NOT NULL,
	created  INTEGER NOT NULL,
	disabled INTEGER NOT NULL
) STRICT;
INSERT INTO accounts_before_feed (id, name, role, created, disabled)
	SELECT id, name, role, created, disabled FROM accounts;

DROP TABLE accounts;
CREATE TABLE accounts (
	id       TEXT PRIMARY KEY,
	name     TEXT NOT NULL UNIQUE COLLATE NOCASE,
	role     TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'feed')),
	created  INTEGER NOT NULL,
	disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;
INSERT INTO accounts (id, name, role, created, disabled)
	SELECT id, name, role, created, disabled FROM accounts_before_feed;
DROP TABLE accounts_before_feed;
