-- 0011_codes_of_subject: one index of a subject's codes instead of two.
-- codes_by_subject (subject_id, expires) and codes_live_by_subject (the
-- same, only unrevoked) each took a page write at random for every code
-- issued; codes_of_subject holds both, revoked or not, with revoked ahead
-- of expires so that the live-code count (subject_id = ? AND revoked = 0
-- AND expires > ?) is still one range of it, read without the rows. It
-- also serves a subject's deletion (ON DELETE SET NULL) and the listing
-- of their codes. The two are dropped first, so that the new index takes
-- the pages they free.
DROP INDEX codes_live_by_subject;
DROP INDEX codes_by_subject;
CREATE INDEX codes_of_subject ON codes (subject_id, revoked, expires) WHERE subject_id IS NOT NULL;
