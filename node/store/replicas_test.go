package store

import (
	"errors"
	"testing"
)

// A replica that registered its enc key with a build before fingerprints
// kept serving through a rolling upgrade only if home kept trusting that
// key: migration 0022 records it as the replica's grandfathered enc key.
// It is trusted for sync while held (not for records), taken alone (the
// previous build's registration) and put back over another, ended by a
// confirmation; a replica that had registered nothing gets none.
func TestMigrationGrandfathersTheReplicaEncKeysHeldBefore(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/node.db"
	raw := rawDBAtVersion(t, path, 21)
	mustExec(t, raw,
		`INSERT INTO replicas (id, name, token_hash, enc_key, created, last_seen) VALUES
			('rp_a', 'a', x'01', '{"kty":"EC","k":"a"}', 1, 0), ('rp_b', 'b', x'02', '', 2, 0)`)
	raw.Close()

	ctx := t.Context()
	db := openAt(t, path)
	a, err := db.ReplicaByID(ctx, "rp_a")
	if err != nil || a.PriorEncKey != `{"kty":"EC","k":"a"}` || !a.Grandfathered() || !a.SyncTrusted() || a.Trusted() {
		t.Fatalf("the replica with an enc key after the migration = %+v, %v; want it grandfathered, not trusted", a, err)
	}
	if b, err := db.ReplicaByID(ctx, "rp_b"); err != nil || b.PriorEncKey != "" || b.SyncTrusted() {
		t.Fatalf("the replica without one = %+v, %v; want nothing grandfathered", b, err)
	}
	if _, err := db.RegisterReplicaEncKey(ctx, "rp_b", `{"kty":"EC","k":"b"}`, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("an enc key alone for a replica with none grandfathered: %v, want ErrConflict", err)
	}

	// Another registration replaces the key, and the grandfathered one
	// alone puts it back.
	x, err := db.RegisterReplicaKeys(ctx, "rp_a", `{"kty":"EC","k":"other"}`, `{"sig":1}`, "FP-OTHER", t0)
	if err != nil || x.SyncTrusted() {
		t.Fatalf("another enc key = %+v, %v; want it not trusted", x, err)
	}
	if _, err := db.RegisterReplicaEncKey(ctx, "rp_a", `{"kty":"EC","k":"other"}`, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("another enc key alone: %v, want ErrConflict", err)
	}
	x, err = db.RegisterReplicaEncKey(ctx, "rp_a", `{"kty":"EC","k":"a"}`, t0)
	if err != nil || !x.Grandfathered() || x.SigKey != "" || x.KeyFP != "" {
		t.Fatalf("the grandfathered enc key alone = %+v, %v", x, err)
	}
	if x, err = db.RegisterReplicaKeys(ctx, "rp_a", `{"kty":"EC","k":"a"}`, `{"sig":2}`, "FP-A", t0); err != nil || !x.Grandfathered() {
		t.Fatalf("the grandfathered enc key with a signing key = %+v, %v", x, err)
	}
	if x, err = db.ConfirmReplica(ctx, "a", "FP-A"); err != nil || !x.Trusted() || x.Grandfathered() || x.PriorEncKey != "" {
		t.Fatalf("confirmed = %+v, %v; want trusted, the grandfathered key ended", x, err)
	}
}
