-- Live codes of a subject (unrevoked), by expiry: the count that bounds
-- a subject's live codes (InsertCode, LiveCodes) is read from this index
-- alone, without visiting each code's row.
CREATE INDEX codes_live_by_subject ON codes (subject_id, expires) WHERE revoked = 0 AND subject_id IS NOT NULL;
