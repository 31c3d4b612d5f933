package main

import (
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/config"
)

// issue --paper --page writes the printable page (a portrait page with the
// code, status and validity), not the plain square QR that --qr writes;
// --page without --paper is a usage error.
func TestIssuePaperWritesThePrintablePage(t *testing.T) {
	useNode(t, startTestNode(t))
	out, _, err := runCLI(t, "", "enrol", "--name", "张三", "--id-number", testkit.IDNumber("110105194912", 0), "--accept-notice", config.NoticeVersion)
	var e struct{ ID string }
	if err != nil || json.Unmarshal([]byte(out), &e) != nil {
		t.Fatalf("enrol: %v %s", err, out)
	}
	dir := t.TempDir()
	page, qr := filepath.Join(dir, "page.png"), filepath.Join(dir, "qr.png")

	_, _, err = runCLI(t, "", "issue", e.ID, "--page", page)
	var u usageError
	if !errors.As(err, &u) || err.Error() != "--page needs --paper: only a paper code has a printable page" {
		t.Fatalf("issue --page without --paper: %v, want a usage error", err)
	}
	if _, err := os.Stat(page); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("page written without --paper: %v", err)
	}

	if out, _, err := runCLI(t, "", "issue", e.ID, "--paper", "--page", page, "--qr", qr); err != nil {
		t.Fatalf("issue --paper --page: %v %s", err, out)
	}
	size := func(path string) (w, h int) {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c, err := png.DecodeConfig(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return c.Width, c.Height
	}
	if w, h := size(qr); w != h {
		t.Fatalf("QR image %dx%d, want square", w, h)
	}
	if w, h := size(page); h <= w {
		t.Errorf("printable page %dx%d, want a portrait page", w, h)
	}
}

// TestIssueTakesTheSubjectAsItsArgument: 'hcnode issue ID' issues, as
// every other command on one resident takes its id; the older 'issue
// --subject ID' still does, its stdout the code's JSON alone and a note
// on stderr, and is hidden from the help. No id, or two different ones,
// is a usage error. Before, 'issue ID' was refused (unknown command).
func TestIssueTakesTheSubjectAsItsArgument(t *testing.T) {
	useNode(t, startTestNode(t))
	out, _, err := runCLI(t, "", "enrol", "--name", "张三", "--id-number", testkit.IDNumber("110105194912", 0), "--accept-notice", config.NoticeVersion)
	var e struct{ ID string }
	if err != nil || json.Unmarshal([]byte(out), &e) != nil {
		t.Fatalf("enrol: %v %s", err, out)
	}
	for _, args := range [][]string{{"issue", e.ID}, {"issue", "--subject", e.ID}, {"issue", e.ID, "--subject", e.ID}} {
		out, errOut, err := runCLI(t, "", args...)
		var c struct{ Code, JTI string }
		if err != nil || json.Unmarshal([]byte(out), &c) != nil || !strings.HasPrefix(c.Code, "HCF1:") || c.JTI == "" {
			t.Errorf("hcnode %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
		}
		if deprecated := strings.Contains(errOut, "--subject is deprecated"); deprecated != (args[1] == "--subject") {
			t.Errorf("hcnode %s: stderr %q", strings.Join(args, " "), errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"issue"}, "issue needs the subject id enrol printed: hcnode issue ID"},
		{[]string{"issue", e.ID, "--subject", "s_other"}, "two subject ids, " + e.ID + " and --subject s_other: give one, as the argument"},
		{[]string{"issue", e.ID, "s_other"}, "accepts at most 1 arg(s), received 2"},
	} {
		_, _, err := runCLI(t, "", c.args...)
		if !isUsageError(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("hcnode %s: %v, want a usage error saying %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	help, _, _ := runCLI(t, "", "issue", "--help")
	if !strings.Contains(help, "hcnode issue ID") || strings.Contains(help, "--subject string") {
		t.Errorf("issue --help shows --subject, or not the argument:\n%s", help)
	}
}
