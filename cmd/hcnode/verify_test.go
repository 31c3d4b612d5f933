package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node"
	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/trust"
)

// The offline verify names the issuing province only when the code's
// signature proves it, as a node answers a scanner (node.VerificationOf):
// a code with a forged signature naming a member province printed that
// province as its issuer beside "bad_signature".
func TestOfflineVerifyNamesTheIssuerOnlyOfACodeWhoseSignatureChecked(t *testing.T) {
	d := startTestNode(t)
	_, c := enrolAndIssue(t, d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	dot := strings.LastIndexByte(c.Code, '.')
	flip := byte('A')
	if c.Code[dot+1] == flip {
		flip = 'B'
	}
	forged := c.Code[:dot+1] + string(flip) + c.Code[dot+2:]
	for _, tc := range []struct {
		code, reason, issuer string
	}{
		{forged, string(trust.ReasonBadSignature), ""},
		{c.Code, string(trust.ReasonOK), "440000"},
	} {
		out, err := run(t, "verify", "--config", d.cfgPath, tc.code)
		if (err == nil) != (tc.reason == string(trust.ReasonOK)) {
			t.Errorf("verify (%s): error %v", tc.reason, err)
		}
		var got map[string]any
		if err := json.NewDecoder(strings.NewReader(out)).Decode(&got); err != nil {
			t.Fatalf("verify (%s) printed %q: %v", tc.reason, out, err)
		}
		issuer, _ := got["issuer"].(string)
		if got["reason"] != tc.reason || issuer != tc.issuer {
			t.Errorf("verify printed %v, want reason %s and issuer %q", got, tc.reason, tc.issuer)
		}
	}
}

// The offline verify refuses a database put back from a backup and not
// yet reconciled with the federation (store.Restored), as the node's
// /readyz does: its own revocations made after the backup are not in it,
// and a code revoked then printed "valid": true.
func TestOfflineVerifyRefusesARestoredDatabaseNotYetReconciled(t *testing.T) {
	d := startTestNode(t)
	subject, c := enrolAndIssue(t, d)
	bk := filepath.Join(t.TempDir(), "bk")
	if out, err := run(t, "backup", "--config", d.cfgPath, "--out", bk); err != nil {
		t.Fatalf("backup: %v %s", err, out)
	}
	if err := d.Node.SetStatus(context.Background(), node.Principal{Role: node.RoleOperator}, subject, "red", ""); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "verify", "--config", d.cfgPath, c.Code); err == nil || !strings.Contains(out, `"revoked"`) {
		t.Fatalf("verify before the restore: %v %s, want revoked", err, out)
	}
	if out, err := run(t, "restore", "--config", d.cfgPath, "--from", bk, "--yes"); err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	out, err := run(t, "verify", "--config", d.cfgPath, c.Code)
	if err == nil || strings.Contains(out, `"valid"`) || !strings.Contains(err.Error(), "restored from a backup") {
		t.Fatalf("verify of a code revoked after the backup, on the restored database: %v %s; want a refusal that says why", err, out)
	}
}

// enrolAndIssue enrols a resident at d and issues them a phone code, as an
// operator; it returns the resident's id and the code.
func enrolAndIssue(t *testing.T, d testNode) (string, node.Issued) {
	t.Helper()
	ctx := context.Background()
	op := node.Principal{Role: node.RoleOperator}
	e, err := d.Node.Enrol(ctx, op, node.Enrolment{Name: "张三",
		IDNumber: testkit.IDNumber("110105194912", 0), Consent: node.ConsentInput{NoticeVersion: config.NoticeVersion, Accepted: true}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Node.IssueCode(ctx, op, e.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	return e.ID, c
}
