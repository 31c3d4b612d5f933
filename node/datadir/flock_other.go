//go:build !unix

package datadir

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// tryLock is not implemented off Unix: hcnode's supported platforms are
// Linux and other Unix systems.
func tryLock(*os.File) error { return nil }

func tryShared(*os.File) error { return nil }

func unlock(*os.File) error { return nil }
