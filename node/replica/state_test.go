package replica

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hcfed/hcfed/node/config"
)

// A replica's pinned trust list that cannot be used is refused at start
// in the home node's words: what is wrong, and what staff do about it.
func TestReplicaRefusesAPinnedTrustListSayingWhatToDo(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte(`{"not": "a trust list"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(`{"not": "a trust list"}`))
	for _, c := range []struct {
		name, file, sha, want string
	}{
		{"missing", filepath.Join(dir, "absent.json"), hex.EncodeToString(sum[:]), "cannot be read: put the trust list the federation operators gave you there"},
		{"not the pinned one", corrupt, strings.Repeat("0", 64), "does not match trust.list_sha256: refusing to start with an unpinned trust list"},
		{"not a trust list", corrupt, hex.EncodeToString(sum[:]), "check it with 'hcnode trust verify FILE'"},
	} {
		s := config.Default("440000")
		s.Trust.ListFile, s.Trust.ListSHA256 = c.file, c.sha
		if _, _, err := newState(s, time.Now()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want it to say %q", c.name, err, c.want)
		}
	}
}
