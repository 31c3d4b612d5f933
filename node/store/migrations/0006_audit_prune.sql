-- 0006_audit_prune: the audit log may lose its oldest entries to retention
-- (privacy.retention.audit), through PruneAudit only. PruneAudit inserts the
-- one row of audit_prune_guard, deletes, and removes the row again, all in
-- one transaction; any other DELETE still aborts, and no DELETE may take
-- the newest entry, so the chain head always has a row. What was pruned is
-- recorded as a chain anchor in meta (store.audit.anchor) and by an
-- audit.prune entry in the chain itself, which VerifyAudit checks.
CREATE TABLE audit_prune_guard (
	one INTEGER PRIMARY KEY CHECK (one = 1)
) STRICT;
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN NOT EXISTS (SELECT 1 FROM audit_prune_guard)
	OR OLD.seq >= (SELECT MAX(seq) FROM audit)
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;
