package daemon_test

import (
	"path/filepath"
	"testing"

	"github.com/hcfed/hcfed/node"
)

// TestLookupCaseIDIsKeptOnlyAsATagTheAuditorFinds: a lookup's case id
// ties it to a person's case file at the asking province. Neither node's
// database files hold it (both audit logs, and the asker's sealed copy,
// keep a keyed tag), yet an auditor given the case id finds every entry
// of its lookups at each end, and the resident looked up still reads the
// case. Before, both audit logs and Shanghai's lookups table held
// "SH-CASE-2026-0042" in clear.
func TestLookupCaseIDIsKeptOnlyAsATagTheAuditorFinds(t *testing.T) {
	t.Parallel()
	f := startLookupFederation(t)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	gone := f.enrolWithPhone(gd, "陈丽华", idWithCheck("44030519851212456"), "13912345602")
	f.mustCall(gd, "DELETE", "/v1/subjects/"+gone.ID, gone.Token, nil, nil, 204)
	f.waitPeersReady()

	const found, notFound = "SH-CASE-2026-0042", "SH-CASE-2026-0043"
	if st, _, got := f.lookupWhenConnected(sh, map[string]string{"code": traveler.Code,
		"legal_basis": legalBasis, "case_id": found}); st != 200 || got["found"] != true {
		t.Fatalf("lookup: %d %v", st, got)
	}
	if st, _, got := f.lookup(sh, map[string]string{"code": gone.Code,
		"legal_basis": legalBasis, "case_id": notFound}); st != 200 || got["found"] != false {
		t.Fatalf("lookup of a deleted resident: %d %v", st, got)
	}
	f.auditOf(sh, "lookup.result", 2)
	f.auditOf(gd, "lookup.answer", 2)
	for _, i := range []int{sh, gd} {
		requireNotInFiles(t, filepath.Dir(f.c.Configs[i].DBPath()), found, notFound)
	}

	// The auditor at each end finds the lookups of each case, and only them.
	for _, tc := range []struct {
		node    int
		caseID  string
		actions []string
		target  string // of the newest entry, when it names it
	}{
		{sh, found, []string{"lookup.result", "lookup.request"}, ""},
		{sh, notFound, []string{"lookup.result", "lookup.request"}, ""},
		{gd, found, []string{"lookup.answer"}, traveler.ID},
		{gd, notFound, []string{"lookup.answer"}, ""},
		{gd, "SH-CASE-NEVER-ASKED", nil, ""},
	} {
		var out struct {
			Entries []node.LookupAuditEntry `json:"entries"`
		}
		f.mustCall(tc.node, "POST", "/v1/audit/lookups", f.c.Tokens[tc.node], map[string]string{"case_id": tc.caseID}, &out, 200)
		var got []string
		for _, e := range out.Entries {
			got = append(got, e.Action)
		}
		if len(got) != len(tc.actions) || (len(got) > 0 && got[0] != tc.actions[0]) ||
			(tc.target != "" && out.Entries[0].Target != tc.target) {
			t.Errorf("%s's auditor for case %s finds %+v, want %v", f.c.Configs[tc.node].Province, tc.caseID, out.Entries, tc.actions)
		}
	}
	// Not for a scanner or a resident, and not without a case id.
	f.mustCall(gd, "POST", "/v1/audit/lookups", traveler.Token, map[string]string{"case_id": found}, nil, 403)
	f.mustCall(gd, "POST", "/v1/audit/lookups", f.c.Tokens[gd], map[string]string{"case_id": ""}, nil, 400)

	// The resident reads the case they were looked up for.
	var seen struct {
		Lookups []node.LookupRecord `json:"lookups"`
	}
	f.mustCall(gd, "GET", "/v1/subjects/"+traveler.ID+"/lookups", traveler.Token, nil, &seen, 200)
	if len(seen.Lookups) != 1 || seen.Lookups[0].CaseID != found || seen.Lookups[0].LegalBasis != legalBasis {
		t.Fatalf("the resident is told %+v", seen.Lookups)
	}
}
