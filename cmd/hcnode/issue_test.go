package main

import (
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
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

	_, _, err = runCLI(t, "", "issue", "--subject", e.ID, "--page", page)
	var u usageError
	if !errors.As(err, &u) || err.Error() != "--page needs --paper: only a paper code has a printable page" {
		t.Fatalf("issue --page without --paper: %v, want a usage error", err)
	}
	if _, err := os.Stat(page); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("page written without --paper: %v", err)
	}

	if out, _, err := runCLI(t, "", "issue", "--subject", e.ID, "--paper", "--page", page, "--qr", qr); err != nil {
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
