package api_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
)

// A second test resident, whose data must stay readable when the first is
// deleted.
const (
	otherName = "欧阳娜娜"
	otherID   = "110105194912310046"
)

// transcodings are the forms a careless encoder might put s into a code
// in: clear, base64 of every flavour, hex.
func transcodings(s string) []string {
	b := []byte(s)
	return []string{s, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b))}
}

// chanceFreeLen is how long a form must be before a code's text (563
// base64url characters) spells it by chance too seldom to matter: 64^-8
// per position, where "002X" turns up in one pair of codes in 15,000.
// Every form transcodings makes is in the base64url alphabet but for
// padding and non-ASCII text.
const chanceFreeLen = 8

// decodeSegments base64url-decodes every dot-separated segment of a
// compact JOSE object, nested JWE included, as anyone holding the code can.
func decodeSegments(t *testing.T, code string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, seg := range strings.Split(strings.TrimPrefix(code, "HCF1:"), ".") {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			t.Fatalf("segment %.12q is not base64url: %v", seg, err)
		}
		out = append(out, b)
	}
	return out
}

// scanQR decodes the single QR code in a PNG (testkit.DecodeQR).
func scanQR(t *testing.T, r io.Reader) (string, image.Image) {
	t.Helper()
	img, err := png.Decode(r)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	text, err := testkit.DecodeQR(img)
	if err != nil {
		t.Fatalf("the QR does not scan: %v", err)
	}
	return text, img
}

// status is a request's HTTP status and, for errors, the error code.
func (tn *testNode) status(method, path, token string, body any) (int, string) {
	tn.t.Helper()
	resp := tn.call(method, path, token, body, nil)
	raw, _ := io.ReadAll(resp.Body)
	var e apiError
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code
}

// rawDB opens the node's database file read-only, behind the node's back.
func (tn *testNode) rawDB() *sql.DB {
	tn.t.Helper()
	db, err := sql.Open("sqlite", "file:"+tn.cfg.DBPath()+"?mode=ro")
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.t.Cleanup(func() { db.Close() })
	return db
}

// auditCount counts audit entries of an action, from the database file.
func (tn *testNode) auditCount(action string) int {
	tn.t.Helper()
	var n int
	if err := tn.rawDB().QueryRow(`SELECT count(*) FROM audit WHERE action = ?`, action).Scan(&n); err != nil {
		tn.t.Fatal(err)
	}
	return n
}

// metric returns the /metrics line of series, or "".
func (tn *testNode) metric(series string) string {
	tn.t.Helper()
	resp := tn.call("GET", "/metrics", tn.metricsToken, nil, nil)
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, series+" ") {
			return line
		}
	}
	return ""
}

// verifications lists a subject's verifications as token sees them.
func (tn *testNode) verifications(subject, token string) []verificationRecord {
	tn.t.Helper()
	var out struct{ Verifications []verificationRecord }
	if resp := tn.call("GET", "/v1/subjects/"+subject+"/verifications", token, nil, &out); resp.StatusCode != http.StatusOK {
		tn.t.Fatalf("verifications: %d", resp.StatusCode)
	}
	return out.Verifications
}

type verificationRecord struct {
	Time     time.Time
	JTI      string
	Place    string
	Reason   string
	Valid    bool
	Province string
}

type appeal struct {
	ID            string     `json:"id"`
	SubjectID     string     `json:"subject_id"`
	Status        string     `json:"status"`
	Message       string     `json:"message"`
	Note          string     `json:"note"`
	AppliedStatus string     `json:"applied_status"`
	ResolvedAt    *time.Time `json:"resolved_at"`
	SubjectStatus string     `json:"subject_status"`
	// SubjectStatusSince and StatusChanged: in the queue, when the
	// resident's status was last set, and whether that was after the
	// appeal was filed.
	SubjectStatusSince *time.Time `json:"subject_status_since"`
	StatusChanged      bool       `json:"status_changed"`
}

type record struct {
	ID      string
	Status  string
	Consent struct {
		NoticeVersion string `json:"notice_version"`
		Fields        []string
		Purpose       string
	}
	Held map[string]string
}

// copyFiles copies the files of a SQLite database (and its WAL, if any)
// into dir, as a backup taken at that moment would.
func copyFiles(t *testing.T, db, dir string) string {
	t.Helper()
	to := filepath.Join(dir, filepath.Base(db))
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(db + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}
