-- 0005_lookups: contact data this node obtained from another province's
-- node in a cross-province identity lookup (seed rules 6 and 11), kept for
-- the case it was asked for and no longer. contact_ct is the name and phone
-- number sealed under the KEK, bound to the row's id; the retention pass
-- deletes every row once expires has passed. jti_hash is the code id as
-- the audit log pseudonymises it. Lookups of this province's own
-- residents by others are in the audit log (action lookup.answer), not here.
CREATE TABLE lookups (
	id         TEXT PRIMARY KEY,
	home       TEXT NOT NULL,
	jti_hash   TEXT NOT NULL,
	case_id    TEXT NOT NULL,
	contact_ct BLOB NOT NULL,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL CHECK (expires > created)
) STRICT;
CREATE INDEX lookups_by_expires ON lookups (expires);
