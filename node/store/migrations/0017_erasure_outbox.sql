-- 0017_erasure_outbox: erasures waiting to reach the provinces that
-- looked a deleted resident up (node/erasure.go).
--
-- A resident's deletion queues, in its own transaction, one row per
-- province its home answered about them (and per trust.MaxErasureCodes
-- codes): that province is to delete the contact it kept. The row goes
-- when the province acknowledges the erasure, or at expires, when the
-- province's copy has ended with its lookup retention anyway. It holds
-- no personal data: the province, the codes as the lookups reference
-- them (hashed), and the deletion's audit target and actor.
CREATE TABLE erasures (
	id       INTEGER PRIMARY KEY,
	asker    TEXT NOT NULL,
	codes    TEXT NOT NULL,  -- JSON array of hashed code ids
	subject  TEXT NOT NULL,  -- the deletion's audit target
	actor    TEXT NOT NULL,  -- the deletion's actor
	created  INTEGER NOT NULL,
	expires  INTEGER NOT NULL CHECK (expires > created),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_try INTEGER NOT NULL
) STRICT;
CREATE INDEX erasures_due ON erasures (next_try);
