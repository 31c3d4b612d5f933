package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestAuditByTargetsPerActorKeepsOtherActorsUnderAFlood pins that one
// actor's flood of entries (a province sending receipt after receipt)
// cannot hide another actor's older entry from the newest-first listing,
// as it did when the listing took the newest entries before anything else;
// and that repeats of one entry count once.
func TestAuditByTargetsPerActorKeepsOtherActorsUnderAFlood(t *testing.T) {
	ctx := context.Background()
	db, _ := openTestDB(t)
	at := time.Unix(1_800_000_000, 0)
	add := func(actor, detail string) {
		t.Helper()
		at = at.Add(time.Second)
		if err := db.AppendAudit(ctx, AuditEntry{Time: at, Actor: actor, Action: "peer.verify", Target: "t1", Detail: detail}); err != nil {
			t.Fatal(err)
		}
	}
	add("peer:310000", `{"place":"station","day":"2026-11-30"}`)
	for i := range 600 {
		add("peer:440000", fmt.Sprintf(`{"place":"p%d","day":"2026-11-30"}`, i))
		add("peer:440000", `{"place":"checkpoint","day":"2026-11-30"}`) // the same receipt again
	}
	const limit, perActor = 500, 200
	if old, _ := db.AuditByTargets(ctx, "peer.verify", []string{"t1"}, limit); countActor(old, "peer:310000") != 0 {
		t.Fatal("the flood no longer hides the other province from AuditByTargets: is the test still a flood?")
	}
	got, err := db.AuditByTargetsPerActor(ctx, "peer.verify", []string{"t1"}, perActor, limit)
	if err != nil {
		t.Fatal(err)
	}
	if countActor(got, "peer:310000") != 1 || countActor(got, "peer:440000") != perActor {
		t.Fatalf("%d entries of 310000 (want 1), %d of the flooding 440000 (want %d)",
			countActor(got, "peer:310000"), countActor(got, "peer:440000"), perActor)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq >= got[i-1].Seq {
			t.Fatal("not newest first")
		}
	}
}

func countActor(es []AuditEntry, actor string) int {
	n := 0
	for _, e := range es {
		if e.Actor == actor {
			n++
		}
	}
	return n
}

// TestAuditDetailsOfReadsOneActorsEntriesAboutOneTarget pins what a home
// node reads to learn which verifications of a code one province has had
// recorded: only that actor's entries of that action about that target,
// newest first, at most limit.
func TestAuditDetailsOfReadsOneActorsEntriesAboutOneTarget(t *testing.T) {
	ctx := context.Background()
	db, _ := openTestDB(t)
	at := time.Unix(1_800_000_000, 0)
	for i, e := range []AuditEntry{
		{Actor: "peer:310000", Action: "peer.verify", Target: "t1", Detail: `{"place":"a"}`},
		{Actor: "peer:110000", Action: "peer.verify", Target: "t1", Detail: `{"place":"other actor"}`},
		{Actor: "peer:310000", Action: "peer.verify", Target: "t2", Detail: `{"place":"other target"}`},
		{Actor: "peer:310000", Action: "code.verify", Target: "t1", Detail: `{"place":"other action"}`},
		{Actor: "peer:310000", Action: "peer.verify", Target: "t1", Detail: `{"place":"b"}`},
		{Actor: "peer:310000", Action: "peer.verify", Target: "t1", Detail: `{"place":"c"}`},
	} {
		e.Time = at.Add(time.Duration(i) * time.Second)
		if err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.AuditDetailsOf(ctx, "peer.verify", "peer:310000", "t1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != `[{"place":"c"} {"place":"b"}]` {
		t.Fatalf("got %q, want the two newest of 310000 about t1", got)
	}
	if _, err := db.AuditDetailsOf(ctx, "peer.verify", "", "t1", 2); err == nil {
		t.Fatal("an empty actor was accepted")
	}
}
