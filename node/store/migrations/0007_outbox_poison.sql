-- 0007_outbox_poison: a revocation the outbox can never publish (larger
-- than peers or NATS accept, refused by the server as oversize) is set
-- aside instead of blocking every later one: poisoned says why, and
-- poisoned_at when. It is kept, not deleted: its codes stay revoked in
-- the codes table, so the next snapshot carries them to peers, who see
-- the gap in seq and fetch it.
ALTER TABLE revocations ADD COLUMN poisoned TEXT;
ALTER TABLE revocations ADD COLUMN poisoned_at INTEGER;
DROP INDEX revocations_pending;
CREATE INDEX revocations_pending ON revocations (seq) WHERE published = 0 AND poisoned IS NULL;
