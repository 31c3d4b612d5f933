-- 0019_code_scan_digest: the digest of each issued code's proof of scan
-- (trust.ScanDigest: SHA-256 of a digest of the code's signature), so that
-- a cross-province lookup is answered only to a node that shows the proof,
-- which it can compute only from the code itself, never from its id alone.
-- It is no personal data and no proof: the proof's preimage is the code.
-- Rows written before this migration (and the revoked-code markers that
-- restores and link replacements write) have none: their codes cannot be
-- proven, so no lookup of them is answered.
ALTER TABLE codes ADD COLUMN scan_digest BLOB;
