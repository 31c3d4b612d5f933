-- 0015_appeal_review: an appeal remembers when the resident's status it
-- disputes was set, so that a resolution is refused once the status was
-- set again after the filing (a newer status must not be overwritten by
-- an old appeal); resolved appeals are found by their resolution time,
-- for their own retention (privacy.retention.appeals).
--
-- filed_status_since is the subject's status_since when the appeal was
-- filed, 0 for appeals filed before this migration (their creation time
-- stands in for it).
ALTER TABLE appeals ADD COLUMN filed_status_since INTEGER NOT NULL DEFAULT 0;
CREATE INDEX appeals_resolved ON appeals (resolved_at) WHERE status <> 'open';
