package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/store"
	"github.com/hcfed/hcfed/trust"
)

// A cross-province lookup must prove the asker saw the code itself. Every
// member learns the jti of each code whose holder turned yellow or red
// from the revocation statements; before, Shanghai could ask Guangdong
// for the name and phone of each of them by that jti alone, and
// Guangdong answered. Now Shanghai's node sends nothing without a proof
// of scan, and Guangdong refuses, signed, any proof that is not the
// code's, even from a node whose software was changed to make one up.
func TestLookupMustProveTheCodeWasScanned(t *testing.T) {
	t.Parallel()
	f := startLookupFederation(t)
	w := tap(t, f)
	traveler := f.enrolWithPhone(gd, "黄小明", idWithCheck("44010619900101123"), "13912345601")
	contact := f.enrolWithPhone(gd, "陈丽华", idWithCheck("44030519851212456"), "13912345602")
	f.waitPeersReady()

	// The contact turns red: Shanghai learns her code's jti from the
	// revocation statement, as every member does.
	f.mustCall(gd, "PUT", "/v1/subjects/"+contact.ID+"/status", f.c.Tokens[gd], map[string]string{"status": "red", "reason": "close contact"}, nil, 200)
	waitFor(t, "Shanghai holding the revocation of the contact's code", func() error {
		if !f.c.Nodes[sh].Node.State().Revoked("440000", contact.JTI) {
			return errors.New("not yet")
		}
		return nil
	})
	byID := func(r resident, caseID string) map[string]string {
		return map[string]string{"iss": "440000", "jti": r.JTI, "legal_basis": legalBasis, "case_id": caseID}
	}

	// Shanghai's operator, who never scanned her code, asks by the jti:
	// refused before anything is sent, saying to ask with the code.
	st, _, got := f.lookupWhenConnected(sh, byID(contact, "SH-1"))
	if code, msg := apiError(got); st != http.StatusUnprocessableEntity || code != string(node.ELookupNotScanned) ||
		!strings.Contains(msg, "the code itself") {
		t.Fatalf("lookup of a jti learnt from a revocation: %d %v", st, got)
	}

	// Shanghai's node, its software changed, sends signed requests
	// anyway: Guangdong refuses each, signed, and answers nothing.
	asSH := provinceConn(t, f, "310000")
	gdEnc := f.c.Nodes[sh].Node.State().Keyset("440000").EncKey
	made := make([]byte, trust.ScanProofLen)
	if _, err := rand.Read(made); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, proof string }{
		{"a made-up proof", base64.RawURLEncoding.EncodeToString(made)},
		{"the proof of another code", proofOf(t, traveler.Code)},
		{"a proof of the wrong length", proofOf(t, contact.Code)[:40]},
		{"no proof", ""},
	} {
		req := f.request(contact, byID(contact, "SH-1"))
		req.Proof = tc.proof
		if ans := f.send(asSH, seal(t, f.c.Nodes[sh].Node.Signer(), req, gdEnc)); ans == nil ||
			ans.Refused != trust.ReasonLookupUnproven || ans.Found || ans.Data != "" {
			t.Fatalf("%s: answered %+v, want refused %s", tc.name, ans, trust.ReasonLookupUnproven)
		}
	}
	for i, e := range f.auditOf(gd, "lookup.refuse", 4) {
		if r := detailField(t, e, "reason"); r != string(trust.ReasonLookupUnproven) || e.Actor != "peer:310000" {
			t.Errorf("refusal %d: %+v, want %s from peer:310000", i, e, trust.ReasonLookupUnproven)
		}
	}

	// Shanghai's checkpoint scans the traveler's code: its audit entry
	// keeps the proof and nothing else of the code, and the lookup by
	// jti is answered.
	f.eventually(sh, traveler.Code, "ok")
	scan := waitScanned(t, f.fedTest, sh, traveler.Code)
	parts := strings.Split(strings.TrimPrefix(traveler.Code, trust.CodePrefix), ".")
	for _, p := range parts {
		if strings.Contains(scan.Detail+scan.Target, p) {
			t.Fatalf("Shanghai's audit entry keeps a part of the code: %s", scan.Detail)
		}
	}
	if st, _, got := f.lookup(sh, byID(traveler, "SH-2")); st != 200 || got["found"] != true || got["name"] != "黄小明" {
		t.Fatalf("lookup of a code Shanghai scanned: %d %v", st, got)
	}
	// Beijing never scanned the contact's code, but its operator holds
	// it: asked with the code, Guangdong answers (a revoked code still
	// names its holder); asked by jti, Beijing sends nothing.
	bjBody := map[string]string{"code": contact.Code, "legal_basis": legalBasis, "case_id": "BJ-1"}
	if st, _, got := f.lookupWhenConnected(bj, bjBody); st != 200 || got["found"] != true || got["name"] != "陈丽华" {
		t.Fatalf("Beijing's lookup with the code: %d %v", st, got)
	}
	if st, _, got := f.lookup(bj, byID(traveler, "BJ-2")); st != http.StatusUnprocessableEntity {
		t.Fatalf("Beijing's lookup by jti of a code it never scanned: %d %v", st, got)
	}

	// Guangdong keeps, for each code it issues, phone or paper, the
	// digest of its proof and not the proof.
	ctx := context.Background()
	paper, err := f.c.Nodes[gd].Node.IssueCode(ctx, node.Principal{Role: node.RoleOperator}, traveler.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{traveler.Code, paper.Code} {
		row, err := f.c.Nodes[gd].DB.Code(ctx, jtiOf(t, code))
		want, _ := trust.ScanDigest(code)
		if err != nil || len(want) == 0 || !bytes.Equal(row.ScanDigest, want) || !trust.CheckScanProof(proofOf(t, code), row.ScanDigest) {
			t.Fatalf("Guangdong's row of a code: %x (%v), want digest %x", row.ScanDigest, err, want)
		}
	}
	requireNotInFiles(t, filepath.Dir(f.c.Configs[gd].DBPath()), proofOf(t, traveler.Code), proofOf(t, paper.Code))

	// A code recorded without a digest (issued before they were kept)
	// cannot be proven, even with the code itself.
	clearScanDigest(t, f.c.Configs[gd].DBPath(), traveler.JTI)
	body := map[string]string{"code": traveler.Code, "legal_basis": legalBasis, "case_id": "SH-3"}
	if st, _, got := f.lookup(sh, body); st != http.StatusForbidden {
		t.Fatalf("lookup of a code without a digest: %d %v", st, got)
	} else if code, _ := apiError(got); code != string(node.ELookupUnproven) {
		t.Fatalf("lookup of a code without a digest: %v, want %s", got, node.ELookupUnproven)
	}

	// Shanghai sent two requests of its own (the third lookup was
	// refused before it), and four made by hand: no more crossed NATS.
	if n := len(f.auditOf(sh, "lookup.request", 2)); n != 2 {
		t.Errorf("Shanghai audited %d lookup requests, want 2", n)
	}
	waitFor(t, "six requests from Shanghai on the wire", func() error {
		if n := len(w.on("hcfed.demo.310000.lookup.")); n != 6 {
			return fmt.Errorf("%d", n)
		}
		return nil
	})
	refused := f.auditOf(gd, "lookup.refuse", 5)
	if r := detailField(t, refused[4], "reason"); r != string(trust.ReasonLookupUnproven) {
		t.Errorf("Guangdong's refusal of the code without a digest: %+v", refused[4])
	}
}

