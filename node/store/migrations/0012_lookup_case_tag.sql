-- 0012_lookup_case_tag: a lookup's case id links it to a person's case
-- file at the asking province, so node.db no longer keeps it in clear.
-- The lookups table keeps the case as the audit log does: a keyed tag
-- (HMAC under a random key sealed by the KEK, node/lookupcase.go), by
-- which an auditor given a case id finds its lookups and nobody else
-- learns it. Rows written before held a clear case id the migration cannot
-- turn into a tag (it has no KEK): blankLookupCases empties them first,
-- and the migration then rewrites the files without the old bytes. Their
-- case ids stay where they already were, in those lookups' audit entries
-- (which the hash chain forbids rewriting), until the audit retention
-- prunes them; the rows themselves go when privacy.retention.lookups ends.
--
-- The auditor's search reads lookup entries only: a partial index over
-- them spares it a scan of every verification in the log, and costs the
-- writer nothing for other entries.
ALTER TABLE lookups RENAME COLUMN case_id TO case_tag;
CREATE INDEX audit_lookups ON audit (seq) WHERE action GLOB 'lookup.*';
