package store

import (
	"context"
	"database/sql"
)

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