// A scan at one of this node's verifier replicas counts as this node's:
// the record the replica sends home keeps the proof, and a lookup by jti
// finds it there.
func TestLookupByJTIUsesAScanAtAReplica(t *testing.T) {
	t.Parallel()
	rt := startReplicaFederation(t) // Guangdong (0) with replicas r1 and r2, Shanghai (1)
	f := &lookupFed{fedTest: rt.fedTest}
	_, code := rt.enrolAndIssue(1, "周建国", idWithCheck("31011519700707789"))
	f.waitPeersReady()
	body := map[string]string{"iss": "310000", "jti": jtiOf(t, code), "legal_basis": legalBasis, "case_id": "GD-1"}
	if st, _, got := f.lookupWhenConnected(0, body); st != http.StatusUnprocessableEntity {
		t.Fatalf("lookup before any scan: %d %v", st, got)
	}
	rt.eventuallyAtReplicas(rt.scanners[0], code, "ok", 15*time.Second)
	if e := waitScanned(t, rt.fedTest, 0, code); detailField(t, e, "replica") == "" {
		t.Fatalf("the scan with the proof is not the replica's: %+v", e)
	}
	if st, _, got := f.lookup(0, body); st != 200 || got["found"] != true || got["name"] != "周建国" {
		t.Fatalf("lookup after a scan at a replica: %d %v", st, got)
	}
}

// waitScanned waits until node i's audit log holds a verification of
// code that keeps its proof of scan, and returns that entry.
func waitScanned(t *testing.T, f *fedTest, i int, code string) store.AuditEntry {
	t.Helper()
	proof := proofOf(t, code)
	var entry store.AuditEntry
	waitFor(t, "a verification keeping the proof of scan", func() error {
		for _, e := range f.auditEntries(i) {
			if e.Action == "code.verify" && detailField(t, e, "proof") == proof {
				entry = e
				return nil
			}
		}
		return errors.New("none yet")
	})
	return entry
}

// apiError reads an API error body's code and message.
func apiError(body map[string]any) (code, message string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	return code, message
}

// jtiOf reads a code's jti from its payload, unverified.
func jtiOf(t *testing.T, code string) string {
	t.Helper()
	parts := strings.Split(code, ".")
	if len(parts) != 3 {
		t.Fatalf("not a code: %q", code)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var cl struct{ JTI string }
	if err != nil || json.Unmarshal(b, &cl) != nil || cl.JTI == "" {
		t.Fatalf("no jti in %q (%v)", code, err)
	}
	return cl.JTI
}

// clearScanDigest makes the row of code jti in the node database at path
// look as if written before migration 0019, while the node runs.
func clearScanDigest(t *testing.T, path, jti string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE codes SET scan_digest = NULL WHERE jti = ?`, jti)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("%d rows cleared (%v), want 1", n, err)
	}
}
