//go:build unix

package datadir

import (
	"fmt"
	"os"
	"strings"
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

// OwnerHint adds to err, an error opening the SQLite databases dbs, the
// files of theirs (with their -wal and -shm) this process cannot use
// because another user owns them (a restore or an upgrade run as root,
// say): SQLite says only "unable to open database file". It returns err
// as it is when every file is this user's, or when this process runs as
// root, which opens them all.
func OwnerHint(err error, dbs ...string) error { return ownerHint(err, os.Geteuid(), dbs...) }

// ownerHint is OwnerHint for a process running as euid.
func ownerHint(err error, euid int, dbs ...string) error {
	if err == nil || euid == 0 {
		return err
	}
	var foreign []string
	for _, base := range dbs {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			p := base + suffix
			fi, serr := os.Stat(p)
			if serr != nil {
				continue
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != euid {
				foreign = append(foreign, fmt.Sprintf("%s (uid %d)", p, st.Uid))
			}
		}
	}
	if len(foreign) == 0 {
		return err
	}
	return fmt.Errorf("%w; %s belong%s to another user than this one (uid %d): give them back to the node's user "+
		"(chown), and run hcnode commands as that user", err, strings.Join(foreign, ", "), pluralVerb(len(foreign)), euid)
}

func pluralVerb(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}
