package api_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
	"github.com/hcfed/hcfed/node/daemon"
)

// BenchmarkHTTPBulkStatus sends b.N status lines (green to yellow) to
// POST /v1/statuses of a node on a real SQLite file, every subject with
// one live code that the change revokes; it reports lines committed per
// second, end to end (HTTP, decoding, commits, outbox, audit). The
// subjects and codes are seeded straight into the file beforehand.
func BenchmarkHTTPBulkStatus(b *testing.B) {
	cfg := config.Default("440000")
	cfg.DataDir = filepath.Join(b.TempDir(), "440000")
	cfg.Listen, cfg.NATS.Listen = "127.0.0.1:0", "127.0.0.1:0"
	ctx := context.Background()
	op, err := daemon.Init(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	seedBulkSubjects(b, cfg.DBPath(), b.N)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	d, err := daemon.Start(ctx, cfg, daemon.Options{Listener: l, TickEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	var body bytes.Buffer
	for i := range b.N {
		fmt.Fprintf(&body, `{"subject":"s-%07d","status":"yellow","reason":"district lockdown"}`+"\n", i)
	}
	b.ResetTimer()
	start := time.Now()
	req, _ := http.NewRequest("POST", d.URL+"/v1/statuses?report=refused", &body)
	req.Header.Set("Authorization", "Bearer "+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var sum struct {
		Summary *struct{ Applied, Revoked int }
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &sum); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if sum.Summary == nil || sum.Summary.Applied != b.N || sum.Summary.Revoked != b.N {
		b.Fatalf("summary %+v, want %d applied and revoked", sum.Summary, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lines/s")
}

// seedBulkSubjects writes n green subjects s-0000000... with one live code
// each into the database at path, in one transaction.
func seedBulkSubjects(b *testing.B, path string, n int) {
	b.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	now, exp := time.Now().UnixNano(), time.Now().Add(24*time.Hour).UnixNano()
	for _, q := range []string{
		`WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x < ? - 1)
		INSERT INTO subjects (id, name_ct, id_number_ct, masked_ct, status, status_since, created, retain_until)
		SELECT printf('s-%07d', x), x'00', x'00', x'00', 'green', ?2, ?2, ?3 FROM i`,
		`INSERT INTO codes (jti, subject_id, kid, issued_at, expires) SELECT 'c-' || id, id, 'kid-1', ?2, ?3 FROM subjects`,
	} {
		if _, err := raw.Exec(q, n, now, exp); err != nil {
			b.Fatal(err)
		}
	}
}
