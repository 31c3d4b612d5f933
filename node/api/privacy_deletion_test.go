package api_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/seal"
	"github.com/hcfed/hcfed/node/store"
)

// Rule 8: once a resident is deleted, nothing of theirs is readable in any
// file the node wrote — node.db, keys.db, their WALs — nor in its logs,
// including what an operator typed about them: their codes (phone and
// paper, with the paper page printed), and their appeals, resolved and
// open, whose text and note name them and a third person. The reasons given for their
// status changes, one at a time and in bulk, are free text that may name
// them or their health ("close contact of ..."): they are sealed under the
// resident's data key, so the audit log keeps who changed which status
// when, and the reason goes with the key.
func TestRule08DeletedResidentLeavesNothingReadableInAnyFile(t *testing.T) {
	t.Parallel()
	const thirdName = "李小红"
	n := startNode(t, "440000", func(c *config.Config) { c.Privacy.Collect = []string{"name", "id_number", "phone"} })
	in := enrolment(residentName, residentID)
	in["phone"] = residentTel
	var e struct {
		ID            string `json:"id"`
		ResidentToken string `json:"resident_token"`
	}
	if resp := n.call("POST", "/v1/subjects", n.operator, in, &e); resp.StatusCode != 201 {
		t.Fatalf("enrol: %d", resp.StatusCode)
	}
	c := n.issue(e.ID, e.ResidentToken)
	n.verify(c.Code)
	n.call("GET", c.QRURL, e.ResidentToken, nil, nil)
	// A paper code and its printable page (which shows the masked name).
	var paper issued
	if resp := n.call("POST", "/v1/subjects/"+e.ID+"/codes", n.operator, map[string]bool{"paper": true}, &paper); resp.StatusCode != 201 {
		t.Fatalf("paper code: %d", resp.StatusCode)
	}
	if resp := n.call("GET", "/v1/codes/"+paper.JTI+"/paper.png", n.operator, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("paper page: %d", resp.StatusCode)
	}
	// Appeals, one resolved and one open, whose text names the resident
	// and someone else.
	appeal := "我是" + residentName + "，身份证" + residentID + "，当天和邻居" + thirdName + "在一起"
	note := "已向" + thirdName + "核实"
	var resolved, open struct{ ID string }
	if resp := n.call("POST", "/v1/appeals", e.ResidentToken, map[string]string{"message": appeal}, &resolved); resp.StatusCode != 201 {
		t.Fatalf("appeal: %d", resp.StatusCode)
	}
	if st, code := n.status("PUT", "/v1/appeals/"+resolved.ID, n.operator, map[string]string{"outcome": "rejected", "note": note}); st != 200 {
		t.Fatalf("resolve appeal: %d %s", st, code)
	}
	if resp := n.call("POST", "/v1/appeals", e.ResidentToken, map[string]string{"message": appeal + "（再次申诉）"}, &open); resp.StatusCode != 201 {
		t.Fatalf("second appeal: %d", resp.StatusCode)
	}
	one := "密切接触者" + residentName + "，身份证" + residentID
	bulk := "同行人员 " + residentName + " tel " + residentTel
	if st, code := n.status("PUT", "/v1/subjects/"+e.ID+"/status", n.operator, map[string]string{"status": "yellow", "reason": one}); st != 200 {
		t.Fatalf("status: %d %s", st, code)
	}
	if _, out := n.bulk(fmt.Sprintf(`{"subject":%q,"status":"red","reason":%q}`, e.ID, bulk)); out.results[1]["result"] != "applied" {
		t.Fatalf("bulk status: %+v", out)
	}
	if got := openReasons(t, n, e.ID); !slices.Equal(got, []string{one, bulk}) {
		t.Fatalf("reasons opened with the resident's data key: %q, want %q", got, []string{one, bulk})
	}
	// An operator's deletion: the resident's own waits while they are red
	// (status_held).
	if st, _ := n.status("DELETE", "/v1/subjects/"+e.ID, n.operator, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if got := n.auditCount("subject.status"); got != 2 {
		t.Fatalf("%d subject.status audit entries, want 2: who changed the status, and when, stays on record", got)
	}
	n.stop()

	blobs := map[string][]byte{"logs": n.logs.Bytes()}
	err := filepath.WalkDir(n.cfg.DataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(n.cfg.DataDir, path)
		blobs[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node.db", "keys.db", "logs"} {
		if len(blobs[want]) == 0 {
			t.Fatalf("no %s to search: this test checks less than it says", want)
		}
	}
	for where, b := range blobs {
		for _, s := range []string{residentName, residentID, residentTel, one, bulk, "密切接触者", "同行人员", thirdName, appeal, note} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%q of the deleted resident found in clear in %s", s, where)
			}
		}
	}
}

// openReasons opens, behind the node's back with its KEK and key store,
// the sealed reasons of subject id's status changes, oldest first.
func openReasons(t *testing.T, n *testNode, id string) []string {
	t.Helper()
	kek, err := seal.LoadKEK(n.cfg.KEKPath())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sql.Open("sqlite", "file:"+store.KeysPath(n.cfg.DBPath())+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	var sealedDK []byte
	if err := keys.QueryRow(`SELECT sealed FROM subject_keys WHERE id = ?`, id).Scan(&sealedDK); err != nil {
		t.Fatal(err)
	}
	raw, err := kek.Open([]byte("subject:"+id+":dk"), sealedDK)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := seal.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := n.rawDB().Query(`SELECT detail FROM audit WHERE action = 'subject.status' AND target = ? ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var detail string
		var d struct {
			Reason []byte `json:"reason_sealed"`
		}
		if err := rows.Scan(&detail); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(detail), &d); err != nil {
			t.Fatal(err)
		}
		reason, err := dk.Open([]byte("subject:"+id+":status_reason"), d.Reason)
		if err != nil {
			t.Fatalf("audit detail %s: %v", detail, err)
		}
		out = append(out, string(reason))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
