-- 0023_replica_key_candidates: the keys a replica registered that no
-- admin confirmed yet, a few per replica (store.MaxReplicaKeyCandidates),
-- each by its fingerprint. Before it, each registration replaced the
-- last in replicas.enc_key/sig_key/key_fp, so that a replica-token holder
-- registering between the replica's registration and the admin's
-- confirmation (or its sync, while grandfathered) kept it out of
-- service. A confirmation takes the keys of its fingerprint from here at
-- once; a registration of keys held writes nothing, and past the bound
-- one of other keys is refused (replica_keys_limit) unless they are of
-- the confirmed fingerprint. The rows go with a confirmation taking
-- effect and with the replica.
--
-- key_changes counts the registrations of keys home did not hold, for
-- operators ('hcnode replica list'): more than one or two for a replica
-- that made its keys once says someone else holds its token.
CREATE TABLE replica_keys (
	replica_id TEXT NOT NULL REFERENCES replicas (id) ON DELETE CASCADE,
	fp         TEXT NOT NULL,
	enc_key    TEXT NOT NULL,
	sig_key    TEXT NOT NULL,
	registered INTEGER NOT NULL,
	PRIMARY KEY (replica_id, fp)
) STRICT;
ALTER TABLE replicas ADD COLUMN key_changes INTEGER NOT NULL DEFAULT 0;
