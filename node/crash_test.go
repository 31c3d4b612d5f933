package node_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
)

// rawDB opens the node's database file beside the node, as another
// process would, to inject failures with triggers.
func rawDB(t *testing.T, d *daemon.Daemon) *sql.DB {
	t.Helper()
	cfg := d.Node.Settings()
	db, err := sql.Open("sqlite", cfg.DBPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// auditOf returns the audit entries of action, oldest first.
func auditOf(t *testing.T, d *daemon.Daemon, action string) []store.AuditEntry {
	t.Helper()
	all, err := d.DB.AuditEntries(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// The status change's audit entry, with its sealed reason, is committed with the
// change: it is in the database the moment SetStatus returns, before any
// background writer could have run, and would survive a crash right then.
func TestStatusChangeIsAuditedWithItsReasonInTheSameTransaction(t *testing.T) {
	d := startNode(t)
	ctx := context.Background()
	e := enrol(t, d.Node, 1)
	if err := d.Node.SetStatus(ctx, operator, e.ID, "red", "close contact, case 2026-114"); err != nil {
		t.Fatal(err)
	}
	got := auditOf(t, d, "subject.status") // no wait: it must be there already
	if len(got) != 1 || got[0].Target != e.ID {
		t.Fatalf("status audit entries right after the change: %+v", got)
	}
	var detail map[string]string
	if err := json.Unmarshal([]byte(got[0].Detail), &detail); err != nil {
		t.Fatal(err)
	}
	// The reason is there sealed under the resident's data key (opened in
	// api's TestRule08DeletedResidentLeavesNothingReadableInAnyFile).
	if detail["status"] != "red" || detail["reason_sealed"] == "" || strings.Contains(got[0].Detail, "close contact") {
		t.Fatalf("detail %s: want the status and the sealed reason", got[0].Detail)
	}
	if len(auditOf(t, d, "subject.enrol")) != 1 {
		t.Fatal("the enrolment is not audited with its commit")
	}
	for _, bad := range []string{strings.Repeat("x", 201), "line\nbreak", "nul\x00"} {
		if err := d.Node.SetStatus(ctx, operator, e.ID, "green", bad); node.ErrorCodeOf(err) != node.EInvalid {
			t.Errorf("reason %q: got %v, want invalid", bad, err)
		}
	}
}

// When the audit entry cannot be written, the change it records is not
// made either; a failing background batch is retried, counted and shown
// in readiness until it is written, never dropped.
func TestFailingAuditWriteRefusesTheChangeAndRetriesBackgroundEntries(t *testing.T) {
	d := startNode(t)
	ctx := context.Background()
	e := enrol(t, d.Node, 1)
	sc, err := d.Node.AddScanner(ctx, operator, "gate", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	code, err := d.Node.IssueCode(ctx, operator, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, d)
	exec(t, raw, `CREATE TRIGGER fail_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'injected'); END`)

	if err := d.Node.SetStatus(ctx, operator, e.ID, "red", "test"); err == nil {
		t.Fatal("status change committed although its audit entry could not be written")
	}
	if s, err := d.DB.Subject(ctx, e.ID); err != nil || s.Status != "green" {
		t.Fatalf("subject after a refused change: %v %v, want green", s.Status, err)
	}

	scanner := node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: "checkpoint"}
	if v, err := d.Node.Verify(ctx, scanner, code.Code); err != nil || !v.Valid {
		t.Fatalf("verify: %+v %v", v, err)
	}
	testkit.WaitFor(t, 10*time.Second, 10*time.Millisecond, "the failing batch to be counted and shown in readiness", func() error {
		if counter(t, d, "hcfed_audit_write_failures_total") < 2 {
			return errors.New("fewer than two failed attempts")
		}
		if err := d.Node.Ready(ctx); err == nil || !strings.Contains(err.Error(), "audit") {
			return errors.New("ready although audit writes fail")
		}
		return nil
	})
	exec(t, raw, `DROP TRIGGER fail_audit`)
	testkit.WaitFor(t, 15*time.Second, 10*time.Millisecond, "the retried verification entry", func() error {
		if len(auditOf(t, d, "code.verify")) != 1 {
			return errors.New("verification not audited yet")
		}
		return d.Node.Ready(ctx)
	})
	if lost := counter(t, d, "hcfed_audit_entries_lost_total"); lost != 0 {
		t.Fatalf("%v entries lost", lost)
	}
}

// An entry audited after the node closed (a request still running past
// the shutdown timeout) does not panic: it is written directly while the
// database is open, and counted lost, loudly, once it is closed.
func TestAuditAfterCloseIsWrittenOrCountedLostWithoutPanic(t *testing.T) {
	d := startNode(t)
	ctx := context.Background()
	e := enrol(t, d.Node, 1)
	sc, err := d.Node.AddScanner(ctx, operator, "gate", "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	code, err := d.Node.IssueCode(ctx, operator, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	scanner := node.Principal{Role: node.RoleScanner, ScannerID: sc.ID, Place: "checkpoint"}
	d.Node.Close()
	if _, err := d.Node.Verify(ctx, scanner, code.Code); err != nil {
		t.Fatal(err)
	}
	if n := len(auditOf(t, d, "code.verify")); n != 1 {
		t.Fatalf("verification after the node closed: %d entries, want 1 written directly", n)
	}
	if err := d.DB.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Node.Verify(ctx, scanner, code.Code); err != nil {
		t.Fatal(err)
	}
	if lost := counter(t, d, "hcfed_audit_entries_lost_total"); lost != 1 {
		t.Fatalf("lost entries counted: %v, want 1", lost)
	}
}

// Of concurrent resolutions of one appeal, exactly one wins; the others
// get a conflict and their status change is not applied.
func TestConcurrentResolutionsOfOneAppealApplyOnlyTheWinnersStatus(t *testing.T) {
	d := startNode(t)
	ctx := context.Background()
	e := enrol(t, d.Node, 1)
	resident := node.Principal{Role: node.RoleResident, SubjectID: e.ID}
	a, err := d.Node.FileAppeal(ctx, resident, "", "I was never in that place")
	if err != nil {
		t.Fatal(err)
	}
	statuses := []string{"red", "yellow", "red", "yellow", "red", "yellow", "red", "yellow"}
	errs := make([]error, len(statuses))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, st := range statuses {
		wg.Go(func() {
			<-start
			_, errs[i] = d.Node.ResolveAppeal(ctx, operator, a.ID, node.Resolution{Outcome: node.AppealUpheld, Status: st})
		})
	}
	close(start)
	wg.Wait()
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil && winner == "":
			winner = statuses[i]
		case err == nil:
			t.Fatalf("two resolutions succeeded")
		case node.ErrorCodeOf(err) != node.EConflict:
			t.Fatalf("loser got %v, want conflict", err)
		}
	}
	if winner == "" {
		t.Fatal("no resolution succeeded")
	}
	s, err := d.DB.Subject(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := d.DB.Appeal(ctx, a.ID)
	if s.Status != winner || got.AppliedStatus != winner {
		t.Fatalf("subject %s, appeal applied %s, winner %s", s.Status, got.AppliedStatus, winner)
	}
	if n := len(auditOf(t, d, "subject.status")); n != 1 {
		t.Fatalf("%d status changes audited, want the winner's only", n)
	}
}

// A key change that fails half-way (here its UPDATE of the keys table)
// leaves database, keyring, keyset and issuer as they were, agreeing.
func TestKeyChangeFailingHalfWayLeavesDatabaseKeyringAndIssuerAgreeing(t *testing.T) {
	d := startNode(t)
	ctx := context.Background()
	e := enrol(t, d.Node, 1)
	before, err := d.Node.Keys(operator)
	if err != nil {
		t.Fatal(err)
	}
	keyset := d.Node.Keyset()
	exec(t, rawDB(t, d), `CREATE TRIGGER fail_keys BEFORE UPDATE ON keys BEGIN SELECT RAISE(ABORT, 'injected'); END`)
	if err := d.Node.RotateKeys(ctx, admin(t, d.Node)); err == nil {
		t.Fatal("rotation succeeded although its write failed")
	}
	after, err := d.Node.Keys(operator)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := d.DB.Keys(ctx, "sign")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || len(rows) != len(before) {
		t.Fatalf("keys before %v, in memory after %v, in the database %v", before, after, rows)
	}
	active := ""
	for i := range before {
		if after[i].KID != before[i].KID || after[i].State != before[i].State ||
			rows[i].KID != before[i].KID || rows[i].State != before[i].State {
			t.Fatalf("key %d: before %s %s, in memory %s %s, in the database %s %s", i, before[i].KID, before[i].State,
				after[i].KID, after[i].State, rows[i].KID, rows[i].State)
		}
		if before[i].State == "active" {
			active = before[i].KID
		}
	}
	if d.Node.Keyset() != keyset {
		t.Fatal("the keyset changed although the key change failed")
	}
	if stored, _ := d.DB.GetMeta(ctx, "keyset"); stored != keyset {
		t.Fatal("the stored keyset is not the one served")
	}
	code, err := d.Node.IssueCode(ctx, operator, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if kid := testkit.CodeKID(t, code.Code); kid != active {
		t.Fatalf("new code signed by %s, want the still active %s", kid, active)
	}
	if n := len(auditOf(t, d, "key.rotate")); n != 0 {
		t.Fatalf("%d rotations audited, want none", n)
	}
}

// counter reads a counter of the node's metrics.
func counter(t *testing.T, d *daemon.Daemon, name string) float64 {
	t.Helper()
	mfs, err := d.Node.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
