package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testKeysWindow is the window of unconfirmed replica keys the tests
// register in (limits.replica_keys_window's default).
const testKeysWindow = 24 * time.Hour

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
	if _, _, err := db.RegisterReplicaEncKey(ctx, "rp_b", `{"kty":"EC","k":"b"}`, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("an enc key alone for a replica with none grandfathered: %v, want ErrConflict", err)
	}

	// Other keys are held beside it, not in its place: it stays
	// trusted for sync. Keys of another enc key that a build before
	// migration 0023 put in its place, the grandfathered one alone puts
	// back.
	x, _, err := db.RegisterReplicaKeys(ctx, "rp_a", `{"kty":"EC","k":"other"}`, `{"sig":1}`, "FP-OTHER", t0, testKeysWindow)
	if err != nil || !x.SyncTrusted() || x.EncKey != `{"kty":"EC","k":"a"}` || x.KeyChanges != 1 {
		t.Fatalf("another enc key = %+v, %v; want the grandfathered one kept", x, err)
	}
	if _, _, err := db.RegisterReplicaEncKey(ctx, "rp_a", `{"kty":"EC","k":"other"}`, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("another enc key alone: %v, want ErrConflict", err)
	}
	mustExec(t, rawDB(t, path), `UPDATE replicas SET enc_key = '{"kty":"EC","k":"other"}', sig_key = '{"sig":1}', key_fp = 'FP-OTHER' WHERE id = 'rp_a'`)
	x, written, err := db.RegisterReplicaEncKey(ctx, "rp_a", `{"kty":"EC","k":"a"}`, t0,
		AuditEntry{Time: t0, Actor: "replica:rp_a", Action: "replica.keys", Target: "rp_a"})
	if err != nil || !written || !x.Grandfathered() || x.SigKey != "" || x.KeyFP != "" || x.KeyChanges != 2 {
		t.Fatalf("the grandfathered enc key alone = %+v, %v", x, err)
	}
	// Like every change of the keys home holds, it is audited (it was
	// not, as the one write of a build before signing keys).
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'replica.keys' AND target = 'rp_a'`); n != 1 {
		t.Fatalf("%d enc-key-alone registrations audited, want 1", n)
	}
	if x, _, err = db.RegisterReplicaKeys(ctx, "rp_a", `{"kty":"EC","k":"a"}`, `{"sig":2}`, "FP-A", t0, testKeysWindow); err != nil || !x.Grandfathered() {
		t.Fatalf("the grandfathered enc key with a signing key = %+v, %v", x, err)
	}
	if x, err = db.ConfirmReplica(ctx, "a", "FP-A"); err != nil || !x.Trusted() || x.Grandfathered() || x.PriorEncKey != "" {
		t.Fatalf("confirmed = %+v, %v; want trusted, the grandfathered key ended", x, err)
	}
}

// Each registration of a replica's keys was a write at home, without
// bound: the replica's own at every start, and a token holder's as often
// as it liked. Keys home holds now write nothing; others are held up to
// MaxReplicaKeyCandidates a replica, then refused, but for those of the
// confirmed fingerprint, taken whatever was registered before; a
// confirmation takes the keys of its fingerprint if held.
func TestReplicaKeyRegistrationsWriteOnlyKeysNotHeldAndAreBounded(t *testing.T) {
	t.Parallel()
	db, path := openTestDB(t)
	ctx := t.Context()
	for _, r := range []Replica{{ID: "rp_a", Name: "a", TokenHash: []byte{1}, Created: t0}, {ID: "rp_b", Name: "b", TokenHash: []byte{2}, Created: t0}} {
		if err := db.AddReplica(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// data_version moves, for this connection, at every commit of
	// another that changed the database.
	raw := rawDB(t, path)
	raw.SetMaxOpenConns(1)
	version := func() int {
		t.Helper()
		var v int
		if err := raw.QueryRow(`PRAGMA data_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	key := func(i int) (enc, sig, fp string) {
		return fmt.Sprintf(`{"enc":%d}`, i), fmt.Sprintf(`{"sig":%d}`, i), fmt.Sprintf("FP-%d", i)
	}
	register := func(id string, i int) (Replica, bool, error) {
		enc, sig, fp := key(i)
		return db.RegisterReplicaKeys(ctx, id, enc, sig, fp, t0.Add(time.Duration(i)*time.Second), testKeysWindow,
			AuditEntry{Time: t0, Actor: "replica:" + id, Action: "replica.keys", Target: id})
	}
	unwritten := func(what string, fn func() error) {
		t.Helper()
		before := version()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if version() != before {
			t.Fatalf("%s wrote to the database", what)
		}
	}

	if x, written, err := register("rp_a", 1); err != nil || !written || x.KeyFP != "FP-1" || x.KeyChanges != 1 {
		t.Fatalf("the first registration = %+v, %v, %v", x, written, err)
	}
	unwritten("the same keys again", func() error {
		for range 3 {
			if x, written, err := register("rp_a", 1); err != nil || written || x.KeyChanges != 1 {
				return fmt.Errorf("%+v, %v, %v; want nothing written", x, written, err)
			}
		}
		return nil
	})
	for i := 2; i <= MaxReplicaKeyCandidates; i++ {
		if x, written, err := register("rp_a", i); err != nil || !written || x.KeyFP != fmt.Sprintf("FP-%d", i) || x.KeyChanges != i {
			t.Fatalf("registration %d = %+v, %v, %v", i, x, written, err)
		}
	}
	unwritten("keys past the bound, and keys held", func() error {
		if _, _, err := register("rp_a", 9); !errors.Is(err, ErrReplicaKeysLimit) {
			return fmt.Errorf("keys past the bound: %v, want ErrReplicaKeysLimit", err)
		}
		if _, written, err := register("rp_a", 1); err != nil || written {
			return fmt.Errorf("keys held, not the last: %v %v", written, err)
		}
		return nil
	})
	if cands, err := db.ReplicaKeyCandidates(ctx); err != nil || len(cands["rp_a"]) != MaxReplicaKeyCandidates || cands["rp_a"][0] != "FP-1" {
		t.Fatalf("candidates = %v, %v", cands, err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'replica.keys'`); n != MaxReplicaKeyCandidates {
		t.Fatalf("%d registrations audited, want %d", n, MaxReplicaKeyCandidates)
	}

	// Keys of a fingerprint confirmed before they were registered are
	// taken past the bound; the others are dropped.
	if x, err := db.ConfirmReplica(ctx, "a", "FP-9"); err != nil || x.Trusted() {
		t.Fatalf("confirmed before registered = %+v, %v", x, err)
	}
	if x, written, err := register("rp_a", 9); err != nil || !written || !x.Trusted() || x.EncKey != `{"enc":9}` {
		t.Fatalf("the confirmed keys past the bound = %+v, %v, %v", x, written, err)
	}
	if cands, err := db.ReplicaKeyCandidates(ctx); err != nil || len(cands) != 0 {
		t.Fatalf("candidates once trusted = %v, %v", cands, err)
	}
	unwritten("other keys once trusted", func() error {
		if _, _, err := register("rp_a", 1); !errors.Is(err, ErrConflict) {
			return fmt.Errorf("%v, want ErrConflict", err)
		}
		if _, written, err := register("rp_a", 9); err != nil || written {
			return fmt.Errorf("the trusted keys again: %v %v", written, err)
		}
		return nil
	})

	// Confirmed while held, not the last registered: trusted at once.
	for _, i := range []int{1, 2} {
		if _, _, err := register("rp_b", i); err != nil {
			t.Fatal(err)
		}
	}
	if x, err := db.ConfirmReplica(ctx, "rp_b", "FP-1"); err != nil || !x.Trusted() || x.EncKey != `{"enc":1}` || x.SigKey != `{"sig":1}` {
		t.Fatalf("confirmed while held = %+v, %v", x, err)
	}
	if cands, err := db.ReplicaKeyCandidates(ctx); err != nil || len(cands) != 0 {
		t.Fatalf("candidates once trusted = %v, %v", cands, err)
	}
}

// The bound of unconfirmed keys had no time window: whoever filled it
// with a replica's token kept the replica's new keys out
// (ErrReplicaKeysLimit) until an admin acted. Keys registered a window
// ago or earlier no longer count toward it (the refusal says when the
// oldest leaves it), and DropExpiredReplicaKeys drops them, audited,
// writing nothing when none is due.
func TestUnconfirmedReplicaKeysFreeTheirSlotAfterTheWindow(t *testing.T) {
	t.Parallel()
	db, path := openTestDB(t)
	ctx := t.Context()
	if err := db.AddReplica(ctx, Replica{ID: "rp_a", Name: "a", TokenHash: []byte{1}, Created: t0}); err != nil {
		t.Fatal(err)
	}
	const window = time.Hour
	register := func(i int, at time.Time) (Replica, bool, error) {
		return db.RegisterReplicaKeys(ctx, "rp_a", fmt.Sprintf(`{"enc":%d}`, i), fmt.Sprintf(`{"sig":%d}`, i), fmt.Sprintf("FP-%d", i), at,
			window, AuditEntry{Time: at, Actor: "replica:rp_a", Action: "replica.keys", Target: "rp_a"})
	}
	for i := 1; i <= MaxReplicaKeyCandidates; i++ {
		if _, _, err := register(i, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	free := t0.Add(time.Minute + window) // the first leaves the window
	var limit *ReplicaKeysLimitError
	if _, _, err := register(9, free.Add(-time.Nanosecond)); !errors.As(err, &limit) || !errors.Is(err, ErrReplicaKeysLimit) || !limit.Free.Equal(free) {
		t.Fatalf("keys past the bound within the window: %v, want ErrReplicaKeysLimit free at %v", err, free)
	}
	if x, written, err := register(9, free); err != nil || !written || x.KeyFP != "FP-9" {
		t.Fatalf("keys past the bound once the first left the window = %+v, %v, %v", x, written, err)
	}
	if _, _, err := register(10, free); !errors.Is(err, ErrReplicaKeysLimit) {
		t.Fatalf("more keys in the same window: %v, want ErrReplicaKeysLimit", err)
	}

	drop := func(cutoff time.Time) (map[string][]string, error) {
		return db.DropExpiredReplicaKeys(ctx, cutoff, func(id string, fps []string) AuditEntry {
			return AuditEntry{Time: free, Actor: "system", Action: "replica.keys_expired", Target: id,
				Detail: `{"fingerprints":"` + strings.Join(fps, " ") + `"}`}
		})
	}
	raw := rawDB(t, path)
	raw.SetMaxOpenConns(1)
	var before, after int
	if err := raw.QueryRow(`PRAGMA data_version`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if got, err := drop(t0); err != nil || got != nil {
		t.Fatalf("drop with none due = %v, %v", got, err)
	}
	if err := raw.QueryRow(`PRAGMA data_version`).Scan(&after); err != nil || after != before {
		t.Fatalf("drop with none due wrote to the database (%v)", err)
	}
	if got, err := drop(free.Add(time.Minute - window)); err != nil || len(got) != 1 || fmt.Sprint(got["rp_a"]) != "[FP-1 FP-2]" {
		t.Fatalf("drop = %v, %v; want FP-1 and FP-2 of rp_a", got, err)
	}
	if cands, err := db.ReplicaKeyCandidates(ctx); err != nil || fmt.Sprint(cands["rp_a"]) != "[FP-3 FP-4 FP-9]" {
		t.Fatalf("candidates after the drop = %v, %v", cands, err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM audit WHERE action = 'replica.keys_expired' AND target = 'rp_a'
		AND detail = '{"fingerprints":"FP-1 FP-2"}'`); n != 1 {
		t.Fatalf("%d drops audited, want 1", n)
	}
	// Keys dropped are new when registered again.
	if x, written, err := register(1, free.Add(time.Minute)); err != nil || !written || x.KeyChanges != MaxReplicaKeyCandidates+2 {
		t.Fatalf("dropped keys registered again = %+v, %v, %v", x, written, err)
	}
}
