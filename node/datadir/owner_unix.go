//go:build unix

package datadir

import (
	"fmt"
	"os"
	"syscall"
)

// RequireOwner refuses a command that puts files in dir, the data
// directory, when this process runs as another user than the one that
// owns it: the files would be this user's (root's, say), and the node,
// which runs as the directory's owner, could not open them.
func RequireOwner(dir, command string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Geteuid() {
		return nil
	}
	return fmt.Errorf("data directory %s belongs to uid %d, and this is uid %d: run %s as the user the node runs as "+
		"(sudo -u hcnode hcnode %s ...), or the files it puts there would be this user's and the node could not open them",
		dir, st.Uid, os.Geteuid(), command, command)
}
