package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoNode is returned by RequireNode for a data directory that
// 'hcnode init' never ran in.
var ErrNoNode = errors.New("no node")

// RequireNode checks that dir holds a node's database, dbPath, before
// anything takes its lock or opens a store there: both would create the
// directory, its lock file and empty databases, and a mistyped data_dir
// would be left full of them. Its error tells the operator to run
// 'hcnode init' first.
func RequireNode(dir, dbPath string) error {
	_, err := os.Stat(dbPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data directory %s holds %w (no %s): run 'hcnode init' first", dir, ErrNoNode, filepath.Base(dbPath))
	case err != nil:
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return nil
}
