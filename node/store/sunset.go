package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// SunsetCounts is what a node holds that a sunset wipes: the anonymous
// counts kept afterwards, and what the operator is shown before confirming.
type SunsetCounts struct {
	Subjects    int `json:"subjects"`
	Consents    int `json:"consents"`
	Codes       int `json:"codes"`
	Tokens      int `json:"tokens"`
	Scanners    int `json:"scanners"`
	Keys        int `json:"keys"`
	Statements  int `json:"statements"`
	Revocations int `json:"revocations"`
	Appeals     int `json:"appeals"`
	Lookups     int `json:"lookups"` // contact data obtained from other provinces
}

var sunsetTables = []struct {
	table string
	field func(*SunsetCounts) *int
}{
	{"subjects", func(c *SunsetCounts) *int { return &c.Subjects }},
	{"consents", func(c *SunsetCounts) *int { return &c.Consents }},
	{"codes", func(c *SunsetCounts) *int { return &c.Codes }},
	{"tokens", func(c *SunsetCounts) *int { return &c.Tokens }},
	{"scanners", func(c *SunsetCounts) *int { return &c.Scanners }},
	{"keys", func(c *SunsetCounts) *int { return &c.Keys }},
	{"statements", func(c *SunsetCounts) *int { return &c.Statements }},
	{"revocations", func(c *SunsetCounts) *int { return &c.Revocations }},
	{"appeals", func(c *SunsetCounts) *int { return &c.Appeals }},
	{"lookups", func(c *SunsetCounts) *int { return &c.Lookups }},
}

// sunsetDeletes are the tables Sunset empties, in an order that keeps
// foreign keys satisfied.
var sunsetDeletes = []string{"tokens", "consents", "appeals", "codes", "subjects", "scanners", "keys", "statements", "revocations", "lookups"}

// Counts reads how many rows each kind of record has.
func (db *DB) Counts(ctx context.Context) (SunsetCounts, error) {
	var c SunsetCounts
	for _, t := range sunsetTables {
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM `+t.table).Scan(t.field(&c)); err != nil {
			return c, wrap("counts", err)
		}
	}
	return c, nil
}

// Sunset ends the node's purpose. It first empties the key store, which
// crypto-shreds every subject's data wherever a copy of node.db survives;
// then, in one transaction, it deletes every subject (with consents,
// tokens and appeals), every code, scanner, key, cached statement and
// outbox row and every contact record obtained from another province,
// and keeps only the anonymous counts (in meta, under "sunset.*") and the
// audit log, which holds no personal data. The deletions run under
// secure_delete and the WAL is truncated after them, so that nothing
// deleted stays readable in node.db or its WAL to whoever still holds the
// KEK (lookups' contact data and the node's keys are sealed under it).
func (db *DB) Sunset(ctx context.Context, now time.Time) (SunsetCounts, error) {
	var c SunsetCounts
	if err := db.shredAllSubjectKeys(ctx); err != nil {
		return c, err
	}
	err := db.write(ctx, "sunset", func(tx *sql.Tx) error {
		for _, t := range sunsetTables {
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.table).Scan(t.field(&c)); err != nil {
				return err
			}
		}
		// Under secure_delete, as DeleteExpiredLookups: the deleted rows
		// and freed pages are overwritten with zeros, not left readable
		// in node.db to whoever still holds the KEK (lookups, keys).
		if err := withSecureDelete(ctx, tx, func() error {
			for _, table := range sunsetDeletes {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
					return fmt.Errorf("%s: %w", table, err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		for k, v := range map[string]string{
			"sunset.at": strconv.FormatInt(now.Unix(), 10), "sunset.subjects": strconv.Itoa(c.Subjects),
			"sunset.codes": strconv.Itoa(c.Codes), "sunset.scanners": strconv.Itoa(c.Scanners),
		} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return c, err
	}
	return c, db.truncateWAL(ctx, "sunset")
}

// truncateWAL copies node.db's WAL into the file and truncates it to zero
// bytes, so that the frames holding what was just deleted (their earlier
// versions, from before the deletion) do not survive in it. It fails if a
// reader kept the checkpoint from finishing (SQLite then empties the WAL
// when the last connection closes).
func (db *DB) truncateWAL(ctx context.Context, op string) error {
	var busy, logFrames, done int
	if err := db.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return wrap(op+": checkpoint", err)
	}
	if busy != 0 {
		return fmt.Errorf("store: %s: checkpoint: a reader holds node.db, whose WAL keeps deleted rows until its last connection closes", op)
	}
	return nil
}
