//go:build unix

package daemon

import (
	"fmt"
	"os"
	"syscall"
)

// otherOwner says so when fi belongs to another user than this process's,
// or "".
func otherOwner(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Getuid() {
		return ""
	}
	return fmt.Sprintf("owned by uid %d, not by this user (uid %d): run check as the user the node runs as", st.Uid, os.Getuid())
}
