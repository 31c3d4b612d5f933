package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	nodepkg "github.com/hcfed/hcfed/node"
)

// bulkKilledMidStream sends a bulk status stream to 440000 and kills the
// node with SIGKILL after its first batch was acknowledged and while its
// second batch is still being read. After the restart exactly the
// acknowledged line is applied, its revocation reaches every peer from the
// outbox, and the unacknowledged line's subject keeps its live code.
func bulkKilledMidStream(t *testing.T, fed *federation) {
	gd, sh, bj := fed.nodes["440000"], fed.nodes["310000"], fed.nodes["110000"]
	acked, ackedCode := gd.enrolAndIssue(t)
	lost, lostCode := gd.enrolAndIssue(t)
	waitValid(t, ackedCode, sh, bj)
	waitValid(t, lostCode, sh, bj)

	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequest("POST", gd.url+"/v1/statuses", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+gd.operator)
	go func() {
		// The first batch: the acknowledged change and unknown subjects.
		fmt.Fprintf(pw, `{"subject":%q,"status":"red","ref":"acked"}`+"\n", acked)
		for i := range nodepkg.BulkBatchLines - 1 {
			fmt.Fprintf(pw, `{"subject":"s_unknown%d","status":"red"}`+"\n", i)
		}
		// The second batch is never completed.
		fmt.Fprintf(pw, `{"subject":%q,"status":"red","ref":"lost"}`+"\n", lost)
	}()
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var ackedResult, progress string
	for progress == "" && sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, `"ref":"acked"`) {
			ackedResult = line
		}
		if strings.Contains(line, `"progress"`) {
			progress = line
		}
	}
	var p struct {
		Progress struct {
			Applied  int
			LastLine int `json:"last_line"`
		}
	}
	if err := json.Unmarshal([]byte(progress), &p); err != nil || p.Progress.Applied != 1 || p.Progress.LastLine != nodepkg.BulkBatchLines {
		t.Fatalf("first progress %q (%v), want 1 applied up to line %d", progress, err, nodepkg.BulkBatchLines)
	}
	if !strings.Contains(ackedResult, `"result":"applied"`) {
		t.Fatalf("acknowledged line: %q", ackedResult)
	}
	gd.proc.kill()
	fed.restart(t, gd)
	waitRevoked(t, ackedCode, gd, sh, bj)
	for _, n := range []*node{gd, sh, bj} {
		expectVerdict(t, n, lostCode, "ok")
	}
}
