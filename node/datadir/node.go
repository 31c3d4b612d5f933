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
//
// A mistyped data_dir is the likelier cause in production than a node
// never initialised, and init there would make a second province node
// with keys of its own: the error names the setting first.
func RequireNode(dir, dbPath string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data directory %s does not exist, so it holds %w: check data_dir (or $HCNODE_DATA_DIR; a relative "+
			"data_dir is relative to the config file); for a new node, run 'hcnode init --data %s' first", dir, ErrNoNode, dir)
	}
	_, err := os.Stat(dbPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data directory %s holds %w (no %s): if this node was initialised in another directory, "+
			"correct data_dir (or $HCNODE_DATA_DIR); for a new node, run 'hcnode init' first", dir, ErrNoNode, filepath.Base(dbPath))
	case err != nil:
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return nil
}
