-- 0003_audit_by_target: a resident's right to know where their codes were
-- verified reads the audit log by target (the hashed jti), not by scanning
-- it. The index costs the audit writer one more B-tree insert per entry.
CREATE INDEX audit_by_target ON audit (target);
