package store

import (
	"bytes"
	"path/filepath"
	"testing"
)

// A code's scan digest is written by the issuance's one INSERT, read back
// with the code, and stays with the row when its subject is deleted (a
// lookup of it is then proven and answered "not found"); a code without
// one reads as nil.
func TestCodeKeepsItsScanDigest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := openTestDB(t)
	enrol(t, db, "s1")
	digest := bytes.Repeat([]byte{0xab}, 32)
	with := testCode("with", "s1")
	with.ScanDigest = digest
	insertCode(t, db, with)
	insertCode(t, db, testCode("without", "s1"))
	if c, err := db.Code(ctx, "with"); err != nil || !bytes.Equal(c.ScanDigest, digest) {
		t.Fatalf("Code = %+v, %v; want the digest", c, err)
	}
	if c, err := db.Code(ctx, "without"); err != nil || c.ScanDigest != nil {
		t.Fatalf("Code = %+v, %v; want no digest", c, err)
	}
	if _, err := db.DeleteSubject(ctx, "s1", t0); err != nil {
		t.Fatal(err)
	}
	if c, err := db.Code(ctx, "with"); err != nil || c.SubjectID != "" || c.TextCT != nil || !bytes.Equal(c.ScanDigest, digest) {
		t.Fatalf("after deletion Code = %+v, %v; want the digest, no subject", c, err)
	}
}

// A code recorded before migration 0019 has no digest after it.
func TestMigrationLeavesOlderCodesWithoutScanDigest(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "node.db")
	raw := rawDBAtVersion(t, path, 18)
	mustExec(t, raw, `INSERT INTO codes (jti, kid, issued_at, expires) VALUES ('old', 'kid-1', 1, 2)`)
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db := openAt(t, path)
	if c, err := db.Code(t.Context(), "old"); err != nil || c.ScanDigest != nil {
		t.Fatalf("Code = %+v, %v; want no digest", c, err)
	}
}
