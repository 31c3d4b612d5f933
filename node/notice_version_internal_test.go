package node

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hcfed/hcfed/node/config"
)

// TestTheBuildsNoticeTextBelongsToItsVersion: a node that has served a
// notice version refuses to start with another text under it
// (NoticeChangedError), so a change of this build's wording must come
// with a new config.NoticeVersion, the old one listed in
// config.SupersededNotices. The SHA-256 of the default notice is kept per
// version in testdata: a wording change without a new version fails here,
// not at a province's next start.
func TestTheBuildsNoticeTextBelongsToItsVersion(t *testing.T) {
	golden := filepath.Join("testdata", "notice-"+config.NoticeVersion+".sha256")
	sum := sha256.Sum256(canonicalNotice(noticeOf(config.Default("440000"))))
	got := hex.EncodeToString(sum[:])
	if os.Getenv("HCFED_UPDATE_NOTICE") == "1" {
		if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("no recorded text for notice version %s (%v): a new version's sum is written with HCFED_UPDATE_NOTICE=1", config.NoticeVersion, err)
	}
	if strings.TrimSpace(string(want)) != got {
		t.Fatalf("the default privacy notice's text changed under version %s (SHA-256 %s, recorded %s): "+
			"nodes that served it would refuse to start. Move config.NoticeVersion to a new version, list %s in "+
			"config.SupersededNotices with what changed, and record the new sum with HCFED_UPDATE_NOTICE=1",
			config.NoticeVersion, got, strings.TrimSpace(string(want)), config.NoticeVersion)
	}
}
