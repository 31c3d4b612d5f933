//go:build !unix

package datadir

// RequireOwner is not implemented off Unix: hcnode's supported platforms
// are Unix (see flock_other.go).
func RequireOwner(dir, command string) error { return nil }

// OwnerHint returns err as it is off Unix.
func OwnerHint(err error, dbs ...string) error { return err }
