package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/store"
)

// The asking node refuses, before anything leaves it, every lookup the
// home node would refuse or that nobody should make.
func TestLookupRefusesWhatItMustNotSend(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	e := enrol(t, n, 1)
	code, err := n.IssueCode(ctx, operator, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	other := "Bs7VmRoHIs2dH0Z7GkZlRA" // a code id of another province
	good := node.LookupInput{Issuer: "310000", JTI: other, LegalBasis: "传染病防治法", CaseID: "SH-1"}
	with := func(mod func(*node.LookupInput)) node.LookupInput { in := good; mod(&in); return in }
	for _, tc := range []struct {
		name string
		p    node.Principal
		in   node.LookupInput
		want node.ErrorCode
	}{
		{"a scanner", node.Principal{Role: node.RoleScanner, ScannerID: "sc_1"}, good, node.EForbidden},
		{"a resident", node.Principal{Role: node.RoleResident, SubjectID: e.ID}, good, node.EForbidden},
		{"code and iss both", operator, with(func(in *node.LookupInput) { in.Code = code.Code }), node.EInvalid},
		{"this province's own code", operator, node.LookupInput{Code: code.Code, LegalBasis: "law", CaseID: "c"}, node.EInvalid},
		{"not a code", operator, node.LookupInput{Code: "HCF1:nonsense", LegalBasis: "law", CaseID: "c"}, node.EInvalid},
		{"no legal basis", operator, with(func(in *node.LookupInput) { in.LegalBasis = "" }), node.EInvalid},
		{"a blank legal basis", operator, with(func(in *node.LookupInput) { in.LegalBasis = " \t" }), node.EInvalid},
		{"a legal basis too long", operator, with(func(in *node.LookupInput) { in.LegalBasis = strings.Repeat("法", 201) }), node.EInvalid},
		{"no case", operator, with(func(in *node.LookupInput) { in.CaseID = "" }), node.EInvalid},
		{"no code id", operator, with(func(in *node.LookupInput) { in.JTI = "abc" }), node.EInvalid},
		{"a province that is no member", operator, good, node.EInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := n.Lookup(ctx, tc.p, tc.in)
			if got := node.ErrorCodeOf(err); got != tc.want {
				t.Fatalf("Lookup = %+v, %v; want %s", res, err, tc.want)
			}
		})
	}
}

func TestLookupsOfIsTheResidentsOwn(t *testing.T) {
	n := startNode(t).Node
	ctx := context.Background()
	a, b := enrol(t, n, 1), enrol(t, n, 2)
	list, err := n.LookupsOf(ctx, node.Principal{Role: node.RoleResident, SubjectID: a.ID}, a.ID)
	if err != nil || len(list) != 0 {
		t.Fatalf("own lookups: %v, %v", list, err)
	}
	if _, err := n.LookupsOf(ctx, node.Principal{Role: node.RoleResident, SubjectID: b.ID}, a.ID); node.ErrorCodeOf(err) != node.EForbidden {
		t.Fatalf("another resident's lookups: %v", err)
	}
	if _, err := n.LookupsOf(ctx, operator, "s_nobody"); node.ErrorCodeOf(err) != node.ENotFound {
		t.Fatalf("unknown subject: %v", err)
	}
	if _, err := n.ForeignVerifications(ctx, node.Principal{Role: node.RoleScanner, ScannerID: "sc_1"}, a.ID); node.ErrorCodeOf(err) != node.EForbidden {
		t.Fatalf("a scanner reads verifications: %v", err)
	}
}

// Audit entries written before the case tag hold the case id in clear
// until the audit retention prunes them: the auditor's search finds them
// by it (and no other case that begins the same), and the resident still
// reads their case.
func TestLookupAuditFindsEntriesWrittenBeforeTheCaseTag(t *testing.T) {
	d := startNode(t)
	n, ctx := d.Node, context.Background()
	a := enrol(t, n, 1)
	for _, c := range []string{"SH-OLD-1", "SH-OLD-10"} {
		if err := d.DB.AppendAudit(ctx, store.AuditEntry{Time: time.Now(), Actor: "peer:310000", Action: "lookup.answer",
			Target: a.ID, Detail: `{"legal_basis":"law","case_id":"` + c + `","jti":"h","found":true,"fields":["name"]}`}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := n.LookupAudit(ctx, operator, node.LookupAuditQuery{CaseID: "SH-OLD-1", LegalBasis: "law"})
	if err != nil || len(got) != 1 || got[0].Target != a.ID || !strings.Contains(string(got[0].Detail), `"SH-OLD-1"`) ||
		got[0].LegalBasis != "law" || got[0].BasisMatches == nil || !*got[0].BasisMatches {
		t.Fatalf("LookupAudit = %+v, %v", got, err)
	}
	// Their legal basis, in clear then, still reads.
	seen, err := n.LookupsOf(ctx, node.Principal{Role: node.RoleResident, SubjectID: a.ID}, a.ID)
	if err != nil || len(seen) != 2 || seen[0].CaseID != "SH-OLD-10" || seen[1].CaseID != "SH-OLD-1" || seen[1].LegalBasis != "law" {
		t.Fatalf("the resident is told %+v, %v", seen, err)
	}
	for _, tc := range []struct {
		p      node.Principal
		caseID string
		want   node.ErrorCode
	}{
		{node.Principal{Role: node.RoleResident, SubjectID: a.ID}, "SH-OLD-1", node.EForbidden},
		{node.Principal{Role: node.RoleScanner, ScannerID: "sc_1"}, "SH-OLD-1", node.EForbidden},
		{operator, "", node.EInvalid},
		{operator, strings.Repeat("x", 65), node.EInvalid},
	} {
		if _, err := n.LookupAudit(ctx, tc.p, node.LookupAuditQuery{CaseID: tc.caseID}); node.ErrorCodeOf(err) != tc.want {
			t.Errorf("LookupAudit(%+v, %q) = %v, want %s", tc.p, tc.caseID, err, tc.want)
		}
	}
}
