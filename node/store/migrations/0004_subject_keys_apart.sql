-- 0004_subject_keys_apart: per-subject data keys move to the key store
-- (keys.db, next to this file), so that a copy of this database taken before
-- a deletion does not hold the deleted subject's key. The store copies every
-- data_key into keys.db in this migration's transaction, before this runs
-- (moveSubjectKeys), and VACUUMs afterwards so no old key stays in a free
-- page.
ALTER TABLE subjects DROP COLUMN data_key;
