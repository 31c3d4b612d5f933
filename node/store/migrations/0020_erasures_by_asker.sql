-- 0020_erasures_by_asker: the erasure sender's queries read one
-- province's erasures (node/store/erasures.go: DueErasures,
-- ReviveErasures, ErasureAskers), each province on a schedule of its
-- own. With only erasures_due (next_try), a province's due erasures were
-- found by reading every due erasure of every province, a revival read
-- the whole outbox, and the provinces were grouped and sorted in
-- temporary trees. The outbox holds up to 50,000 rows
-- (maxPendingErasures).
CREATE INDEX erasures_by_asker ON erasures (asker, next_try);
