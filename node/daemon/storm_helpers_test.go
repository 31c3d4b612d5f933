package daemon_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/hcfed/hcfed/node/daemon"
)

// stormSeedRows is how many code rows one INSERT of the seeding writes.
const stormSeedRows = 500

// stormSubjectID is the id of seeded subject i.
func stormSubjectID(i int) string { return fmt.Sprintf("s-storm-%07d", i) }

// stormJTI is the code id of seeded subject i's live code: random-looking
// (so the codes' primary key is filled as by real issuance) yet known to
// the benchmark without reading the database.
func stormJTI(i int) string {
	h := sha256.Sum256([]byte("storm " + strconv.Itoa(i)))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

func idNumber(i int) string { return testkit.IDNumber("110105194912", i) }

// seed stops the home node, writes n minus the enrolled subjects green
// subjects straight into its database, each with one live code, and
// starts it again.
func (s *storm) seed(ctx context.Context) {
	b := s.b
	if err := s.c.Stop(0); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", s.c.Configs[0].DBPath()+"?_pragma=busy_timeout(10000)&_pragma=cache_size(-262144)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	m := s.n - len(s.ids)
	now := time.Now()
	if _, err := tx.Exec(`WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x < ? - 1)
		INSERT INTO subjects (id, name_ct, id_number_ct, masked_ct, status, status_since, created, retain_until)
		SELECT printf('s-storm-%07d', x), x'00', x'00', x'00', 'green', ?, ?, ? FROM i`,
		m, now.UnixNano(), now.UnixNano(), now.Add(365*24*time.Hour).UnixNano()); err != nil {
		b.Fatal(err)
	}
	issued, exp := now.UnixNano(), now.Add(12*time.Hour).UnixNano()
	stmts := map[int]*sql.Stmt{} // by rows: the last INSERT may be shorter
	args := make([]any, 0, 4*stormSeedRows)
	for i := 0; i < m; i += stormSeedRows {
		rows := min(stormSeedRows, m-i)
		if stmts[rows] == nil {
			if stmts[rows], err = tx.Prepare(`INSERT INTO codes (jti, subject_id, kid, issued_at, expires) VALUES ` +
				strings.TrimSuffix(strings.Repeat(`(?, ?, 'storm', ?, ?),`, rows), ",")); err != nil {
				b.Fatal(err)
			}
		}
		args = args[:0]
		for j := i; j < i+rows; j++ {
			args = append(args, stormJTI(j), stormSubjectID(j), issued, exp)
		}
		if _, err := stmts[rows].Exec(args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if err := s.c.Restart(ctx, 0); err != nil {
		b.Fatal(err)
	}
}

// peerDiskBytes checkpoints every peer's WAL into its database file and
// returns the files' total size.
func (s *storm) peerDiskBytes() int64 {
	var total int64
	for i := 1; i < len(s.c.Nodes); i++ {
		path := s.c.Configs[i].DBPath()
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			s.b.Fatal(err)
		}
		_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		db.Close()
		if err != nil {
			s.b.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(p); err == nil {
				total += fi.Size()
			}
		}
	}
	return total
}

// peakRSS is the process's peak resident set in bytes: VmHWM, or the
// rusage maximum where /proc is not there.
func peakRSS(b *testing.B) int64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				return kb << 10
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Maxrss << 10 // kilobytes on Linux
}

// scrapeMetric reads one unlabelled series from d's GET /metrics.
func scrapeMetric(d *daemon.Daemon, series string) (float64, error) {
	resp, err := http.Get(d.MetricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s not in /metrics", series)
}

// cpuTime is the CPU time, user and system, the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
