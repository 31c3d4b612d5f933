package daemon_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
)

// TestRestoreHoldsResidentsSetAfterTheBackupUntilTheirStatusIsSetAgain:
// a resident set red after a backup is green again in the restored
// database. Before, the restored node issued them green codes that
// verified in every province. Now the revocation published when they
// were set red, taken back from the federation at reconciliation, holds
// them: issuing is refused (409 status_unconfirmed, saying why and what
// to do) and their record shows it, while a resident untouched since the
// backup is issued codes as before. Setting the status again, singly or
// as a bulk line naming the status they hold, lets issuance resume.
func TestRestoreHoldsResidentsSetAfterTheBackupUntilTheirStatusIsSetAgain(t *testing.T) {
	t.Parallel()
	f := startFederation(t, threeProvinces, nil)
	const home = 0
	untouched, _ := f.enrolAndIssue(home, "未变", testkit.IDNumber("440106199002", 1))
	single, singleCode := f.enrolAndIssue(home, "单改", testkit.IDNumber("440106199002", 2))
	bulk, bulkCode := f.enrolAndIssue(home, "批改", testkit.IDNumber("440106199002", 3))
	backup := f.backup(home)
	// After the backup: both are set red, their codes revoked everywhere.
	f.setStatus(home, single, "red")
	f.setStatus(home, bulk, "red")
	for i := range f.c.Nodes {
		f.eventually(i, singleCode, "revoked")
		f.eventually(i, bulkCode, "revoked")
	}

	f.restore(home, backup)

	type apiError struct {
		Error struct{ Code, Message string }
	}
	for _, s := range []string{single, bulk} {
		var e apiError
		if st := f.call(home, "POST", "/v1/subjects/"+s+"/codes", f.c.Tokens[home], nil, &e); st != http.StatusConflict ||
			e.Error.Code != "status_unconfirmed" || !strings.Contains(e.Error.Message, "restored from a backup") {
			t.Fatalf("code for a resident set red after the backup: %d %+v; want 409 status_unconfirmed saying the node was restored", st, e)
		}
		var r struct {
			Status            string `json:"status"`
			StatusUnconfirmed bool   `json:"status_unconfirmed"`
		}
		if st := f.call(home, "GET", "/v1/subjects/"+s, f.c.Tokens[home], nil, &r); st != http.StatusOK || !r.StatusUnconfirmed {
			t.Fatalf("record of a held resident: %d %+v; want status_unconfirmed", st, r)
		}
	}
	// Untouched since the backup: codes as before, valid everywhere.
	fresh := f.issue(home, untouched)
	for i := range f.c.Nodes {
		f.eventually(i, fresh, "ok")
	}

	// Set again: singly (to red), and as a bulk line naming the status
	// the restored database holds (green, as the health authority now
	// says), which for anyone else would be "unchanged".
	f.setStatus(home, single, "red")
	if st := f.call(home, "POST", "/v1/statuses", f.c.Tokens[home], map[string]string{"subject": bulk, "status": "green"}, nil); st != http.StatusOK {
		t.Fatalf("POST /v1/statuses: %d", st)
	}
	for _, s := range []string{single, bulk} {
		code := f.issue(home, s)
		for i := range f.c.Nodes {
			f.eventually(i, code, "ok")
		}
	}
}
