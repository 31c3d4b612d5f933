package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// revokeOne gives subject id a fresh live code and revokes it, returning
// the revocation.
func revokeOne(t *testing.T, db *DB, id, code string) *Revocation {
	t.Helper()
	s, err := db.Subject(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	c := testCode(code, id)
	c.Status = s.Status
	insertCode(t, db, c)
	next := "red"
	if s.Status == "red" {
		next = "yellow"
	}
	rev, err := db.SetStatus(t.Context(), id, next, t0)
	if err != nil || rev == nil {
		t.Fatalf("SetStatus = %+v, %v", rev, err)
	}
	return rev
}

func TestOutboxTracksPublishing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	if seq, err := db.LastRevocationSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("LastRevocationSeq on empty outbox = %d, %v", seq, err)
	}
	enrol(t, db, "s1")
	var revs []Revocation
	for _, code := range []string{"a", "b", "c"} {
		revs = append(revs, *revokeOne(t, db, "s1", code))
	}
	if err := db.MarkPublished(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPublished(ctx, 2); err != nil {
		t.Fatalf("marking twice: %v", err)
	}
	wantErr(t, db.MarkPublished(ctx, 4), ErrNotFound)
	wantErr(t, db.MarkPublished(ctx, 0), ErrInvalid)

	pending, err := db.PendingRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Revocation{revs[0], revs[2]}; !reflect.DeepEqual(pending, want) {
		t.Fatalf("PendingRevocations = %+v\nwant %+v", pending, want)
	}
	if seq, _ := db.LastRevocationSeq(ctx); seq != 3 {
		t.Errorf("LastRevocationSeq = %d, want 3 (published rows count too)", seq)
	}
}

func TestOutboxSurvivesCrashAndRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := openTestDB(t)
	enrol(t, db, "s1")
	revokeOne(t, db, "s1", "a")
	second := revokeOne(t, db, "s1", "b")
	if err := db.MarkPublished(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// Power cut: copy the files as they are on disk, without Close and
	// without a checkpoint, and start a new node on the copy.
	crashed := filepath.Join(t.TempDir(), "node.db")
	for _, suffix := range []string{"", "-wal"} {
		mustCopy(t, path+suffix, crashed+suffix)
		mustCopy(t, KeysPath(path)+suffix, KeysPath(crashed)+suffix)
	}
	db2 := openAt(t, crashed)
	pending, err := db2.PendingRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || !reflect.DeepEqual(pending[0], *second) {
		t.Fatalf("pending after crash = %+v, want only seq 2 %+v", pending, second)
	}
	if seq, _ := db2.LastRevocationSeq(ctx); seq != 2 {
		t.Fatalf("LastRevocationSeq after crash = %d, want 2", seq)
	}
	if third := revokeOne(t, db2, "s1", "c"); third.Seq != 3 {
		t.Fatalf("first revocation after restart has seq %d, want 3", third.Seq)
	}

	// A clean close and reopen keeps the same state.
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	db3 := openAt(t, crashed)
	if pending, _ := db3.PendingRevocations(ctx); len(pending) != 2 || pending[0].Seq != 2 || pending[1].Seq != 3 {
		t.Fatalf("pending after reopen = %+v, want seqs 2 and 3", pending)
	}
}

func TestLiveRevocationsSkipExpiredCodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	short, long := testCode("short", "s1"), testCode("long", "s1")
	short.Expires = t0.Add(time.Hour)
	insertCode(t, db, short)
	insertCode(t, db, long)
	insertCode(t, db, testCode("other", "s1"))
	if _, err := db.SetStatus(ctx, "s1", "red", t0); err != nil {
		t.Fatal(err)
	}
	live, err := db.LiveRevocations(ctx, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 || live[0].JTI != "long" || live[1].JTI != "other" {
		t.Fatalf("LiveRevocations = %+v, want long and other", live)
	}
}

func TestEachLiveRevocationStreamsWhatLiveRevocationsListsAndStopsOnError(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	short := testCode("short", "s1")
	short.Expires = t0.Add(time.Hour)
	insertCode(t, db, short)
	insertCode(t, db, testCode("long", "s1"))
	insertCode(t, db, testCode("other", "s1"))
	if _, err := db.SetStatus(ctx, "s1", "red", t0); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(2 * time.Hour)
	want, err := db.LiveRevocations(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	var got []RevocationEntry
	if err := db.EachLiveRevocation(ctx, at, func(e RevocationEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b RevocationEntry) int { return strings.Compare(a.JTI, b.JTI) })
	if len(got) != 2 || len(want) != 2 || got[0].JTI != want[0].JTI || got[1].JTI != want[1].JTI {
		t.Fatalf("EachLiveRevocation = %+v, want %+v", got, want)
	}
	if n, err := db.CountLiveRevocations(ctx, at); n != 2 || err != nil {
		t.Fatalf("CountLiveRevocations = %d, %v; want 2", n, err)
	}
	stop := errors.New("stop")
	calls := 0
	if err := db.EachLiveRevocation(ctx, at, func(RevocationEntry) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("EachLiveRevocation after fn failed: %v after %d calls, want stop after 1", err, calls)
	}
}

// TestEachLiveRevocationOrdersTiesByJTI: codes revoked together often
// share their expiry (a batch issued in one second), and EachLiveRevocation
// must stream them in one order, as LiveRevocations lists them (expiry,
// then jti), so that two snapshots of the same revocations encode alike.
// Ordered by expiry alone, ties came in the order the codes were
// inserted, which is not the jti's.
func TestEachLiveRevocationOrdersTiesByJTI(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	var want []string
	for i := 9; i >= 0; i-- { // inserted against jti order
		jti := fmt.Sprintf("code-%d", i)
		insertCode(t, db, testCode(jti, "s1"))
		want = append([]string{jti}, want...)
	}
	if _, err := db.SetStatus(ctx, "s1", "red", t0); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := db.EachLiveRevocation(ctx, t0, func(e RevocationEntry) error { got = append(got, e.JTI); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("EachLiveRevocation streamed %v; want the tied expiries by jti, %v", got, want)
	}
	listed, err := db.LiveRevocations(ctx, t0)
	if err != nil || len(listed) != len(want) {
		t.Fatalf("LiveRevocations = %d, %v; want %d", len(listed), err, len(want))
	}
	for i, e := range listed {
		if e.JTI != want[i] {
			t.Fatalf("LiveRevocations[%d] = %s; want %s, as EachLiveRevocation streams them", i, e.JTI, want[i])
		}
	}
}

func mustCopy(t *testing.T, from, to string) {
	t.Helper()
	if err := copyFile(from, to); err != nil {
		t.Fatal(err)
	}
}
