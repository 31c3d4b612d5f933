-- 0022_replica_confirm: a replica's keys are trusted only once bound to
-- the replica by an operator. A replica registers its enc key and a
-- signing key (sig_key, for its verification records) together; key_fp
-- is their fingerprint (trust.ReplicaFingerprint). confirmed is the
-- fingerprint an admin confirmed ('hcnode replica confirm'): home seals
-- content keys to the replica and takes its records only while key_fp
-- equals it. Replicas registered before this migration have no signing
-- key and none confirmed: each registers again and is confirmed once.
ALTER TABLE replicas ADD COLUMN sig_key TEXT NOT NULL DEFAULT '';
ALTER TABLE replicas ADD COLUMN key_fp TEXT NOT NULL DEFAULT '';
ALTER TABLE replicas ADD COLUMN confirmed TEXT NOT NULL DEFAULT '';
