-- 0016_status_unconfirmed: a resident whose status the node cannot vouch
-- for after a restore from a backup.
--
-- A restored database holds each resident's status as it was at the
-- backup. When the node reconciles with the federation it takes back the
-- revocations it published after the backup (AdoptPublished); a resident
-- with a code those revocations revoke had their status set (or was
-- deleted) since, and the status held now may be an older, greener one.
-- Issuing codes on it would put green codes of a red resident into every
-- province. status_unconfirmed = 1 marks such a resident: no code is
-- issued to them (insertCodeSQL, SubjectForIssue) until their status is
-- set again (SetStatus, SetStatusBatch, an upheld appeal naming the
-- status), which clears it. Deletion is not held by it for an operator.
ALTER TABLE subjects ADD COLUMN status_unconfirmed INTEGER NOT NULL DEFAULT 0 CHECK (status_unconfirmed IN (0, 1));
CREATE INDEX subjects_status_unconfirmed ON subjects (id) WHERE status_unconfirmed = 1;
