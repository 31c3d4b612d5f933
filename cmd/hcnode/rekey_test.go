package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
)

// TestKeysRekeyContentStartsANewContentKeyAndKeepsTheSigningKey: 'keys
// rekey-content' without --yes says what it would do and changes nothing;
// with --yes, codes issued after it are encrypted under a new content key
// (the one it prints), signed by the same signing key, while a code issued
// before still verifies and shows its masked name. The admin's request is
// in the audit log. Before, only 'keys compromise', which also withdraws
// every code of the signing key, started new content keys.
func TestKeysRekeyContentStartsANewContentKeyAndKeepsTheSigningKey(t *testing.T) {
	n := startTestNode(t)
	useNode(t, n)
	out, _, err := runCLI(t, "", "enrol", "--name", "张三", "--id-number", testkit.IDNumber("110105194912", 0), "--accept-notice", config.NoticeVersion)
	var e struct{ ID string }
	if err != nil || json.Unmarshal([]byte(out), &e) != nil {
		t.Fatalf("enrol: %v %s", err, out)
	}
	issue := func() string {
		t.Helper()
		out, _, err := runCLI(t, "", "issue", e.ID)
		var c struct{ Code string }
		if err != nil || json.Unmarshal([]byte(out), &c) != nil || c.Code == "" {
			t.Fatalf("issue: %v %s", err, out)
		}
		return c.Code
	}
	out, _, err = runCLI(t, "", "scanner", "add", "--name", "gate 1")
	var sc struct{ Token string }
	if err != nil || json.Unmarshal([]byte(out), &sc) != nil || sc.Token == "" {
		t.Fatalf("scanner add: %v %s", err, out)
	}
	verify := func(code string) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"code": code})
		req, _ := http.NewRequest(http.MethodPost, n.URL+"/v1/verify", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+sc.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Valid      bool
			Reason     string
			MaskedName string `json:"masked_name"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || !v.Valid || v.MaskedName == "" {
			t.Errorf("verify a code of content key %s: HTTP %d %+v %v, want valid with its masked name",
				testkit.CodeContentKey(t, code), resp.StatusCode, v, err)
		}
	}

	before := issue()
	oldKey, signer := testkit.CodeContentKey(t, before), testkit.CodeKID(t, before)

	out, _, err = runCLI(t, "", "keys", "rekey-content")
	if err != nil || !strings.HasPrefix(out, "Starting new content keys would:\n") || !strings.HasSuffix(out, notChanged+"\n") ||
		!strings.Contains(out, "The signing keys do not change.") {
		t.Fatalf("keys rekey-content without --yes: %v\n%s", err, out)
	}
	if got := testkit.CodeContentKey(t, issue()); got != oldKey {
		t.Fatalf("a code after the plan alone uses content key %s, want %s still", got, oldKey)
	}

	out, plan, err := runCLI(t, "", "keys", "rekey-content", "--yes")
	newKey := strings.TrimPrefix(strings.TrimSpace(out), "new codes use content key ")
	if err != nil || newKey == strings.TrimSpace(out) || newKey == oldKey || !strings.Contains(plan, "starting a new content key") {
		t.Fatalf("keys rekey-content --yes: %v\nstdout: %s\nstderr: %s", err, out, plan)
	}
	after := issue()
	if got := testkit.CodeContentKey(t, after); got != newKey {
		t.Errorf("a code issued after rekey-content uses content key %s, want the new %s (the old was %s)", got, newKey, oldKey)
	}
	if got := testkit.CodeKID(t, after); got != signer {
		t.Errorf("a code issued after rekey-content is signed by %s, want the same signing key %s", got, signer)
	}
	verify(before)
	verify(after)

	entries, err := n.DB.AuditEntries(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range entries {
		found = found || a.Action == "key.content_rekey" && a.Actor == "admin:admin" && a.Target == newKey
	}
	if !found {
		t.Errorf("no key.content_rekey audit entry by admin:admin naming %s", newKey)
	}
}
