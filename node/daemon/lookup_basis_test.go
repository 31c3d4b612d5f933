package daemon_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
)

// TestLookupLegalBasisIsSealedUntilTheLookupRetentionAndKeptAsATag: the
// legal basis is free text, and an officer may name the person in it.
// Neither node's database files hold it in clear, yet while the lookup
// retention lasts the resident and the auditor at each end read it; once
// it ended the text is shredded at both ends, and the audit log still
// shows a basis was stated, says whether a given text was the one, and
// verifies. Before, both audit logs held it in clear for 365 days.
func TestLookupLegalBasisIsSealedUntilTheLookupRetentionAndKeptAsATag(t *testing.T) {
	t.Parallel()
	f := startLookupFederation(t)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	f.waitPeersReady()

	const basis, caseID = "流调：黄小明一家密切接触者追踪", "SH-CASE-2026-0077"
	if st, _, got := f.lookupWhenConnected(sh, map[string]string{"code": traveler.Code,
		"legal_basis": basis, "case_id": caseID}); st != 200 || got["found"] != true {
		t.Fatalf("lookup: %d %v", st, got)
	}
	f.auditOf(sh, "lookup.result", 1)
	f.auditOf(gd, "lookup.answer", 1)
	for _, i := range []int{sh, gd} {
		requireNotInFiles(t, filepath.Dir(f.c.Configs[i].DBPath()), basis)
	}

	// The auditor's API takes the text to check and shows the basis.
	var out struct {
		Entries []node.LookupAuditEntry `json:"entries"`
	}
	f.mustCall(gd, "POST", "/v1/audit/lookups", f.c.Tokens[gd], map[string]string{"case_id": caseID, "legal_basis": basis}, &out, 200)
	if len(out.Entries) != 1 || out.Entries[0].LegalBasis != basis || out.Entries[0].BasisMatches == nil || !*out.Entries[0].BasisMatches {
		t.Fatalf("Guangdong's auditor is shown %+v", out.Entries)
	}

	// The API's tokens do not last the retention: the node is asked
	// directly from here on.
	ctx, operator := context.Background(), node.Principal{Role: node.RoleOperator}
	// audited asks node i's auditor about the case, checking text.
	audited := func(i int, text string) []node.LookupAuditEntry {
		t.Helper()
		entries, err := f.c.Nodes[i].Node.LookupAudit(ctx, operator, node.LookupAuditQuery{CaseID: caseID, LegalBasis: text})
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}
	// told is the legal basis the resident reads.
	told := func() string {
		t.Helper()
		seen, err := f.c.Nodes[gd].Node.LookupsOf(ctx, node.Principal{Role: node.RoleResident, SubjectID: traveler.ID}, traveler.ID)
		if err != nil || len(seen) != 1 || seen[0].CaseID != caseID {
			t.Fatalf("the resident is told %+v, %v", seen, err)
		}
		return seen[0].LegalBasis
	}
	// stated checks what the auditors see of the entries that stated the
	// basis: lookup.request at Shanghai, lookup.answer at Guangdong.
	stated := func(wantText string) {
		t.Helper()
		for _, tc := range []struct {
			node   int
			action string
		}{{sh, "lookup.request"}, {gd, "lookup.answer"}} {
			for _, text := range []string{basis, "another text"} {
				n := 0
				for _, e := range audited(tc.node, text) {
					if e.Action != tc.action {
						continue
					}
					n++
					if e.LegalBasis != wantText || e.BasisMatches == nil || *e.BasisMatches != (text == basis) {
						t.Errorf("%s's auditor, checking %q, is shown %s with legal basis %q, matches %v; want %q, %v",
							f.c.Configs[tc.node].Province, text, e.Action, e.LegalBasis, e.BasisMatches, wantText, text == basis)
					}
				}
				if n != 1 {
					t.Errorf("%s's auditor finds %d %s entries, want 1", f.c.Configs[tc.node].Province, n, tc.action)
				}
			}
		}
	}
	if got := told(); got != basis {
		t.Fatalf("while the lookup is retained the resident is told the legal basis %q, want %q", got, basis)
	}
	stated(basis)

	// Past the lookup retention (and the day it was stated), the text is
	// shredded at both ends; the rest stays, and the chain verifies.
	f.clock.Advance(f.c.Configs[sh].Privacy.Retention.Lookups + 25*time.Hour)
	for _, i := range []int{sh, gd} {
		r, err := f.c.Nodes[i].Node.Retain(ctx)
		if err != nil || r.BasisKeys != 1 {
			t.Fatalf("%s's retention: %+v, %v; want one day's legal basis key shredded", f.c.Configs[i].Province, r, err)
		}
		if _, err := f.c.Nodes[i].DB.VerifyAudit(ctx); err != nil {
			t.Fatalf("%s's audit chain after the shredding: %v", f.c.Configs[i].Province, err)
		}
	}
	if got := told(); got != "" {
		t.Fatalf("past the lookup retention the resident is told the legal basis %q, want none", got)
	}
	stated("")
}
