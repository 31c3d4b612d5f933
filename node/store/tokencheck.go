package store

import (
	"context"
	"database/sql"
)

// TokenCheckKey returns the sealed key of the tokens' keyed check
// (migration 0012). If there is none yet, it stores sealed and returns
// it; of two processes racing, both get the one stored first.
func (db *DB) TokenCheckKey(ctx context.Context, sealed []byte) ([]byte, error) {
	const op = "token check key"
	if len(sealed) == 0 {
		return nil, invalid(op, "empty key")
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO token_check_key (one, sealed) VALUES (1, ?)
		ON CONFLICT (one) DO NOTHING`, sealed); err != nil {
		return nil, wrap(op, err)
	}
	var stored []byte
	err := db.w.QueryRowContext(ctx, `SELECT sealed FROM token_check_key WHERE one = 1`).Scan(&stored)
	return stored, wrap(op, err)
}

// LegacyTokens returns the hashes of the tokens issued before tokens
// carried a keyed check and still stored, having first dropped from the
// list those deleted since.
func (db *DB) LegacyTokens(ctx context.Context) ([][]byte, error) {
	var hashes [][]byte
	err := db.write(ctx, "legacy tokens", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM legacy_tokens
			WHERE hash NOT IN (SELECT hash FROM tokens) AND hash NOT IN (SELECT token_hash FROM replicas)`); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT hash FROM legacy_tokens`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h []byte
			if err := rows.Scan(&h); err != nil {
				return err
			}
			hashes = append(hashes, h)
		}
		return rows.Err()
	})
	return hashes, err
}
