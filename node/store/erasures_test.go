package store

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// erasurePlanOf is a plan that queues one erasure per audit entry of
// action "lookup.answer", to the entry's actor, for the code in its
// detail, and records the entries and the pending count it was given.
func erasurePlanOf(seen *[]AuditEntry, pending *ErasuresPending) ErasurePlan {
	return ErasurePlan{Action: "lookup.answer", Limit: 10, Make: func(entries []AuditEntry, n ErasuresPending) []Erasure {
		*seen, *pending = entries, n
		var out []Erasure
		for _, e := range entries {
			out = append(out, Erasure{Asker: e.Actor, Codes: []string{e.Detail}, Subject: e.Target, Actor: "resident",
				Created: t0, Expires: t0.Add(time.Hour)})
		}
		return out
	}}
}

// dbWithAnswers is a database with residents s1 and s2 enrolled and
// entries in its audit log.
func dbWithAnswers(t *testing.T, entries []AuditEntry) *DB {
	t.Helper()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	enrol(t, db, "s2")
	for _, e := range entries {
		if err := db.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// A deletion queues its erasures in its own transaction, from the audit
// entries about the subject only: a refused deletion queues none, and
// the outbox lists them by province, retries, revives, acknowledges and
// expires them.
func TestDeleteSubjectErasingQueuesErasuresWithTheDeletion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := dbWithAnswers(t, []AuditEntry{
		{Time: t0, Actor: "310000", Action: "lookup.answer", Target: "s1", Detail: "code-a"},
		{Time: t0, Actor: "110000", Action: "lookup.answer", Target: "s1", Detail: "code-b"},
		{Time: t0, Actor: "110000", Action: "lookup.answer", Target: "s2", Detail: "code-of-s2"},
		{Time: t0, Actor: "110000", Action: "lookup.refuse", Target: "s1", Detail: "refused"},
	})
	var seen []AuditEntry
	var pending ErasuresPending
	held := errors.New("held")
	if _, err := db.DeleteSubjectErasing(ctx, "s1", t0, func(string, bool) error { return held }, erasurePlanOf(&seen, &pending)); !errors.Is(err, held) {
		t.Fatalf("a held deletion: %v", err)
	}
	if st, err := db.ErasureState(ctx); err != nil || st.Pending != 0 {
		t.Fatalf("after a held deletion the outbox holds %+v, %v; want nothing", st, err)
	}
	if _, err := db.DeleteSubjectErasing(ctx, "s1", t0, nil, erasurePlanOf(&seen, &pending)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || pending.Total != 0 || len(pending.ByAsker) != 0 {
		t.Fatalf("the plan saw %d entries and %+v pending; want s1's 2 answers and none", len(seen), pending)
	}
	askers, err := db.ErasureAskers(ctx, t0, 10)
	if err != nil || len(askers) != 2 || askers[0] != (ErasureAsker{"110000", t0}) || askers[1] != (ErasureAsker{"310000", t0}) {
		t.Fatalf("erasure askers: %+v, %v; want 110000 and 310000, due at once", askers, err)
	}
	var due []Erasure
	for _, a := range askers {
		got, err := db.DueErasures(ctx, a.Asker, t0, 10)
		if err != nil || len(got) != 1 || got[0].Asker != a.Asker {
			t.Fatalf("due erasures to %s: %+v, %v; want 1", a.Asker, got, err)
		}
		due = append(due, got...)
	}
	var codes []string
	for _, e := range due {
		codes = append(codes, e.Codes...)
		if e.Subject != "s1" || e.Actor != "resident" || e.Attempts != 0 || !e.Expires.Equal(t0.Add(time.Hour)) {
			t.Errorf("queued %+v", e)
		}
	}
	if slices.Sort(codes); !slices.Equal(codes, []string{"code-a", "code-b"}) {
		t.Errorf("queued codes %v", codes)
	}

	// One acknowledged, one failed: the failed one waits for its next try.
	if err := db.ErasureSent(ctx, due[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.ErasureSent(ctx, due[0].ID); err != nil {
		t.Errorf("an erasure acknowledged twice: %v", err)
	}
	next := t0.Add(time.Minute)
	if err := db.ErasureFailed(ctx, due[1].ID, next); err != nil {
		t.Fatal(err)
	}
	failed := due[1].Asker
	if got, err := db.DueErasures(ctx, failed, t0, 10); err != nil || len(got) != 0 {
		t.Fatalf("due before its next try: %+v, %v", got, err)
	}
	if st, err := db.ErasureState(ctx); err != nil || st.Pending != 1 || !st.NextTry.Equal(next) {
		t.Fatalf("state %+v, %v; want 1 pending, next at %v", st, err, next)
	}
	if got, err := db.ErasureAskers(ctx, t0, 10); err != nil || len(got) != 1 || got[0] != (ErasureAsker{failed, next}) {
		t.Fatalf("erasure askers: %+v, %v; want %s at %v", got, err, failed, next)
	}
	if got, err := db.DueErasures(ctx, failed, next, 10); err != nil || len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("due at its next try: %+v, %v; want it, after 1 attempt", got, err)
	}
	// Its province is seen back: due at once, its backoff started again.
	if n, err := db.ReviveErasures(ctx, due[0].Asker, t0); err != nil || n != 0 {
		t.Fatalf("reviving a province with nothing left: %d, %v", n, err)
	}
	back := t0.Add(time.Second)
	if n, err := db.ReviveErasures(ctx, failed, back); err != nil || n != 1 {
		t.Fatalf("revived %d, %v; want 1", n, err)
	}
	if got, err := db.DueErasures(ctx, failed, back, 10); err != nil || len(got) != 1 || got[0].Attempts != 0 || !got[0].NextTry.Equal(back) {
		t.Fatalf("due once revived: %+v, %v; want it, at %v, after no attempt", got, err, back)
	}
	if got, err := db.DeleteExpiredErasures(ctx, t0.Add(time.Hour-time.Nanosecond)); err != nil || len(got) != 0 {
		t.Fatalf("expired before its time: %+v, %v", got, err)
	}
	if got, err := db.DueErasures(ctx, failed, t0.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("an expired erasure is due: %+v, %v", got, err)
	}
	if got, err := db.ErasureAskers(ctx, t0.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("an expired erasure's province is listed: %+v, %v", got, err)
	}
	if n, err := db.ReviveErasures(ctx, failed, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("an expired erasure revived: %d, %v", n, err)
	}
	if got, err := db.DeleteExpiredErasures(ctx, t0.Add(time.Hour)); err != nil || len(got) != 1 || got[0].ID != due[1].ID {
		t.Fatalf("expired: %+v, %v; want the failed one", got, err)
	}
	if st, err := db.ErasureState(ctx); err != nil || st.Pending != 0 || !st.NextTry.IsZero() {
		t.Fatalf("state after expiry %+v, %v; want empty", st, err)
	}
}

// A deletion's plan is given the erasures pending by province, so that
// each province's share of the outbox can be kept: a province that never
// acknowledges must not use up the room of the others.
func TestErasurePlanIsGivenThePendingErasuresByProvince(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var answers []AuditEntry
	for _, a := range [][3]string{{"310000", "s1", "code-a"}, {"310000", "s1", "code-b"}, {"110000", "s1", "code-c"}, {"110000", "s2", "code-d"}} {
		answers = append(answers, AuditEntry{Time: t0, Actor: a[0], Action: "lookup.answer", Target: a[1], Detail: a[2]})
	}
	db := dbWithAnswers(t, answers)
	var seen []AuditEntry
	var pending ErasuresPending
	for _, s := range []string{"s1", "s2"} {
		if _, err := db.DeleteSubjectErasing(ctx, s, t0, nil, erasurePlanOf(&seen, &pending)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"310000": 2, "110000": 1}
	if pending.Total != 3 || !maps.Equal(pending.ByAsker, want) {
		t.Errorf("s2's deletion was given %+v pending; want 3 in all, %v", pending, want)
	}
}

// A lookup's answer is recorded only while its resident exists, in the
// writer's order: appended before the deletion, the deletion finds it
// and queues its erasure; after, it is refused and nothing is appended.
func TestLookupAnswerIsRecordedOnlyWhileItsResidentExists(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	answer := AuditEntry{Time: t0, Actor: "310000", Action: "lookup.answer", Target: "s1", Detail: "code-a"}
	if err := db.AppendAuditOfSubject(ctx, "s1", answer); err != nil {
		t.Fatal(err)
	}
	var seen []AuditEntry
	var pending ErasuresPending
	if _, err := db.DeleteSubjectErasing(ctx, "s1", t0, nil, erasurePlanOf(&seen, &pending)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("the deletion saw %d answers, want the 1 recorded before it", len(seen))
	}
	before, err := db.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendAuditOfSubject(ctx, "s1", answer); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an answer about a deleted resident: %v, want ErrNotFound", err)
	}
	after, err := db.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the audit log held %d entries before the refused answer and %d after", before, after)
	}
	if err := db.AppendAuditOfSubject(ctx, "s1", AuditEntry{Actor: "310000", Action: "lookup.answer"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an entry without time: %v, want ErrInvalid", err)
	}
}

// The erasure sender's queries of one province read that province's
// erasures by the index on (asker, next_try), in next_try order, not
// every erasure due of every province (the outbox holds up to 200,000):
// a range of the index for the due ones, with no sort of its own; the
// provinces listed, and the erasures counted by province, without a
// temporary tree to group them.
func TestErasureSenderQueriesUseTheIndexByAsker(t *testing.T) {
	db, _ := openTestDB(t)
	plans := requirePlans(t, db, []planCase{
		{"due erasures", dueErasuresSQL, []any{"310000", 1, 1, 100}, "INDEX erasures_by_asker (asker=? AND next_try<?)"},
		{"revive", reviveErasuresSQL, []any{1, "310000", 1}, "INDEX erasures_by_asker (asker=?)"},
		{"askers", erasureAskersSQL, []any{1, 1000}, "SCAN erasures USING INDEX erasures_by_asker"},
		{"pending", erasuresPendingSQL, nil, "SCAN erasures USING COVERING INDEX erasures_by_asker"},
	})
	for _, name := range []string{"due erasures", "revive", "pending"} {
		if strings.Contains(plans[name], "TEMP B-TREE") {
			t.Errorf("%s: plan sorts what it read:\n%s", name, plans[name])
		}
	}
}

// planCase is a query, its arguments and what its plan must read.
type planCase struct {
	name, sql string
	args      []any
	want      string
}

// requirePlans fails t for each case whose plan does not read what it
// must, and returns the plans by name.
func requirePlans(t *testing.T, db *DB, cases []planCase) map[string]string {
	t.Helper()
	plans := map[string]string{}
	for _, c := range cases {
		plan := queryPlan(t, db, c.sql, c.args...)
		if !strings.Contains(plan, c.want) {
			t.Errorf("%s: plan does not read %q:\n%s", c.name, c.want, plan)
		}
		plans[c.name] = plan
	}
	return plans
}
