package store

import (
	"errors"
	"fmt"
	"os"
)

// fileMode is the mode of every file the store writes: the database, the
// key store and SQLite's -wal, -shm and -journal files next to them. They
// hold sealed personal data, health statuses in clear and the audit log,
// so no other user of the machine may read them.
const fileMode os.FileMode = 0o600

// sqliteSidecars are the files SQLite keeps next to a database. SQLite
// creates them with the mode of the database file, so a database created
// 0600 gets 0600 sidecars.
var sqliteSidecars = []string{"", "-wal", "-shm", "-journal"}

// restrictFiles creates each database file with mode 0600 if it does not
// exist yet, before SQLite would create it with 0644 less the umask, and
// takes group and other access away from any that already exist (a
// database created by an older release, or copied in).
func restrictFiles(paths ...string) error {
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
		if err == nil {
			if err := f.Close(); err != nil {
				return fmt.Errorf("store: create %s: %w", p, err)
			}
		} else if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("store: create: %w", err)
		}
		for _, suffix := range sqliteSidecars {
			fi, err := os.Stat(p + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if fi.Mode().Perm()&^fileMode != 0 {
				if err := os.Chmod(p+suffix, fileMode); err != nil {
					return fmt.Errorf("store: restrict file mode: %w", err)
				}
			}
		}
	}
	return nil
}
