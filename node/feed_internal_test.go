package node

import (
	"strings"
	"testing"
)

// A feed account's principal passes Permit for a status change and for
// no other operation: every other one is EForbidden, saying what the
// feed role may do. A new operation added to permits is walked too.
func TestPermitAllowsAFeedOnlyStatusChanges(t *testing.T) {
	feed := Principal{Role: RoleFeed, AccountID: "ac_f", Account: "platform", TokenID: "tk_f"}
	if got := feed.Actor(); got != "feed:platform" {
		t.Errorf("a feed's actor = %q, want feed:platform", got)
	}
	for op := range permits {
		err := Permit(feed, op, "s_x")
		if op == OpSetStatus {
			if err != nil {
				t.Errorf("Permit(feed, OpSetStatus) = %v, want nil", err)
			}
			continue
		}
		if ErrorCodeOf(err) != EForbidden || !strings.Contains(ErrorMessageOf(err), "the feed role may only send status changes") {
			t.Errorf("Permit(feed, op %d) = %v, want forbidden saying what a feed may do", op, err)
		}
	}
	if err := requireAdmin(feed, "key.rotate"); ErrorCodeOf(err) != EForbidden {
		t.Errorf("requireAdmin(feed) = %v, want forbidden (a feed is no operator to be told of admins)", err)
	}
	if err := require(feed, RoleOperator, RoleFeed); err != nil {
		t.Errorf("require(feed, operator or feed) = %v", err)
	}
}
