package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hcfed/hcfed/node/config"
)

// A notice version's text is recorded once: a second record, with
// another text, gets the first back and replaces nothing.
func TestRecordNoticeKeepsTheFirstText(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	if _, err := db.Notice(ctx, "gd-2026-01"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a version never served: %v, want ErrNotFound", err)
	}
	first := ServedNotice{Version: "gd-2026-01", SHA256: bytes.Repeat([]byte{1}, 32), Text: `{"purpose":"a"}`, FirstServed: t0}
	if held, err := db.RecordNotice(ctx, first); err != nil || !bytes.Equal(held.SHA256, first.SHA256) || !held.FirstServed.Equal(t0) {
		t.Fatalf("first record: %+v %v", held, err)
	}
	other := ServedNotice{Version: "gd-2026-01", SHA256: bytes.Repeat([]byte{2}, 32), Text: `{"purpose":"b"}`, FirstServed: t0.Add(1)}
	held, err := db.RecordNotice(ctx, other)
	if err != nil || !bytes.Equal(held.SHA256, first.SHA256) || held.Text != first.Text || !held.FirstServed.Equal(t0) {
		t.Fatalf("second record of the version: %+v %v, want the first kept", held, err)
	}
	if got, err := db.Notice(ctx, "gd-2026-01"); err != nil || !bytes.Equal(got.SHA256, first.SHA256) {
		t.Fatalf("Notice: %+v %v", got, err)
	}
	if _, err := db.RecordNotice(ctx, ServedNotice{Version: "x", FirstServed: t0}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a record without hash or text: %v, want ErrInvalid", err)
	}
}

// A database a migration behind, opened read-only as a preflight opens
// it (no migration), has served no notice under this build: Notice says
// ErrNotFound rather than failing on the missing table.
func TestNoticeOnADatabaseBeforeItsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	raw := rawDBAtVersion(t, path, 13)
	raw.Close()
	db, err := OpenReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Notice(context.Background(), config.NoticeVersion); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Notice before migration 0014: %v, want ErrNotFound", err)
	}
}
