-- 0002_appeals: residents dispute their health status (seed rule 9).
--
-- message_ct and note_ct are sealed under the subject's data key, like every
-- other personal field: deleting the subject deletes its appeals (cascade)
-- and shreds any copy. applied_status is the status an upheld appeal set,
-- '' if it set none; resolved_at is 0 while the appeal is open.
CREATE TABLE appeals (
	id             TEXT PRIMARY KEY,
	subject_id     TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
	created        INTEGER NOT NULL,
	status         TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'upheld', 'rejected')),
	message_ct     BLOB NOT NULL,
	note_ct        BLOB,
	applied_status TEXT NOT NULL DEFAULT '' CHECK (applied_status IN ('', 'green', 'yellow', 'red')),
	resolved_at    INTEGER NOT NULL DEFAULT 0,
	CHECK ((status = 'open') = (resolved_at = 0))
) STRICT;
CREATE INDEX appeals_open ON appeals (created, id) WHERE status = 'open';
CREATE INDEX appeals_by_subject ON appeals (subject_id, created);
