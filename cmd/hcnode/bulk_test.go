package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
)

// runCLI runs hcnode with args and returns stdout, stderr and the error.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestStatusesCommandReportsRefusedLinesAndWritesThemForRetry(t *testing.T) {
	useNode(t, startTestNode(t))

	var ids []string
	for i := range 3 {
		out, _, err := runCLI(t, "", "enrol", "--name", "张三", "--id-number", testkit.IDNumber("110105194912", i), "--accept-notice", config.NoticeVersion)
		var e struct{ ID string }
		if err != nil || json.Unmarshal([]byte(out), &e) != nil {
			t.Fatalf("enrol: %v %s", err, out)
		}
		ids = append(ids, e.ID)
	}
	bad := `{"subject":"s_nobody","status":"red","ref":"b1"}`
	input := fmt.Sprintf(`{"subject":%q,"status":"yellow","ref":"a"}`+"\n"+bad+"\n"+
		`{"subject":%q,"status":"red"}`+"\n"+`not json`+"\n"+`{"subject":%q,"status":"green"}`+"\n", ids[0], ids[1], ids[2])
	retry := filepath.Join(t.TempDir(), "retry.ndjson")
	stdout, stderr, err := runCLI(t, input, "statuses", "-", "--retry", retry)
	var ex exitStatus
	if !errors.As(err, &ex) || ex.code != exitRefused || !strings.Contains(err.Error(), "2 lines refused") {
		t.Fatalf("statuses with refused lines: %v, want exit status %d naming 2 refused lines\n%s", err, exitRefused, stderr)
	}
	if !strings.Contains(stderr, "done: 5 lines: 2 applied, 1 unchanged, 2 refused") {
		t.Errorf("stderr = %q, want the summary", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"line":2`) || !strings.Contains(lines[0], `"not_found"`) ||
		!strings.Contains(lines[1], `"line":4`) || !strings.Contains(lines[1], `"invalid"`) {
		t.Errorf("stdout = %q, want the refused lines 2 and 4 with their codes", stdout)
	}
	got, err := os.ReadFile(retry)
	if err != nil || string(got) != bad+"\nnot json\n" {
		t.Errorf("retry file = %q, %v; want exactly the refused input lines", got, err)
	}
	// Sent again: nothing changes.
	_, stderr, err = runCLI(t, input, "statuses", "-")
	if !errors.As(err, &ex) || ex.code != exitRefused || !strings.Contains(stderr, "0 applied, 3 unchanged, 2 refused; 0 codes revoked (no code to revoke)") {
		t.Errorf("repeat: %v %q", err, stderr)
	}
	// Only good lines: exit status 0; one of each is said in the singular.
	if out, _, err := runCLI(t, "", "issue", ids[0]); err != nil {
		t.Fatalf("issue: %v %s", err, out)
	}
	good := fmt.Sprintf(`{"subject":%q,"status":"red"}`+"\n", ids[0])
	_, stderr, err = runCLI(t, good, "statuses", "-")
	if err != nil || !strings.Contains(stderr, "done: 1 line: 1 applied, 0 unchanged, 0 refused; 1 code revoked") {
		t.Errorf("statuses with no refused line: %v %q, want success and its summary in the singular", err, stderr)
	}
	if !strings.Contains(stderr, "(outbox seqs ") {
		t.Errorf("statuses that revoked a code: %q, want the outbox seqs of its revocation", stderr)
	}
}
