-- 0022_replica_confirm: a replica's keys are trusted only once bound to
-- the replica by an operator. A replica registers its enc key and a
-- signing key (sig_key, for its verification records) together; key_fp
-- is their fingerprint (trust.ReplicaFingerprint). confirmed is the
-- fingerprint an admin confirmed ('hcnode replica confirm'): home seals
-- content keys to the replica and takes its records only while key_fp
-- equals it.
--
-- prior_enc_key is the enc key a replica had registered before this
-- migration ("grandfathered"): while the replica's enc key is still that
-- one and no fingerprint is confirmed, home keeps sending it scanners and
-- content keys (sealed to that key: only its private half, on the
-- replica's machine, opens them), so that a rolling upgrade keeps
-- replicas serving; its records wait for the confirmation. A confirmation
-- ends it (''), and a replica added after this migration never has one.
ALTER TABLE replicas ADD COLUMN sig_key TEXT NOT NULL DEFAULT '';
ALTER TABLE replicas ADD COLUMN key_fp TEXT NOT NULL DEFAULT '';
ALTER TABLE replicas ADD COLUMN confirmed TEXT NOT NULL DEFAULT '';
ALTER TABLE replicas ADD COLUMN prior_enc_key TEXT NOT NULL DEFAULT '';
UPDATE replicas SET prior_enc_key = enc_key;
