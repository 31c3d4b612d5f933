package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// A test binary creates hundreds of nodes, and each new database applied
// every migration, each in its own transaction committed with
// synchronous=FULL: about a seventh of node/daemon's test CPU and a
// quarter of node/api's. A schema template is a database that the real
// migrations made once per test binary and that holds nothing but its
// schema and its schema_migrations rows; Open copies it in place of a
// database that does not exist yet, and its migrate then finds nothing to
// apply. Nothing in it belongs to one node: keys, the KEK's seals, tokens
// and meta are written by the node after Open, and the key store (keys.db)
// is created by Open as always.
//
// A node never takes this path: only UseSchemaTemplateInTests turns it on,
// and only tests call it (internal/storetemplate, from a TestMain).
var schemaTemplate templateState

// templateState is a schema template: where it is made and, once made,
// its bytes.
type templateState struct {
	mu  sync.Mutex
	dir string // where the template is made; empty: the path is off
	db  []byte // the template's bytes, once made
}

// templateFile is the template's file name inside its directory.
const templateFile = "schema-template.db"

// UseSchemaTemplateInTests makes every later Open of a database that does
// not exist yet, with no key store either, start from a copy of a
// migrated, empty database made once in dir (by the real migrations, at
// the first such Open) instead of applying the migrations itself. It is
// for test binaries, from TestMain, before any test runs; a node must
// never call it: the store's own tests, which test the migrations, do not
// either. An empty dir turns it off again.
func UseSchemaTemplateInTests(dir string) {
	schemaTemplate.mu.Lock()
	defer schemaTemplate.mu.Unlock()
	schemaTemplate.dir, schemaTemplate.db = dir, nil
}

// fromSchemaTemplate copies the schema template to path when the template
// is on and neither path nor keysPath exists; otherwise it does nothing.
func fromSchemaTemplate(ctx context.Context, path, keysPath string) error {
	return schemaTemplate.copyTo(ctx, path, keysPath)
}

// copyTo copies the template to path, making it first if need be, when
// s is on and neither path nor keysPath exists; otherwise it does nothing.
func (s *templateState) copyTo(ctx context.Context, path, keysPath string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" || exists(path) || exists(keysPath) {
		return nil
	}
	if s.db == nil {
		b, err := makeSchemaTemplate(ctx, filepath.Join(s.dir, templateFile))
		if err != nil {
			return fmt.Errorf("store: schema template: %w", err)
		}
		s.db = b
	}
	// Written aside and linked into place, so that another Open of the
	// same path sees no file or a whole one.
	tmp := path + ".schema-template"
	if err := writeNew(tmp, s.db); err != nil {
		return fmt.Errorf("store: schema template: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("store: schema template: %w", err)
	}
	return nil
}

// makeSchemaTemplate migrates a new database at path, with its key store
// beside it, and returns the database's bytes once it is closed and its
// WAL checkpointed into it.
func makeSchemaTemplate(ctx context.Context, path string) ([]byte, error) {
	if exists(path) {
		return nil, fmt.Errorf("%s exists already", path)
	}
	db, err := openDB(ctx, path, KeysPath(path))
	if err != nil {
		return nil, err
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// writeNew writes b to a new file at path with the store's file mode and
// syncs it.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// exists reports whether a file is at path (or something that Stat cannot
// tell from one: the open proper reports on that).
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
