package node_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
	"github.com/hcfed/hcfed/node/store"
)

// startWithResident starts a node on a clock of its own, with one
// resident enrolled, and returns that resident's principal too.
func startWithResident(t *testing.T) (*testClock, *daemon.Daemon, node.Enrolled, node.Principal) {
	t.Helper()
	clock := &testClock{now: time.Now()}
	d := startNodeAt(t, clock)
	e := enrol(t, d.Node, 1)
	return clock, d, e, node.Principal{Role: node.RoleResident, SubjectID: e.ID}
}

// A resident deleted by the retention pass is forgotten as one who deletes
// their own record is: their resident token, resolved a second before and
// still cached, is refused at once, and the QR image of their code (which
// expired unrevoked, so no revocation dropped it) leaves memory.
func TestRetentionDeletionForgetsTheResidentsCachedTokenAndQRImages(t *testing.T) {
	clock, d, e, resident := startWithResident(t)
	n := d.Node
	ctx := context.Background()
	code, err := n.IssueCode(ctx, resident, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.CodeQR(ctx, resident, code.JTI); err != nil || node.QRCached(n) != 1 {
		t.Fatalf("QR: %v, %d cached; want 1", err, node.QRCached(n))
	}
	clock.Add(n.Settings().Privacy.Retention.Subjects - time.Second)
	if p, err := n.Authenticate(ctx, e.ResidentToken); err != nil || p.SubjectID != e.ID {
		t.Fatalf("resident token before retention: %+v, %v", p, err)
	}
	clock.Add(time.Second)
	r, err := n.Retain(ctx)
	if err != nil || r.Subjects != 1 {
		t.Fatalf("retention pass: %+v, %v; want one subject deleted", r, err)
	}
	if p, err := n.Authenticate(ctx, e.ResidentToken); err == nil {
		t.Fatalf("the token of a resident deleted by retention still authenticates as %+v", p)
	}
	if got := node.QRCached(n); got != 0 {
		t.Fatalf("%d QR images of a resident deleted by retention still cached, want 0", got)
	}
}

// Retention counts from a resident's last code, not from their enrolment
// (privacy.retention.subjects: "kept this long after last use"): a
// resident who asks for a code two days before the date set at enrolment
// is kept past it, and deleted privacy.retention.subjects after that
// code, not before.
func TestRetentionCountsFromTheResidentsLastCode(t *testing.T) {
	clock, d, e, resident := startWithResident(t)
	n := d.Node
	ctx := context.Background()
	keep := n.Settings().Privacy.Retention.Subjects
	start := clock.Now()
	clock.Add(keep - 48*time.Hour)
	if err := n.Tick(ctx); err != nil { // keys rotated for the new date; nothing is due for retention yet
		t.Fatal(err)
	}
	if _, err := n.IssueCode(ctx, resident, e.ID, false); err != nil {
		t.Fatal(err)
	}
	retain := func(want int) {
		t.Helper()
		if r, err := n.Retain(ctx); err != nil || r.Subjects != want {
			t.Fatalf("retention pass at +%v: %+v, %v; want %d subjects deleted", clock.Now().Sub(start), r, err, want)
		}
	}
	clock.Add(48 * time.Hour) // the date set at enrolment
	retain(0)
	clock.Add(keep - 48*time.Hour - time.Second) // a second before keep after the code
	retain(0)
	if _, err := n.SubjectRecord(ctx, operator, e.ID); err != nil {
		t.Fatalf("record a second before its retention date: %v", err)
	}
	clock.Add(time.Second)
	retain(1)
}

// A yellow or red resident is held past their retention, as from their
// own deletion: deleted, their record would no longer refuse a second
// enrolment of their ID number, and a resident who stayed away until it
// lapsed would be enrolled again green. Once green again, the next pass
// deletes them.
func TestRetentionHoldsAYellowOrRedResidentUntilGreen(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startNodeAt(t, clock)
	n := d.Node
	ctx := context.Background()
	red, yellow, green := enrol(t, n, 1), enrol(t, n, 2), enrol(t, n, 3)
	for _, s := range []struct{ id, status string }{{red.ID, "red"}, {yellow.ID, "yellow"}} {
		if err := n.SetStatus(ctx, operator, s.id, s.status, ""); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(n.Settings().Privacy.Retention.Subjects + time.Hour)
	if r, err := n.Retain(ctx); err != nil || r.Subjects != 1 {
		t.Fatalf("retention pass: %+v, %v; want only the green resident deleted", r, err)
	}
	if _, err := n.SubjectRecord(ctx, operator, green.ID); err == nil {
		t.Errorf("the green resident past retention was kept")
	}
	for _, id := range []string{red.ID, yellow.ID} {
		if _, err := n.SubjectRecord(ctx, operator, id); err != nil {
			t.Fatalf("a held resident was deleted by retention: %v", err)
		}
	}
	if _, err := n.Enrol(ctx, operator, node.Enrolment{Name: "张三", IDNumber: idNumber(1),
		Consent: node.ConsentInput{NoticeVersion: n.Settings().Privacy.NoticeVersion, Accepted: true}}); err == nil {
		t.Fatalf("the red resident's ID number was enrolled again past their retention")
	}
	if err := n.SetStatus(ctx, operator, red.ID, "green", ""); err != nil {
		t.Fatal(err)
	}
	if r, err := n.Retain(ctx); err != nil || r.Subjects != 1 {
		t.Fatalf("retention pass after green: %+v, %v; want the resident now green deleted", r, err)
	}
	if _, err := n.SubjectRecord(ctx, operator, yellow.ID); err != nil {
		t.Fatalf("the yellow resident was deleted: %v", err)
	}
}

// A retention pass that deletes many residents truncates keys.db's WAL
// once, not once per resident: each truncation makes issuance wait at the
// key gate, and a pass of a thousand deletions made it wait a thousand
// times. The truncation still comes before the pass reports them
// deleted: when Retain returns, the WAL is empty.
func TestRetentionPassTruncatesTheKeyStoreWALOnce(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startNodeAt(t, clock)
	n := d.Node
	ctx := context.Background()
	const residents = 8
	for i := range residents {
		enrol(t, n, i+1)
	}
	held := enrol(t, n, residents+1)
	if err := n.SetStatus(ctx, operator, held.ID, "red", ""); err != nil {
		t.Fatal(err)
	}
	clock.Add(n.Settings().Privacy.Retention.Subjects + time.Hour)
	before := node.KeysTruncations(n)
	r, err := n.Retain(ctx)
	if err != nil || r.Subjects != residents {
		t.Fatalf("retention pass: %+v, %v; want %d residents deleted", r, err, residents)
	}
	if k := node.KeysTruncations(n) - before; k != 1 {
		t.Fatalf("the pass truncated keys.db's WAL %d times for %d residents; want once", k, residents)
	}
	wal := filepath.Join(n.Settings().DataDir, store.KeysFile+"-wal")
	if fi, err := os.Stat(wal); err == nil && fi.Size() != 0 {
		t.Fatalf("keys.db's WAL holds %d bytes after the pass reported its deletions; want it emptied", fi.Size())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if _, err := n.SubjectRecord(ctx, operator, held.ID); err != nil {
		t.Fatalf("the red resident was deleted by retention: %v", err)
	}
}

// A resolved appeal's text (which may name other people) is deleted
// privacy.retention.appeals after its resolution, even while the
// resident's record is held: the resident's other appeal, still open,
// stays, and the audit log keeps what was decided, never the text.
func TestResolvedAppealsAreDeletedAfterTheirRetentionAndTheAuditKeepsTheDecision(t *testing.T) {
	clock, d, e, resident := startWithResident(t)
	n := d.Node
	ctx := context.Background()
	if err := n.SetStatus(ctx, operator, e.ID, "red", "contact"); err != nil {
		t.Fatal(err)
	}
	const secret = "I was with Li Si at the market, not at the station"
	decided, err := n.FileAppeal(ctx, resident, "", secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.FileAppeal(ctx, resident, "", "a second appeal, still open"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ResolveAppeal(ctx, operator, decided.ID, node.Resolution{Outcome: node.AppealRejected, Note: "Li Si was a case"}); err != nil {
		t.Fatal(err)
	}
	keep := n.Settings().Privacy.Retention.Appeals
	if keep != config.DefaultAppealRetention {
		t.Fatalf("privacy.retention.appeals defaults to %v, want %v", keep, config.DefaultAppealRetention)
	}
	appeals := func() []node.Appeal {
		t.Helper()
		as, err := n.AppealsOf(ctx, resident, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	clock.Add(keep - time.Second)
	if r, err := n.Retain(ctx); err != nil || r.Appeals != 0 || len(appeals()) != 2 {
		t.Fatalf("a second before the retention ends: %+v, %v, %d appeals; want both kept", r, err, len(appeals()))
	}
	clock.Add(time.Second)
	if r, err := n.Retain(ctx); err != nil || r.Appeals != 1 {
		t.Fatalf("retention pass: %+v, %v; want one appeal deleted", r, err)
	}
	if as := appeals(); len(as) != 1 || as[0].Status != node.AppealOpen {
		t.Fatalf("after the retention the resident has %+v, want only the open appeal", as)
	}
	entries, err := d.DB.AuditEntries(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var kept bool
	for _, a := range entries {
		if strings.Contains(a.Detail, "Li Si") {
			t.Errorf("the audit log holds appeal text: %+v", a)
		}
		if a.Action == "appeal.retention_delete" && a.Target == e.ID && strings.Contains(a.Detail, `"appeal":"`+decided.ID+`"`) &&
			strings.Contains(a.Detail, `"outcome":"rejected"`) {
			kept = true
		}
	}
	if !kept {
		t.Errorf("no audit entry records the deleted appeal and its outcome")
	}
}

// A pass deletes batch after batch of residents past their retention, as
// an outbreak's residents reach it together; one that runs out of its
// time leaves the rest to the node's next tick, a minute later, not an
// hour. One batch an hour took 42 days over a million residents.
func TestRetentionDeletesBatchAfterBatchAndTheNextTickGoesOn(t *testing.T) {
	clock := &testClock{now: time.Now()}
	d := startNodeAt(t, clock)
	n := d.Node
	ctx := context.Background()
	var ids []string
	for i := range 7 {
		ids = append(ids, enrol(t, n, i+1).ID)
	}
	clock.Add(n.Settings().Privacy.Retention.Subjects + time.Hour)
	left := func() int {
		k := 0
		for _, id := range ids {
			if _, err := n.SubjectRecord(ctx, operator, id); err == nil {
				k++
			}
		}
		return k
	}

	node.SetRetentionBatch(n, 2, 0) // each pass's time runs out after its first batch
	for _, want := range []int{5, 3} {
		if err := n.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if k := left(); k != want {
			t.Fatalf("after a tick, %d residents past their retention left; want %d", k, want)
		}
		clock.Add(time.Minute)
	}
	node.SetRetentionBatch(n, 2, time.Hour)
	if r, err := n.Retain(ctx); err != nil || r.Subjects != 3 || r.SubjectsLeft {
		t.Fatalf("a pass with time for every batch: %+v, %v; want the last 3 deleted in two batches, none left", r, err)
	}
	if k := left(); k != 0 {
		t.Fatalf("%d residents past their retention left; want none", k)
	}
}
